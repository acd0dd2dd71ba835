import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import {
  DatagramDecoder, encodeDatagram, maxDatagram, servePortForward, type DatagramTarget, type PortForwardOptions,
} from './port-forward.ts';
import {
  dialPortForward, LocalForwarder, PortForwardClient, readResponseHead, UpgradeRefusedError,
} from './port-forward-client.ts';

/** Two in-memory byte pipes joined into a pair of Duplexes. */
function duplexPair(): [Duplex, Duplex] {
  const ab = new PassThrough();
  const ba = new PassThrough();
  const make = (r: PassThrough, w: PassThrough): Duplex => Duplex.from({ readable: r, writable: w });
  return [make(ba, ab), make(ab, ba)];
}

/** An in-memory "pod" TCP server: every dial gets a connection that echoes with half-close. */
function echoDial(): PortForwardOptions['dial'] {
  return async (port) => {
    if (port !== 7) throw new Error(`dial tcp 10.0.0.1:${port}: connect: connection refused`);
    const [ours, theirs] = duplexPair();
    theirs.pipe(theirs);
    return ours;
  };
}

/** An in-memory "pod" UDP server: answers each datagram with `port:` and the datagram. */
function echoDialUdp(closed: number[]): NonNullable<PortForwardOptions['dialUdp']> {
  return async (port, onMessage): Promise<DatagramTarget> => {
    if (port === 9) throw new Error('no UDP here');
    return {
      send: (d) => queueMicrotask(() => onMessage(Buffer.concat([Buffer.from(`${port}:`), d]))),
      close: () => { closed.push(port); },
    };
  };
}

/** servePortForward on one end of an in-memory pipe, our client on the other, through the real 101. */
async function inMemorySession(options: Partial<PortForwardOptions> = {}): Promise<{ client: PortForwardClient; served: Promise<void> }> {
  const [a, b] = duplexPair();
  const req = { headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1' }, rawHeaders: ['X-Stream-Protocol-Version', 'portforward.k8s.io'] };
  const served = servePortForward({ req: req as never, socket: a, head: Buffer.alloc(0) }, { pod: 'p', uid: 'u', dial: echoDial(), ...options });
  const head = await readResponseHead(b);
  assert.equal(head.statusCode, 101);
  assert.equal(head.headers.get('x-stream-protocol-version'), 'portforward.k8s.io');
  return { client: new PortForwardClient(b, head.rest), served };
}

/** Sends `payload` into one end of an in-memory connection, half-closes, and collects the answer. */
async function exchangeOver(client: PortForwardClient, port: number, payload: Buffer): Promise<{ reply: Buffer; error?: string }> {
  const [local, app] = duplexPair();
  const chunks: Buffer[] = [];
  app.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((r) => { app.once('end', () => r()); app.once('close', () => r()); });
  app.end(payload);
  const result = await client.forwardConnection(port, local);
  await ended;
  return { reply: Buffer.concat(chunks), error: result.error };
}

describe('UDP framing on the data stream', () => {
  test('datagrams of 0 to 65535 bytes survive any re-chunking, in order', () => {
    const sizes = [0, 1, 2, 255, 256, 1400, 65535, 3, 0, 40_000];
    const datagrams = sizes.map((n) => randomBytes(n));
    const wire = Buffer.concat(datagrams.map(encodeDatagram));
    assert.equal(wire.length, sizes.reduce((a, n) => a + n + 2, 0));
    assert.equal(wire.readUInt16BE(0), 0);
    for (const step of [1, 2, 3, 7, 1000, wire.length]) {
      const d = new DatagramDecoder();
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += step) got.push(...d.push(wire.subarray(i, i + step)));
      assert.equal(d.pendingBytes, 0);
      assert.deepEqual(got.map((g) => g.toString('hex')), datagrams.map((g) => g.toString('hex')), `chunks of ${step}`);
    }
    assert.throws(() => encodeDatagram(Buffer.alloc(maxDatagram + 1)), RangeError);
  });
});

