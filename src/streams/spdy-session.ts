import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  FrameReader, encodeControl, encodeDataHeader, encodeGoAway, encodePing, encodeRstStream,
  encodeSettings, encodeSynReply, encodeSynStream, encodeWindowUpdate, flagFin, frameTypes,
  parseSettings, rstStatus, settingsIds, type SpdyFrame,
} from './spdy-frames.ts';
import { HeaderCompressor, HeaderDecompressor, type SpdyHeaders } from './spdy-header-codec.ts';
import { SpdyStream, type SpdyStreamHost } from './spdy-stream.ts';

/** SPDY/3.1's default initial stream window and session window (spec §2.6.8). */
export const defaultWindow = 64 * 1024;
/** Largest DATA payload we send in one frame, so streams interleave fairly. */
const maxDataChunk = 64 * 1024;

export interface SpdySessionOptions {
  /** A server opens even stream ids and answers odd ones; a client the reverse. */
  isServer: boolean;
  /**
   * Whether to honour SPDY/3.1 flow-control windows. 'auto' (the default) turns them on only once
   * the peer shows it takes part (sends SETTINGS INITIAL_WINDOW_SIZE or WINDOW_UPDATE): moby/
   * spdystream, which kubectl uses, never sends either and never grants window, so a sender that
   * honoured the 64 KiB default against it would stall (spdystream connection.go frameHandler
   * ignores both frame types and relies on TCP backpressure instead).
   */
  flowControl?: 'auto' | 'on' | 'off';
}

interface Outgoing { data: Buffer; fin: boolean; done: (err?: Error | null) => void }

interface StreamState {
  stream: SpdyStream;
  sendWindow: number;
  recvUnacked: number;
  out: Outgoing[];
  replied: boolean;
  onReply?: (err?: Error) => void;
}

/**
 * A SPDY/3.1 session over any byte Duplex (a TCP socket, or a WebSocket carrying the bytes).
 * Events: 'stream' (SpdyStream, already answered with an empty SYN_REPLY, as the kubelet does),
 * 'goaway', 'close', 'error' (protocol errors; the session is torn down after emitting it).
 */
export class SpdySession extends EventEmitter {
  #transport: Duplex;
  #isServer: boolean;
  #flowControlMode: 'auto' | 'on' | 'off';
  #flowControl: boolean;
  #reader = new FrameReader();
  #compressor = new HeaderCompressor();
  #decompressor = new HeaderDecompressor();
  #streams = new Map<number, StreamState>();
  #blockedReaders = new Set<SpdyStream>();
  #drainWaiters: (() => void)[] = [];
  #decoding = false;
  #closed = false;
  #goneAway = false;
  #lastPeerStreamId = 0;
  #nextStreamId: number;
  #nextPingId: number;
  #pings = new Map<number, () => void>();
  #peerInitialWindow = defaultWindow;
  #sessionSendWindow = defaultWindow;
  #sessionRecvUnacked = 0;
  #host: SpdyStreamHost;

