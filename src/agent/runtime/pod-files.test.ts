// Real processes in real mount namespaces (needs root): a container started with the argv prefix
// sees the pod's files, a process joining its namespace sees them too, and the host's stay as they were.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindMountArgv, namespaceArgv, PodFiles } from './pod-files.ts';
import { ProcessRuntime } from './process-runtime.ts';

/** These tests make mount namespaces: without root they fail saying so, never skip. */
function requireRoot(): void {
  if (process.getuid?.() !== 0) assert.fail('needs root (mount namespaces): run the tests as root, as CI does');
}

function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}

describe('namespaceArgv (pure)', () => {
  const mounts = [{ source: '/data/p/resolv.conf', target: '/etc/resolv.conf' }];
  it('starts a container in the pod netns and a new mount namespace with the files', () => {
    assert.deepEqual(namespaceArgv({ netnsPath: '/run/netns/pg-1', bindMounts: mounts, workingDir: '/' }), [
      '/usr/bin/nsenter', '--net=/run/netns/pg-1', '--',
      '/usr/bin/unshare', '--mount', '--propagation', 'slave', '--', '/bin/sh', '-c', bindMountArgv(mounts)[7]!, 'sh', '/data/p/resolv.conf', '/etc/resolv.conf', '--',
    ]);
  });
  it('joins a running container\'s mount namespace for an exec, in its working directory', () => {
    assert.deepEqual(namespaceArgv({ netnsPath: '/run/netns/pg-1', bindMounts: mounts, joinPid: 42, workingDir: '/srv' }),
      ['/usr/bin/nsenter', '--net=/run/netns/pg-1', '--mount=/proc/42/ns/mnt', '--wd=/srv', '--']);
    assert.deepEqual(namespaceArgv({ bindMounts: mounts, joinPid: 42, workingDir: '/' }), ['/usr/bin/nsenter', '--mount=/proc/42/ns/mnt', '--wd=/', '--']);
  });
  it('changes nothing for a pod without files', () => {
    assert.deepEqual(namespaceArgv({ netnsPath: '/run/netns/x', workingDir: '/' }), ['/usr/bin/nsenter', '--net=/run/netns/x', '--']);
    assert.deepEqual(namespaceArgv({ workingDir: '/', joinPid: 7 }), []);
    assert.deepEqual(namespaceArgv({ workingDir: '/' }), []);
  });
});

describe('PodFiles in a real mount namespace', () => {
  before(requireRoot);
  let dir: string;
  let files: PodFiles;
  const hostResolv = existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : undefined;
  const hostHosts = readFileSync('/etc/hosts', 'utf8');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'podgate-podfiles-'));
    files = new PodFiles({ dir });
  });
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  it('shows the pod\'s resolv.conf and hosts to the container, and to a process joining it, while the host\'s stay unchanged', async () => {
    const mounts = await files.write('uid-1', { resolvConf: 'nameserver 10.96.0.10\n', hosts: '127.0.0.1\tlocalhost\n10.244.0.5\tweb\n' });
    assert.deepEqual(mounts.map((m) => m.target), hostResolv === undefined ? ['/etc/hosts'] : ['/etc/resolv.conf', '/etc/hosts']);
    const shown = await run([...bindMountArgv(mounts), 'cat', '/etc/hosts', ...(hostResolv === undefined ? [] : ['/etc/resolv.conf'])]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout, `127.0.0.1\tlocalhost\n10.244.0.5\tweb\n${hostResolv === undefined ? '' : 'nameserver 10.96.0.10\n'}`);

    // A running container, then an exec joining it (as kubectl exec does), in its working directory.
    const container = spawn(bindMountArgv(mounts)[0]!, [...bindMountArgv(mounts).slice(1), 'sleep', '30'], { stdio: 'ignore', cwd: '/tmp' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const joined = await run([...namespaceArgv({ bindMounts: mounts, joinPid: container.pid!, workingDir: '/tmp' }), 'sh', '-c', 'pwd; cat /etc/hosts']);
      assert.equal(joined.code, 0, joined.stderr);
      assert.equal(joined.stdout, '/tmp\n127.0.0.1\tlocalhost\n10.244.0.5\tweb\n');
      // New content reaches running containers (same file, written in place).
      await files.write('uid-1', { resolvConf: 'nameserver 10.96.0.10\n', hosts: '127.0.0.1\tlocalhost\n10.244.0.6\tweb\n' });
      const again = await run([...namespaceArgv({ bindMounts: mounts, joinPid: container.pid!, workingDir: '/' }), 'cat', '/etc/hosts']);
      assert.equal(again.stdout, '127.0.0.1\tlocalhost\n10.244.0.6\tweb\n');
    } finally {
      container.kill('SIGKILL');
    }
    assert.equal(readFileSync('/etc/hosts', 'utf8'), hostHosts);
    if (hostResolv !== undefined) assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), hostResolv);
    const host = await run(['cat', '/etc/hosts']);
    assert.equal(host.stdout, hostHosts);
  });

  it('lets a program running as another user read the files', async () => {
    const mounts = await files.write('uid-2', { hosts: '10.244.0.9\tdb\n' });
    const r = await run([...bindMountArgv(mounts), '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', 'cat', '/etc/hosts']);
    assert.equal(r.stdout, '10.244.0.9\tdb\n', r.stderr);
  });

  it('stops the container with mount\'s message when a mount fails, rather than run it with the host\'s files', async () => {
    const r = await run([...bindMountArgv([{ source: join(dir, 'missing'), target: '/etc/hosts' }]), 'echo', 'ran']);
    assert.equal(r.code, 127);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /mount/);
  });

  it('removes a pod\'s files, and leaves out files without a target on the host', async () => {
    const none = new PodFiles({ dir, exists: () => false });
    assert.deepEqual(await none.write('uid-3', { resolvConf: 'x', hosts: 'y' }), []);
    await files.remove('uid-1');
    assert.equal(existsSync(join(dir, 'uid-1')), false);
  });
});