describe('PortForwardClient against servePortForward over an in-memory pipe', () => {
  test('TCP: half-close, 4 MB intact, 30 concurrent connections, and a refused port that leaves the session usable', async () => {
    const { client, served } = await inMemorySession();
    const hello = await exchangeOver(client, 7, Buffer.from('hello'));
    assert.deepEqual(hello, { reply: Buffer.from('hello'), error: undefined });

    const big = randomBytes(4 * 1024 * 1024);
    const bigReply = await exchangeOver(client, 7, big);
    assert.equal(createHash('sha256').update(bigReply.reply).digest('hex'), createHash('sha256').update(big).digest('hex'));

    const refused = await exchangeOver(client, 8, Buffer.from('x'));
    assert.equal(refused.reply.length, 0);
    assert.equal(refused.error, 'error forwarding port 8 to pod p, uid u: dial tcp 10.0.0.1:8: connect: connection refused');

    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => exchangeOver(client, 7, Buffer.from(`conn ${i} `.repeat(1000)))));
    many.forEach((r, i) => assert.equal(r.reply.toString(), `conn ${i} `.repeat(1000)));
    client.close();
    await served;
  });

  test('UDP: a channel per flow carries datagrams both ways; closing it closes the pod side', async () => {
    const closed: number[] = [];
    const { client, served } = await inMemorySession({ dialUdp: echoDialUdp(closed) });
    const channel = await client.openDatagramChannel(53);
    const got: Buffer[] = [];
    channel.on('message', (d: Buffer) => got.push(d));
    const sent = Array.from({ length: 200 }, (_, i) => randomBytes(i * 300));
    // In batches: a channel drops datagrams (as UDP may) once a megabyte waits unsent.
    for (let i = 0; i < sent.length; i += 10) {
      for (const d of sent.slice(i, i + 10)) assert.equal(channel.send(d), true);
      while (got.length < Math.min(i + 10, sent.length)) await once(channel, 'message');
    }
    assert.deepEqual(got.map((g) => g.toString('hex')), sent.map((d) => Buffer.concat([Buffer.from('53:'), d]).toString('hex')));
    assert.equal(channel.send(Buffer.alloc(maxDatagram + 1)), false, 'an oversized datagram is dropped, not framed');
    channel.close();
    await once(channel, 'close');
    assert.deepEqual(closed, [53]);
    assert.equal(await channel.failure, '');
    client.close();
    await served;
  });

  test('UDP: a refused dial, and a server without dialUdp are reported on the error stream', async () => {
    const withUdp = await inMemorySession({ dialUdp: echoDialUdp([]) });
    const refused = await withUdp.client.openDatagramChannel(9);
    const refusedClosed = once(refused, 'close');
    assert.equal(await refused.failure, 'error forwarding port 9/udp to pod p, uid u: no UDP here');
    await refusedClosed;
    assert.equal(refused.send(Buffer.from('x')), false);
    // The session is still fine for TCP after that.
    assert.equal((await exchangeOver(withUdp.client, 7, Buffer.from('still here'))).reply.toString(), 'still here');
    withUdp.client.close();
    await withUdp.served;

    const without = await inMemorySession();
    const ch = await without.client.openDatagramChannel(53);
    assert.equal(await ch.failure, 'error forwarding port 53/udp to pod p, uid u: UDP forwarding is not supported by this node');
    without.client.close();
    await without.served;
  });
});

function udpSocket(): Promise<UdpSocket> {
  const s = createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

function nextMessage(s: UdpSocket, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no datagram')), timeoutMs);
    s.once('message', (m) => { clearTimeout(t); resolve(m.toString()); });
  });
}

/** Resolves with what came back; a reset (a refused forward) resolves with what came before it. */
function tcpExchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let out = '';
    s.on('data', (d: Buffer) => { out += d.toString(); });
    s.on('end', () => { s.end(); resolve(out); });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.end(payload);
  });
}

