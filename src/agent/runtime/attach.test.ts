// Containers with stdin and a terminal (`stdin`, `stdinOnce`, `tty`) and the attach sessions that
// drive them, with real processes (util-linux `script` gives the terminal).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { LogStore } from './log-store.ts';
import { ProcessRuntime, type ExitInfo } from './process-runtime.ts';
import { onTerminal, shellQuote, sttyArgs, terminalOf, TerminalProgram, type TerminalProc } from './terminal.ts';

const dir = mkdtempSync(join(tmpdir(), 'podgate-attach-'));
const runtime = new ProcessRuntime({ stateDir: join(dir, 'state') });
const logs = new LogStore({ dir: join(dir, 'logs'), isRunning: (p, c) => runtime.isRunning(p, c), pollMs: 20 });
const exits: ExitInfo[] = [];
runtime.onExit((e) => exits.push(e));
after(async () => {
  await runtime.stopAll(0);
  rmSync(dir, { recursive: true, force: true });
});

async function start(podUid: string, argv: string[], flags: { stdin?: boolean; stdinOnce?: boolean; tty?: boolean; env?: Record<string, string> }): Promise<void> {
  const logFile = await logs.prepare(podUid, 'c', 0);
  await runtime.start({ podUid, containerName: 'c', argv, logFile, ...flags, env: flags.env ?? {} });
}