describe('ProcessRuntime keeps the pod\'s files in place', () => {
  before(requireRoot);
  let dir: string;
  let runtime: ProcessRuntime;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'podgate-podfiles-rt-'));
    mkdirSync(join(dir, 'host'));
    runtime = new ProcessRuntime({ stateDir: join(dir, 'state'), mountCheckMs: 50 });
  });
  after(async () => {
    await runtime.stopAll(0);
    rmSync(dir, { recursive: true, force: true });
  });
  // A stand-in for the host's /etc/resolv.conf, and the pod's file mounted over it.
  const mounts = () => [{ source: join(dir, 'pod-resolv.conf'), target: join(dir, 'host', 'resolv.conf') }];
  const execCat = (uid: string): Promise<string> => new Promise((resolve) => {
    const c = runtime.exec(uid, 'c', ['cat', mounts()[0]!.target]);
    let out = '';
    c.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    c.once('close', () => resolve(out));
  });

  it('has them in place before start() returns: an exec at once sees the pod\'s file, never the host\'s', { timeout: 60_000 }, async () => {
    writeFileSync(join(dir, 'pod-resolv.conf'), 'nameserver 10.96.0.10\n');
    writeFileSync(mounts()[0]!.target, 'nameserver 192.0.2.53\n');
    // A slow `mount` (first on the container's PATH) makes the window a loaded machine may give
    // to an exec right after the start wide enough to see every time.
    mkdirSync(join(dir, 'slowbin'));
    writeFileSync(join(dir, 'slowbin', 'mount'), '#!/bin/sh\nsleep 0.3\nexec /bin/mount "$@"\n', { mode: 0o755 });
    const env = { PATH: `${join(dir, 'slowbin')}:/usr/sbin:/usr/bin:/sbin:/bin` };
    for (let i = 0; i < 3; i++) {
      await runtime.start({ podUid: `now-${i}`, containerName: 'c', argv: ['sleep', '30'], env, logFile: join(dir, `now-${i}.log`), bindMounts: mounts() });
      assert.equal(await execCat(`now-${i}`), 'nameserver 10.96.0.10\n', `run ${i}`);
      await runtime.stop(`now-${i}`, 'c', 0);
    }
  });

  it('stops a tty container with the pod\'s files through its program: the grace period holds, its own exit status is reported', { timeout: 60_000 }, async () => {
    writeFileSync(join(dir, 'pod-resolv.conf'), 'nameserver 10.96.0.10\n');
    // The slow mount keeps the mount script's child around while script is not running yet.
    const env = { PATH: `${join(dir, 'slowbin')}:/usr/sbin:/usr/bin:/sbin:/bin` };
    await runtime.start({ podUid: 'tty', containerName: 'c', argv: ['sleep', '30'], env, logFile: join(dir, 'tty.log'), bindMounts: mounts(), tty: true });
    const t0 = Date.now();
    const exit = await runtime.stop('tty', 'c', 10);
    assert.equal(exit?.exitCode, 143, 'SIGTERM reached sleep (137 would be the SIGKILL after the grace period)');
    assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
  });

  it('tells the exit of a container that ends at once only after start() returned', { timeout: 30_000 }, async () => {
    writeFileSync(join(dir, 'pod-resolv.conf'), 'nameserver 10.96.0.10\n');
    const order: string[] = [];
    const off = runtime.onExit((e) => { if (e.podUid === 'quick') order.push(`exit ${e.exitCode}`); });
    try {
      const exitSeen = new Promise<void>((resolve) => runtime.onExit((e) => { if (e.podUid === 'quick') resolve(); }));
      await runtime.start({ podUid: 'quick', containerName: 'c', argv: ['sh', '-c', 'exit 3'], env: {}, logFile: join(dir, 'quick.log'), bindMounts: mounts() });
      order.push('started');
      await exitSeen;
      assert.deepEqual(order, ['started', 'exit 3']);
    } finally {
      off();
    }
  });

  it('puts the pod\'s file back when the host replaces its own by a rename (as dhclient and systemd-resolved do)', { timeout: 60_000 }, async () => {
    writeFileSync(join(dir, 'pod-resolv.conf'), 'nameserver 10.96.0.10\n');
    await runtime.start({ podUid: 'kept', containerName: 'c', argv: ['sleep', '30'], env: {}, logFile: join(dir, 'kept.log'), bindMounts: mounts() });
    assert.equal(await execCat('kept'), 'nameserver 10.96.0.10\n');
    writeFileSync(`${mounts()[0]!.target}.new`, 'nameserver 192.0.2.54\n');
    renameSync(`${mounts()[0]!.target}.new`, mounts()[0]!.target);
    let seen = '';
    for (let i = 0; i < 200 && seen !== 'nameserver 10.96.0.10\n'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await execCat('kept');
    }
    assert.equal(seen, 'nameserver 10.96.0.10\n');
    assert.equal(readFileSync(mounts()[0]!.target, 'utf8'), 'nameserver 192.0.2.54\n', 'the host keeps its own file');
  });
});
