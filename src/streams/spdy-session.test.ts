import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PassThrough, Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { constants, deflateRawSync } from 'node:zlib';
import {
  FrameReader, SpdyProtocolError, SpdyStreamError, encodeControl, encodeDataHeader, encodeRstStream,
  encodeSynReply, encodeSynStream, flagFin, flagUnidirectional, frameNames, frameTypes, maxControlPayload, rstStatus,
  type SpdyFrame,
} from './spdy-frames.ts';
import { HeaderCompressor, HeaderDecompressor } from './spdy-header-codec.ts';
import {
  SpdyRefusedStreamError, SpdySession, SpdySessionClosedError, SpdyWriteBacklogError, closeGraceMs,
  defaultMaxConcurrentStreams, defaultMaxWriteBacklog, type SpdySessionOptions,
} from './spdy-session.ts';
import type { SpdyStream } from './spdy-stream.ts';
import { servePortForward } from './port-forward.ts';

/** Two in-memory byte pipes joined into a pair of Duplexes. */
function duplexPair(): [Duplex, Duplex] {
  const ab = new PassThrough();
  const ba = new PassThrough();
  const make = (r: PassThrough, w: PassThrough): Duplex => Duplex.from({ readable: r, writable: w });
  return [make(ba, ab), make(ab, ba)];
}

async function readAll(s: SpdyStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Resolves with the nth 'stream' a session emits, or rejects after `ms` (a paused session never emits it). */
function nthStream(session: SpdySession, n: number, ms: number): Promise<SpdyStream> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`stream ${n} did not arrive within ${ms} ms: the session is stuck`)), ms);
    session.on('stream', (s: SpdyStream) => {
      if (++seen === n) { clearTimeout(timer); resolve(s); }
    });
  });
}

/** A SYN_STREAM, one DATA frame with the payload and an empty DATA + FIN, as one TCP read would deliver them. */
function streamInOneChunk(c: HeaderCompressor, id: number, payload: Buffer): Buffer {
  return Buffer.concat([
    encodeSynStream(id, 0, c.compress({ streamtype: 'data', requestid: String(id) })),
    encodeDataHeader(id, 0, payload.length), payload,
    encodeDataHeader(id, flagFin, 0),
  ]);
}

describe('SpdySession', () => {
  test('header blocks round-trip through one zlib context per direction', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await d.decompress(c.compress({ streamtype: 'data', port: '80', requestid: String(i) })),
        { streamtype: 'data', port: '80', requestid: String(i) });
    }
    d.close();
  });

  test('with flow control on at both ends, 32 MB pass one stream in each direction without stalling', async () => {
    const [a, b] = duplexPair();
    const server = new SpdySession(a, { isServer: true, flowControl: 'on' });
    const client = new SpdySession(b, { isServer: false, flowControl: 'on' });
    client.sendSettings();
    const big = randomBytes(32 * 1024 * 1024);
    server.on('stream', (s: SpdyStream) => {
      assert.equal(s.headers.hello, 'world');
      s.pipe(s); // echo, with backpressure through the 64 KiB windows
    });
    const stream = await client.openStream({ hello: 'world' });
    const echoed = readAll(stream);
    stream.end(big);
    const got = await echoed;
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(big).digest('hex'));
    assert.ok((await client.ping()) >= 0);
    client.close();
    await once(server, 'close');
  });

  // The plain-SPDY port-forward hang (about 1 run in 15 with 50 connections): a stream's reader fell
  // behind, so the session paused the socket, and the peer's FIN had come in the same read. Node
  // never calls _read after the end of a stream, so the session was never told the reader caught up.
  for (const how of ['reads to the end', 'is destroyed unread after both FINs'] as const) {
    test(`a reader that was behind when the peer's FIN arrived releases the session once it ${how}`, async () => {
      const [a, b] = duplexPair();
      b.on('error', () => {}); // the scripted peer's pipes abort when the session tears down at the end
      const server = new SpdySession(a, { isServer: true });
      const first = nthStream(server, 1, 2000);
      const second = nthStream(server, 2, 2000);
      const c = new HeaderCompressor();
      const big = randomBytes(256 * 1024); // well above a stream's readable highWaterMark
      b.write(streamInOneChunk(c, 1, big));
      const slow = await first;
      await new Promise((r) => setImmediate(r));
      assert.ok(slow.readableLength > slow.readableHighWaterMark, 'the reader is behind');
      b.write(streamInOneChunk(c, 3, Buffer.from('after')));
      if (how === 'reads to the end') {
        assert.deepEqual(await readAll(slow), big);
      } else {
        slow.end();
        await once(slow, 'finish');
        slow.destroy();
      }
      const next = await second;
      assert.equal((await readAll(next)).toString(), 'after');
      server.destroy();
    });
  }

  test('a port-forward session stays usable after a dial failure, for many pairs at once', async () => {
    const echo: Server = createServer({ allowHalfOpen: true }, (s: Socket) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    const [a, b] = duplexPair();
    // Drive servePortForward over the plain-SPDY path with a fake upgrade request.
    const req = { headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1' }, rawHeaders: ['X-Stream-Protocol-Version', 'portforward.k8s.io'] };
    const served = servePortForward({ req: req as never, socket: a, head: Buffer.alloc(0) }, {
      pod: 'p', dial: (port) => new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    });
    // Skip the 101 response bytes before SPDY frames begin.
    const response = await new Promise<Buffer>((resolve) => b.once('data', resolve));
    assert.match(response.toString(), /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*X-Stream-Protocol-Version: portforward\.k8s\.io/);
    const client = new SpdySession(b, { isServer: false });
    let requestId = 0;
    const forward = async (port: number, payload: string): Promise<{ error: string; data: string }> => {
      const id = String(requestId++);
      const error = await client.openStream({ streamtype: 'error', port: String(port), requestid: id });
      error.end();
      const data = await client.openStream({ streamtype: 'data', port: String(port), requestid: id });
      const [e, d] = [readAll(error), readAll(data)];
      data.end(payload);
      return { error: (await e).toString(), data: (await d).toString() };
    };
    const failed = await forward(1, 'x');
    assert.match(failed.error, /^error forwarding port 1 to pod p, uid : connect ECONNREFUSED 127\.0\.0\.1:1$/);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => forward(echoPort, `payload ${i}`)));
    results.forEach((r, i) => assert.deepEqual(r, { error: '', data: `payload ${i}` }));
    client.close();
    await served;
    echo.close();
  });
});

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

/** A control frame header claiming `length` payload bytes, with any version. */
function controlHeader(type: number, length: number, version = 3): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16BE(0x8000 | version, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(length & 0xffffff, 4);
  return b;
}

