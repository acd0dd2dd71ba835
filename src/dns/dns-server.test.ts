// The cluster DNS over real sockets on 127.0.0.1: queries over UDP and TCP with a dns-packet
// client, forwarding to a fake upstream on 127.0.0.1, truncation, malformed packets, and the
// whole component fed by informers from an in-process API server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import type { Namespace, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { startInProcessApiServer, type InProcessApiServer } from '../apiserver/in-process.ts';
import { buildClusterView } from './cluster-view.ts';
import { ClusterDns } from './cluster-dns.ts';
import { kubeDnsSlice } from './kube-dns.ts';
import { DnsServer, type DnsServerTimers } from './dns-server.ts';
import { Forwarder } from './forwarder.ts';
import { handleQuery } from './query-handler.ts';
import type { RecordOptions } from './records.ts';

let nextId = 1;

function query(name: string, type: string, edns?: number, ednsVersion = 0): Buffer {
  const p: Packet = { id: nextId++, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as 'A', class: 'IN' }] };
  if (edns) p.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: edns, extendedRcode: 0, ednsVersion, flags: 0, flag_do: false, options: [] }];
  return dnsPacket.encode(p);
}

type Reply = DecodedPacket & { rcode: string };

function udpAsk(port: number, msg: Buffer, timeoutMs = 3000): Promise<Reply | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); resolve(undefined); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(dnsPacket.decode(m) as Reply); });
    s.send(msg, port, '127.0.0.1');
  });
}

function tcpAsk(port: number, msgs: Buffer[]): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const out: Reply[] = [];
    c.on('error', reject);
    c.on('connect', () => c.write(Buffer.concat(msgs.map((m) => { const l = Buffer.alloc(2); l.writeUInt16BE(m.length); return Buffer.concat([l, m]); }))));
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))) as Reply);
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === msgs.length) { c.end(); resolve(out); }
    });
  });
}

const data = (a: Answer[] | undefined) => (a ?? []).map((x) => `${x.type} ${typeof (x as { data?: unknown }).data === 'object' ? JSON.stringify((x as { data: unknown }).data) : String((x as { data?: unknown }).data)}`);

const ns = (name: string): Namespace => ({ metadata: { name } });
const svc = (name: string, spec: Service['spec']): Service => ({ metadata: { namespace: 'default', name }, spec });

/** A fake upstream on 127.0.0.1: answers A queries for *.example.com with 192.0.2.1 (other types NODATA), other names NXDOMAIN, over UDP and TCP. */
async function fakeUpstream(): Promise<{ port: number; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = new DnsServer({
    address: '127.0.0.1', port: 0,
    handle: async (msg) => {
      const q = dnsPacket.decode(msg);
      const question = q.questions![0]!;
      seen.push(`${question.type} ${question.name}`);
      const known = question.name.endsWith('example.com');
      return dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3), questions: q.questions,
        answers: known && question.type === 'A' ? [{ name: question.name, type: 'A', ttl: 60, data: '192.0.2.1' }] : [] });
    },
  });
  await server.listen();
  return { port: server.port, seen, close: () => server.close() };
}

