// The benchmarks' peer: the least an HTTPS JSON API server on Node 24 can do, run as its own
// process with podgate's serving certificate and the same TLS settings, so that the same client
// measures podgate and this floor side by side.
//   PUT  <path>              stores the body as the fixed answer for GET <path>
//   GET  <path>              answers the stored bytes (no parsing, no lookup beyond one Map.get)
//   GET  <path>?watch=true   keeps the response open as a watch stream
//   POST <path>              parses the JSON, adds uid/resourceVersion/creationTimestamp, answers it
//                            (201) and writes an ADDED event to every watch stream on <path>
// Usage: node peer-server.ts PKI_DIR PORT
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';

const [pkiDir, portArg] = process.argv.slice(2);
if (!pkiDir || !portArg) {
  process.stderr.write('usage: peer-server.ts PKI_DIR PORT\n');
  process.exit(2);
}
const fixtures = new Map<string, Buffer>();
const watchers = new Map<string, Set<ServerResponse>>();
let revision = 1;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://peer');
  const path = url.pathname;
  if (req.method === 'PUT') {
    fixtures.set(path, await readBody(req));
    res.writeHead(200).end();
    return;
  }
  if (req.method === 'POST') {
    const obj = JSON.parse((await readBody(req)).toString('utf8')) as { metadata?: Record<string, unknown> };
    obj.metadata = { ...obj.metadata, uid: randomUUID(), resourceVersion: String(++revision), creationTimestamp: new Date().toISOString() };
    const body = JSON.stringify(obj);
    res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
    const line = `{"type":"ADDED","object":${body}}\n`;
    for (const w of watchers.get(path) ?? []) w.write(line);
    return;
  }
  if (req.method === 'GET' && url.searchParams.get('watch') === 'true') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let set = watchers.get(path);
    if (!set) watchers.set(path, set = new Set());
    set.add(res);
    res.on('close', () => set.delete(res));
    return;
  }
  const fixed = fixtures.get(path);
  if (req.method === 'GET' && fixed) {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': fixed.length }).end(fixed);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"kind":"Status","code":404,"reason":"NotFound","message":"not found"}');
}

const server = https.createServer({
  key: readFileSync(join(pkiDir, 'apiserver.key')),
  cert: readFileSync(join(pkiDir, 'apiserver.crt')),
  ca: readFileSync(join(pkiDir, 'ca.crt')),
  requestCert: true,
  rejectUnauthorized: false,
}, (req, res) => {
  handle(req, res).catch((err: unknown) => {
    if (!res.headersSent) res.writeHead(500).end(String(err));
  });
});
server.keepAliveTimeout = 65_000;
server.requestTimeout = 0;
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