describe('LocalForwarder', () => {
  test('TCP and UDP listeners, replies to the right UDP sender, idle flows closed, connections wait across a session swap', async () => {
    const closed: number[] = [];
    const out: string[] = [];
    const errs: string[] = [];
    const fw = new LocalForwarder({
      addresses: ['127.0.0.1'],
      ports: [{ protocol: 'tcp', localPort: 0 }, { protocol: 'udp', localPort: 0 }],
      out: (l) => out.push(l), err: (l) => errs.push(l), udpIdleMs: 300, waitForSessionMs: 5000,
    });
    const bound = await fw.listen();
    assert.deepEqual(bound.map((b) => [b.address, b.index, b.protocol]), [['127.0.0.1', 0, 'tcp'], ['127.0.0.1', 1, 'udp']]);
    const [tcpPort, udpPort] = fw.boundPorts as [number, number];

    let s1 = await inMemorySession({ dialUdp: echoDialUdp(closed) });
    fw.setSession(s1.client, [7, 5353]);
    assert.equal(await tcpExchange(tcpPort, 'over session 1'), 'over session 1');
    assert.ok(out.includes(`Handling connection for ${tcpPort}`));

    const [alice, bob] = [await udpSocket(), await udpSocket()];
    const aliceGot = nextMessage(alice);
    const bobGot = nextMessage(bob);
    alice.send('from alice', udpPort, '127.0.0.1');
    bob.send('from bob', udpPort, '127.0.0.1');
    assert.equal(await aliceGot, '5353:from alice');
    assert.equal(await bobGot, '5353:from bob');
    assert.equal(fw.udpFlowCount, 2);
    const again = nextMessage(alice);
    alice.send('second', udpPort, '127.0.0.1');
    assert.equal(await again, '5353:second');
    assert.equal(fw.udpFlowCount, 2, 'the same sender reuses its flow');
    // Idle flows are closed, and so are their pod-side sockets.
    for (let i = 0; i < 50 && (fw.udpFlowCount > 0 || closed.length < 2); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(fw.udpFlowCount, 0);
    assert.deepEqual(closed, [5353, 5353]);

    // Reconnecting: no session; a new connection waits and is carried by the next session.
    fw.setSession(undefined);
    s1.client.close();
    await s1.served;
    const pending = tcpExchange(tcpPort, 'across the gap');
    await new Promise((r) => setTimeout(r, 200));
    s1 = await inMemorySession({ dialUdp: echoDialUdp(closed) });
    fw.setSession(s1.client, [7, 6000]);
    assert.equal(await pending, 'across the gap');
    const afterSwap = nextMessage(alice);
    alice.send('after the swap', udpPort, '127.0.0.1');
    assert.equal(await afterSwap, '6000:after the swap', 'the new session maps the port anew');

    // An error from the pod side is reported kubectl's way and the listener stays.
    fw.setSession(s1.client, [8, 6000]);
    assert.equal(await tcpExchange(tcpPort, 'x'), '');
    assert.match(errs.join('\n'), new RegExp(`an error occurred forwarding ${tcpPort} -> 8: error forwarding port 8 to pod p`));

    fw.close();
    s1.client.close();
    await s1.served;
    alice.close();
    bob.close();
  });

  test('a connection made while there is no session is closed after waitForSessionMs', async () => {
    const errs: string[] = [];
    const fw = new LocalForwarder({ addresses: ['127.0.0.1'], ports: [{ protocol: 'tcp', localPort: 0 }], out: () => {}, err: (l) => errs.push(l), waitForSessionMs: 200 });
    await fw.listen();
    const t0 = performance.now();
    assert.equal(await tcpExchange(fw.boundPorts[0]!, 'nobody'), '');
    assert.ok(performance.now() - t0 >= 150);
    assert.match(errs[0] ?? '', /no connection to the pod/);
    fw.close();
  });

  test('a port already in use fails listen() and releases the others', async () => {
    const first = new LocalForwarder({ addresses: ['127.0.0.1'], ports: [{ protocol: 'tcp', localPort: 0 }], out: () => {}, err: () => {} });
    await first.listen();
    const taken = first.boundPorts[0]!;
    const second = new LocalForwarder({ addresses: ['127.0.0.1'], ports: [{ protocol: 'udp', localPort: 0 }, { protocol: 'tcp', localPort: taken }], out: () => {}, err: () => {} });
    await assert.rejects(second.listen(), new RegExp(`unable to listen on port ${taken}`));
    first.close();
  });
});

describe('dialPortForward', () => {
  test('sends the SPDY upgrade with the bearer token and speaks the protocol; a refusal gives the Status message', async () => {
    const seen: Record<string, string | undefined>[] = [];
    const server = createHttpServer((_req, res) => { res.statusCode = 404; res.end(); });
    server.on('upgrade', (req, socket, head) => {
      seen.push({ method: req.method, url: req.url, upgrade: req.headers.upgrade, version: req.headers['x-stream-protocol-version'] as string, auth: req.headers.authorization });
      if (req.url?.includes('/pods/missing/')) {
        const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'pods "missing" not found', reason: 'NotFound', code: 404 });
        socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        return;
      }
      void servePortForward({ req, socket, head }, { pod: 'web', dial: echoDial() });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = await dialPortForward({ server: url, token: 'sekret' }, 'ns 1', 'web');
    assert.equal((await exchangeOver(client, 7, Buffer.from('through http'))).reply.toString(), 'through http');
    assert.ok((await client.ping()) >= 0);
    assert.deepEqual(seen[0], { method: 'POST', url: '/api/v1/namespaces/ns%201/pods/web/portforward', upgrade: 'SPDY/3.1', version: 'portforward.k8s.io', auth: 'Bearer sekret' });
    const closed = once(client, 'close');
    client.close();
    await closed;

    await assert.rejects(dialPortForward({ server: url }, 'default', 'missing'),
      (err: Error) => err instanceof UpgradeRefusedError && err.statusCode === 404 && err.message === 'pods "missing" not found');
    server.close();
  });
});