describe('DNS server on 127.0.0.1 (UDP and TCP)', () => {
  let server: DnsServer;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let silent: Socket;
  const many = Array.from({ length: 60 }, (_, i) => `10.244.${Math.floor(i / 200)}.${(i % 200) + 2}`);
  const view = buildClusterView({
    namespaces: [ns('default')],
    services: [
      svc('echo', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
      svc('big', { clusterIP: 'None', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }),
      svc('ext', { type: 'ExternalName', externalName: 'www.example.com' }),
      svc('ext-missing', { type: 'ExternalName', externalName: 'nothing.invalid' }),
    ],
    slices: [{ metadata: { namespace: 'default', name: 'big-1', labels: { 'kubernetes.io/service-name': 'big' } }, addressType: 'IPv4',
      endpoints: many.map((ip) => ({ addresses: [ip], conditions: { ready: true } })), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } as EndpointSlice],
    serial: 5,
  });
  const records: RecordOptions = { zone: 'cluster.local', ttl: 30, podsMode: 'insecure', nameserverIPs: ['10.96.0.10'] };

  before(async () => {
    upstream = await fakeUpstream();
    // An upstream that never answers (for SERVFAIL after the timeout).
    silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    const forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.port }], timeoutMs: 500 });
    server = new DnsServer({ address: '127.0.0.1', port: 0, handle: (m, t) => handleQuery(m, t, { records, view: () => view, forwarder, random: null }) });
    await server.listen();
  });
  after(async () => { await server?.close(); await upstream?.close(); silent?.close(); });

  it('answers a ClusterIP Service over UDP, authoritative, without recursion available (as CoreDNS)', async () => {
    const r = await udpAsk(server.port, query('echo.default.svc.cluster.local', 'A'));
    assert.equal(r?.rcode, 'NOERROR');
    assert.deepEqual(data(r?.answers), ['A 10.96.0.20']);
    assert.equal(r?.flag_aa, true);
    assert.equal(r?.flag_rd, true);
    assert.equal(r?.flag_ra, false);
    assert.equal((r?.answers?.[0] as { ttl?: number } | undefined)?.ttl, 30);
  });

  it('answers several queries on one TCP connection', async () => {
    const [a, b] = await tcpAsk(server.port, [query('echo.default.svc.cluster.local', 'A'), query('_http._tcp.echo.default.svc.cluster.local', 'SRV')]);
    assert.deepEqual(data(a?.answers), ['A 10.96.0.20']);
    assert.deepEqual(data(b?.answers), ['SRV {"priority":0,"weight":100,"port":80,"target":"echo.default.svc.cluster.local"}']);
    assert.deepEqual(data(b?.additionals), ['A 10.96.0.20']);
  });

  it('answers NXDOMAIN with the SOA in the authority section', async () => {
    const r = await udpAsk(server.port, query('nope.default.svc.cluster.local', 'A'));
    assert.equal(r?.rcode, 'NXDOMAIN');
    assert.deepEqual(r?.authorities?.map((a) => `${a.type} ${a.name}`), ['SOA cluster.local']);
  });

  it('forwards other names to the upstream over the client\'s transport, and gives its answer back under the client\'s ID', async () => {
    const q = query('www.example.com', 'A');
    const r = await udpAsk(server.port, q);
    assert.equal(r?.id, q.readUInt16BE(0));
    assert.deepEqual(data(r?.answers), ['A 192.0.2.1']);
    assert.equal(r?.flag_ra, true);
    const [t] = await tcpAsk(server.port, [query('tcp.example.com', 'A')]);
    assert.deepEqual(data(t?.answers), ['A 192.0.2.1']);
    assert.ok(upstream.seen.includes('A tcp.example.com'));
  });

  it('resolves an ExternalName target upstream: the CNAME and the target\'s addresses', async () => {
    const r = await udpAsk(server.port, query('ext.default.svc.cluster.local', 'A'));
    assert.deepEqual(data(r?.answers), ['CNAME www.example.com', 'A 192.0.2.1']);
    assert.equal(r?.flag_aa, true);
  });

  it('keeps an ExternalName\'s CNAME when the target has no records upstream (NODATA or NXDOMAIN), as CoreDNS', async () => {
    const nodata = await udpAsk(server.port, query('ext.default.svc.cluster.local', 'AAAA'));
    assert.equal(nodata?.rcode, 'NOERROR');
    assert.deepEqual(data(nodata?.answers), ['CNAME www.example.com']);
    const nxdomain = await udpAsk(server.port, query('ext-missing.default.svc.cluster.local', 'A'));
    assert.equal(nxdomain?.rcode, 'NOERROR');
    assert.deepEqual(data(nxdomain?.answers), ['CNAME nothing.invalid']);
  });

  it('drops an ExternalName\'s CNAME only when the upstream lookup fails (NODATA with the SOA)', async () => {
    const reply = await handleQuery(query('ext.default.svc.cluster.local', 'A'), 'udp', { records, view: () => view, forwarder: { exchange: async () => undefined } });
    const r = dnsPacket.decode(reply!) as Reply;
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(data(r.answers), []);
    assert.deepEqual(r.authorities?.map((a) => a.type), ['SOA']);
  });

  it('truncates a large answer over UDP (TC set, what fits), and gives it whole over TCP', async () => {
    const udp = await udpAsk(server.port, query('big.default.svc.cluster.local', 'A'));
    assert.equal(udp?.flag_tc, true);
    assert.ok((udp?.answers?.length ?? 0) > 0 && (udp?.answers?.length ?? 0) < many.length, `${udp?.answers?.length} answers`);
    const edns = await udpAsk(server.port, query('big.default.svc.cluster.local', 'A', 4096));
    assert.equal(edns?.flag_tc, false);
    assert.equal(edns?.answers?.length, many.length);
    const [tcp] = await tcpAsk(server.port, [query('big.default.svc.cluster.local', 'A')]);
    assert.equal(tcp?.flag_tc, false);
    assert.equal(tcp?.answers?.length, many.length);
  });

  it('answers FORMERR to an undecodable query and NOTIMP to other opcodes, and drops responses', async () => {
    const bad = Buffer.concat([query('echo.default.svc.cluster.local', 'A').subarray(0, 20)]);
    const r = await udpAsk(server.port, bad);
    assert.equal(r?.rcode, 'FORMERR');
    const notify = query('cluster.local', 'SOA');
    notify.writeUInt16BE((notify.readUInt16BE(2) & ~0x7800) | (4 << 11), 2);
    assert.equal((await udpAsk(server.port, notify))?.rcode, 'NOTIMP');
    const response = query('echo.default.svc.cluster.local', 'A');
    response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
    assert.equal(await udpAsk(server.port, response, 300), undefined);
  });

  it('answers BADVERS to an EDNS version other than 0 (RFC 6891), with version 0 in its OPT, as CoreDNS', async () => {
    const r = await udpAsk(server.port, query('echo.default.svc.cluster.local', 'A', 1232, 1));
    const opt = r?.additionals?.find((a) => a.type === 'OPT') as { extendedRcode?: number; ednsVersion?: number } | undefined;
    assert.equal(r?.flag_qr, true);
    // BADVERS is 16: the header's 4 bits are 0, the OPT's extended RCODE holds the upper 8.
    assert.equal(((opt?.extendedRcode ?? 0) << 4) | ((r?.flags ?? 0) & 0xf), 16);
    assert.equal(opt?.ednsVersion, 0);
    assert.deepEqual(r?.answers, []);
    assert.deepEqual(r?.questions?.map((q) => q.name), ['echo.default.svc.cluster.local']);
  });

  it('survives random and mutated packets (a small fuzz), and answers afterwards', async () => {
    const s = createSocket('udp4');
    const valid = query('echo.default.svc.cluster.local', 'SRV');
    for (let i = 0; i < 2000; i++) {
      let m: Buffer;
      if (i % 2 === 0) m = randomBytes(Math.floor(Math.random() * 600));
      else {
        m = Buffer.from(valid);
        for (let k = 0; k < 1 + (i % 5); k++) m[Math.floor(Math.random() * m.length)] = Math.floor(Math.random() * 256);
        m.writeUInt16BE(m.readUInt16BE(2) & 0x7fff, 2);
      }
      s.send(m, server.port, '127.0.0.1');
    }
    // Mutations straight into the handler too, where exceptions would surface.
    const forwarder = { exchange: async () => undefined };
    for (let i = 0; i < 3000; i++) {
      const m = Buffer.from(valid);
      for (let k = 0; k < 1 + (i % 7); k++) m[Math.floor(Math.random() * m.length)] = Math.floor(Math.random() * 256);
      await handleQuery(m, i % 2 ? 'udp' : 'tcp', { records, view: () => view, forwarder });
    }
    await new Promise((r) => setTimeout(r, 200));
    s.close();
    const r = await udpAsk(server.port, query('echo.default.svc.cluster.local', 'A'));
    assert.deepEqual(data(r?.answers), ['A 10.96.0.20']);
  });

  it('answers SERVFAIL when the upstream does not answer, or when there is none', async () => {
    const port = (silent.address()).port;
    const quiet = new DnsServer({ address: '127.0.0.1', port: 0,
      handle: (m, t) => handleQuery(m, t, { records, view: () => view, forwarder: new Forwarder({ upstreams: [{ host: '127.0.0.1', port }], timeoutMs: 300 }) }) });
    const none = new DnsServer({ address: '127.0.0.1', port: 0,
      handle: (m, t) => handleQuery(m, t, { records, view: () => view, forwarder: new Forwarder({ upstreams: [] }) }) });
    await quiet.listen();
    await none.listen();
    try {
      const t0 = Date.now();
      assert.equal((await udpAsk(quiet.port, query('www.example.com', 'A')))?.rcode, 'SERVFAIL');
      assert.ok(Date.now() - t0 >= 250);
      assert.equal((await udpAsk(none.port, query('www.example.com', 'A')))?.rcode, 'SERVFAIL');
      // The cluster's own names do not depend on any upstream.
      assert.equal((await udpAsk(none.port, query('echo.default.svc.cluster.local', 'A')))?.rcode, 'NOERROR');
    } finally {
      await quiet.close();
      await none.close();
    }
  });

  it('refuses to bind a port that is taken, binding nothing', async () => {
    const other = new DnsServer({ address: '127.0.0.1', port: server.port, handle: async () => undefined });
    await assert.rejects(other.listen(), /EADDRINUSE/);
  });
});

