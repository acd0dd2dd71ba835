// tcp-services / udp-services listeners: a client's UDP session follows the Service's endpoints;
// `:PROXY` suffixes read a PROXY protocol header from clients and send one to the backend.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import type { ConfigMap } from 'kubernetes-types/core/v1.d.ts';
import { freePort } from './proxy-test-kit.ts';
import { StreamProxy } from './stream-proxy.ts';
import { makeService, makeSlice } from './test-builders.ts';
import { translate } from './translate.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function udpEcho(tag: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${tag}:${String(m)}`, r.port, r.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('StreamProxy UDP sessions', () => {
  it('moves a talking client off an endpoint that left, and sends nothing on once there is none', async () => {
    const a = await udpEcho('A'), b = await udpEcho('B');
    const port = await freeUdpPort();
    const sp = new StreamProxy({ bindAddress: '127.0.0.1' });
    const backend = (s?: dgram.Socket) => ({ name: 'default/dns:53', endpoints: s ? [{ address: '127.0.0.1', port: s.address().port }] : [] });
    const client = dgram.createSocket('udp4');
    const got: string[] = [];
    client.on('message', (m) => got.push(String(m)));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    const exchange = async (msg: string) => {
      const n = got.length;
      client.send(msg, port, '127.0.0.1');
      for (let i = 0; i < 40 && got.length === n; i++) await sleep(10);
    };
    try {
      await sp.update([{ protocol: 'UDP', port, backend: backend(a) }]);
      await exchange('1');
      await sp.update([{ protocol: 'UDP', port, backend: backend(b) }]);
      await exchange('2');
      await sp.update([{ protocol: 'UDP', port, backend: backend() }]);
      await exchange('3');
      assert.deepEqual(got, ['A:1', 'B:2']);
    } finally {
      client.close(); a.close(); b.close();
      await sp.close();
    }
  });
});

describe('tcp-services entries', () => {
  it('serves a Service port, and leaves out (reported) a missing Service or port, as ingress-nginx does', () => {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ingress', name: 'tcp-services' },
      data: { 9000: 'default/redis:6379', 9001: 'default/missing:6379', 9002: 'default/redis:1234' } };
    const t = streamsOf(cm, 'TCP');
    assert.deepEqual(t.streams.map((s) => s.port), [9000]);
    assert.deepEqual(t.problems.map((p) => p.message), [
      '9001: service default/missing not found',
      '9002: service default/redis has no port 1234',
    ]);
  });

  it('reads PROXY suffixes as ingress-nginx does: the first decodes, the second (and last) sends, any case', () => {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ingress', name: 'tcp-services' },
      data: { 9000: 'default/redis:6379:PROXY', 9001: 'default/redis:6379::proxy', 9002: 'default/redis:6379:PROXY:PROXY', 9003: 'default/redis:6379:PROXY:',
        9004: 'default/redis:6379:SSL:PROXY', 9005: 'default/redis:6379:PROXY:PROXY:PROXY', 9006: 'default/redis:6379:PROXY:PROXY', 9007: 'default/missing:1:PROXY' } };
    const t = streamsOf(cm, 'TCP');
    assert.deepEqual(t.streams.map(({ port, decodeProxyProtocol, sendProxyProtocol }) => ({ port, decodeProxyProtocol, sendProxyProtocol })), [
      { port: 9000, decodeProxyProtocol: true, sendProxyProtocol: undefined },
      { port: 9001, decodeProxyProtocol: undefined, sendProxyProtocol: true },
      { port: 9002, decodeProxyProtocol: true, sendProxyProtocol: true },
      { port: 9003, decodeProxyProtocol: true, sendProxyProtocol: undefined },
      { port: 9004, decodeProxyProtocol: undefined, sendProxyProtocol: true },
      { port: 9005, decodeProxyProtocol: true, sendProxyProtocol: undefined },
      { port: 9006, decodeProxyProtocol: true, sendProxyProtocol: true },
    ]);
    assert.deepEqual(t.problems.map((p) => p.message), [
      '9004: "SSL:PROXY" is not "[PROXY][:PROXY]"; read as ingress-nginx reads it: PROXY protocol decode off, send on',
      '9005: "PROXY:PROXY:PROXY" is not "[PROXY][:PROXY]"; read as ingress-nginx reads it: PROXY protocol decode on, send off',
      '9007: service default/missing not found',
    ]);
  });

  it('serves a udp-services entry with PROXY suffixes as plain UDP, reported, as ingress-nginx does', () => {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ingress', name: 'udp-services' }, data: { 5353: 'default/redis:6379:PROXY:PROXY' } };
    const t = streamsOf(cm, 'UDP');
    assert.deepEqual(t.streams.map((s) => ({ ...s, backend: undefined })), [{ protocol: 'UDP', port: 5353, backend: undefined }]);
    assert.deepEqual(t.problems.map((p) => p.message), ['5353: "PROXY:PROXY" is ignored: PROXY protocol is for TCP services only']);
  });
});

