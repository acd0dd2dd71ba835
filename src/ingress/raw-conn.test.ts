// RawConn against real sockets on 127.0.0.1: connect, backpressure and drain, FIN both ways,
// failures, the lazy inactivity timer, accepted connections sharing one read buffer, and the
// upstream read buffer replaced while a write still points into it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Conn, ConnHandler } from './conn.ts';
import { rawTcp } from './raw-conn.ts';
import { refusedPort } from '../util/test-ports.ts';

const raw = rawTcp;

function events(over: Partial<ConnHandler> = {}) {
  const log: string[] = [];
  const data: Buffer[] = [];
  let closed!: (e: Error | undefined) => void;
  const closedP = new Promise<Error | undefined>((r) => { closed = r; });
  const h: ConnHandler = {
    onData: (c) => { data.push(Buffer.from(c)); },
    onDrain: () => log.push('drain'),
    onEnd: () => log.push('end'),
    onTimeout: () => log.push('timeout'),
    onConnect: () => log.push('connect'),
    onClose: (e) => { log.push('close'); closed(e); },
    ...over,
  };
  return { h, log, data, closed: closedP };
}

async function server(onConn: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const s = net.createServer({ noDelay: true }, onConn);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const sockets = new Set<net.Socket>();
  s.on('connection', (c) => { sockets.add(c); c.on('close', () => sockets.delete(c)); });
  return { port: (s.address() as net.AddressInfo).port, close: () => new Promise((r) => { for (const c of sockets) c.destroy(); s.close(() => r()); }) };
}

/** A RawConn to `port` with a recording handler, once it is connected. */
async function connected(port: number, over: Partial<ConnHandler> = {}) {
  const ev = events(over);
  const c = raw!.connect('127.0.0.1', port);
  c.setHandler(ev.h);
  await new Promise<void>((r) => { ev.h.onConnect = r; });
  return { c, ev };
}

/**
 * Runs `fn` against a server on 127.0.0.1 (its accepted sockets in order), with the process's
 * uncaught exceptions collected: a handler's exception goes to the process, as any callback's does.
 */
async function withPeersAndUncaught(fn: (port: number, peers: net.Socket[], thrown: unknown[]) => Promise<void>): Promise<void> {
  const peers: net.Socket[] = [];
  const srv = await server((s) => { peers.push(s); });
  const thrown: unknown[] = [];
  const keep = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', (e) => thrown.push(e));
  try {
    await fn(srv.port, peers, thrown);
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const l of keep) process.on('uncaughtException', l);
    await srv.close();
  }
}

/** RawConn is off by design with PODGATE_INGRESS_TRANSPORT=stream: then these report as skipped, saying so. */
const onRaw = { skip: process.env.PODGATE_INGRESS_TRANSPORT === 'stream' ? 'RawConn is off with PODGATE_INGRESS_TRANSPORT=stream' : false };