/**
 * Raw name/value bytes as one stored deflate block plus sync marker: a valid continuation of the
 * peer's zlib stream whatever it holds, so the session inflates exactly these bytes.
 */
function storedBlock(raw: Buffer): Buffer {
  const hdr = Buffer.from([0x00, 0, 0, 0, 0]);
  hdr.writeUInt16LE(raw.length, 1);
  hdr.writeUInt16LE(~raw.length & 0xffff, 3);
  return Buffer.concat([hdr, raw, Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])]);
}

/** A SYN_STREAM carrying an already compressed header block. */
function synStreamWithBlock(id: number, block: Buffer): Buffer {
  return encodeControl(frameTypes.synStream, 0, Buffer.concat([u32(id, 0), Buffer.alloc(2), block]));
}

const statusNames = new Map<number, string>(Object.entries(rstStatus).map(([name, code]) => [code, name]));

/** One line per frame the session sent, e.g. `RST_STREAM 3 streamAlreadyClosed` or `GOAWAY 1 status 1`. */
function summarize(f: SpdyFrame): string {
  if (f.kind === 'data') return `DATA ${f.streamId}${f.flags & flagFin ? ' FIN' : ''} ${f.data.length}`;
  const name = frameNames[f.type] ?? `type ${f.type}`;
  const word = (i: number): number => (f.payload.length >= i * 4 + 4 ? f.payload.readUInt32BE(i * 4) : -1);
  if (f.type === frameTypes.rstStream) return `${name} ${word(0)} ${statusNames.get(word(1)) ?? word(1)}`;
  if (f.type === frameTypes.goAway) return `${name} ${word(0)} status ${word(1)}`;
  if (f.type === frameTypes.synStream || f.type === frameTypes.synReply || f.type === frameTypes.ping) return `${name} ${word(0) & 0x7fffffff}`;
  return name;
}

/**
 * A session under test and a scripted peer on the other end of an in-memory pipe: the peer writes
 * raw bytes and records every frame the session sends back, and whether the session ended the pipe.
 */