/** The stream services `cm` (tcp-services or udp-services) makes, with default/redis:6379 existing. */
function streamsOf(cm: ConfigMap, protocol: 'TCP' | 'UDP') {
  const ref = `${cm.metadata!.namespace}/${cm.metadata!.name}`;
  return translate({ ingresses: [], ingressClasses: [], secrets: [], configMaps: [cm],
    services: [makeService('default', 'redis', [{ port: 6379 }])], endpointSlices: [makeSlice('default', 'redis', ['10.244.0.9'], [{ port: 6379 }])] },
  protocol === 'TCP' ? { tcpServicesConfigMap: ref } : { udpServicesConfigMap: ref });
}

/** A TCP backend that keeps, per connection, all it received before the client's end. */
async function recordingBackend() {
  const received: Promise<string>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const chunks: Buffer[] = [];
    received.push(new Promise((resolve) => {
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => { resolve(Buffer.concat(chunks).toString('latin1')); s.end(); });
      s.on('error', () => resolve(Buffer.concat(chunks).toString('latin1')));
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

/**
 * Connects to `port`, writes `chunks` one by one with a pause between them (separate TCP segments),
 * ends, and waits until the connection is closed. Resolves with the client's own port and what came back.
 */
async function talk(port: number, chunks: readonly (string | Buffer)[]): Promise<{ localPort: number; reply: string }> {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  const back: Buffer[] = [];
  s.on('data', (c: Buffer) => back.push(c));
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('error', () => {});
  await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j); });
  const localPort = s.localPort!;
  for (const c of chunks) {
    if (s.destroyed) break;
    s.write(c);
    await sleep(20);
  }
  s.end();
  await closed;
  return { localPort, reply: Buffer.concat(back).toString('latin1') };
}

/** Whether the proxy closes, within a second, a connection that sent `data` and did not end. */
async function closedAfter(port: number, data: string): Promise<boolean> {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  s.on('error', () => {});
  const closed = new Promise<boolean>((r) => s.on('close', () => r(true)));
  s.write(data);
  let timer: NodeJS.Timeout | undefined;
  const closedInTime = await Promise.race([closed, new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 1000); })]);
  clearTimeout(timer);
  s.destroy();
  await closed;
  return closedInTime;
}

