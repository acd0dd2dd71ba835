// Throwaway test hosts: a "LAN" (a bridge inside its own netns) and hosts (one netns each, with a
// veth into the LAN bridge and an address on the LAN's /24). Nothing has a route to the machine's
// real network: the LAN bridge has no uplink and no address, and no link is ever created in the
// root namespace (every veth pair is created inside the LAN netns with its peer moved straight
// into the host's netns).
//
// Names carry `pgt-<pid>-<random>-` so concurrent test files never collide and a later run can
// tell a dead run's leftovers (sweepStaleTestNetns). Everything is removed by destroy(), by an
// exit hook, and on SIGINT/SIGTERM.
//
//   const lan = await createLan({ hosts: ['node', { name: 'client' }] });
//   try { await lan.exec('client', ['curl', `http://${lan.host('node').ip}:8080/`]); } finally { await lan.destroy(); }
import { type ChildProcess, type SpawnOptions, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '../..');
/** Node 24 from the repository (plain `node` on this machine may be older). */
export const nodeBin = join(repoRoot, 'node_modules/.bin/node');

const NETNS_DIR = '/run/netns';
/** One file per live LAN (named by its prefix, so by pid) listing prefixes given to trackNetnsPrefix, for sweeping after a kill -9. */
const REGISTRY_DIR = '/run/podgate-test-netns';
const NAME_RE = /^pgt-(\d+)-[0-9a-f]+-/;
const BIN_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** Throws (never skips) when the tests cannot build hosts: not root, or `ip`/`nft` missing, saying what to install. */
export function requireNetTools(): void {
  if (process.getuid?.() !== 0) throw new Error('network-namespace tests need root (ip netns, veth, nftables)');
  const missing: string[] = [];
  if (!BIN_DIRS.some((d) => existsSync(join(d, 'ip')))) missing.push('ip (apt-get install -y iproute2)');
  if (!BIN_DIRS.some((d) => existsSync(join(d, 'nft')))) missing.push('nft (apt-get install -y nftables)');
  if (missing.length) throw new Error(`network-namespace tests need ${missing.join(' and ')}`);
}

export interface HostSpec {
  readonly name: string;
  /** Another host's name: the default route goes via its LAN address. No default route otherwise. */
  readonly gateway?: string;
}

export interface TestHost {
  readonly name: string;
  readonly netns: string;
  /** The host's LAN address. */
  readonly ip: string;
  /** The host's LAN interface (inside its netns). */
  readonly iface: string;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly input?: string;
  /** Kills the command (by pid) after this long; default 30 s. */
  readonly timeoutMs?: number;
  /** Resolve with the result instead of rejecting on a non-zero exit. */
  readonly allowFailure?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

const live = new Set<TestLan>();
let hooksInstalled = false;

export class TestLan {
  /** `pgt-<pid>-<hex>-`: prefix of every netns of this LAN. */
  readonly prefix: string;
  readonly netns: string;
  /** The LAN's /24, e.g. 10.250.17.0/24. */
  readonly subnet: string;
  readonly prefixLength = 24;
  readonly #base: string;
  readonly #hosts = new Map<string, TestHost>();
  readonly #children = new Set<ChildProcess>();
  readonly #extraPrefixes = new Set<string>();
  #nextHost = 10;
  #destroyed = false;

  constructor() {
    this.prefix = `pgt-${process.pid}-${randomBytes(3).toString('hex')}-`;
    this.netns = `${this.prefix}lan`;
    // 10.250.x.0/24: private, outside podgate's defaults (pods 10.244.0.0/16, services 10.96.0.0/12).
    // Each LAN is isolated in its own netns, so two runs picking the same x do not clash.
    this.#base = `10.250.${randomInt(256)}`;
    this.subnet = `${this.#base}.0/24`;
  }