  constructor(transport: Duplex, options: SpdySessionOptions) {
    super();
    this.#transport = transport;
    this.#isServer = options.isServer;
    this.#flowControlMode = options.flowControl ?? 'auto';
    this.#flowControl = this.#flowControlMode === 'on';
    this.#nextStreamId = options.isServer ? 2 : 1;
    this.#nextPingId = options.isServer ? 2 : 1;
    this.#host = {
      sendData: (s, data, fin, done) => this.#sendData(s, data, fin, done),
      sendReset: (s, status) => this.#sendReset(s, status),
      readResumed: (s) => this.#readResumed(s),
      readFinished: (s) => this.#readFinished(s),
    };
    transport.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk);
      this.#pump();
    });
    transport.on('drain', () => {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
    });
    transport.on('end', () => this.destroy());
    transport.on('close', () => this.destroy());
    transport.on('error', () => this.destroy());
  }

  get isClosed(): boolean { return this.#closed; }

  /** Feeds bytes that arrived before the session took over the socket (the upgrade's `head`). */
  feed(bytes: Buffer): void {
    this.#reader.push(bytes);
    this.#pump();
  }

  /** Opens a stream (client side use); resolves once the peer's SYN_REPLY arrives. */
  openStream(headers: SpdyHeaders, options: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.#closed || this.#goneAway) return Promise.reject(new Error('SPDY session is closed'));
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new SpdyStream({ id, headers, host: this.#host });
    const state: StreamState = { stream, sendWindow: this.#peerInitialWindow, recvUnacked: 0, out: [], replied: false };
    this.#streams.set(id, state);
    const replied = new Promise<SpdyStream>((resolve, reject) => {
      state.onReply = (err) => (err ? reject(err) : resolve(stream));
    });
    this.#write(encodeSynStream(id, options.fin ? flagFin : 0, this.#compressor.compress(headers)));
    if (options.fin) {
      stream.markLocalFin();
      stream.end();
    }
    return replied;
  }

  /** Sends SETTINGS announcing our initial window, which turns on flow control at a SPDY/3.1 peer. */
  sendSettings(initialWindow: number = defaultWindow): void {
    this.#write(encodeSettings([{ id: settingsIds.initialWindowSize, value: initialWindow }]));
  }

  /** Round-trip time of a PING, in milliseconds. */
  ping(): Promise<number> {
    const id = this.#nextPingId;
    this.#nextPingId += 2;
    const start = performance.now();
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error('SPDY session is closed'));
      this.#pings.set(id, () => resolve(performance.now() - start));
      this.#write(encodePing(id));
    });
  }

  /** Sends GOAWAY and closes the transport once written. */
  close(): void {
    if (this.#closed) return;
    if (!this.#goneAway) {
      this.#goneAway = true;
      this.#write(encodeGoAway(this.#lastPeerStreamId, 0));
    }
    this.#transport.end();
    setTimeout(() => this.destroy(), 2000).unref();
  }

  /** Tears everything down at once; open streams end as reset. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [, st] of this.#streams) {
      st.onReply?.(new Error('SPDY session closed'));
      for (const o of st.out) o.done(new Error('SPDY session closed'));
      st.out = [];
      st.stream.deliverReset(rstStatus.cancel);
    }
    this.#streams.clear();
    for (const w of this.#drainWaiters) w();
    this.#drainWaiters = [];
    this.#decompressor.close();
    this.#transport.destroy();
    this.emit('close');
  }

  #write(buf: Buffer): boolean {
    if (this.#closed || this.#transport.destroyed || this.#transport.writableEnded) return true;
    return this.#transport.write(buf);
  }

  #pump(): void {
    while (!this.#decoding && !this.#closed) {
      let frame: SpdyFrame | undefined;
      try {
        frame = this.#reader.next();
      } catch (err) {
        this.#protocolError(err as Error);
        return;
      }
      if (frame === undefined) return;
      if (frame.kind === 'data') {
        this.#onData(frame.streamId, frame.flags, frame.data);
        continue;
      }
      const { type, flags, payload } = frame;
      if (type === frameTypes.synStream || type === frameTypes.synReply || type === frameTypes.headers) {
        // Header blocks share one zlib stream: decode strictly in order, holding later frames.
        const offset = type === frameTypes.synStream ? 10 : 4;
        if (payload.length < offset) return this.#protocolError(new Error('short SPDY control frame'));
        const streamId = payload.readUInt32BE(0) & 0x7fffffff;
        this.#decoding = true;
        this.#decompressor.decompress(payload.subarray(offset)).then(
          (headers) => {
            this.#decoding = false;
            if (this.#closed) return;
            if (type === frameTypes.synStream) this.#onSynStream(streamId, flags, headers);
            else if (type === frameTypes.synReply) this.#onSynReply(streamId, flags);
            else if (flags & flagFin) this.#onData(streamId, flagFin, Buffer.alloc(0));
            this.#pump();
          },
          (err: Error) => {
            this.#decoding = false;
            this.#protocolError(err);
          },
        );
        return;
      }
      this.#onControl(type, payload);
    }
  }

  #onControl(type: number, payload: Buffer): void {
    switch (type) {
      case frameTypes.rstStream: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const st = this.#streams.get(id);
        if (!st) return;
        this.#streams.delete(id);
        this.#blockedReaders.delete(st.stream);
        st.onReply?.(new Error(`stream ${id} reset with status ${payload.readUInt32BE(4)}`));
        for (const o of st.out) o.done(new Error('stream reset'));
        st.out = [];
        st.stream.deliverReset(payload.readUInt32BE(4));
        this.#maybeResume();
        return;
      }
      case frameTypes.settings:
        for (const s of parseSettings(payload)) {
          if (s.id !== settingsIds.initialWindowSize) continue;
          const delta = s.value - this.#peerInitialWindow;
          this.#peerInitialWindow = s.value;
          for (const st of this.#streams.values()) st.sendWindow += delta;
          this.#enableFlowControl();
          this.#flushAll();
        }
        return;
      case frameTypes.ping: {
        const id = payload.readUInt32BE(0);
        const ours = (id & 1) === (this.#nextPingId & 1);
        if (!ours) {
          this.#write(encodeControl(frameTypes.ping, 0, payload));
          return;
        }
        const resolve = this.#pings.get(id);
        this.#pings.delete(id);
        resolve?.();
        return;
      }
      case frameTypes.goAway:
        this.#goneAway = true;
        this.emit('goaway', payload.readUInt32BE(0) & 0x7fffffff);
        return;
      case frameTypes.windowUpdate: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const delta = payload.readUInt32BE(4) & 0x7fffffff;
        this.#enableFlowControl();
        if (id === 0) {
          this.#sessionSendWindow += delta;
          this.#flushAll();
        } else {
          const st = this.#streams.get(id);
          if (!st) return;
          st.sendWindow += delta;
          this.#flush(st);
        }
        return;
      }
      default:
        // Unknown control frames (CREDENTIAL, NOOP) are ignored, as the spec asks.
        return;
    }
  }

  #enableFlowControl(): void {
    if (this.#flowControlMode === 'auto') this.#flowControl = true;
  }

  #onSynStream(id: number, flags: number, headers: SpdyHeaders): void {
    const peerParity = this.#isServer ? 1 : 0;
    if (id === 0 || (id & 1) !== peerParity || id <= this.#lastPeerStreamId) {
      this.#write(encodeRstStream(id, rstStatus.protocolError));
      return;
    }
    this.#lastPeerStreamId = id;
    if (this.#goneAway) {
      this.#write(encodeRstStream(id, rstStatus.refusedStream));
      return;
    }
    const stream = new SpdyStream({ id, headers, host: this.#host });
    const st: StreamState = { stream, sendWindow: this.#peerInitialWindow, recvUnacked: 0, out: [], replied: true };
    this.#streams.set(id, st);
    // client-go's CreateStream waits (30 s) for a SYN_REPLY; the kubelet answers every stream at
    // once with an empty header block (apimachinery httpstream/spdy connection.go newSpdyStream).
    this.#write(encodeSynReply(id, 0, this.#compressor.compress({})));
    if (flags & flagFin) stream.deliverFin();
    this.emit('stream', stream);
    if (flags & flagFin) this.#maybeForget(st);
  }

  #onSynReply(id: number, flags: number): void {
    const st = this.#streams.get(id);
    if (!st || st.replied) return;
    st.replied = true;
    st.onReply?.();
    st.onReply = undefined;
    if (flags & flagFin) {
      st.stream.deliverFin();
      this.#maybeForget(st);
    }
  }

  #onData(id: number, flags: number, data: Buffer): void {
    const st = this.#streams.get(id);
    if (!st) return; // spdystream also drops data for streams that have gone away
    if (data.length > 0) {
      const keepingUp = st.stream.deliver(data);
      st.recvUnacked += data.length;
      this.#sessionRecvUnacked += data.length;
      if (this.#flowControl) {
        // The session window is credited at once (we bound buffering by pausing the transport);
        // a stream's window is credited as its reader keeps up, so a slow reader slows its sender.
        if (this.#sessionRecvUnacked >= defaultWindow / 2) {
          this.#write(encodeWindowUpdate(0, this.#sessionRecvUnacked));
          this.#sessionRecvUnacked = 0;
        }
        if (keepingUp) this.#creditStream(st, defaultWindow / 2);
      }
      if (!keepingUp) {
        this.#blockedReaders.add(st.stream);
        this.#transport.pause();
      }
    }
    if (flags & flagFin) {
      st.stream.deliverFin();
      this.#maybeForget(st);
    }
  }

  #creditStream(st: StreamState, threshold: number): void {
    if (!this.#flowControl || st.recvUnacked < threshold || st.stream.isRemoteFinished) return;
    this.#write(encodeWindowUpdate(st.stream.id, st.recvUnacked));
    st.recvUnacked = 0;
  }

  #readResumed(stream: SpdyStream): void {
    const st = this.#streams.get(stream.id);
    if (st) this.#creditStream(st, 1);
    if (this.#blockedReaders.delete(stream)) this.#maybeResume();
  }

  #readFinished(stream: SpdyStream): void {
    if (this.#blockedReaders.delete(stream)) this.#maybeResume();
  }

  #maybeResume(): void {
    if (this.#blockedReaders.size === 0 && !this.#closed) this.#transport.resume();
  }

  #sendData(stream: SpdyStream, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void {
    const st = this.#streams.get(stream.id);
    if (!st || this.#closed) {
      done(new Error(this.#closed ? 'SPDY session closed' : 'SPDY stream reset'));
      return;
    }
    st.out.push({ data, fin, done });
    this.#flush(st);
  }

  #flush(st: StreamState): void {
    while (st.out.length > 0 && !this.#closed) {
      const item = st.out[0]!;
      let n = Math.min(item.data.length, maxDataChunk);
      if (this.#flowControl && n > 0) {
        n = Math.min(n, st.sendWindow, this.#sessionSendWindow);
        if (n <= 0) return; // resumed by WINDOW_UPDATE
      }
      const piece = item.data.subarray(0, n);
      item.data = item.data.subarray(n);
      const last = item.data.length === 0;
      const flags = last && item.fin ? flagFin : 0;
      st.sendWindow -= n;
      this.#sessionSendWindow -= n;
      this.#transport.cork();
      this.#write(encodeDataHeader(st.stream.id, flags, n));
      const ok = n > 0 ? this.#write(piece) : true;
      this.#transport.uncork();
      if (!last) {
        if (!ok && !this.#flowControl) {
          // Let the transport drain before queueing more of a large write.
          this.#drainWaiters.push(() => this.#flush(st));
          return;
        }
        continue;
      }
      st.out.shift();
      if (item.fin) {
        st.stream.markLocalFin();
        this.#maybeForget(st);
      }
      if (ok || this.#transport.writableLength === 0) item.done();
      else this.#drainWaiters.push(() => item.done());
    }
  }

  #flushAll(): void {
    for (const st of [...this.#streams.values()]) this.#flush(st);
  }

  #sendReset(stream: SpdyStream, status: number): void {
    const st = this.#streams.get(stream.id);
    if (!st) return;
    this.#streams.delete(stream.id);
    this.#blockedReaders.delete(stream);
    for (const o of st.out) o.done(new Error('stream reset'));
    st.out = [];
    this.#write(encodeRstStream(stream.id, status));
    this.#maybeResume();
  }

  #maybeForget(st: StreamState): void {
    if (st.stream.isLocalFinished && st.stream.isRemoteFinished && st.out.length === 0) {
      this.#streams.delete(st.stream.id);
    }
  }

  #protocolError(err: Error): void {
    if (this.#closed) return;
    this.#write(encodeGoAway(this.#lastPeerStreamId, 1));
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.destroy();
  }
}