async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Zombies count as dead: this machine's pid 1 may be slow to reap re-parented processes.
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** An attach session's streams, with everything written to its stdout collected. */
function session() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const abort = new AbortController();
  let text = '';
  stdout.on('data', (c: Buffer) => { text += c.toString(); });
  return {
    stdin, stdout, abort, output: () => text,
    io: { stdin, stdout, signal: abort.signal },
    async waitFor(pattern: RegExp, ms = 10_000): Promise<void> {
      const until = Date.now() + ms;
      while (!pattern.test(text)) {
        if (Date.now() > until) assert.fail(`no ${pattern} in the attached output: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

function exitOf(podUid: string): Promise<ExitInfo> {
  return new Promise((resolve) => {
    const found = exits.find((e) => e.podUid === podUid);
    if (found) return resolve(found);
    const off = runtime.onExit((e) => { if (e.podUid === podUid) { off(); resolve(e); } });
  });
}

async function logText(podUid: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of logs.read({ podUid, container: 'c' })) parts.push(c);
  return Buffer.concat(parts).toString();
}

const echoLines = ['sh', '-c', 'echo before; while read l; do echo "got $l"; done; echo input-closed'];

/** A regression fails instead of hanging the run (each test waits on processes). */
const T = { timeout: 30_000 };

describe('attach', () => {
  it('sends a session\'s stdin to the container and its output back, from the moment of attaching', T, async () => {
    await start('a1', echoLines, { stdin: true });
    await until(async () => /before/.test(await logText('a1')), 'the container printed "before"');
    const s = session();
    const done = runtime.attach('a1', 'c', s.io);
    s.stdin.write('one\n');
    await s.waitFor(/got one\n/);
    assert.doesNotMatch(s.output(), /before/, 'output from before the session is in the logs, not replayed');
    // Without stdinOnce the session's end of input detaches it; the container's stdin stays open.
    s.stdin.end();
    await done;
    assert.equal(runtime.isRunning('a1', 'c'), true);
    const s2 = session();
    const done2 = runtime.attach('a1', 'c', s2.io);
    s2.stdin.write('two\n');
    await s2.waitFor(/got two\n/);
    assert.doesNotMatch(s.output(), /two/, 'a detached session gets nothing more');
    s2.abort.abort();
    await done2;
    await runtime.stop('a1', 'c', 0);
    assert.match(await logText('a1'), /before\ngot one\ngot two\n/);
  });

  it('with stdinOnce, the first session\'s end of input closes the container\'s, and the session lasts until it exits', T, async () => {
    await start('a2', echoLines, { stdin: true, stdinOnce: true });
    const s = session();
    const done = runtime.attach('a2', 'c', s.io);
    s.stdin.end('last\n');
    await done;
    assert.match(s.output(), /got last\ninput-closed\n$/);
    assert.equal((await exitOf('a2')).exitCode, 0);
    await assert.rejects(runtime.attach('a2', 'c', session().io), /container is in CONTAINER_EXITED state/);
  });

  it('with stdinOnce, a client that goes away closes the container\'s input too (containerd closes it however the copy ends)', T, async () => {
    await start('a4', ['cat'], { stdin: true, stdinOnce: true });
    const s = session();
    const done = runtime.attach('a4', 'c', s.io);
    s.stdin.write('x\n');
    await s.waitFor(/x\n/);
    s.abort.abort();
    await done;
    assert.equal((await exitOf('a4')).exitCode, 0, 'cat read the end of its input');
  });

  it('gives every attached session the output, and a container without stdin ignores a session\'s input', T, async () => {
    await start('a3', ['sh', '-c', 'read x && echo "read $x" || echo no-input; i=0; while [ $i -lt 50 ]; do echo tick $i; i=$((i+1)); sleep 0.05; done'], {});
    const [s1, s2] = [session(), session()];
    const done = Promise.all([runtime.attach('a3', 'c', s1.io), runtime.attach('a3', 'c', s2.io)]);
    // The session's input is read and dropped, never left to fill up.
    if (!s1.stdin.write(Buffer.alloc(1 << 20))) await once(s1.stdin, 'drain');
    await done;
    for (const s of [s1, s2]) assert.match(s.output(), /tick 49\n$/);
    assert.match(await logText('a3'), /^no-input\n/);
  });

  it('refuses a container that is not running, in containerd\'s words', { timeout: 60_000 }, async () => {
    await assert.rejects(runtime.attach('nope', 'c', session().io), /container is in CONTAINER_EXITED state/);
    // Exited, its exit not yet recorded (its output is still drained): refused too, so that
    // `kubectl run -i` falls back to the logs instead of printing nothing.
    // A process of another session keeps the output pipe open, so the exit waits for the drain
    // (a long one here: a loaded machine must not close the window before the check). The
    // container waits for it to be in its own session: the container's end kills its group.
    const slow = new ProcessRuntime({ stateDir: join(dir, 'state-slow'), drainMs: 30_000 });
    const holder = join(dir, 'holder.pid');
    const logFile = await logs.prepare('gone', 'c', 0);
    const { pid } = await slow.start({ podUid: 'gone', containerName: 'c', argv: ['sh', '-c', `setsid sh -c 'echo $$ > ${holder}; exec sleep 60' & while [ ! -s ${holder} ]; do sleep 0.01; done; echo done`], env: {}, logFile });
    try {
      await until(async () => existsSync(holder) && readFileSync(holder, 'utf8').trim() !== '' && !alive(pid), 'the container\'s process ended', 25_000);
      assert.equal(slow.isRunning('gone', 'c'), true, 'still draining its output');
      await assert.rejects(slow.attach('gone', 'c', session().io), /container is in CONTAINER_EXITED state/);
    } finally {
      try { process.kill(Number(readFileSync(holder, 'utf8')), 'SIGKILL'); } catch { /* gone */ }
    }
  });

  it('runs a tty container on a terminal of its own, which a resize sizes, and ends with it', T, async () => {
    await start('t1', ['sh'], { stdin: true, stdinOnce: true, tty: true });
    const s = session();
    const done = runtime.attach('t1', 'c', s.io);
    s.stdin.write('tty; echo answer-$((6*7))\n');
    await s.waitFor(/\/dev\/pts\/\d+\r?\n/);
    await s.waitFor(/answer-42/);
    assert.equal(await runtime.resize('t1', 'c', { width: 100, height: 30 }), true);
    s.stdin.write('stty size\n');
    await s.waitFor(/30 100/);
    assert.doesNotMatch(s.output(), /\n0 0\r?\n/);
    s.stdin.write('exit 0\n');
    await done;
    assert.equal((await exitOf('t1')).exitCode, 0);
    assert.match(await logText('t1'), /answer-42/, 'the terminal\'s output is the container\'s log');
  });

  it('keeps a tty container\'s input open when it has no stdin, as a runtime\'s terminal stays open', T, async () => {
    await start('t2', ['sh', '-c', 'read x; echo read-returned'], { tty: true });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(runtime.isRunning('t2', 'c'), true);
    assert.doesNotMatch(await logText('t2'), /read-returned/);
    await runtime.stop('t2', 'c', 0);
  });

  it('stops a tty container through its program: the grace period holds and its own exit status is reported', T, async () => {
    await start('t4', ['sh', '-c', 'trap "sleep 1; echo drained; exit 3" TERM; echo up; while true; do sleep 0.1; done'], { tty: true });
    await until(async () => /up/.test(await logText('t4')), 'the container started');
    const t0 = Date.now();
    const exit = await runtime.stop('t4', 'c', 30);
    assert.equal(exit?.exitCode, 3);
    assert.ok(Date.now() - t0 >= 900, 'the program\'s TERM handler ran to its end');
    const log = await logText('t4');
    assert.match(log, /drained/);
    assert.doesNotMatch(log, /Session terminated/);
  });

  it('kills what a tty container leaves in its terminal\'s session, hangup ignored or not', T, async () => {
    const pidFile = join(dir, 't5.pid');
    await start('t5', ['sh', '-c', `set -m; (trap '' HUP TERM; exec sleep 300) & echo $! > ${pidFile}; wait`], { tty: true });
    await until(async () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the background job started');
    const job = Number(readFileSync(pidFile, 'utf8'));
    await runtime.stop('t5', 'c', 1);
    await until(async () => !alive(job), `the background job ${job} is gone`);
  });

  it('runs script with its own shell whatever the container\'s SHELL, which the program still sees', T, async () => {
    await start('t6', ['sh', '-c', 'echo "shell=$SHELL"'], { tty: true, env: { SHELL: '/nonexistent/zsh' } });
    assert.equal((await exitOf('t6')).exitCode, 0);
    assert.match(await logText('t6'), /shell=\/nonexistent\/zsh/);
  });

  it('sizes an exec\'s terminal', T, async () => {
    await start('t3', ['sleep', '300'], {});
    const child = runtime.exec('t3', 'c', ['sh', '-c', 'i=0; while [ "$(stty size)" = "0 0" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; stty size'], { tty: true });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
    assert.equal(await runtime.resizeExec(child, { width: 123, height: 45 }), true);
    await new Promise((r) => child.once('close', r));
    assert.match(out, /45 123/);
    await runtime.stop('t3', 'c', 0);
  });
});

describe('terminal', () => {
  it('runs the words as they are, through script, with the program\'s own SHELL given back', () => {
    assert.deepEqual(onTerminal(['sh', '-c', "echo 'it''s'"], undefined), ['/usr/bin/script', '-qfec', `unset SHELL; exec 'sh' '-c' 'echo '\\''it'\\'''\\''s'\\'''`, '/dev/null']);
    assert.deepEqual(onTerminal(['top'], '/bin/zsh'), ['/usr/bin/script', '-qfec', `SHELL='/bin/zsh'; export SHELL; exec 'top'`, '/dev/null']);
    assert.equal(shellQuote(''), "''");
  });

  it('finds the pty from the master script holds (the kernel\'s tty-index), not from the program\'s descriptors', async () => {
    const proc: TerminalProc = {
      children: async () => [],
      fds: async (pid) => new Map(pid === 10 ? [[0, 'pipe:[1]'], [3, '/dev/null'], [5, '/dev/ptmx']] : []),
      fdinfo: async (pid, fd) => (pid === 10 && fd === 5 ? 'pos:\t0\nflags:\t0100002\ntty-index:\t7\n' : undefined),
      alive: () => true,
      sessionLeader: async () => false,
    };
    assert.equal(await terminalOf(10, proc), '/dev/pts/7');
    assert.equal(await terminalOf(99, proc), undefined);
  });

  it('takes as the terminal\'s program only a child that leads its own session, not the mount the pod\'s files run first', async () => {
    let calls = 0;
    const proc: TerminalProc = {
      // First the `mount` child of the mount script, then script's own child.
      children: async () => (++calls < 3 ? [41] : [42]),
      fds: async () => new Map(),
      fdinfo: async () => undefined,
      alive: () => true,
      sessionLeader: async (pid) => pid === 42,
    };
    assert.equal(await new TerminalProgram(40, proc).found, 42);
  });

  it('refuses sizes a terminal cannot have', () => {
    assert.deepEqual(sttyArgs('/dev/pts/1', { width: 80, height: 24 }), ['-F', '/dev/pts/1', 'rows', '24', 'cols', '80']);
    assert.equal(sttyArgs('/dev/pts/1', { width: -1, height: 24 }), undefined);
    assert.equal(sttyArgs('/dev/pts/1', { width: 80, height: 70000 }), undefined);
    assert.equal(sttyArgs('/dev/pts/1', { width: 1.5, height: 2 }), undefined);
  });
});