/** Timers that fire only when the test says time has passed. */
class FakeTimers implements DnsServerTimers {
  #now = 0;
  #next = 1;
  readonly #due = new Map<number, { at: number; ms: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#due.set(id, { at: this.#now + ms, ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#due.delete(h as number);
  }
  /** Whether a timer of this length is waiting. */
  has(ms: number): boolean {
    return [...this.#due.values()].some((t) => t.ms === ms);
  }
  advance(ms: number): void {
    this.#now += ms;
    for (const [id, t] of [...this.#due].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= this.#now && this.#due.delete(id)) t.fn();
    }
  }
}

/** Polls `cond` every 10 ms; false when it did not hold within `ms` (a bound, not a timing). */
async function waitFor(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

function frame(m: Buffer): Buffer {
  const l = Buffer.alloc(2);
  l.writeUInt16BE(m.length);
  return Buffer.concat([l, m]);
}

/** A client connection that records when it is closed (by the server). */
async function openTcp(port: number): Promise<{ socket: Socket2; closed: () => boolean; whenClosed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  let closed = false;
  const whenClosed = new Promise<void>((r) => socket.on('close', () => { closed = true; r(); }));
  socket.on('error', () => {});
  await new Promise<void>((r, j) => { socket.once('connect', () => r()); socket.once('error', j); });
  return { socket, closed: () => closed, whenClosed };
}
type Socket2 = ReturnType<typeof connect>;

describe('DNS server over TCP: what one client can make it hold', () => {
  const endpoints = Array.from({ length: 60 }, (_, i) => `10.244.1.${i + 2}`);
  const view = buildClusterView({
    namespaces: [ns('default')],
    services: [svc('big', { clusterIP: 'None', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] })],
    slices: [{ metadata: { namespace: 'default', name: 'big-1', labels: { 'kubernetes.io/service-name': 'big' } }, addressType: 'IPv4',
      endpoints: endpoints.map((ip) => ({ addresses: [ip], conditions: { ready: true } })), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } as EndpointSlice],
    serial: 1,
  });
  const records: RecordOptions = { zone: 'cluster.local', ttl: 30, podsMode: 'insecure', nameserverIPs: ['10.96.0.10'] };
  const noForwarder = { exchange: async () => undefined };
  const servers: DnsServer[] = [];
  const sockets: Socket2[] = [];
  const start = async (o: Partial<ConstructorParameters<typeof DnsServer>[0]>) => {
    const s = new DnsServer({ address: '127.0.0.1', port: 0, handle: (m, t) => handleQuery(m, t, { records, view: () => view, forwarder: noForwarder, random: null }), ...o });
    await s.listen();
    servers.push(s);
    return s;
  };
  const open = async (port: number) => {
    const c = await openTcp(port);
    sockets.push(c.socket);
    return c;
  };
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('stops reading a client that pipelines queries but never reads the answers: what it buffers stays bounded', async () => {
    const timers = new FakeTimers();
    let handled = 0;
    let maxBuffered = 0;
    let server: DnsServer | undefined;
    server = await start({
      timers,
      handle: async (m, t) => {
        handled++;
        const r = await handleQuery(m, t, { records, view: () => view, forwarder: noForwarder, random: null });
        maxBuffered = Math.max(maxBuffered, server?.tcpBufferedBytes ?? Infinity);
        return r;
      },
    });
    const { socket, closed } = await open(server.port);
    socket.pause();
    // ~3 KB answers: 90 MB if the server took every query; the kernel's socket buffers hold a few MB.
    const total = 30_000;
    const q = frame(query('big.default.svc.cluster.local', 'A'));
    socket.write(Buffer.concat(Array.from({ length: total }, () => q)));
    // Wait until the server stops taking queries (or took them all, as before the fix).
    let last = -1;
    let still = 0;
    await waitFor(() => {
      still = handled === last ? still + 1 : 0;
      last = handled;
      return handled === total || still >= 30;
    }, 20_000);
    assert.ok(handled < total, `the server stopped reading (${handled} of ${total} queries taken)`);
    assert.ok(maxBuffered <= 2 * 1024 * 1024, `at most 2 MiB held for the connection, saw ${maxBuffered} bytes`);
    assert.ok(server.tcpBufferedBytes <= 2 * 1024 * 1024);
    // The client has not taken its answers within the write timeout: the connection goes, and its buffers with it.
    assert.equal(closed(), false);
    assert.ok(timers.has(5000), 'the write deadline is armed');
    timers.advance(5000);
    assert.ok(await waitFor(() => server.tcpConnections === 0), 'closed after the write timeout');
    assert.equal(server.tcpBufferedBytes, 0);
  });

  it('answers at most maxTcpInFlight queries of a connection at once, and the rest when those are done', async () => {
    const release: (() => void)[] = [];
    let calls = 0;
    const server = await start({
      maxTcpInFlight: 4,
      handle: async (m, t) => {
        calls++;
        await new Promise<void>((r) => release.push(r));
        return handleQuery(m, t, { records, view: () => view, forwarder: noForwarder, random: null });
      },
    });
    const msgs = Array.from({ length: 40 }, () => query('big.default.svc.cluster.local', 'SRV'));
    const answers = tcpAsk(server.port, msgs);
    assert.ok(await waitFor(() => calls >= 4));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(calls, 4, 'no more queries taken while 4 are being answered');
    // Let them go as they come: every query is answered in the end.
    const drain = setInterval(() => { for (const r of release.splice(0)) r(); }, 5);
    try {
      const got = await answers;
      assert.equal(got.length, 40);
      assert.ok(got.every((a) => a.rcode === 'NOERROR'));
    } finally {
      clearInterval(drain);
    }
  });

  it('drops a client trickling a message byte by byte once the read deadline from its first byte has passed', async () => {
    const timers = new FakeTimers();
    const server = await start({ timers, tcpIdleMs: 10_000, tcpReadMs: 3000, tcpWriteMs: 5000 });
    const { socket, closed, whenClosed } = await open(server.port);
    const q = frame(query('big.default.svc.cluster.local', 'A'));
    socket.write(q.subarray(0, 1));
    // The server has seen the first byte once the read deadline is armed (bounded: the old server had none).
    await waitFor(() => timers.has(3000), 2000);
    for (let i = 1; i < 6 && !closed(); i++) {
      socket.write(q.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 20));
      timers.advance(1000);
    }
    await Promise.race([whenClosed, new Promise((r) => setTimeout(r, 3000))]);
    assert.ok(closed(), 'the trickling connection is closed');
  });

  it('closes an idle connection after the idle time, but not one whose query is still being answered', async () => {
    const timers = new FakeTimers();
    let release: (() => void) | undefined;
    const server = await start({
      timers, tcpIdleMs: 10_000,
      handle: async (m, t) => {
        await new Promise<void>((r) => { release = r; });
        return handleQuery(m, t, { records, view: () => view, forwarder: noForwarder, random: null });
      },
    });
    const idle = await open(server.port);
    const busy = await open(server.port);
    busy.socket.write(frame(query('big.default.svc.cluster.local', 'SRV')));
    assert.ok(await waitFor(() => release !== undefined, 3000));
    timers.advance(60_000);
    await Promise.race([idle.whenClosed, new Promise((r) => setTimeout(r, 3000))]);
    assert.ok(idle.closed(), 'the idle connection is closed');
    const answer = new Promise<Buffer>((r) => busy.socket.once('data', r));
    release!();
    assert.ok((await answer).length > 2, 'the busy one gets its answer');
    assert.equal(busy.closed(), false);
  });

  it('holds at most maxTcpConnectionsPerSource connections from one address', async () => {
    const server = await start({ maxTcpConnectionsPerSource: 2 });
    const a = await open(server.port);
    await open(server.port);
    const c = await open(server.port);
    await Promise.race([c.whenClosed, new Promise((r) => setTimeout(r, 3000))]);
    assert.ok(c.closed(), 'the third connection from 127.0.0.1 is closed');
    a.socket.destroy();
    await a.whenClosed;
    assert.ok(await waitFor(() => server.tcpConnections === 1, 3000));
    const [r] = await tcpAsk(server.port, [query('big.default.svc.cluster.local', 'SRV')]);
    assert.equal(r?.rcode, 'NOERROR', 'a new one is taken once one has gone');
  });
});