function scriptedPeer(options: SpdySessionOptions = { isServer: true }) {
  const [a, b] = duplexPair();
  b.on('error', () => {});
  const session = new SpdySession(a, options);
  const errors: Error[] = [];
  session.on('error', (err: Error) => errors.push(err));
  const closed = new Promise<void>((resolve) => session.once('close', resolve));
  const reader = new FrameReader();
  const sent: string[] = [];
  let ended = false;
  let wake = (): void => {};
  b.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) sent.push(summarize(f));
    wake();
  });
  b.on('end', () => { ended = true; wake(); });
  const until = (what: string, done: () => boolean, ms = 2000): Promise<void> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; the session sent ${JSON.stringify(sent)}`)), ms);
    const check = (): void => {
      if (!done()) return;
      clearTimeout(timer);
      wake = () => {};
      resolve();
    };
    wake = check;
    check();
  });
  return {
    session, errors, closed, sent, until,
    compressor: new HeaderCompressor(),
    send(...parts: Buffer[]): void { b.write(Buffer.concat(parts)); },
    /** Resolves once the session has sent `n` frames in all. */
    frames(n: number): Promise<void> { return until(`${n} frames`, () => sent.length >= n); },
    /** Resolves once the session has ended the pipe, after a GOAWAY. */
    ended(): Promise<void> { return until('the end of the session', () => ended); },
    close(): void { session.destroy(); b.destroy(); },
  };
}

type Peer = ReturnType<typeof scriptedPeer>;

/** Opens stream `id` from the peer and resolves with the session's side of it, errors recorded. */
async function openFromPeer(peer: Peer, id: number, headers: Record<string, string> = { streamtype: 'data' }): Promise<SpdyStream & { failure?: Error }> {
  const arrived = new Promise<SpdyStream>((resolve) => peer.session.once('stream', resolve));
  const before = peer.sent.length;
  peer.send(encodeSynStream(id, 0, peer.compressor.compress(headers)));
  const stream = await arrived as SpdyStream & { failure?: Error };
  stream.on('error', (err: Error) => { stream.failure = err; });
  await peer.frames(before + 1);
  assert.equal(peer.sent.at(-1), `SYN_REPLY ${id}`);
  return stream;
}

/** A healthy client/server pair on their own pipe: another session must not notice one failing. */
function healthyPair() {
  const [a, b] = duplexPair();
  const server = new SpdySession(a, { isServer: true });
  const client = new SpdySession(b, { isServer: false });
  server.on('stream', (s: SpdyStream) => s.pipe(s));
  return {
    async assertWorks(): Promise<void> {
      assert.ok((await client.ping()) >= 0);
      const stream = await client.openStream({ hello: 'world' });
      const echoed = readAll(stream);
      stream.end('still here');
      assert.equal((await echoed).toString(), 'still here');
    },
    close(): void { server.destroy(); client.destroy(); },
  };
}

// Each case sends one bad thing after the peer has opened stream 1 on a server session. Before
// this was handled, the first of them threw "Attempt to access memory outside buffer bounds" out
// of the socket's 'data' handler and took the whole API server down.
const sessionErrors: { name: string; frames: (peer: Peer) => Buffer[]; before?: string[]; goAway?: string }[] = [
  { name: 'RST_STREAM with an empty payload', frames: () => [encodeControl(frameTypes.rstStream, 0, Buffer.alloc(0))] },
  { name: 'RST_STREAM with 4 bytes', frames: () => [encodeControl(frameTypes.rstStream, 0, u32(1))] },
  { name: 'RST_STREAM with 12 bytes', frames: () => [encodeControl(frameTypes.rstStream, 0, u32(1, 5, 0))] },
  { name: 'RST_STREAM for stream 0', frames: () => [encodeControl(frameTypes.rstStream, 0, u32(0, 5))] },
  { name: 'RST_STREAM with status 0', frames: () => [encodeControl(frameTypes.rstStream, 0, u32(1, 0))] },
  { name: 'SETTINGS with an empty payload', frames: () => [encodeControl(frameTypes.settings, 0, Buffer.alloc(0))] },
  { name: 'SETTINGS announcing more entries than it carries', frames: () => [encodeControl(frameTypes.settings, 0, u32(5, 7, 1000))] },
  { name: 'SETTINGS with a partial entry', frames: () => [encodeControl(frameTypes.settings, 0, u32(1, 7))] },
  { name: 'SETTINGS INITIAL_WINDOW_SIZE over 2^31-1', frames: () => [encodeControl(frameTypes.settings, 0, u32(1, 7, 0x80000000))] },
  { name: 'PING with an empty payload', frames: () => [encodeControl(frameTypes.ping, 0, Buffer.alloc(0))] },
  { name: 'PING with 8 bytes', frames: () => [encodeControl(frameTypes.ping, 0, u32(1, 1))] },
  { name: 'GOAWAY with 4 bytes', frames: () => [encodeControl(frameTypes.goAway, 0, u32(1))] },
  { name: 'WINDOW_UPDATE with 4 bytes', frames: () => [encodeControl(frameTypes.windowUpdate, 0, u32(1))] },
  { name: 'WINDOW_UPDATE with 12 bytes', frames: () => [encodeControl(frameTypes.windowUpdate, 0, u32(1, 1, 1))] },
  { name: 'session WINDOW_UPDATE of delta 0', frames: () => [encodeControl(frameTypes.windowUpdate, 0, u32(0, 0))] },
  { name: 'session WINDOW_UPDATE overflowing the window', frames: () => [encodeControl(frameTypes.windowUpdate, 0, u32(0, 0x7fffffff))] },
  { name: 'SYN_STREAM shorter than its fixed part', frames: () => [encodeControl(frameTypes.synStream, 0, u32(3))] },
  { name: 'SYN_REPLY with an empty payload', frames: () => [encodeControl(frameTypes.synReply, 0, Buffer.alloc(0))] },
  { name: 'HEADERS with 2 bytes', frames: () => [encodeControl(frameTypes.headers, 0, Buffer.alloc(2))] },
  { name: 'SYN_STREAM for stream 0', frames: (p) => [encodeSynStream(0, 0, p.compressor.compress({}))] },
  { name: 'SYN_STREAM with an even id at a server', frames: (p) => [encodeSynStream(4, 0, p.compressor.compress({}))] },
  {
    name: 'SYN_STREAM with a lower id than the last one',
    frames: (p) => [encodeSynStream(7, 0, p.compressor.compress({})), encodeSynStream(5, 0, p.compressor.compress({}))],
    before: ['SYN_REPLY 7'], goAway: 'GOAWAY 7 status 1',
  },
  { name: 'SYN_STREAM whose header block is not zlib', frames: () => [synStreamWithBlock(3, Buffer.from('not zlib at all'))] },
  { name: 'SYN_STREAM with an empty header block', frames: () => [synStreamWithBlock(3, Buffer.alloc(0))] },
  { name: 'header block truncated inside a name', frames: () => [synStreamWithBlock(3, storedBlock(Buffer.concat([u32(1, 5), Buffer.from('ab')])))] },
  { name: 'header block announcing 2^32-1 headers', frames: () => [synStreamWithBlock(3, storedBlock(u32(0xffffffff)))] },
  { name: 'header block with bytes after its last header', frames: () => [synStreamWithBlock(3, storedBlock(Buffer.concat([u32(0), Buffer.from('xx')])))] },
  {
    // 4 MiB of zeros deflate to a few KiB; the session stops inflating at its limit.
    name: 'header block inflating past the limit (a zlib bomb)',
    frames: () => [synStreamWithBlock(3, deflateRawSync(Buffer.alloc(4 * 1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH }))],
  },
  { name: 'HEADERS whose header block is not zlib', frames: () => [encodeControl(frameTypes.headers, 0, Buffer.concat([u32(1), Buffer.from('garbage')]))] },
  { name: 'control frame of SPDY version 2', frames: () => [controlHeader(frameTypes.ping, 4, 2), u32(1)] },
  {
    name: 'SYN_STREAM of SPDY version 2',
    frames: () => [controlHeader(frameTypes.synStream, 12, 2), u32(3, 0), Buffer.alloc(4)],
    before: ['RST_STREAM 3 unsupportedVersion'],
  },
  // Only the header is sent: the session must refuse before buffering the payload.
  { name: 'control frame longer than the limit', frames: () => [controlHeader(frameTypes.headers, maxControlPayload + 1)] },
  { name: 'control frame with the largest 24-bit length', frames: () => [controlHeader(frameTypes.settings, 0xffffff)] },
  { name: 'DATA frame for stream 0', frames: () => [encodeDataHeader(0, 0, 1), Buffer.from('x')] },
];

describe('SpdySession with a malformed or hostile peer', () => {
  let healthy: ReturnType<typeof healthyPair>;
  before(() => { healthy = healthyPair(); });
  after(() => healthy.close());

  for (const c of sessionErrors) {
    test(`${c.name}: GOAWAY PROTOCOL_ERROR, its streams fail, the process and other sessions carry on`, async () => {
      const peer = scriptedPeer();
      const stream = await openFromPeer(peer, 1);
      peer.send(...c.frames(peer));
      await peer.ended();
      await peer.closed;
      assert.deepEqual(peer.sent, ['SYN_REPLY 1', ...(c.before ?? []), c.goAway ?? 'GOAWAY 1 status 1']);
      assert.ok(peer.session.isClosed);
      assert.equal(peer.errors.length, 1);
      assert.ok(peer.errors[0] instanceof SpdyProtocolError, String(peer.errors[0]));
      assert.ok(stream.destroyed);
      assert.equal(stream.failure, peer.errors[0]);
      await healthy.assertWorks();
      peer.close();
    });
  }

  test("a 'stream' listener that throws: GOAWAY INTERNAL_ERROR instead of an uncaught exception", async () => {
    const peer = scriptedPeer();
    const first = await openFromPeer(peer, 1);
    peer.session.on('stream', () => { throw new Error('listener bug'); });
    peer.send(encodeSynStream(3, 0, peer.compressor.compress({})));
    await peer.ended();
    assert.deepEqual(peer.sent, ['SYN_REPLY 1', 'SYN_REPLY 3', 'GOAWAY 3 status 2']);
    assert.equal(peer.errors[0]?.message, 'listener bug');
    assert.ok(first.destroyed);
    await healthy.assertWorks();
    peer.close();
  });

  test('a stream whose owner does not listen for errors is destroyed without an unhandled error', async () => {
    const peer = scriptedPeer();
    const arrived = new Promise<SpdyStream>((resolve) => peer.session.once('stream', resolve));
    peer.send(encodeSynStream(1, 0, peer.compressor.compress({})));
    const stream = await arrived;
    peer.send(encodeControl(frameTypes.rstStream, 0, Buffer.alloc(0)));
    await peer.ended();
    assert.ok(stream.destroyed);
    assert.equal(stream.errored, null);
    peer.close();
  });

  test('a pending PING and a stream waiting for its SYN_REPLY fail when the session does', async () => {
    const peer = scriptedPeer({ isServer: false });
    const opened = peer.session.openStream({ streamtype: 'data' });
    const pinged = peer.session.ping();
    await peer.frames(2);
    peer.send(encodeControl(frameTypes.ping, 0, Buffer.alloc(0)));
    await assert.rejects(opened, SpdyProtocolError);
    await assert.rejects(pinged, SpdyProtocolError);
    assert.deepEqual(peer.sent, ['SYN_STREAM 1', 'PING 1', 'GOAWAY 0 status 1']);
    peer.close();
  });

  // Stream errors (draft §2.4.2): RST_STREAM for that stream, and the session goes on.
  const streamErrors: { name: string; script: (peer: Peer) => Promise<void>; rst: string; resets?: boolean }[] = [
    { name: 'DATA for a stream never opened', script: async (p) => p.send(encodeDataHeader(9, 0, 1), Buffer.from('x')), rst: 'RST_STREAM 9 invalidStream' },
    { name: 'DATA for an even stream the server never opened', script: async (p) => p.send(encodeDataHeader(2, 0, 0)), rst: 'RST_STREAM 2 invalidStream' },
    { name: 'HEADERS for a stream never opened', script: async (p) => p.send(encodeControl(frameTypes.headers, 0, Buffer.concat([u32(11), p.compressor.compress({})]))), rst: 'RST_STREAM 11 invalidStream' },
    { name: 'SYN_REPLY for a stream never opened', script: async (p) => p.send(encodeSynReply(2, 0, p.compressor.compress({}))), rst: 'RST_STREAM 2 invalidStream' },
    { name: 'DATA after the peer\'s FIN', script: async (p) => p.send(encodeDataHeader(1, flagFin, 0), encodeDataHeader(1, 0, 1), Buffer.from('x')), rst: 'RST_STREAM 1 streamAlreadyClosed', resets: true },
    { name: 'SYN_REPLY for a stream the peer opened', script: async (p) => p.send(encodeSynReply(1, 0, p.compressor.compress({}))), rst: 'RST_STREAM 1 streamInUse', resets: true },
    { name: 'a second SYN_STREAM for the same stream', script: async (p) => p.send(encodeSynStream(1, 0, p.compressor.compress({}))), rst: 'RST_STREAM 1 protocolError', resets: true },
    { name: 'WINDOW_UPDATE of delta 0 for a stream', script: async (p) => p.send(encodeControl(frameTypes.windowUpdate, 0, u32(1, 0))), rst: 'RST_STREAM 1 flowControlError', resets: true },
    { name: 'WINDOW_UPDATE overflowing a stream\'s window', script: async (p) => p.send(encodeControl(frameTypes.windowUpdate, 0, u32(1, 0x7fffffff))), rst: 'RST_STREAM 1 flowControlError', resets: true },
    { name: 'SYN_STREAM with an empty header name', script: async (p) => p.send(synStreamWithBlock(3, storedBlock(Buffer.concat([u32(1, 0, 1), Buffer.from('v')])))), rst: 'RST_STREAM 3 protocolError' },
    { name: 'SYN_STREAM with an empty NUL-separated value', script: async (p) => p.send(synStreamWithBlock(3, storedBlock(Buffer.concat([u32(1, 1), Buffer.from('a'), u32(2), Buffer.from('x\0')])))), rst: 'RST_STREAM 3 protocolError' },
  ];
  for (const c of streamErrors) {
    test(`${c.name}: RST_STREAM ${c.rst.split(' ').at(-1)}, and the session goes on`, async () => {
      const peer = scriptedPeer();
      const stream = await openFromPeer(peer, 1);
      await c.script(peer);
      await peer.frames(2);
      assert.deepEqual(peer.sent, ['SYN_REPLY 1', c.rst]);
      if (c.resets) {
        assert.ok(stream.destroyed);
        assert.ok(stream.failure instanceof SpdyStreamError, String(stream.failure));
      } else {
        assert.ok(!stream.destroyed);
      }
      // The header compression context is still in step: a later stream opens and carries data.
      const next = await openFromPeer(peer, 13, { streamtype: 'data', requestid: '13' });
      assert.equal(next.headers.requestid, '13');
      const got = readAll(next);
      peer.send(encodeDataHeader(13, flagFin, 2), Buffer.from('ok'));
      assert.equal((await got).toString(), 'ok');
      assert.ok(!peer.session.isClosed);
      assert.deepEqual(peer.errors, []);
      peer.close();
    });
  }

  test('frames for a stream that has closed are dropped, not answered: they race our RST_STREAM or FIN', async () => {
    const peer = scriptedPeer();
    const stream = await openFromPeer(peer, 1);
    peer.send(encodeRstStream(1, rstStatus.cancel));
    await once(stream, 'close');
    peer.send(encodeDataHeader(1, 0, 1), Buffer.from('x'), encodeControl(frameTypes.windowUpdate, 0, u32(1, 10)),
      encodeControl(frameTypes.rstStream, 0, u32(1, rstStatus.cancel)), encodeControl(frameTypes.ping, 0, u32(5)));
    await peer.frames(2);
    assert.deepEqual(peer.sent, ['SYN_REPLY 1', 'PING 5']);
    peer.close();
  });

  // Before these checks, podgate's client sent a second FIN (empty DATA) on a stream it opened
  // with FLAG_FIN, and the server now answering that with STREAM_ALREADY_CLOSED broke every
  // port-forward error stream. Our client no longer sends it; the server still tolerates it.
  test('a stream opened with FIN sends no second FIN when ended', async () => {
    const peer = scriptedPeer({ isServer: false });
    void peer.session.openStream({ streamtype: 'error' }, { fin: true }).catch(() => {});
    await new Promise((resolve) => setImmediate(resolve));
    void peer.session.ping().catch(() => {});
    await peer.frames(2);
    assert.deepEqual(peer.sent, ['SYN_STREAM 1', 'PING 1']);
    peer.close();
  });

  test("an empty DATA + FIN after the peer's FIN is dropped, as older podgate clients sent one", async () => {
    const peer = scriptedPeer();
    const arrived = new Promise<SpdyStream>((resolve) => peer.session.once('stream', resolve));
    peer.send(encodeSynStream(1, flagFin, peer.compressor.compress({ streamtype: 'error' })), encodeDataHeader(1, flagFin, 0));
    const stream = await arrived;
    peer.send(encodeControl(frameTypes.ping, 0, u32(3)));
    await peer.frames(2);
    assert.deepEqual(peer.sent, ['SYN_REPLY 1', 'PING 3']);
    assert.ok(!stream.destroyed);
    stream.end('fine');
    await peer.frames(4);
    assert.deepEqual(peer.sent, ['SYN_REPLY 1', 'PING 3', 'DATA 1 4', 'DATA 1 FIN 0']);
    peer.close();
  });

  test('unknown control frame types are ignored', async () => {
    const peer = scriptedPeer();
    await openFromPeer(peer, 1);
    peer.send(encodeControl(10, 0, Buffer.from('credential')), encodeControl(0x7fff, 0, Buffer.alloc(0)), encodeControl(frameTypes.ping, 0, u32(7)));
    await peer.frames(2);
    assert.deepEqual(peer.sent, ['SYN_REPLY 1', 'PING 7']);
    peer.close();
  });

  test('DATA before SYN_REPLY on a stream we opened: RST_STREAM PROTOCOL_ERROR and the open fails', async () => {
    const peer = scriptedPeer({ isServer: false });
    const opened = peer.session.openStream({ streamtype: 'data' });
    await peer.frames(1);
    peer.send(encodeDataHeader(1, 0, 1), Buffer.from('x'));
    await assert.rejects(opened, SpdyStreamError);
    await peer.frames(2);
    assert.deepEqual(peer.sent, ['SYN_STREAM 1', 'RST_STREAM 1 protocolError']);
    assert.ok(!peer.session.isClosed);
    peer.close();
  });

  // Inflated output above the inflater's 16 KiB highWaterMark used to stall it before the sync
  // flush, so the session waited for that header block forever.
  test('a header block inflating to more than 16 KiB decodes instead of hanging the session', async () => {
    const peer = scriptedPeer();
    const big = 'v'.repeat(100_000);
    const stream = await openFromPeer(peer, 1, { big });
    assert.equal(stream.headers.big, big);
    assert.ok(!peer.session.isClosed);
    peer.close();
  });

  test('one malformed session among many: the others finish their transfers', async () => {
    const pairs = Array.from({ length: 5 }, () => healthyPair());
    const bad = scriptedPeer();
    await openFromPeer(bad, 1);
    const transfers = pairs.map((p) => p.assertWorks());
    bad.send(encodeControl(frameTypes.rstStream, 0, Buffer.alloc(0)));
    await Promise.all([...transfers, bad.ended()]);
    await Promise.all(pairs.map((p) => p.assertWorks()));
    for (const p of pairs) p.close();
    bad.close();
  });
});

/** A SYN_STREAM with any flags (FLAG_UNIDIRECTIONAL included). */
function synStreamFlags(peer: Peer, id: number, flags: number, headers: Record<string, string> = {}): Buffer {
  return encodeSynStream(id, flags, peer.compressor.compress(headers));
}

/** `promise`, or a rejection naming `what` after `ms`: a test of something that would hang fails fast instead. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Resolves once `emitter` has emitted `n` 'stream' events. */
function streamsArrive(session: SpdySession, n: number): Promise<SpdyStream[]> {
  const got: SpdyStream[] = [];
  return new Promise((resolve) => {
    session.on('stream', (s: SpdyStream) => {
      got.push(s);
      if (got.length === n) resolve(got);
    });
  });
}

// A client authenticated to the API server, or anything reaching the upgrade endpoint, must not be
// able to make the process hold unbounded memory through one session.
describe('SpdySession resource limits', () => {
  test(`the peer may have ${defaultMaxConcurrentStreams} streams open at once; the next is refused until one closes`, async () => {
    const peer = scriptedPeer();
    const all = streamsArrive(peer.session, defaultMaxConcurrentStreams);
    const opens: Buffer[] = [];
    for (let i = 0; i < defaultMaxConcurrentStreams; i++) opens.push(synStreamFlags(peer, 2 * i + 1, 0, { streamtype: 'data', requestid: String(i) }));
    peer.send(...opens);
    const streams = await all;
    const next = 2 * defaultMaxConcurrentStreams + 1;
    peer.send(synStreamFlags(peer, next, 0));
    await peer.frames(defaultMaxConcurrentStreams + 1);
    assert.equal(peer.sent.at(-1), `RST_STREAM ${next} refusedStream`);
    assert.equal(peer.sent.filter((f) => f.startsWith('SYN_REPLY')).length, defaultMaxConcurrentStreams);
    // A stream that ends both ways makes room again.
    peer.send(encodeDataHeader(1, flagFin, 0));
    streams[0]!.resume();
    streams[0]!.end();
    await peer.frames(defaultMaxConcurrentStreams + 2);
    assert.equal(peer.sent.at(-1), 'DATA 1 FIN 0');
    await openFromPeer(peer, next + 2);
    assert.ok(!peer.session.isClosed);
    peer.close();
  });

  test('frames for never-opened streams: only the first 64 are answered, the rest dropped as spdystream does', async () => {
    const peer = scriptedPeer();
    const frames: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) frames.push(encodeDataHeader(2 * i + 101, 0, 1), Buffer.from('x'));
    peer.send(...frames, encodeControl(frameTypes.ping, 0, u32(7)));
    await peer.frames(65);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(peer.sent.length, 65);
    assert.deepEqual(peer.sent.slice(0, 2), ['RST_STREAM 101 invalidStream', 'RST_STREAM 103 invalidStream']);
    assert.equal(peer.sent.at(-1), 'PING 7');
    assert.ok(!peer.session.isClosed);
    peer.close();
  });

  test('with flow control on, DATA beyond the stream window is FLOW_CONTROL_ERROR, refused on its header alone', async () => {
    const peer = scriptedPeer({ isServer: true, flowControl: 'on' });
    peer.session.sendSettings(1024); // stream windows of 1 KiB; the session window stays 64 KiB
    await peer.frames(1);
    const stream = await openFromPeer(peer, 1);
    const within = await openFromPeer(peer, 3);
    // 1 KiB fits the window exactly; of the frame one byte over it, only the header is sent.
    peer.send(encodeDataHeader(3, 0, 1024), Buffer.alloc(1024), encodeDataHeader(1, 0, 1025));
    await peer.until('the RST_STREAM', () => peer.sent.includes('RST_STREAM 1 flowControlError'));
    assert.ok(stream.destroyed);
    assert.ok(stream.failure instanceof SpdyStreamError);
    assert.ok(!within.destroyed);
    assert.ok(!peer.session.isClosed);
    peer.close();
  });

  test('with flow control on, DATA beyond the session window is GOAWAY PROTOCOL_ERROR', async () => {
    const peer = scriptedPeer({ isServer: true, flowControl: 'on' });
    peer.session.sendSettings(1024 * 1024); // stream windows of 1 MiB; the session window stays 64 KiB
    await peer.frames(1);
    const stream = await openFromPeer(peer, 1);
    peer.send(encodeDataHeader(1, 0, 64 * 1024 + 1));
    await peer.ended();
    assert.equal(peer.sent.at(-1), 'GOAWAY 1 status 1');
    assert.ok(peer.errors[0] instanceof SpdyProtocolError);
    assert.ok(stream.destroyed);
    peer.close();
  });

  test('with flow control on, a peer keeping to the windows is credited and never refused', async () => {
    const peer = scriptedPeer({ isServer: true, flowControl: 'on' });
    const stream = await openFromPeer(peer, 1);
    const got = readAll(stream);
    // 40 KiB at a time: each pair of frames is over half a window, so credit comes back at once.
    for (let i = 0; i < 8; i++) {
      const credits = peer.sent.filter((f) => f === 'WINDOW_UPDATE').length;
      peer.send(encodeDataHeader(1, 0, 40 * 1024), Buffer.alloc(40 * 1024, i));
      await peer.until('credit', () => peer.sent.filter((f) => f === 'WINDOW_UPDATE').length >= credits + 2);
    }
    peer.send(encodeDataHeader(1, flagFin, 0));
    assert.equal((await got).length, 8 * 40 * 1024);
    assert.ok(!peer.sent.some((f) => f.startsWith('RST_STREAM') || f.startsWith('GOAWAY')));
    peer.close();
  });

  test('a slowly sent 16 MiB DATA frame reaches its stream piece by piece, never buffered whole', async () => {
    const peer = scriptedPeer();
    const stream = await openFromPeer(peer, 1);
    let received = 0;
    const arrived = new Promise<void>((resolve) => stream.on('data', (c: Buffer) => {
      received += c.length;
      if (received === 64 * 1024) resolve();
    }));
    peer.send(encodeDataHeader(1, 0, 0xffffff));
    for (let i = 0; i < 64; i++) peer.send(Buffer.alloc(1024, 1));
    await within(1000, 'the first 64 KiB of the frame', arrived);
    peer.close();
  });

  test('1-byte chunks: the FrameReader holds a few Buffer objects, not one per byte', () => {
    // A DATA frame read in pieces: bytes wait until a piece is worth handing out.
    const pieces = new FrameReader({ dataPieceMin: 16 * 1024 });
    pieces.push(encodeDataHeader(1, 0, 0xffffff));
    const sizes: number[] = [];
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      pieces.push(Buffer.from([i & 0xff]));
      for (let f = pieces.next(); f !== undefined; f = pieces.next()) if (f.kind === 'data' && !f.first) sizes.push(f.data.length);
      most = Math.max(most, pieces.bufferedChunks);
    }
    assert.ok(most <= 40, `held ${most} chunks`);
    assert.equal(sizes.length, 6);
    assert.ok(sizes.every((n) => n >= 16 * 1024), String(sizes));
    // A large control frame read whole.
    // A large control frame read whole: what waits is mostly in buffers of 4 KiB or more.
    const whole = new FrameReader();
    const frame = encodeControl(frameTypes.headers, 0, Buffer.alloc(200 * 1024));
    let frames = 0;
    for (const byte of frame) {
      whole.push(Buffer.from([byte]));
      assert.ok(whole.bufferedChunks <= 40 + whole.bufferedBytes / 4096, `held ${whole.bufferedChunks} chunks for ${whole.bufferedBytes} bytes`);
      if (whole.next() !== undefined) frames++;
    }
    assert.equal(frames, 1);
  });

  test('tiny DATA frames reach a reader that is not reading as one buffer, and a small payload does not pin a large read', async () => {
    const peer = scriptedPeer();
    const stream = await openFromPeer(peer, 1);
    const tiny: Buffer[] = [];
    for (let i = 0; i < 1000; i++) tiny.push(encodeDataHeader(1, 0, 1), Buffer.from('x'));
    // 5000 bytes on stream 1, then 200 KiB of an unknown control frame in the same read.
    peer.send(...tiny, encodeDataHeader(1, 0, 5000), Buffer.alloc(5000, 'y'), encodeControl(10, 0, Buffer.alloc(200 * 1024)), encodeControl(frameTypes.ping, 0, u32(7)));
    await peer.until('the PING', () => peer.sent.includes('PING 7'));
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(Buffer.concat(chunks).toString(), 'x'.repeat(1000) + 'y'.repeat(5000));
    assert.ok(chunks.length <= 2, `${chunks.length} chunks`);
    for (const c of chunks) assert.ok(c.buffer.byteLength <= 2 * c.length, `${c.length} bytes hold ${c.buffer.byteLength}`);
    peer.close();
  });

  test("streams we opened above a GOAWAY's last-good stream fail at once; those at or below go on", async () => {
    const peer = scriptedPeer({ isServer: false });
    const first = peer.session.openStream({ streamtype: 'error' });
    const second = peer.session.openStream({ streamtype: 'data' });
    const third = peer.session.openStream({ streamtype: 'data' });
    await peer.frames(3);
    peer.send(encodeSynReply(1, 0, peer.compressor.compress({})), encodeSynReply(3, 0, peer.compressor.compress({})));
    const [one, three] = await Promise.all([first, second]);
    three!.on('error', () => {});
    peer.send(encodeControl(frameTypes.goAway, 0, u32(1, 0)));
    await assert.rejects(within(1000, 'stream 5 failing', third), SpdyRefusedStreamError);
    assert.ok(three!.destroyed);
    assert.equal(three!.resetStatus, rstStatus.refusedStream);
    assert.ok(!one!.destroyed);
    one!.end('last words');
    await peer.frames(5);
    assert.deepEqual(peer.sent.slice(3), ['DATA 1 10', 'DATA 1 FIN 0']);
    peer.close();
  });

  test('a stream the peer opened FLAG_UNIDIRECTIONAL: no SYN_REPLY and nothing written on it, but it can be read', async () => {
    const peer = scriptedPeer();
    const arrived = new Promise<SpdyStream>((resolve) => peer.session.once('stream', resolve));
    peer.send(synStreamFlags(peer, 1, flagUnidirectional, { streamtype: 'data' }));
    const stream = await arrived;
    const got = readAll(stream);
    stream.write('must not be sent');
    stream.end();
    peer.send(encodeDataHeader(1, flagFin, 5), Buffer.from('hello'));
    assert.equal((await got).toString(), 'hello');
    peer.send(encodeControl(frameTypes.ping, 0, u32(7)));
    await peer.frames(1);
    assert.deepEqual(peer.sent, ['PING 7']);
    peer.close();
  });

  test('a peer that sends but never reads: the session is torn down once its answers back up', async () => {
    const [a, b] = duplexPair();
    b.on('error', () => {});
    const session = new SpdySession(a, { isServer: true });
    const errors: Error[] = [];
    session.on('error', (err: Error) => errors.push(err));
    const closed = new Promise((resolve) => session.once('close', resolve));
    const pings = Buffer.concat(Array.from({ length: 1000 }, (_, i) => encodeControl(frameTypes.ping, 0, u32(2 * i + 1))));
    // 200 000 PINGs (2.4 MB) asking 2.4 MB of echoes of a peer that reads none of them.
    let peak = 0;
    for (let i = 0; i < 200 && !session.isClosed; i++) {
      b.write(pings);
      await new Promise((resolve) => setImmediate(resolve));
      if (!a.destroyed) peak = Math.max(peak, a.writableLength);
    }
    await within(1000, 'the session closing', closed);
    assert.ok(errors[0] instanceof SpdyWriteBacklogError, String(errors[0]));
    // What waited for the peer never grew much past the cap while the session lived.
    assert.ok(peak > 0 && peak <= defaultMaxWriteBacklog + 64 * 1024, `peak backlog ${peak} bytes`);
    b.destroy();
  });

  test('32 streams writing 512 KiB each to a peer not reading yet: data waits, the session stays, all arrives later', async () => {
    const [a, b] = duplexPair();
    b.on('error', () => {});
    const server = new SpdySession(a, { isServer: true });
    const payload = randomBytes(512 * 1024);
    server.on('stream', (s: SpdyStream) => s.end(payload));
    const c = new HeaderCompressor();
    b.write(Buffer.concat(Array.from({ length: 32 }, (_, i) => encodeSynStream(2 * i + 1, flagFin, c.compress({ streamtype: 'data' })))));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(!server.isClosed);
    assert.ok(a.writableLength < 256 * 1024, `${a.writableLength} bytes wait`);
    const reader = new FrameReader();
    const parts = new Map<number, Buffer[]>();
    let finished = 0;
    const done = new Promise<void>((resolve) => {
      b.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        for (let f = reader.next(); f !== undefined; f = reader.next()) {
          if (f.kind !== 'data') continue;
          parts.set(f.streamId, [...parts.get(f.streamId) ?? [], f.data]);
          if ((f.flags & flagFin) && ++finished === 32) resolve();
        }
      });
    });
    await done;
    for (const [, p] of parts) assert.ok(Buffer.concat(p).equals(payload));
    assert.ok(!server.isClosed);
    server.destroy();
  });
});

describe('SpdySession writes waiting for the transport', () => {
  /** A session whose peer reads nothing until told: what streams write waits in the session. */
  function unreadPeer(options: Partial<SpdySessionOptions> = {}) {
    const toPeer = new PassThrough();
    const fromPeer = new PassThrough();
    const transport = Duplex.from({ readable: fromPeer, writable: toPeer });
    const session = new SpdySession(transport, { isServer: true, ...options });
    const compressor = new HeaderCompressor();
    const open = async (id: number): Promise<SpdyStream> => {
      const arrived = new Promise<SpdyStream>((resolve) => session.once('stream', resolve));
      fromPeer.write(encodeSynStream(id, 0, compressor.compress({ streamtype: 'stdout' })));
      return arrived;
    };
    return { session, transport, toPeer, fromPeer, open };
  }
  const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test("a stream reset by the peer with writes queued ends quietly, with the peer's status, even if its owner does not listen for errors", async () => {
    const { session, fromPeer, open } = unreadPeer();
    const uncaught: Error[] = [];
    const record = (err: Error): void => { uncaught.push(err); };
    process.on('uncaughtException', record);
    try {
      const stream = await open(1); // no 'error' listener, as a careless owner
      stream.write(Buffer.alloc(1024 * 1024));
      await tick(20);
      fromPeer.write(encodeRstStream(1, rstStatus.protocolError));
      await tick(50);
      assert.equal(stream.destroyed, true);
      assert.equal(stream.resetStatus, rstStatus.protocolError, 'the reset status is the peer\'s, not our CANCEL');
      assert.equal(session.isClosed, false, 'the session goes on');
      // The session torn down (kubectl gone) with another stream's writes queued: no error either.
      const other = await open(3);
      other.write(Buffer.alloc(1024 * 1024));
      await tick(20);
      session.destroy();
      await tick(50);
      assert.equal(other.destroyed, true);
      assert.deepEqual(uncaught.map((e) => e.message), []);
    } finally {
      process.off('uncaughtException', record);
      session.destroy();
    }
  });

  test('streams writing at once through a slow transport share it evenly', async () => {
    const { session, toPeer, open } = unreadPeer();
    const a = await open(1);
    const b = await open(3);
    // The peer reads a little every millisecond and counts DATA bytes per stream.
    const reader = new FrameReader();
    const got = new Map<number, number>();
    const drain = setInterval(() => {
      for (let chunk: Buffer | null, n = 0; n < 4 && (chunk = toPeer.read() as Buffer | null) !== null; n++) reader.push(chunk);
      for (let f = reader.next(); f !== undefined; f = reader.next()) if (f.kind === 'data') got.set(f.streamId, (got.get(f.streamId) ?? 0) + f.data.length);
    }, 1);
    let running = true;
    const pump = async (s: SpdyStream): Promise<void> => {
      const chunk = Buffer.alloc(32 * 1024);
      while (running && !s.destroyed) if (!s.write(chunk)) await Promise.race([once(s, 'drain'), once(s, 'close')]);
    };
    const pumps = [pump(a), pump(b)];
    await tick(400);
    running = false;
    clearInterval(drain);
    const [x, y] = [got.get(1) ?? 0, got.get(3) ?? 0];
    session.destroy();
    await Promise.allSettled(pumps);
    assert.ok(x + y > 1024 * 1024, `only ${x + y} bytes went through`);
    assert.ok(Math.min(x, y) / Math.max(x, y) > 0.5, `stream 1 sent ${x} bytes, stream 3 ${y}: one starved the other`);
  });

  // Node emits no 'drain' once a transport is ended, so writes kept waiting for one after close()
  // used to wait out the 2 s grace timer, and writes made meanwhile were dropped but reported sent.
  test('close() fails a write still waiting for the transport to drain at once, with no unhandled error', async () => {
    const timers = manualTimers();
    const { session, open } = unreadPeer({ setTimer: timers.setTimer });
    const uncaught: Error[] = [];
    const record = (err: Error): void => { uncaught.push(err); };
    process.on('uncaughtException', record);
    try {
      const stream = await open(1); // no 'error' listener, as a careless owner
      const big = trackWrite(stream, Buffer.alloc(1024 * 1024));
      await nextTurn();
      assert.equal(big.settled, false, 'the write waits for the transport to drain');
      session.close();
      await nextTurn();
      assert.equal(big.settled, true, 'the write was left waiting for a drain that never comes');
      assert.ok(big.err instanceof SpdySessionClosedError, String(big.err));
      assert.equal(big.err.code, 'ERR_SPDY_SESSION_CLOSED');
      assert.ok(stream.destroyed);
      assert.equal(stream.resetStatus, rstStatus.cancel);
      assert.equal(session.isClosed, false, 'the session still waits for the peer to close its side');
      assert.deepEqual(uncaught.map((e) => e.message), []);
    } finally {
      process.off('uncaughtException', record);
      session.destroy();
    }
  });

  test('close() completes a write whose bytes are in the transport already, at once, and its stream stays readable', async () => {
    const timers = manualTimers();
    const { session, transport, fromPeer, open } = unreadPeer({ setTimer: timers.setTimer });
    const stream = await open(1);
    // One DATA frame filling the transport to its highWaterMark: written, its callback waits for 'drain'.
    const written = trackWrite(stream, Buffer.alloc(transport.writableHighWaterMark));
    await nextTurn();
    assert.equal(written.settled, false, 'the callback waits for the transport to drain');
    session.close();
    await nextTurn();
    assert.equal(written.settled, true, 'the callback was left waiting for a drain that never comes');
    assert.equal(written.err ?? null, null, 'its bytes go out ahead of the GOAWAY');
    assert.ok(!stream.destroyed);
    const got = readAll(stream);
    fromPeer.write(Buffer.concat([encodeDataHeader(1, flagFin, 5), Buffer.from('hello')]));
    assert.equal((await got).toString(), 'hello');
    session.destroy();
  });

  test('a write made after close() fails with SpdySessionClosedError instead of being dropped and reported sent', async () => {
    const timers = manualTimers();
    const peer = scriptedPeer({ isServer: true, setTimer: timers.setTimer });
    const stream = await openFromPeer(peer, 1);
    peer.session.close();
    const late = trackWrite(stream, 'too late');
    await nextTurn();
    assert.equal(late.settled, true);
    assert.ok(late.err instanceof SpdySessionClosedError, `the write was reported ${late.err ? `failed: ${String(late.err)}` : 'sent'}`);
    assert.ok(stream.destroyed);
    assert.equal(stream.failure, late.err, 'an owner listening for errors is told why');
    await peer.ended();
    assert.deepEqual(peer.sent, ['SYN_REPLY 1', 'GOAWAY 1 status 0']);
    peer.close();
  });

  test('a PING or a stream opened after close() fails at once with SpdySessionClosedError; a PING sent before is still answered', async () => {
    const timers = manualTimers();
    const peer = scriptedPeer({ isServer: true, setTimer: timers.setTimer });
    await openFromPeer(peer, 1);
    const early = peer.session.ping();
    await peer.frames(2);
    peer.session.close();
    let lateErr: unknown;
    peer.session.ping().then(() => { lateErr = 'answered'; }, (e: unknown) => { lateErr = e; });
    await nextTurn();
    assert.ok(lateErr instanceof SpdySessionClosedError, `the late PING ${lateErr === undefined ? 'is still waiting' : `ended with ${String(lateErr)}`}`);
    assert.deepEqual(timers.delays(), [closeGraceMs], 'it did not wait for the grace timer');
    await assert.rejects(peer.session.openStream({ streamtype: 'data' }), SpdySessionClosedError);
    peer.send(encodeControl(frameTypes.ping, 0, u32(2)));
    assert.ok((await early) >= 0);
    await peer.ended();
    assert.deepEqual(peer.sent, ['SYN_REPLY 1', 'PING 2', 'GOAWAY 1 status 0']);
    peer.close();
  });

  test(`close(): a peer that never closes its side is cut off when the injected ${closeGraceMs} ms grace timer fires`, async () => {
    const timers = manualTimers();
    const peer = scriptedPeer({ isServer: true, setTimer: timers.setTimer });
    const stream = await openFromPeer(peer, 1);
    peer.session.close();
    await peer.ended();
    assert.deepEqual(timers.delays(), [closeGraceMs]);
    assert.ok(!peer.session.isClosed, 'the peer may still finish its streams');
    assert.ok(!stream.destroyed);
    timers.fire();
    await peer.closed;
    assert.ok(peer.session.isClosed);
    assert.ok(stream.destroyed);
    peer.close();
  });

  test(`a session error fails writes waiting for drain at once; the transport is cut off when the injected ${closeGraceMs} ms timer fires`, async () => {
    const timers = manualTimers();
    const { session, transport, fromPeer, open } = unreadPeer({ setTimer: timers.setTimer });
    const errors: Error[] = [];
    session.on('error', (err: Error) => errors.push(err));
    const stream = await open(1);
    stream.on('error', () => {});
    const big = trackWrite(stream, Buffer.alloc(1024 * 1024));
    await nextTurn();
    assert.equal(big.settled, false, 'the write waits for the transport to drain');
    const closed = new Promise((resolve) => session.once('close', resolve));
    fromPeer.write(encodeControl(frameTypes.rstStream, 0, Buffer.alloc(0)));
    await closed;
    await nextTurn();
    assert.ok(errors[0] instanceof SpdyProtocolError, String(errors[0]));
    assert.equal(big.settled, true);
    assert.equal(big.err, errors[0]);
    assert.deepEqual(timers.delays(), [closeGraceMs]);
    assert.ok(!transport.destroyed, 'the GOAWAY gets its grace period to reach the peer');
    timers.fire();
    assert.ok(transport.destroyed);
  });
});

/** The session's timer seam, fired by hand: no test waits for a real grace period. */
function manualTimers() {
  const pending: { fn: () => void; ms: number }[] = [];
  return {
    setTimer: (fn: () => void, ms: number): void => { pending.push({ fn, ms }); },
    /** The delays of the timers set and not fired yet. */
    delays: (): number[] => pending.map((t) => t.ms),
    /** Fires every timer set so far, as if its time had come. */
    fire(): void { for (const t of pending.splice(0)) t.fn(); },
  };
}

/** Writes `data` and records how its callback settled: `settled` stays false while it waits. */
function trackWrite(stream: SpdyStream, data: Buffer | string): { settled: boolean; err?: (Error & { code?: string }) | null } {
  const result: { settled: boolean; err?: Error | null } = { settled: false };
  stream.write(data, (err) => { result.settled = true; result.err = err; });
  return result;
}

/** One turn of the event loop: callbacks due now (write callbacks, nextTicks, I/O) have run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