describe('raw TCP connections', () => {
  it('is available on this Node (otherwise the proxy runs on node:net), and off with PODGATE_INGRESS_TRANSPORT=stream', () => {
    if (process.env.PODGATE_INGRESS_TRANSPORT === 'stream') { assert.equal(raw, undefined); return; }
    assert.ok(raw, 'process.binding tcp_wrap/stream_wrap are missing or changed: see src/ingress/raw-conn.ts');
  });

  it('connects, queues writes made meanwhile, reads the answer and ends both ways', onRaw, async () => {
    const srv = await server((s) => {
      let got = '';
      s.on('data', (c) => { got += c; });
      s.on('end', () => s.end(`echo:${got}`));
    });
    try {
      const ev = events();
      const c = raw!.connect('127.0.0.1', srv.port);
      c.setHandler(ev.h);
      assert.equal(c.connected, false);
      c.write('hello ');
      c.writeHeadAndBody('head ', Buffer.from('body'));
      c.end();
      assert.equal(await ev.closed, undefined);
      assert.equal(Buffer.concat(ev.data).toString(), 'echo:hello head body');
      assert.deepEqual(ev.log, ['connect', 'end', 'close']);
      assert.equal(c.usable, false);
    } finally { await srv.close(); }
  });

  it('reports a refused connect through onClose, never from inside connect()', onRaw, async () => {
    const ev = events();
    const c = raw!.connect('127.0.0.1', refusedPort());
    c.setHandler(ev.h);
    assert.deepEqual(ev.log, []);
    const err = await ev.closed;
    assert.equal((err as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED');
  });

  it('asks for a pause when the peer does not read, and drains once it does, bytes intact', onRaw, async () => {
    let peer!: net.Socket;
    const got = createHash('sha256');
    let gotBytes = 0;
    const srv = await server((s) => { peer = s; s.pause(); s.on('data', (c) => { got.update(c); gotBytes += c.length; }); });
    try {
      let drained!: () => void;
      const drainedP = new Promise<void>((r) => { drained = r; });
      const ev = events({ onDrain: () => drained() });
      const c = raw!.connect('127.0.0.1', srv.port);
      c.setHandler(ev.h);
      await new Promise<void>((r) => { ev.h.onConnect = r; });
      const want = createHash('sha256');
      let ok = true;
      let sent = 0;
      for (let i = 0; ok && i < 1000; i++) {
        const b = Buffer.alloc(64 * 1024, i);
        want.update(b);
        sent += b.length;
        ok = c.write(b);
      }
      assert.equal(ok, false, 'a peer that reads nothing must make write() return false');
      assert.ok(c.needsDrain && c.pendingBytes > 0);
      peer.resume();
      await drainedP;
      assert.equal(c.pendingBytes, 0);
      c.end();
      await new Promise<void>((r) => peer.on('end', r));
      assert.equal(gotBytes, sent);
      assert.equal(got.digest('hex'), want.digest('hex'));
      c.destroy();
    } finally { await srv.close(); }
  });

  it('keeps small head+body writes intact while they queue (the joining buffer is not reused under a pending write)', onRaw, async () => {
    let peer!: net.Socket;
    const chunks: Buffer[] = [];
    const srv = await server((s) => { peer = s; s.pause(); s.on('data', (d) => chunks.push(d)); });
    try {
      const { c, ev } = await connected(srv.port);
      let want = '';
      let i = 0;
      // Until the kernel buffers are full and writes queue, then as many again.
      for (let queued = 0; queued < 2000; i++) {
        const head = `HTTP/1.1 200 OK\r\nX-N: ${i}\r\n\r\n`;
        const body = Buffer.from(`body ${i} `.repeat(50));
        want += head + body.toString('latin1');
        c.writeHeadAndBody(head, body);
        if (c.pendingBytes > 0) queued++;
      }
      const ended = new Promise<void>((r) => peer.on('end', r));
      c.end();
      peer.resume();
      await ended;
      assert.equal(Buffer.concat(chunks).toString('latin1'), want);
      await ev.closed;
    } finally { await srv.close(); }
  });

  it('close() sends everything still queued, then closes without waiting for the peer', onRaw, async () => {
    let peer!: net.Socket;
    const srv = await server((s) => { peer = s; s.pause(); });
    try {
      const { c, ev } = await connected(srv.port);
      const big = Buffer.alloc(8 * 1024 * 1024, 7);
      c.write(big);
      assert.ok(c.pendingBytes > 0, 'the peer reads nothing yet, so bytes must be queued');
      c.close();
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(!ev.log.includes('close'), 'closed before the queued bytes went out');
      let got = 0;
      peer.on('data', (d) => { got += d.length; });
      const ended = new Promise<void>((r) => peer.on('end', r));
      peer.resume();
      await ended;
      assert.equal(got, big.length);
      assert.equal(await ev.closed, undefined);
    } finally { await srv.close(); }
  });

  it('tells connections closed inside a read handler once the handler has returned, and each once; a handler that throws does not lose them', { ...onRaw, timeout: 5000 }, () =>
    withPeersAndUncaught(async (port, peers, thrown) => {
      const a = await connected(port);
      const b = await connected(port);
      const c = await connected(port);
      let inHandler: string[] | undefined;
      const order: string[] = [];
      a.ev.h.onData = () => {
        // Told as the read ends, not by a microtask: before one the handler queued first.
        queueMicrotask(() => order.push('microtask'));
        a.c.destroy();
        b.c.destroy();
        inHandler = [...a.ev.log, ...b.ev.log];
      };
      const tellA = a.ev.h.onClose;
      a.ev.h.onClose = (e) => { order.push('close'); tellA(e); };
      peers[0]!.write('x');
      await Promise.all([a.ev.closed, b.ev.closed]);
      assert.deepEqual(inHandler, [], 'onClose ran inside the read handler');
      assert.deepEqual(order, ['close', 'microtask']);
      // The other closes while a read handler throws: told all the same.
      c.ev.h.onData = () => { c.c.destroy(); throw new Error('handler failed'); };
      peers[2]!.write('y');
      await c.ev.closed;
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual([a.ev.log, b.ev.log, c.ev.log].map((l) => l.filter((e) => e === 'close').length), [1, 1, 1]);
      assert.equal((thrown[0] as Error | undefined)?.message, 'handler failed');
    }));

  it('an onClose that throws at the end of a read does not cost the reading upstream its next read buffer', { ...onRaw, timeout: 5000 }, () =>
    withPeersAndUncaught(async (port, peers, thrown) => {
      // x reads as an upstream does (its own buffer, replaced while a write may point into it).
      const x = await connected(port, { holdsChunk: () => true });
      const y = await connected(port, { onClose: () => { throw new Error('close handler failed'); } });
      const got: string[] = [];
      let first!: () => void, second!: () => void;
      const firstRead = new Promise<void>((r) => { first = r; });
      const secondRead = new Promise<void>((r) => { second = r; });
      x.ev.h.onData = (c) => {
        got.push(c.toString('latin1'));
        if (got.length === 1) { y.c.destroy(); first(); } else second();
      };
      peers[0]!.write('first');
      await firstRead; // the second write comes once the first is read: two reads, never one
      peers[0]!.write('second');
      await secondRead;
      assert.deepEqual(got, ['first', 'second']);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal((thrown[0] as Error | undefined)?.message, 'close handler failed');
      x.c.destroy();
    }));

  it('times out after the given idle time, counting reads and writes as activity', onRaw, async () => {
    let peer!: net.Socket;
    const srv = await server((s) => { peer = s; });
    try {
      const { c, ev } = await connected(srv.port);
      const t0 = Date.now();
      c.setTimeout(150);
      // Activity every 50 ms for 400 ms keeps it from firing.
      for (let i = 0; i < 8; i++) { await new Promise((r) => setTimeout(r, 50)); if (i % 2) c.write('x'); else peer.write('y'); }
      assert.ok(!ev.log.includes('timeout'), `fired during activity: ${ev.log.join(',')}`);
      const quiet = Date.now();
      await new Promise<void>((r) => { ev.h.onTimeout = () => r(); });
      const waited = Date.now() - quiet;
      assert.ok(waited >= 100 && Date.now() - t0 >= 500, `fired ${waited} ms after the last activity`);
      c.setTimeout(0);
      c.destroy();
      c.destroy();
      // onClose comes once, after the caller has returned.
      assert.ok(!ev.log.includes('close'), 'onClose ran inside destroy()');
      await ev.closed;
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(ev.log.filter((e) => e === 'close').length, 1);
    } finally { await srv.close(); }
  });

  it('checks long timeouts (2 s and more) in the per-thread sweep: not before the time, at most a sweep late, again after another period', onRaw, async () => {
    let peer!: net.Socket;
    const srv = await server((s) => { peer = s; });
    try {
      // B's long timeout is turned off by c's first timeout, in the same sweep that checks B.
      const { c: b, ev: evB } = await connected(srv.port);
      b.setTimeout(60_000);
      const fired: number[] = [];
      const { c, ev } = await connected(srv.port, { onTimeout: () => { fired.push(Date.now()); b.setTimeout(0); } });
      c.setTimeout(2000);
      // Activity at 1 s postpones it to 3 s. The connection sees the byte after `quiet` (its clock
      // starts no earlier); the upper bounds leave room for a loaded machine's late timers.
      await new Promise((r) => setTimeout(r, 1000));
      const quiet = Date.now();
      peer.write('y');
      await new Promise((r) => setTimeout(r, 1750));
      assert.deepEqual(fired, [], 'fired before 2 s of inactivity');
      while (fired.length < 2) await new Promise((r) => setTimeout(r, 50));
      const first = fired[0]! - quiet;
      assert.ok(first >= 1995 && first <= 3000, `first timeout ${first} ms after the last activity`);
      const second = fired[1]! - fired[0]!;
      assert.ok(second >= 1995 && second <= 3000, `second timeout ${second} ms after the first`);
      // A short timeout set now takes over from the sweep (exact timer); 0 turns both off.
      c.setTimeout(100);
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(fired.length >= 3, 'the 100 ms timeout did not fire');
      c.setTimeout(0);
      const n = fired.length;
      await new Promise((r) => setTimeout(r, 2600));
      assert.equal(fired.length, n, 'fired after setTimeout(0)');
      assert.ok(!evB.log.includes('timeout'), 'a timeout turned off during the sweep still fired');
      c.destroy();
      b.destroy();
      await Promise.all([ev.closed, evB.closed]);
    } finally { await srv.close(); }
  });

  it('accepts a listener\'s connections as Conns, all reading into one buffer that the owner copies from', onRaw, async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const conns: Conn[] = [];
    const seen: { buffer: ArrayBufferLike; text: string }[] = [];
    assert.equal(raw!.takeOver(s, (c) => {
      conns.push(c);
      c.setHandler({ ...events().h, onData: (chunk) => seen.push({ buffer: chunk.buffer, text: chunk.toString() }) });
    }, (err) => assert.fail(err)), true);
    const port = (s.address() as net.AddressInfo).port;
    const clients = await Promise.all([1, 2].map(() => new Promise<net.Socket>((r) => { const k = net.connect(port, '127.0.0.1', () => r(k)); })));
    try {
      clients[0]!.write('first');
      await new Promise((r) => setTimeout(r, 50));
      clients[1]!.write('second');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(seen.map((x) => x.text), ['first', 'second']);
      assert.equal(seen[0]!.buffer, seen[1]!.buffer);
      assert.ok(conns.every((c) => c.transientReads && c.remoteAddress === '127.0.0.1'));
    } finally {
      for (const k of clients) k.destroy();
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('gives an upstream a new read buffer when a write may still point into the last chunk', onRaw, async () => {
    let peer!: net.Socket;
    const srv = await server((s) => { peer = s; });
    try {
      const chunks: Buffer[] = [];
      let hold = true;
      const ev = events({ onData: (c) => chunks.push(c), holdsChunk: () => hold });
      const c = raw!.connect('127.0.0.1', srv.port);
      c.setHandler(ev.h);
      await new Promise<void>((r) => { ev.h.onConnect = r; });
      const next = async (s: string) => { const n = chunks.length; peer.write(s); while (chunks.length === n) await new Promise((r) => setTimeout(r, 5)); };
      await next('aaaa');
      await next('bbbb'); // the first chunk was held: this read went to a new buffer
      assert.equal(chunks[0]!.toString(), 'aaaa');
      hold = false;
      await next('cccc');
      await next('dddd'); // not held: the same buffer again
      assert.equal(chunks[2]!.buffer, chunks[3]!.buffer);
      assert.notEqual(chunks[0]!.buffer, chunks[1]!.buffer);
      assert.equal(chunks[3]!.toString(), 'dddd');
      c.destroy();
      await ev.closed;
    } finally { await srv.close(); }
  });
});