describe('ClusterDns fed by informers from an API server', () => {
  let api: InProcessApiServer;
  let dns: ClusterDns;
  const r = (plural: string) => resources.find((x) => x.resource === plural)!;

  before(async () => {
    api = await startInProcessApiServer();
    dns = new ClusterDns({ client: api.client, nodeName: 'node-a', clusterDomain: 'cluster.local', clusterDNS: '10.96.0.10', upstreams: [], port: 0, random: null });
    await dns.start();
    // Slices may not hold loopback addresses (kube-apiserver's validation): advertise a documentation one.
    await dns.listen('127.0.0.1', { advertise: '192.0.2.53' });
  });
  after(async () => { await dns?.stop(); await api?.stop(); });

  const ask = async (name: string, type = 'A') => udpAsk(dns.endpoint!.port, query(name, type));
  // Generous deadlines for a loaded machine: each returns as soon as its condition holds.
  const until = async <T>(get: () => Promise<T>, done: (v: T) => boolean, ms = 15_000): Promise<T> => {
    const deadline = Date.now() + ms;
    let v = await get();
    while (!done(v) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 20));
      v = await get();
    }
    return v;
  };
  const eventually = async (name: string, want: string[], type = 'A') => {
    const deadline = Date.now() + 10_000;
    let got: string[] = [];
    while (Date.now() < deadline) {
      got = data((await ask(name, type))?.answers);
      if (JSON.stringify(got) === JSON.stringify(want)) return;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(got, want, name);
  };

  it('answers the kubernetes Service the API server bootstraps', async () => {
    await eventually('kubernetes.default.svc.cluster.local', ['A 10.96.0.1']);
  });

  it('creates kube-system/kube-dns as kubeadm does and names this node\'s server in its EndpointSlice', async () => {
    const slice = await until(() => api.client.get(r('endpointslices'), 'kube-system', 'kube-dns-node-a').catch(() => undefined) as Promise<EndpointSlice | undefined>, (s) => s !== undefined);
    const service = await api.client.get(r('services'), 'kube-system', 'kube-dns') as unknown as Service;
    assert.equal(service?.spec?.clusterIP, '10.96.0.10');
    assert.equal(service?.spec?.internalTrafficPolicy, 'Local');
    assert.deepEqual(service?.metadata?.labels, { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' });
    assert.deepEqual(service?.spec?.ports?.map((p) => `${p.name} ${p.port}/${p.protocol}`), ['dns 53/UDP', 'dns-tcp 53/TCP']);
    assert.equal(slice?.metadata?.labels?.['kubernetes.io/service-name'], 'kube-dns');
    assert.equal(slice?.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'dns.podgate.io');
    assert.deepEqual(slice?.endpoints.map((e) => [e.addresses, e.nodeName, e.conditions?.ready]), [[['192.0.2.53'], 'node-a', true]]);
    assert.deepEqual(slice?.ports?.map((p) => `${p.name} ${p.port}/${p.protocol}`), [`dns ${dns.endpoint!.port}/UDP`, `dns-tcp ${dns.endpoint!.port}/TCP`]);
    await eventually('kube-dns.kube-system.svc.cluster.local', ['A 10.96.0.10']);
  });

  it('puts kube-dns and its slice back when they are deleted', async () => {
    await api.client.delete(r('endpointslices'), 'kube-system', 'kube-dns-node-a');
    await api.client.delete(r('services'), 'kube-system', 'kube-dns');
    const slice = await until(() => api.client.get(r('endpointslices'), 'kube-system', 'kube-dns-node-a').catch(() => undefined), (s) => s !== undefined);
    assert.ok(slice, 'the slice is back');
    const service = await api.client.get(r('services'), 'kube-system', 'kube-dns') as unknown as Service;
    assert.equal(service.spec?.clusterIP, '10.96.0.10');
  });

  it('reflects a new, a changed and a deleted Service', async () => {
    await api.client.create(r('services'), 'default', { metadata: { name: 'web' }, spec: { clusterIP: '10.96.0.50', ports: [{ port: 80 }] } } as unknown as KObject);
    await eventually('web.default.svc.cluster.local', ['A 10.96.0.50']);
    await api.client.patch(r('services'), 'default', 'web', { spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
    await eventually('_http._tcp.web.default.svc.cluster.local', ['SRV {"priority":0,"weight":100,"port":80,"target":"web.default.svc.cluster.local"}'], 'SRV');
    await api.client.delete(r('services'), 'default', 'web');
    const rcode = await until(async () => (await ask('web.default.svc.cluster.local'))?.rcode ?? '', (c) => c === 'NXDOMAIN', 10_000);
    assert.equal(rcode, 'NXDOMAIN');
  });

  it('answers a headless Service from its EndpointSlice, and a new namespace at once', async () => {
    await api.client.create(r('namespaces'), undefined, { metadata: { name: 'team' } } as unknown as KObject);
    await api.client.create(r('services'), 'team', { metadata: { name: 'db' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'pg', port: 5432 }] } } as unknown as KObject);
    await api.client.create(r('endpointslices'), 'team', {
      metadata: { name: 'db-hand', labels: { 'kubernetes.io/service-name': 'db' } }, addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.1.7'], hostname: 'db-0', conditions: { ready: true } }], ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    } as unknown as KObject);
    await eventually('db-0.db.team.svc.cluster.local', ['A 10.244.1.7']);
    await eventually('db.team.svc.cluster.local', ['A 10.244.1.7']);
  });

  const getSlice = (name: string) => () => api.client.get(r('endpointslices'), 'kube-system', name).catch(() => undefined);
  const getService = () => api.client.get(r('services'), 'kube-system', 'kube-dns') as unknown as Promise<Service>;

  it('deletes its slice before it stops answering', async () => {
    let answeredWhileDeleting: boolean | undefined;
    let other: ClusterDns | undefined;
    // The API client as it is, except that deleting this node's slice first checks the server still answers.
    const client = new Proxy(api.client, {
      get(target, prop) {
        if (prop === 'delete') {
          return async (res: Parameters<typeof target.delete>[0], namespace: string | undefined, name: string, opts?: Parameters<typeof target.delete>[3]) => {
            if (name === 'kube-dns-node-b') answeredWhileDeleting = (await udpAsk(other!.endpoint!.port, query('kubernetes.default.svc.cluster.local', 'A'), 2000))?.rcode === 'NOERROR';
            return target.delete(res, namespace, name, opts);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    other = new ClusterDns({ client, nodeName: 'node-b', clusterDomain: 'cluster.local', clusterDNS: '10.96.0.10', upstreams: [], port: 0, random: null });
    try {
      await other.start();
      await other.listen('127.0.0.1', { advertise: '192.0.2.54' });
      assert.ok(await until(getSlice('kube-dns-node-b'), (s) => s !== undefined), 'node-b\'s slice is made');
    } finally {
      await other.stop();
    }
    assert.equal(answeredWhileDeleting, true);
    assert.equal(await getSlice('kube-dns-node-b')(), undefined);
  });

  it('sets internalTrafficPolicy Local again on a kube-dns of its own that has another policy', async () => {
    await api.client.patch(r('services'), 'kube-system', 'kube-dns', { spec: { internalTrafficPolicy: 'Cluster' } });
    const service = await until(getService, (s) => s.spec?.internalTrafficPolicy === 'Local');
    assert.equal(service.spec?.internalTrafficPolicy, 'Local');
  });

  it('deletes this node\'s slice when kube-dns is given a selector (it is its pods\' then), and keeps it again without one', async () => {
    await until(getSlice('kube-dns-node-a'), (s) => s !== undefined);
    await api.client.patch(r('services'), 'kube-system', 'kube-dns', { spec: { selector: { 'k8s-app': 'kube-dns' } } });
    assert.equal(await until(getSlice('kube-dns-node-a'), (s) => s === undefined), undefined, 'the slice is deleted');
    await api.client.patch(r('services'), 'kube-system', 'kube-dns', { spec: { selector: null } });
    assert.ok(await until(getSlice('kube-dns-node-a'), (s) => s !== undefined), 'the slice is back');
  });

  it('removes the slice of a node that was deleted (it crashed and could not remove it), never a live node\'s', async () => {
    await api.client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-alive' } } as KObject);
    for (const n of ['node-gone', 'node-alive']) await api.client.create(r('endpointslices'), 'kube-system', kubeDnsSlice({ nodeName: n, address: '192.0.2.60' }) as unknown as KObject);
    // Another node's DNS, whose clock is two minutes on: both slices are old enough to be looked at.
    const other = new ClusterDns({ client: api.client, nodeName: 'node-c', clusterDomain: 'cluster.local', clusterDNS: '10.96.0.10', upstreams: [], port: 0, random: null,
      now: () => Date.now() + 120_000, sweepIntervalMs: 50 });
    try {
      await other.start();
      await other.listen('127.0.0.1', { advertise: '192.0.2.55' });
      const slice = (n: string) => () => api.client.get(r('endpointslices'), 'kube-system', `kube-dns-${n}`).catch(() => undefined);
      assert.equal(await until(slice('node-gone'), (x) => x === undefined), undefined, 'the deleted node\'s slice goes');
      assert.notEqual(await slice('node-alive')(), undefined, 'the live node\'s slice stays');
    } finally {
      await other.stop();
    }
  });

  it('removes this node\'s slice when it stops', async () => {
    await dns.stop();
    const gone = await api.client.get(r('endpointslices'), 'kube-system', 'kube-dns-node-a').then(() => false, () => true);
    assert.ok(gone);
  });
});
