// The announcer's link I/O against a fake `ip`/`arping` keeping an in-memory link table: which
// commands run, with which lifetimes, and when a gratuitous ARP goes out.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, type Exec } from '../util/exec.ts';
import { addressArgv, LinkAddresses, needsRenewal, parseIpAddrJson } from './link-addresses.ts';

interface FakeAddr { ip: string; prefixLen: number; lifetime?: number }

/** A node's links as the kernel keeps them, driven by the argv the code under test runs. */
class FakeLinks {
  readonly links = new Map<string, FakeAddr[]>([
    ['lo', [{ ip: '127.0.0.1', prefixLen: 8 }]],
    ['eth0', [{ ip: '10.0.0.10', prefixLen: 24 }]],
  ]);
  readonly calls: string[][] = [];
  /** argv matching this fails with exit 2. */
  failing: ((argv: readonly string[]) => boolean) | undefined;
  /** arping never exits (until released). */
  arpingHangs = false;
  readonly #hung: (() => void)[] = [];
  release(): void { for (const f of this.#hung.splice(0)) f(); }

  readonly exec: Exec = async (argv) => {
    this.calls.push([...argv]);
    if (this.failing?.(argv)) throw new CommandError(argv, 2, 'RTNETLINK answers: Operation not permitted');
    const [prog, ...rest] = argv;
    if (prog === 'arping') {
      if (this.arpingHangs) await new Promise<void>((res) => this.#hung.push(res));
      return { stdout: '', stderr: '' };
    }
    if (rest.join(' ') === '-j addr show') {
      const out = [...this.links].map(([ifname, addrs]) => ({
        ifname,
        addr_info: addrs.map((a) => ({ family: 'inet', local: a.ip, prefixlen: a.prefixLen, valid_life_time: a.lifetime ?? 4294967295, preferred_life_time: a.lifetime ?? 4294967295 })),
      }));
      return { stdout: JSON.stringify(out), stderr: '' };
    }
    const [, verb, cidr, , dev, ...more] = rest as [string, string, string, string, string, ...string[]];
    const [ip, bits] = cidr.split('/') as [string, string];
    const addrs = this.links.get(dev) ?? [];
    const i = addrs.findIndex((a) => a.ip === ip && a.prefixLen === Number(bits));
    if (verb === 'replace') {
      const lft = more[more.indexOf('valid_lft') + 1];
      const a = { ip, prefixLen: Number(bits), ...(lft && lft !== 'forever' ? { lifetime: Number(lft) } : {}) };
      if (i >= 0) addrs[i] = a; else addrs.push(a);
      this.links.set(dev, addrs);
      return { stdout: '', stderr: '' };
    }
    if (verb === 'del') {
      if (i < 0) throw new CommandError(argv, 2, 'RTNETLINK answers: Cannot assign requested address');
      addrs.splice(i, 1);
      return { stdout: '', stderr: '' };
    }
    throw new Error(`fake ip: unexpected ${argv.join(' ')}`);
  };

  has(dev: string, ip: string): FakeAddr | undefined {
    return this.links.get(dev)?.find((a) => a.ip === ip && a.prefixLen === 32);
  }
  take(pred: (argv: string[]) => boolean): string[][] {
    const got = this.calls.filter(pred);
    this.calls.length = 0;
    return got;
  }
}

const isArping = (a: string[]) => a[0] === 'arping';
const isWrite = (a: string[]) => a[0] === 'arping' || (a[1] === 'addr' && a[2] !== 'show');
const want = (...ips: string[]) => new Map(ips.map((ip) => [ip, [] as readonly string[]]));

describe('link addresses', () => {
  const dirs: string[] = [];
  const stateDir = () => { const d = mkdtempSync(join(tmpdir(), 'podgate-l2-unit-')); dirs.push(d); return d; };
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  const holder = (fake: FakeLinks, dir: string, logs: string[] = []) =>
    new LinkAddresses({ exec: fake.exec, nodeName: 'n1', stateDir: dir, lifetimeSeconds: 30, log: (m) => logs.push(m) });

  it('adds an address with a lifetime, renews it once a refresh interval has passed, and sends one gratuitous ARP', async () => {
    const fake = new FakeLinks();
    const links = holder(fake, stateDir());
    await links.load();
    await links.apply(want('10.0.0.100'));
    assert.deepEqual(fake.take(isWrite), [
      ['ip', 'addr', 'replace', '10.0.0.100/32', 'dev', 'eth0', 'valid_lft', '30', 'preferred_lft', '30'],
      ['arping', '-U', '-c', '1', '-w', '1', '-I', 'eth0', '10.0.0.100'],
    ]);
    assert.equal(fake.has('eth0', '10.0.0.100')?.lifetime, 30);
    fake.has('eth0', '10.0.0.100')!.lifetime = 25; // a Service changed somewhere, 5 s later
    await links.apply(want('10.0.0.100'));
    assert.deepEqual(fake.take(isWrite), [], 'not due: no command');
    fake.has('eth0', '10.0.0.100')!.lifetime = 20; // the refresh timer, 10 s after the renewal
    await links.apply(want('10.0.0.100'));
    assert.deepEqual(fake.take(isWrite), [['ip', 'addr', 'replace', '10.0.0.100/32', 'dev', 'eth0', 'valid_lft', '30', 'preferred_lft', '30']], 'renewed, not announced again');
    assert.equal(fake.has('eth0', '10.0.0.100')?.lifetime, 30);
    await links.apply(want());
    assert.deepEqual(fake.take(isWrite), [['ip', 'addr', 'del', '10.0.0.100/32', 'dev', 'eth0']]);
    assert.deepEqual(links.owned(), []);
  });

  it('sends a gratuitous ARP after a restart for an address kept on the link, and renews it', async () => {
    const fake = new FakeLinks();
    const dir = stateDir();
    const first = holder(fake, dir);
    await first.load();
    await first.apply(want('10.0.0.100'));
    fake.take(() => true);
    // The agent was killed and starts again before the address expired.
    fake.has('eth0', '10.0.0.100')!.lifetime = 7;
    const logs: string[] = [];
    const second = holder(fake, dir, logs);
    await second.load();
    await second.apply(want('10.0.0.100'));
    assert.deepEqual(fake.take(isWrite), [
      ['ip', 'addr', 'replace', '10.0.0.100/32', 'dev', 'eth0', 'valid_lft', '30', 'preferred_lft', '30'],
      ['arping', '-U', '-c', '1', '-w', '1', '-I', 'eth0', '10.0.0.100'],
    ]);
    assert.ok(logs.includes('l2 announcer: announcing 10.0.0.100 on eth0 (already on the link)'), logs.join('\n'));
    await second.apply(want('10.0.0.100'));
    assert.deepEqual(fake.take(isArping), [], 'once per start');
  });

  it('adds and announces again an address of ours that expired', async () => {
    const fake = new FakeLinks();
    const links = holder(fake, stateDir());
    await links.load();
    await links.apply(want('10.0.0.100'));
    fake.links.set('eth0', fake.links.get('eth0')!.filter((a) => a.ip !== '10.0.0.100'));
    fake.take(() => true);
    await links.apply(want('10.0.0.100'));
    assert.equal(fake.take(isArping).length, 1);
    assert.ok(fake.has('eth0', '10.0.0.100'));
  });

  it('never renews, announces or removes an address it did not add, with a lifetime or without', async () => {
    const fake = new FakeLinks();
    fake.links.get('eth0')!.push({ ip: '10.0.0.50', prefixLen: 32, lifetime: 600 }, { ip: '10.0.0.51', prefixLen: 32 });
    const logs: string[] = [];
    const links = holder(fake, stateDir(), logs);
    await links.load();
    await links.apply(want('10.0.0.50', '10.0.0.51'));
    await links.apply(want());
    assert.deepEqual(fake.take(isWrite), []);
    assert.equal(fake.has('eth0', '10.0.0.50')?.lifetime, 600);
    assert.ok(fake.has('eth0', '10.0.0.51'));
    assert.ok(logs.some((l) => l.includes('10.0.0.50: already on eth0 (not added by podgate)')), logs.join('\n'));
  });

  it('keeps an address whose renewal failed, renews the others, and reports the failure', async () => {
    const fake = new FakeLinks();
    const links = holder(fake, stateDir());
    await links.load();
    await links.apply(want('10.0.0.100', '10.0.0.101'));
    fake.failing = (a) => a[2] === 'replace' && a[3] === '10.0.0.100/32';
    for (const ip of ['10.0.0.100', '10.0.0.101']) fake.has('eth0', ip)!.lifetime = 20; // due
    fake.take(() => true);
    await assert.rejects(links.apply(want('10.0.0.100', '10.0.0.101')), /renew 10\.0\.0\.100 on eth0: RTNETLINK answers: Operation not permitted/);
    assert.deepEqual(fake.take((a) => a[2] === 'replace').map((a) => a[3]), ['10.0.0.100/32', '10.0.0.101/32']);
    assert.deepEqual(links.owned().map((p) => p.ip), ['10.0.0.100', '10.0.0.101']);
  });

  it('holds an address forever while no other node could take it, and switches to a lifetime and back', async () => {
    const fake = new FakeLinks();
    const links = holder(fake, stateDir());
    await links.load();
    const sole = new Set(['10.0.0.100']);
    const replace = (lft: string) => ['ip', 'addr', 'replace', '10.0.0.100/32', 'dev', 'eth0', 'valid_lft', lft, 'preferred_lft', lft];
    await links.apply(want('10.0.0.100'), sole);
    assert.deepEqual(fake.take(isWrite), [replace('forever'), ['arping', '-U', '-c', '1', '-w', '1', '-I', 'eth0', '10.0.0.100']]);
    assert.equal(fake.has('eth0', '10.0.0.100')?.lifetime, undefined);
    await links.apply(want('10.0.0.100'), sole);
    assert.deepEqual(fake.take(isWrite), [], 'permanent and should be: nothing to renew');
    await links.apply(want('10.0.0.100')); // another node became a candidate
    assert.deepEqual(fake.take(isWrite), [replace('30')]);
    assert.equal(fake.has('eth0', '10.0.0.100')?.lifetime, 30);
    await links.apply(want('10.0.0.100'), sole); // and left again
    assert.deepEqual(fake.take(isWrite), [replace('forever')]);
    assert.equal(fake.has('eth0', '10.0.0.100')?.lifetime, undefined);
  });

  // The timeout only turns a hang on the old code into a failure; the test does not measure time.
  it('renews while an arping hangs: gratuitous ARPs are off the sync path', { timeout: 20_000 }, async () => {
    const fake = new FakeLinks();
    fake.arpingHangs = true;
    const links = holder(fake, stateDir());
    await links.load();
    await links.apply(want('10.0.0.100'));
    assert.deepEqual(fake.take(isWrite).map((a) => a.slice(0, 3)), [['ip', 'addr', 'replace'], ['arping', '-U', '-c']], 'added, arping started (and hanging)');
    fake.has('eth0', '10.0.0.100')!.lifetime = 20;
    await links.apply(want('10.0.0.100', '10.0.0.101'));
    assert.deepEqual(fake.take(isWrite).map((a) => `${a[2]} ${a[3]}`), ['replace 10.0.0.100/32', 'replace 10.0.0.101/32'], 'renewed and added; the second arping waits its turn');
    fake.arpingHangs = false;
    fake.release();
    await links.arpsSent();
    assert.deepEqual(fake.take(isArping).map((a) => a.at(-1)), ['10.0.0.101'], 'then sent');
  });

  it('refuses a lifetime that is not a whole number of seconds', () => {
    for (const lifetimeSeconds of [0, -1, 2.5, Number.NaN]) {
      assert.throws(() => new LinkAddresses({ exec: new FakeLinks().exec, nodeName: 'n1', stateDir: '/nonexistent', lifetimeSeconds, log: () => {} }), /lifetime/);
    }
  });
});

describe('when an address of ours is renewed (lifetime 30 s, refresh 10 s)', () => {
  // remaining: what `ip -j addr` reports (undefined = forever); forever: no other node could take it.
  const table: [remaining: number | undefined, forever: boolean, renew: boolean, why: string][] = [
    [30, false, false, 'just set'],
    [22, false, false, 'less than a refresh interval ago'],
    [21, false, true, 'a refresh interval ago, give or take the kernel\'s whole seconds and timer drift'],
    [20, false, true, 'a refresh interval ago'],
    [3, false, true, 'about to expire'],
    [600, false, true, 'a longer lifetime than configured (an older setting)'],
    [undefined, false, true, 'permanent, but another node could take it over'],
    [undefined, true, false, 'permanent and the only candidate'],
    [25, true, true, 'the only candidate now: made permanent'],
    [3, true, true, 'the only candidate, about to expire'],
  ];
  for (const [remaining, forever, renew, why] of table) {
    it(`${renew ? 'renews' : 'leaves'} ${remaining ?? 'forever'}${forever ? ' (sole candidate)' : ''}: ${why}`, () => {
      assert.equal(needsRenewal(remaining, forever, 30, 10), renew);
    });
  }
});

describe('ip commands', () => {
  it('gives IPv6 addresses nodad and a lifetime', () => {
    assert.deepEqual(addressArgv({ ip: 'fd00::5', iface: 'eth1' }, 9), ['ip', 'addr', 'replace', 'fd00::5/128', 'dev', 'eth1', 'valid_lft', '9', 'preferred_lft', '9', 'nodad']);
  });
  it('reads lifetimes from ip -j addr: a number when finite, nothing when forever', () => {
    const links = parseIpAddrJson(JSON.stringify([{ ifname: 'eth0', addr_info: [
      { local: '10.0.0.10', prefixlen: 24, valid_life_time: 4294967295 },
      { local: '10.0.0.100', prefixlen: 32, dynamic: true, valid_life_time: 28 },
      { local: '10.0.0.101' },
    ] }]));
    assert.deepEqual(links, [{ name: 'eth0', addresses: [{ ip: '10.0.0.10', prefixLen: 24 }, { ip: '10.0.0.100', prefixLen: 32, validLifetime: 28 }, { ip: '10.0.0.101', prefixLen: 32 }] }]);
  });
});
