// Fails loudly when a command runs on a Node older than 24 (e.g. the system's Node 20
// because `npm ci --ignore-scripts` skipped the `node` package's install step). Plain JavaScript,
// not TypeScript, so that the Node it refuses can still run it and say why.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`podgate needs Node.js 24 or newer, but this is ${process.versions.node}. ` +
    'Run `npm ci` (without --ignore-scripts) so the project-local Node 24 is installed.');
  process.exit(1);
}