describe('tcp-services PROXY protocol', () => {
  /** Serves `entry` ("default/redis:6379[:PROXY[:PROXY]]") on a free port in front of a recording backend, for `body`. */
  async function withEntry(entry: string, body: (port: number, backend: Awaited<ReturnType<typeof recordingBackend>>) => Promise<void>, proxyHeaderTimeoutMs?: number) {
    const backend = await recordingBackend();
    const port = await freePort();
    const sp = new StreamProxy({ bindAddress: '127.0.0.1', ...(proxyHeaderTimeoutMs ? { proxyHeaderTimeoutMs } : {}) });
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ingress', name: 'tcp-services' }, data: { [String(port)]: entry } };
    const t = translate({ ingresses: [], ingressClasses: [], secrets: [], configMaps: [cm],
      services: [makeService('default', 'redis', [{ port: 6379 }])], endpointSlices: [makeSlice('default', 'redis', ['127.0.0.1'], [{ port: backend.port }])] },
    { tcpServicesConfigMap: 'ingress/tcp-services' });
    try {
      await sp.update(t.streams);
      assert.equal(sp.tcpPort(port), port);
      await body(port, backend);
    } finally {
      await sp.close();
      await backend.close();
    }
  }

  it('decodes: strips a v1 header sent in pieces, and a v2 header sent with the first data, before forwarding', async () => {
    await withEntry('default/redis:6379:PROXY', async (port, backend) => {
      await talk(port, ['PROXY TCP4 192.0', '.2.1 198.51.100.2 56', '324 6379\r', '\nPING\r\n', 'QUIT\r\n']);
      const v2 = Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), Buffer.from([0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x18, 0xeb])]);
      await talk(port, [v2.subarray(0, 10), Buffer.concat([v2.subarray(10), Buffer.from('PING\r\n')])]);
      assert.deepEqual(await Promise.all(backend.received), ['PING\r\nQUIT\r\n', 'PING\r\n']);
    });
  });

  it('decodes: the header has one deadline, which bytes trickling in do not push back (nginx\'s proxy_protocol_timeout)', async () => {
    await withEntry('default/redis:6379:PROXY', async (port, backend) => {
      // A v2 header announcing 4,080 bytes of addresses and TLVs, then one byte every 50 ms: an idle
      // timer of 300 ms would never fire; the deadline closes the connection long before 60 bytes went.
      const start = Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), Buffer.from([0x21, 0x11, 0x0f, 0xf0])]);
      const s = net.connect(port, '127.0.0.1');
      let sent = 0;
      const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
      s.on('error', () => {});
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(start);
      const drip = setInterval(() => { if (sent < 60) { s.write(Buffer.from([0])); sent++; } }, 50);
      await closed;
      clearInterval(drip);
      assert.ok(sent < 60, `the connection stayed open while ${sent} bytes trickled in`);
      assert.equal(backend.received.length, 0, 'no backend was connected');
    }, 300);
  });

  it('decodes: closes a connection without a valid header, or with one too long, and connects no backend', async () => {
    await withEntry('default/redis:6379:PROXY', async (port, backend) => {
      assert.equal(await closedAfter(port, 'PING\r\n'), true);
      assert.equal(await closedAfter(port, 'PROXY TCP4 192.0.2.1 198.51.100.2 1 2\nPING\r\n'), true);
      assert.equal(await closedAfter(port, `PROXY UNKNOWN ${'x'.repeat(100)}`), true);
      assert.equal(backend.received.length, 0);
    });
  });

  it('sends: a v1 line with the client address and the listener address ahead of the first byte', async () => {
    await withEntry('default/redis:6379::PROXY', async (port, backend) => {
      const { localPort } = await talk(port, ['PING\r\n']);
      assert.deepEqual(await Promise.all(backend.received), [`PROXY TCP4 127.0.0.1 127.0.0.1 ${localPort} ${port}\r\nPING\r\n`]);
    });
  });

  it('applies a changed suffix to connections accepted after the update', async () => {
    const backend = await recordingBackend();
    const port = await freePort();
    const sp = new StreamProxy({ bindAddress: '127.0.0.1' });
    const service = { protocol: 'TCP' as const, port, backend: { name: 'default/redis:6379', endpoints: [{ address: '127.0.0.1', port: backend.port }] } };
    try {
      await sp.update([service]);
      await talk(port, ['1']);
      await sp.update([{ ...service, sendProxyProtocol: true }]);
      const { localPort } = await talk(port, ['2']);
      await sp.update([{ ...service, decodeProxyProtocol: true }]);
      await talk(port, ['PROXY UNKNOWN\r\n3']);
      assert.deepEqual(await Promise.all(backend.received), ['1', `PROXY TCP4 127.0.0.1 127.0.0.1 ${localPort} ${port}\r\n2`, '3']);
    } finally {
      await sp.close();
      await backend.close();
    }
  });

  it('decodes and sends: the client header is replaced by one for the connection itself, as nginx without enable-real-ip sends', async () => {
    await withEntry('default/redis:6379:PROXY:PROXY', async (port, backend) => {
      const { localPort } = await talk(port, ['PROXY TCP6 2001:db8::1 2001:db8::2 40000 6379\r\n', 'PING\r\n']);
      assert.deepEqual(await Promise.all(backend.received), [`PROXY TCP4 127.0.0.1 127.0.0.1 ${localPort} ${port}\r\nPING\r\n`]);
    });
  });
});
