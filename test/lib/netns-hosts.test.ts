import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { type TestLan, createLan, echoClientSource, echoServerSource, nodeBin, requireNetTools, sweepStaleTestNetns, waitForOutput } from './netns-hosts.ts';

const netnsNames = () => readdirSync('/run/netns').sort();

/** Dead or a zombie waiting for init to reap it (an orphan's parent is init, which reaps when it gets to it). */
async function isGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('netns test hosts', () => {
  requireNetTools();
  const lans: TestLan[] = [];
  after(async () => { for (const l of lans) await l.destroy(); });

  it('builds hosts that reach each other over the LAN and nothing else', async () => {
    const lan = await createLan({ hosts: ['a', 'b', { name: 'c', gateway: 'a' }] });
    lans.push(lan);
    const a = lan.host('a');
    const b = lan.host('b');
    assert.match(lan.subnet, /^10\.250\.\d+\.0\/24$/);
    assert.notEqual(a.ip, b.ip);

    const server = lan.spawn('b', [nodeBin, '-e', echoServerSource, '7000', 'b']);
    await waitForOutput(server, /listening/);
    const tcp = await lan.exec('a', [nodeBin, '-e', echoClientSource, 'tcp', b.ip, '7000']);
    assert.equal(tcp.stdout.trim(), `b ${a.ip}`);
    const udp = await lan.exec('a', [nodeBin, '-e', echoClientSource, 'udp', b.ip, '7000']);
    assert.equal(udp.stdout.trim(), `b ${a.ip}`);

    // Only the LAN route (and c's default via a): no way out to the machine's network.
    const routesA = (await lan.exec('a', ['ip', '-4', 'route', 'show'])).stdout.trim();
    assert.equal(routesA, `${lan.subnet} dev eth0 proto kernel scope link src ${a.ip}`);
    const routesC = (await lan.exec('c', ['ip', '-4', 'route', 'show'])).stdout;
    assert.match(routesC, new RegExp(`^default via ${a.ip.replaceAll('.', '\\.')} dev eth0`, 'm'));
    const out = await lan.exec('a', [nodeBin, '-e', echoClientSource, 'tcp', '127.0.0.1', '1', '1000'], { allowFailure: true });
    assert.equal(out.code, 1);
    assert.throws(() => lan.host('nope'), /no host "nope"/);
  });

  it('destroy removes every namespace, tracked prefixes too, and kills what runs inside', async () => {
    const lan = await createLan({ hosts: ['x'] });
    const extra = `${lan.prefix.replace('pgt-', 'pgx-')}pod`;
    execFileSync('ip', ['netns', 'add', extra]);
    lan.trackNetnsPrefix(extra.slice(0, -3));
    const sleeper = lan.spawn('x', ['sleep', '600']);
    const inner = spawnSync('ip', ['netns', 'exec', extra, 'sh', '-c', 'sleep 600 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const innerPid = Number(inner.stdout.trim());
    assert.ok(innerPid > 0);
    assert.ok(netnsNames().some((n) => n.startsWith(lan.prefix)));
    await lan.destroy();
    await lan.destroy(); // idempotent
    assert.deepEqual(netnsNames().filter((n) => n.startsWith(lan.prefix) || n === extra), []);
    await new Promise<void>((r) => (sleeper.exitCode !== null || sleeper.signalCode !== null ? r() : sleeper.once('exit', () => r())));
    assert.equal(sleeper.signalCode, 'SIGKILL');
    assert.ok(await isGone(innerPid), `pid ${innerPid} still running`);
  });

  it('two LANs at once never share a name', async () => {
    const [l1, l2] = await Promise.all([createLan({ hosts: ['n'] }), createLan({ hosts: ['n'] })]);
    lans.push(l1, l2);
    assert.notEqual(l1.host('n').netns, l2.host('n').netns);
    assert.notEqual(l1.netns, l2.netns);
  });

  it('sweeps namespaces left by a test process that died', async () => {
    const dead = spawnSync('true').pid!;
    const stale = `pgt-${dead}-abcdef-lan`;
    const tracked = `pgx-${dead}-abcdef-pod1`;
    execFileSync('ip', ['netns', 'add', stale]);
    execFileSync('ip', ['netns', 'add', tracked]);
    mkdirSync('/run/podgate-test-netns', { recursive: true });
    writeFileSync(`/run/podgate-test-netns/pgt-${dead}-abcdef-`, `pgx-${dead}-abcdef-\n`);
    try {
      assert.deepEqual(sweepStaleTestNetns().filter((n) => n.includes(`-${dead}-`)).sort(), [tracked, stale].sort());
      assert.ok(!netnsNames().includes(stale) && !netnsNames().includes(tracked));
      assert.ok(!existsSync(`/run/podgate-test-netns/pgt-${dead}-abcdef-`));
    } finally {
      spawnSync('ip', ['netns', 'del', stale]);
      spawnSync('ip', ['netns', 'del', tracked]);
    }
  });
});
