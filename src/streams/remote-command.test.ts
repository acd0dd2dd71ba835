import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  killGroup, kubectlPath, makeKubeHome, requireKubectl, runToEnd, spawnGroup, startFakeApiServer,
  type FakeApiServer,
} from './kubectl-harness.ts';
import { serveRemoteCommand, type RemoteCommandIO } from './remote-command.ts';
import type { TerminalSize } from './terminal-size-queue.ts';

/** Runs the command as a local child process: the stand-in for the node agent's exec. */
function runLocally(command: string[], io: RemoteCommandIO): Promise<{ exitCode: number } | { error: string }> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    if (io.stdin) io.stdin.pipe(child.stdin);
    else child.stdin.end();
    child.stdin.on('error', () => {});
    if (io.stdout) child.stdout.pipe(io.stdout);
    else child.stdout.resume();
    if (io.stderr) child.stderr.pipe(io.stderr);
    else child.stderr.resume();
    child.on('error', (err) => resolve({ error: err.message }));
    child.on('close', (code) => resolve({ exitCode: code ?? 1 }));
  });
}

describe('kubectl exec against serveRemoteCommand', () => {
  let api: FakeApiServer;
  let home: ReturnType<typeof makeKubeHome>;
  const sizes: TerminalSize[] = [];

  before(async () => {
    requireKubectl();
    api = await startFakeApiServer((up, url) => {
      if (!url.pathname.endsWith('/exec')) return up.socket.destroy();
      const q = url.searchParams;
      const command = q.getAll('command');
      const tty = q.get('tty') === 'true';
      void serveRemoteCommand(up, {
        stdin: q.get('stdin') === 'true', stdout: q.get('stdout') === 'true', stderr: q.get('stderr') === 'true', tty,
        command,
        run: async (io) => {
          if (!tty) return runLocally(command, io);
          // A tiny line-mode "shell": reports the first terminal size, then echoes lines until `exit`.
          const it = io.resize![Symbol.asyncIterator]();
          const first = await it.next();
          if (!first.done) sizes.push(first.value);
          io.stdout!.write(`size ${first.done ? '?' : `${first.value.width}x${first.value.height}`}\r\n$ `);
          let buf = '';
          for await (const chunk of io.stdin!) {
            buf += (chunk as Buffer).toString();
            let i: number;
            while ((i = buf.search(/[\r\n]/)) >= 0) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (line === 'exit') return { exitCode: 0 };
              if (line !== '') io.stdout!.write(`you said ${line.toUpperCase()}\r\n$ `);
            }
          }
          return { exitCode: 0 };
        },
      });
    });
    home = makeKubeHome(api.url);
  });

  after(async () => {
    await api?.close();
    home?.cleanup();
  });

  for (const mode of ['websocket', 'spdy'] as const) {
    const env = (): NodeJS.ProcessEnv => (mode === 'spdy' ? { ...home.env, KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } : home.env);

    test(`${mode}: stdout and stderr on their streams, exit code 3`, async () => {
      const before = api.upgrades.length;
      const r = await runToEnd(kubectlPath, ['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], env());
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'err\ncommand terminated with exit code 3\n');
      assert.equal(r.code, 3);
      const ours = api.upgrades.slice(before);
      assert.equal(ours.at(-1)?.upgrade.toLowerCase(), mode === 'spdy' ? 'spdy/3.1' : 'websocket');
      if (mode === 'websocket') assert.equal(ours.length, 1, 'no fallback to SPDY');
    });

    test(`${mode}: exec -i with stdin`, async () => {
      const input = Array.from({ length: 2000 }, (_, i) => `line ${i}`).join('\n') + '\n';
      const r = await runToEnd(kubectlPath, ['exec', '-i', 'web', '--', 'sh', '-c', 'tr a-z A-Z; echo done'], env(), input);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, input.toUpperCase() + 'done\n');
    });

    test(`${mode}: a command that cannot start is reported like the kubelet does`, async () => {
      const r = await runToEnd(kubectlPath, ['exec', 'web', '--', '/nonexistent/cmd'], env());
      assert.equal(r.code, 1);
      assert.match(r.stderr, /error: Internal error occurred: error executing command in container: spawn \/nonexistent\/cmd ENOENT/);
    });

    test(`${mode}: exec -it through a pty, with the terminal size arriving`, async () => {
      sizes.length = 0;
      const shellEnv = env();
      const line = `stty cols 100 rows 30; exec ${kubectlPath} exec -it web -- sh`;
      const child = spawnGroup('script', ['-qfc', line, '/dev/null'], shellEnv);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      const waitFor = (re: RegExp): Promise<void> => new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${JSON.stringify(out)}`)), 15_000);
        const check = (): void => { if (re.test(out)) { clearTimeout(t); child.stdout!.off('data', check); resolve(); } };
        child.stdout!.on('data', check);
        check();
      });
      try {
        await waitFor(/size 100x30/);
        child.stdin!.write('hello\r');
        await waitFor(/you said HELLO/);
        child.stdin!.write('exit\r');
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        assert.equal(code, 0, out);
        assert.deepEqual(sizes[0], { width: 100, height: 30 });
      } finally {
        killGroup(child);
      }
    });
  }
});