  get hosts(): TestHost[] {
    return [...this.#hosts.values()];
  }

  host(name: string): TestHost {
    const h = this.#hosts.get(name);
    if (!h) throw new Error(`test LAN: no host "${name}" (have ${[...this.#hosts.keys()].join(', ') || 'none'})`);
    return h;
  }

  /** Creates the LAN netns and bridge; called by createLan. */
  async init(): Promise<void> {
    live.add(this);
    installHooks();
    await run(['ip', 'netns', 'add', this.netns]);
    await run(['ip', '-n', this.netns, '-batch', '-'], {
      input: ['link set dev lo up', 'link add lan0 type bridge', 'link set dev lan0 up'].join('\n') + '\n',
    });
  }

  /** Adds a host: its own netns, `eth0` bridged into the LAN, the next free LAN address, lo up. */
  async addHost(spec: HostSpec | string): Promise<TestHost> {
    const s = typeof spec === 'string' ? { name: spec } : spec;
    if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(s.name)) throw new Error(`test LAN: bad host name "${s.name}"`);
    if (this.#hosts.has(s.name)) throw new Error(`test LAN: host "${s.name}" exists`);
    if (this.#nextHost > 250) throw new Error('test LAN: full');
    const n = this.#nextHost++;
    const host: TestHost = { name: s.name, netns: `${this.prefix}${s.name}`, ip: `${this.#base}.${n}`, iface: 'eth0' };
    this.#hosts.set(s.name, host);
    const port = `h${n}`;
    await run(['ip', 'netns', 'add', host.netns]);
    await run(['ip', '-n', this.netns, '-batch', '-'], {
      input: [`link add ${port} type veth peer name eth0 netns ${host.netns}`, `link set dev ${port} master lan0 up`].join('\n') + '\n',
    });
    const lines = ['link set dev lo up', `address add ${host.ip}/${this.prefixLength} dev eth0`, 'link set dev eth0 up'];
    if (s.gateway) lines.push(`route add default via ${this.host(s.gateway).ip} dev eth0`);
    await run(['ip', '-n', host.netns, '-batch', '-'], { input: lines.join('\n') + '\n' });
    return host;
  }

  /**
   * Runs argv inside the host's netns (a host name, 'lan', a TestHost, or any `{ netns }`, e.g. a
   * pod's); rejects on a non-zero exit unless allowFailure. Uses `nsenter --net=` rather than
   * `ip netns exec`: the latter also puts the command in a private (slave) mount namespace, where
   * network namespaces it creates with `ip netns add` (a podgate node making pod netns) stay
   * invisible to everyone else and vanish with it.
   */
  exec(host: string | { readonly netns: string }, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    return run(['nsenter', `--net=${NETNS_DIR}/${this.#netnsOf(host)}`, '--', ...argv], opts);
  }

  /** Starts argv inside the host's netns (as exec does); the process is killed (by pid) on destroy(). nsenter execs, so child.pid is the command's pid. */
  spawn(host: string | { readonly netns: string }, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('nsenter', [`--net=${NETNS_DIR}/${this.#netnsOf(host)}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /**
   * Also remove, on destroy, every netns whose name starts with `prefix` (and the processes in
   * them): for namespaces that code under test creates, e.g. a podgate node's pod netns.
   */
  trackNetnsPrefix(prefix: string): void {
    if (prefix.length < 4) throw new Error(`test LAN: prefix "${prefix}" is too broad`);
    this.#extraPrefixes.add(prefix);
    mkdirSync(REGISTRY_DIR, { recursive: true, mode: 0o700 });
    appendFileSync(join(REGISTRY_DIR, this.prefix), `${prefix}\n`);
  }

  /** Kills what runs in the LAN's namespaces (by pid) and removes them. Idempotent; never throws for what is already gone. */
  async destroy(): Promise<void> {
    this.destroySync();
  }

  /** destroy() for exit hooks, where nothing asynchronous runs. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    for (const c of this.#children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) tryKill(c.pid);
    }
    const names = listNetns().filter((n) => n.startsWith(this.prefix) || [...this.#extraPrefixes].some((p) => n.startsWith(p)));
    // Hosts first, the LAN last: removing a host netns takes its veth pair with it.
    names.sort((a, b) => Number(a === this.netns) - Number(b === this.netns) || a.localeCompare(b));
    for (const n of names) removeNetnsSync(n);
    rmSync(join(REGISTRY_DIR, this.prefix), { force: true });
  }

  #netnsOf(host: string | { readonly netns: string }): string {
    if (typeof host !== 'string') return host.netns;
    if (host === 'lan') return this.netns;
    return this.host(host).netns;
  }
}

/** Builds a LAN with the given hosts (in order, so a gateway must come before the hosts using it). On failure everything built so far is removed. */
export async function createLan(opts: { hosts?: readonly (HostSpec | string)[] } = {}): Promise<TestLan> {
  requireNetTools();
  sweepStaleTestNetns();
  const lan = new TestLan();
  try {
    await lan.init();
    for (const h of opts.hosts ?? []) await lan.addHost(h);
  } catch (err) {
    lan.destroySync();
    throw err;
  }
  return lan;
}

/**
 * Removes the netns (and processes in them) of test runs whose process is gone, e.g. after a
 * kill -9, including those under prefixes they tracked. Returns what it removed.
 */
export function sweepStaleTestNetns(): string[] {
  const deadPrefixes: string[] = [];
  let registered: string[] = [];
  try {
    registered = readdirSync(REGISTRY_DIR);
  } catch { /* none yet */ }
  for (const f of registered) {
    const m = NAME_RE.exec(f);
    if (!m || isAlive(Number(m[1]))) continue;
    try {
      deadPrefixes.push(...readFileSync(join(REGISTRY_DIR, f), 'utf8').split('\n').filter((p) => p.length >= 4));
    } catch { /* raced with another sweeper */ }
    rmSync(join(REGISTRY_DIR, f), { force: true });
  }
  const removed: string[] = [];
  for (const n of listNetns()) {
    const m = NAME_RE.exec(n);
    const stale = (m && !isAlive(Number(m[1]))) || deadPrefixes.some((p) => n.startsWith(p));
    if (!stale) continue;
    removeNetnsSync(n);
    removed.push(n);
  }
  return removed;
}

function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch {
    return [];
  }
}

function removeNetnsSync(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const p of pids.split('\n').map((l) => Number(l.trim())).filter((p) => p > 0)) {
      if (p !== process.pid) tryKill(p);
    }
  } catch { /* already gone */ }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch { /* already gone */ }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch { /* already exited */ }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const cleanAll = () => { for (const lan of [...live]) lan.destroySync(); };
  process.once('exit', cleanAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanAll();
      process.kill(process.pid, sig);
    });
  }
}

function run(argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) tryKill(child.pid);
    }, opts.timeoutMs ?? 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.stdin.on('error', () => { /* reported by the exit code */ });
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (code === 0 || opts.allowFailure) resolve(result);
      else reject(new Error(`${argv.join(' ')}: ${timedOut ? 'timed out' : `exit ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * `node -e` source of a TCP + UDP echo server: args PORT TAG [ADDRESS]. Each TCP connection or
 * UDP datagram gets one reply `TAG <client address>` (the address the server saw, to check
 * masquerade). Prints `listening` once both sockets are bound.
 */
export const echoServerSource = `
const net = require('node:net'); const dgram = require('node:dgram');
const [port, tag, host = '0.0.0.0'] = process.argv.slice(1);
let ready = 0; const up = () => { if (++ready === 2) console.log('listening'); };
net.createServer((s) => { s.on('error', () => {}); s.end(tag + ' ' + s.remoteAddress.replace(/^::ffff:/, '') + '\\n'); }).listen(+port, host, up);
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(tag + ' ' + r.address + '\\n', r.port, r.address)); u.bind(+port, host, up);
`;

/** `node -e` source of a one-shot client: args tcp|udp HOST PORT [TIMEOUT_MS]; prints the first reply line and exits 0, exits 1 on error or timeout. */
export const echoClientSource = `
const net = require('node:net'); const dgram = require('node:dgram');
const [proto, host, port, ms = '3000'] = process.argv.slice(1);
const done = (code, text) => { if (text) (code ? console.error : console.log)(text.trim()); process.exit(code); };
setTimeout(() => done(1, 'timeout'), +ms);
if (proto === 'tcp') { let b = ''; const s = net.connect(+port, host); s.on('data', (d) => { b += d; }); s.on('end', () => done(0, b)); s.on('error', (e) => done(1, e.code || e.message)); }
else { const u = dgram.createSocket('udp4'); u.on('message', (m) => done(0, String(m))); u.on('error', (e) => done(1, e.code || e.message)); const ping = () => u.send('ping', +port, host); ping(); setInterval(ping, 300); }
`;

/** Resolves when the child prints a line matching `pattern` on stdout; rejects on exit or timeout with what it printed. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const finish = (err?: Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (err) reject(err); else resolve();
    };
    const onData = (d: Buffer) => { out += d.toString(); if (pattern.test(out)) finish(); };
    const onErr = (d: Buffer) => { out += d.toString(); };
    const onExit = (code: number | null) => finish(new Error(`process exited (${code}) before printing ${pattern}:\n${out}`));
    const timer = setTimeout(() => finish(new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}
