import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  FrameReader, SpdyError, SpdyProtocolError, SpdyStreamError, encodeControl, encodeDataHeader, encodeGoAway,
  encodePing, encodeRstStream, encodeSettings, encodeSynReply, encodeSynStream, encodeWindowUpdate,
  flagFin, flagUnidirectional, frameTypes, goAwayStatus, maxWindow, parseGoAway, parseHeaderFrame, parsePing,
  parseRstStream, parseSettings, parseWindowUpdate, rstStatus, settingsIds, spdyVersion,
  type SpdyControlFrame, type SpdyDataFrame,
} from './spdy-frames.ts';
import { HeaderCompressor, HeaderDecompressor, type SpdyHeaders } from './spdy-header-codec.ts';
import { SpdyStream, type SpdyStreamHost } from './spdy-stream.ts';

/** SPDY/3.1's default initial stream window and session window (spec §2.6.8). */
export const defaultWindow = 64 * 1024;
/** Largest DATA payload we send in one frame, so streams interleave fairly. */
const maxDataChunk = 64 * 1024;
/** Stream ids are 31 bits and do not wrap (draft §2.3.2). */
const maxStreamId = 0x7fffffff;
/**
 * How many streams the peer may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS, draft §2.6.4;
 * the next one is refused with RST_STREAM REFUSED_STREAM). The Go side sets no limit at all:
 * spdystream connection.go checkStreamFrame/validateStreamId only check that ids increase,
 * apimachinery httpstream/spdy connection.go newSpdyStream registers every stream, and the
 * kubelet's portforward httpstream.go keeps every request's pair. kubectl port-forward opens 2
 * streams per forwarded connection (error + data) and exec at most 5, so 1024 allows 512
 * concurrent forwarded connections, 10 times what the port-forward e2e test uses.
 */
export const defaultMaxConcurrentStreams = 1024;
/**
 * The most bytes we let wait in the transport. Data writes wait for 'drain' before each piece, so
 * in normal use the backlog stays near the transport's highWaterMark plus one 64 KiB piece; what
 * piles up beyond this is answers (SYN_REPLY, PING, RST_STREAM, WINDOW_UPDATE) to a peer that
 * sends but never reads, and the session is torn down.
 */
export const defaultMaxWriteBacklog = 1024 * 1024;
/**
 * How many frames for never-opened streams are answered with RST_STREAM INVALID_STREAM. Later ones
 * are dropped silently, as spdystream drops all of them (connection.go handleDataFrame,
 * handleHeaderFrame, handleReplyFrame: "Stream has already gone away"), so a peer cannot make us
 * write one answer per frame it sends.
 */
const maxInvalidStreamAnswers = 64;
/** DATA is handed to streams in pieces of at least this size as it arrives (see FrameReader). */
const dataPieceMin = 16 * 1024;
/**
 * How long a session that sent GOAWAY and its FIN (close(), or a session error) waits for the peer
 * to close its side before the transport is cut off. Long enough for the GOAWAY and what was
 * written before it (about the transport's highWaterMark plus one 64 KiB DATA piece, see
 * defaultMaxWriteBacklog: some 80 KiB, which 2 s carries at 40 KB/s) to reach a peer that reads;
 * short enough that a peer that never closes its side, or never reads, holds the socket and its
 * streams only briefly. Go's side has no bound to copy: spdystream's Close waits for its streams
 * without limit by default (connection.go, closeTimeout 0). The session has always used 2 s.
 */
export const closeGraceMs = 2000;

/** The peer stopped reading while we had answers to write: the session is torn down (see defaultMaxWriteBacklog). */
export class SpdyWriteBacklogError extends SpdyError {
  constructor(message: string) { super(message, 'ERR_SPDY_WRITE_BACKLOG'); }
}

/** close() sent our FIN: a stream's data still waiting then, or written later, can never be sent. */
export class SpdySessionClosedError extends SpdyError {
  constructor(message: string) { super(message, 'ERR_SPDY_SESSION_CLOSED'); }
}

/** The peer's GOAWAY named a last-good stream below this one: the peer never processed it, so it can be retried on a new session. */
export class SpdyRefusedStreamError extends SpdyError {
  constructor(message: string) { super(message, 'ERR_SPDY_REFUSED_STREAM'); }
}

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
  /** Peer-opened streams allowed at once; see defaultMaxConcurrentStreams. */
  maxConcurrentStreams?: number;
  /** Bytes allowed to wait in the transport before the peer is taken as not reading; see defaultMaxWriteBacklog. */
  maxWriteBacklog?: number;
  /**
   * Calls `fn` once, `ms` milliseconds from now, without keeping the process alive for it; used for
   * the grace period after GOAWAY (closeGraceMs). Default: an unref'd setTimeout. Tests pass a fake
   * they fire by hand, so none waits for the real grace period.
   */
  setTimer?: (fn: () => void, ms: number) => void;
}

/** The default timer seam: a real timer that does not hold the process open. */
function setUnrefTimer(fn: () => void, ms: number): void {
  setTimeout(fn, ms).unref();
}

interface Outgoing { data: Buffer; fin: boolean; done: (err?: Error | null) => void }

interface StreamState {
  stream: SpdyStream;
  sendWindow: number;
  /** What the peer may still send on the stream: our grant, less what came, plus what we credited. */
  recvWindow: number;
  /** Bytes received and not yet credited with WINDOW_UPDATE. */
  recvUnacked: number;
  out: Outgoing[];
  replied: boolean;
  onReply?: (err?: Error) => void;
}

/**
 * A SPDY/3.1 session over any byte Duplex (a TCP socket, or a WebSocket carrying the bytes).
 * Events: 'stream' (SpdyStream, already answered with an empty SYN_REPLY, as the kubelet does),
 * 'goaway', 'close', 'error' (emitted only when listened to, just before 'close', when the session
 * fails: the peer broke the protocol, answered with GOAWAY PROTOCOL_ERROR, or handling a frame
 * threw, answered with GOAWAY INTERNAL_ERROR). Nothing a peer sends can throw out of the transport's
 * 'data' handler: a peer's error on one stream resets that stream (RST_STREAM), any other error
 * fails the session, whose streams are then destroyed with the error.
 */
export class SpdySession extends EventEmitter {
  #transport: Duplex;
  #isServer: boolean;
  #flowControlMode: 'auto' | 'on' | 'off';
  #flowControl: boolean;
  #reader = new FrameReader({ dataPieceMin });
  #compressor = new HeaderCompressor();
  #decompressor = new HeaderDecompressor();
  #streams = new Map<number, StreamState>();
  #blockedReaders = new Set<SpdyStream>();
  #drainWaiters: (() => void)[] = [];
  /** Streams with data to send once the transport drains; a set, so repeated WINDOW_UPDATEs add nothing. */
  #drainStreams = new Set<StreamState>();
  /** The transport's backlog passed maxWriteBacklog: nothing more is read or written. */
  #backlogged = false;
  #decoding = false;
  #closed = false;
  /** close() sent our FIN: the peer may still send, but nothing more can be written. */
  #closing = false;
  /** We sent GOAWAY or the peer did: no new streams either way. */
  #goneAway = false;
  #sentGoAway = false;
  #lastPeerStreamId = 0;
  #nextStreamId: number;
  #nextPingId: number;
  #pings = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  #peerInitialWindow = defaultWindow;
  #sessionSendWindow = defaultWindow;
  #sessionRecvUnacked = 0;
  #sessionRecvWindow = defaultWindow;
  /** The initial stream window we grant: SPDY/3.1's default until sendSettings announces another. */
  #localInitialWindow = defaultWindow;
  #maxConcurrentStreams: number;
  #maxWriteBacklog: number;
  #peerStreams = 0;
  #invalidStreamAnswers = 0;
  /** The stream the DATA frame being read in pieces goes to; undefined when it is dropped. */
  #dataTarget: StreamState | undefined;
  #host: SpdyStreamHost;
  #setTimer: (fn: () => void, ms: number) => void;

  constructor(transport: Duplex, options: SpdySessionOptions) {
    super();
    this.#transport = transport;
    this.#isServer = options.isServer;
    this.#flowControlMode = options.flowControl ?? 'auto';
    this.#flowControl = this.#flowControlMode === 'on';
    this.#nextStreamId = options.isServer ? 2 : 1;
    this.#nextPingId = options.isServer ? 2 : 1;
    this.#maxConcurrentStreams = options.maxConcurrentStreams ?? defaultMaxConcurrentStreams;
    this.#maxWriteBacklog = options.maxWriteBacklog ?? defaultMaxWriteBacklog;
    this.#setTimer = options.setTimer ?? setUnrefTimer;
    this.#host = {
      sendData: (s, data, fin, done) => this.#sendData(s, data, fin, done),
      sendReset: (s, status) => this.#sendReset(s, status),
      readResumed: (s) => this.#readResumed(s),
      readFinished: (s) => this.#readFinished(s),
    };
    transport.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      this.#reader.push(chunk);
      this.#pump();
    });
    transport.on('drain', () => {
      // Streams that were kept waiting go first: a waiter's callback lets its stream write its next
      // piece at once, and served first it would take every drain from the others.
      const streams = [...this.#drainStreams];
      this.#drainStreams.clear();
      for (const st of streams) this.#flush(st);
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
    if (this.#closed) return;
    this.#reader.push(bytes);
    this.#pump();
  }

  /** Opens a stream (client side use); resolves once the peer's SYN_REPLY arrives. */
  openStream(headers: SpdyHeaders, options: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.#closed || this.#goneAway) return Promise.reject(new SpdySessionClosedError(this.#closed ? 'SPDY session is closed' : 'SPDY session is going away (GOAWAY): no new streams'));
    if (this.#nextStreamId > maxStreamId) return Promise.reject(new Error('SPDY session has used up its stream ids'));
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new SpdyStream({ id, headers, host: this.#host });
    const state: StreamState = { stream, sendWindow: this.#peerInitialWindow, recvWindow: this.#localInitialWindow, recvUnacked: 0, out: [], replied: false };
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
    // draft §2.6.8: the change applies to the windows of open streams too.
    const delta = initialWindow - this.#localInitialWindow;
    this.#localInitialWindow = initialWindow;
    for (const st of this.#streams.values()) st.recvWindow += delta;
    this.#write(encodeSettings([{ id: settingsIds.initialWindowSize, value: initialWindow }]));
  }

  /**
   * Round-trip time of a PING, in milliseconds. After close() no PING can be sent: it fails at once
   * (one sent before close() may still be answered while the peer finishes).
   */
  ping(): Promise<number> {
    const id = this.#nextPingId;
    this.#nextPingId += 2;
    const start = performance.now();
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error('SPDY session is closed'));
      if (this.#closing) return reject(new SpdySessionClosedError('SPDY session was closed (GOAWAY sent): no PING can be sent'));
      this.#pings.set(id, { resolve: () => resolve(performance.now() - start), reject });
      this.#write(encodePing(id));
    });
  }

  /**
   * Sends GOAWAY and our FIN; the session ends when the peer closes its side, or after closeGraceMs.
   * Meanwhile streams can still be read, but their writes (those waiting to be sent now, and any
   * made later) fail with SpdySessionClosedError and end the stream.
   */
  close(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    if (!this.#sentGoAway) {
      this.#goneAway = true;
      this.#sentGoAway = true;
      this.#write(encodeGoAway(this.#lastPeerStreamId, goAwayStatus.ok));
    }
    this.#transport.end();
    this.#settleWrites();
    this.#setTimer(() => this.destroy(), closeGraceMs);
  }

  /**
   * Node emits no 'drain' once end() is called, so after our FIN nothing may wait for one: writes
   * whose bytes are in the transport already are done (they go out ahead of the GOAWAY), and
   * streams with data still queued end, their writes failed.
   */
  #settleWrites(): void {
    this.#drainStreams.clear();
    for (const st of [...this.#streams.values()]) {
      if (st.out.length > 0) this.#endClosedStream(st);
    }
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * A stream with data to send after our FIN: ended as reset (CANCEL; no RST_STREAM can follow the
   * FIN), the error reaching its owner only if it listens, and its writes failed with it.
   */
  #endClosedStream(st: StreamState): void {
    const err = new SpdySessionClosedError(`SPDY stream ${st.stream.id}: the session was closed (GOAWAY sent) before its data could be sent`);
    this.#endStream(st, rstStatus.cancel, err, err);
  }

  /**
   * Tears everything down at once; open streams end as reset (CANCEL), destroyed with `err` when
   * given and their owner listens for 'error'.
   */
  destroy(err?: Error): void {
    if (!this.#teardown(err)) return;
    this.#transport.destroy();
    this.emit('close');
  }

  /** Marks the session closed and ends every stream; false when it already was. */
  #teardown(err?: Error): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    const reason = err ?? new Error('SPDY session closed');
    for (const st of [...this.#streams.values()]) this.#endStream(st, rstStatus.cancel, err, reason);
    this.#streams.clear();
    this.#peerStreams = 0;
    this.#blockedReaders.clear();
    for (const [, p] of this.#pings) p.reject(reason);
    this.#pings.clear();
    for (const w of this.#drainWaiters) w();
    this.#drainWaiters = [];
    this.#drainStreams.clear();
    this.#decompressor.close();
    return true;
  }

  #write(buf: Buffer): boolean {
    if (this.#closed || this.#transport.destroyed || this.#transport.writableEnded) return true;
    if (this.#backlogged) return false;
    const ok = this.#transport.write(buf);
    if (!ok && this.#transport.writableLength > this.#maxWriteBacklog) {
      // Torn down once the frame at hand is handled, not in the middle of it; meanwhile nothing
      // more is read or written.
      this.#backlogged = true;
      const err = new SpdyWriteBacklogError(`SPDY peer does not read: over ${this.#maxWriteBacklog} bytes wait to be written`);
      queueMicrotask(() => this.#abort(err));
    }
    return ok;
  }

  /** Ends the session at once, without a GOAWAY the peer would not read, failing every stream with `err`. */
  #abort(err: Error): void {
    if (!this.#teardown(err)) return;
    this.#transport.destroy();
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close');
  }

  /** Handles every complete frame; anything thrown fails the session instead of leaving the 'data' handler. */
  #pump(): void {
    try {
      while (!this.#decoding && !this.#closed && !this.#backlogged) {
        const frame = this.#reader.next();
        if (frame === undefined) return;
        if (frame.kind === 'data') this.#onData(frame);
        else this.#onControl(frame);
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  #onControl(frame: SpdyControlFrame): void {
    const { version, type, flags, payload } = frame;
    if (version !== spdyVersion) {
      // Its header block, if any, is not in our compression context: the session cannot go on.
      if (type === frameTypes.synStream && payload.length >= 4) {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        if (id !== 0) this.#write(encodeRstStream(id, rstStatus.unsupportedVersion));
      }
      throw new SpdyProtocolError(`SPDY version ${version} is not supported`);
    }
    switch (type) {
      case frameTypes.synStream:
      case frameTypes.synReply:
      case frameTypes.headers:
        this.#decodeHeaders(type, flags, payload);
        return;
      case frameTypes.rstStream: {
        const { streamId, status } = parseRstStream(payload);
        const st = this.#streams.get(streamId);
        if (!st) return; // never answer a RST_STREAM with one (draft §2.4.2)
        this.#endStream(st, status, undefined, new Error(`stream ${streamId} reset with status ${status}`));
        return;
      }
      case frameTypes.settings:
        for (const s of parseSettings(payload)) {
          if (s.id !== settingsIds.initialWindowSize) continue;
          if (s.value > maxWindow) throw new SpdyProtocolError(`SETTINGS INITIAL_WINDOW_SIZE ${s.value} is over 2^31-1`);
          const delta = s.value - this.#peerInitialWindow;
          this.#peerInitialWindow = s.value;
          for (const st of [...this.#streams.values()]) {
            st.sendWindow += delta;
            if (st.sendWindow > maxWindow && !st.stream.isLocalFinished) this.#resetStream(st, rstStatus.flowControlError, 'SETTINGS grew its window past 2^31-1');
          }
          this.#enableFlowControl();
          this.#flushAll();
        }
        return;
      case frameTypes.ping: {
        const id = parsePing(payload);
        const ours = (id & 1) === (this.#nextPingId & 1);
        if (!ours) {
          this.#write(encodeControl(frameTypes.ping, 0, payload));
          return;
        }
        const pending = this.#pings.get(id);
        this.#pings.delete(id);
        pending?.resolve();
        return;
      }
      case frameTypes.goAway: {
        const { lastGoodStreamId } = parseGoAway(payload);
        this.#goneAway = true;
        // draft §2.6.6: streams we opened above the last good one were not processed and never
        // will be; they fail now (their owners may retry on a new session) instead of waiting.
        for (const st of [...this.#streams.values()]) {
          if (this.#isPeerStreamId(st.stream.id) || st.stream.id <= lastGoodStreamId) continue;
          const err = new SpdyRefusedStreamError(`SPDY stream ${st.stream.id} was not processed: the peer went away after stream ${lastGoodStreamId}`);
          this.#endStream(st, rstStatus.refusedStream, err, err);
        }
        this.emit('goaway', lastGoodStreamId);
        return;
      }
      case frameTypes.windowUpdate:
        this.#onWindowUpdate(payload);
        return;
      default:
        // Unknown control frames (CREDENTIAL, NOOP) are ignored, as SPDY/2 asked and HTTP/2 does.
        return;
    }
  }

  /** SYN_STREAM, SYN_REPLY and HEADERS: their header blocks share one zlib stream, so decode strictly in order, holding later frames. */
  #decodeHeaders(type: number, flags: number, payload: Buffer): void {
    const { streamId, block } = parseHeaderFrame(type, payload);
    this.#decoding = true;
    const handle = (headers: SpdyHeaders | SpdyStreamError): void => {
      this.#decoding = false;
      if (this.#closed) return;
      try {
        if (type === frameTypes.synStream) this.#onSynStream(streamId, flags, headers);
        else if (type === frameTypes.synReply) this.#onSynReply(streamId, flags, headers);
        else this.#onHeaders(streamId, flags, headers);
      } catch (err) {
        this.#fail(err);
        return;
      }
      this.#pump();
    };
    this.#decompressor.decompress(block).then(handle, (err: unknown) => {
      if (err instanceof SpdyStreamError) {
        handle(err);
        return;
      }
      this.#decoding = false;
      this.#fail(err);
    });
  }

  #onWindowUpdate(payload: Buffer): void {
    const { streamId, delta } = parseWindowUpdate(payload);
    if (streamId === 0) {
      // A session-level flow-control error has no stream to reset: it fails the session.
      if (delta === 0) throw new SpdyProtocolError('session WINDOW_UPDATE with delta 0');
      if (this.#sessionSendWindow + delta > maxWindow) throw new SpdyProtocolError(`session WINDOW_UPDATE of ${delta} grows the window past 2^31-1`);
      this.#enableFlowControl();
      this.#sessionSendWindow += delta;
      this.#flushAll();
      return;
    }
    const st = this.#streams.get(streamId);
    // Updates for a stream we have finished sending on are ignored (draft §2.6.8); unknown ones are late.
    if (!st || st.stream.isLocalFinished) return;
    if (delta === 0) return this.#resetStream(st, rstStatus.flowControlError, 'WINDOW_UPDATE with delta 0');
    if (st.sendWindow + delta > maxWindow) return this.#resetStream(st, rstStatus.flowControlError, `WINDOW_UPDATE of ${delta} grows the window past 2^31-1`);
    this.#enableFlowControl();
    st.sendWindow += delta;
    this.#flush(st);
  }

  #enableFlowControl(): void {
    if (this.#flowControl || this.#flowControlMode !== 'auto') return;
    this.#flowControl = true;
    // What came while flow control was off was never credited: credit it now, so the windows we
    // enforce from here on match what a peer that honoured them from the start believes. Such a
    // peer cannot have sent more than a window; one that did is forgiven and starts afresh.
    this.#sessionRecvUnacked = Math.min(this.#sessionRecvUnacked, defaultWindow);
    this.#sessionRecvWindow = defaultWindow - this.#sessionRecvUnacked;
    this.#creditSession();
    for (const st of this.#streams.values()) {
      st.recvUnacked = Math.min(st.recvUnacked, this.#localInitialWindow);
      st.recvWindow = this.#localInitialWindow - st.recvUnacked;
      this.#creditStream(st, 1);
    }
  }

  #onSynStream(id: number, flags: number, headers: SpdyHeaders | SpdyStreamError): void {
    const peerParity = this.#isServer ? 1 : 0;
    if ((id & 1) !== peerParity) throw new SpdyProtocolError(`SYN_STREAM ${id}: the peer opens ${peerParity ? 'odd' : 'even'} stream ids`);
    // draft §2.3.2: a lower id than one already seen is a session error, the same id a stream error.
    if (id < this.#lastPeerStreamId) throw new SpdyProtocolError(`SYN_STREAM ${id} after SYN_STREAM ${this.#lastPeerStreamId}: stream ids must increase`);
    if (id === this.#lastPeerStreamId) return this.#streamError(id, rstStatus.protocolError, 'a second SYN_STREAM for the stream');
    this.#lastPeerStreamId = id;
    if (headers instanceof SpdyStreamError) return this.#streamError(id, headers.status, headers.message);
    if (this.#goneAway || this.#peerStreams >= this.#maxConcurrentStreams) {
      this.#write(encodeRstStream(id, rstStatus.refusedStream));
      return;
    }
    const stream = new SpdyStream({ id, headers, host: this.#host });
    const st: StreamState = { stream, sendWindow: this.#peerInitialWindow, recvWindow: this.#localInitialWindow, recvUnacked: 0, out: [], replied: true };
    this.#streams.set(id, st);
    this.#peerStreams++;
    if (flags & flagUnidirectional) {
      // draft §2.6.1: we are half-closed from the start, so we send nothing on the stream, not
      // even a SYN_REPLY (the opener of a unidirectional stream waits for none; spdystream,
      // connection.go addStreamFrame, likewise marks such a stream finished on its side).
      stream.markLocalFin();
    } else {
      // client-go's CreateStream waits (30 s) for a SYN_REPLY; the kubelet answers every stream at
      // once with an empty header block (apimachinery httpstream/spdy connection.go newSpdyStream).
      this.#write(encodeSynReply(id, 0, this.#compressor.compress({})));
    }
    if (flags & flagFin) stream.deliverFin();
    this.emit('stream', stream);
    if (flags & flagFin) this.#maybeForget(st);
  }

  #onSynReply(id: number, flags: number, headers: SpdyHeaders | SpdyStreamError): void {
    const st = this.#streams.get(id);
    if (!st) {
      this.#unknownStream(id);
      return;
    }
    if (headers instanceof SpdyStreamError) return this.#resetStream(st, headers.status, headers.message);
    if (st.replied) return this.#resetStream(st, rstStatus.streamInUse, 'a second SYN_REPLY');
    st.replied = true;
    st.onReply?.();
    st.onReply = undefined;
    if (flags & flagFin) this.#onRemoteFin(st);
  }

  #onHeaders(id: number, flags: number, headers: SpdyHeaders | SpdyStreamError): void {
    const st = this.#acceptingStream(id, 'HEADERS');
    if (!st) return;
    if (headers instanceof SpdyStreamError) return this.#resetStream(st, headers.status, headers.message);
    if (flags & flagFin) this.#onRemoteFin(st);
  }

  #onData(piece: SpdyDataFrame): void {
    if (piece.first) this.#dataTarget = this.#dataStream(piece);
    const { data } = piece;
    // Every DATA byte counts against the session window, also on streams it is dropped for; those
    // are not buffered, so the session window is credited at once (we bound buffering by pausing
    // the transport).
    this.#sessionRecvUnacked += data.length;
    this.#sessionRecvWindow -= data.length;
    if (this.#flowControl && this.#sessionRecvUnacked >= defaultWindow / 2) this.#creditSession();
    const st = this.#dataTarget;
    // The stream may have been reset between pieces of one frame: the rest of the frame is dropped.
    if (st === undefined || this.#streams.get(st.stream.id) !== st) {
      this.#dataTarget = undefined;
      return;
    }
    if (data.length > 0) {
      const keepingUp = st.stream.deliver(data);
      st.recvUnacked += data.length;
      st.recvWindow -= data.length;
      // A stream's window is credited as its reader keeps up, so a slow reader slows its sender.
      if (keepingUp) this.#creditStream(st, this.#localInitialWindow / 2);
      if (!keepingUp) {
        this.#blockedReaders.add(st.stream);
        this.#transport.pause();
      }
    }
    if (piece.last) {
      this.#dataTarget = undefined;
      if (piece.flags & flagFin) this.#onRemoteFin(st);
    }
  }

  /**
   * The stream a DATA frame's pieces go to, checked when its header arrives: undefined when the
   * frame is dropped or answered as a stream error. With flow control on, a frame larger than the
   * window we granted is a FLOW_CONTROL_ERROR (draft §2.6.8): of the stream (RST_STREAM), or of
   * the session (GOAWAY), so a peer ignoring our windows cannot make us buffer without bound.
   */
  #dataStream(piece: SpdyDataFrame): StreamState | undefined {
    const id = piece.streamId;
    if (id === 0) throw new SpdyProtocolError('DATA frame for stream 0');
    // podgate's own client used to follow a SYN_STREAM carrying FIN with an empty DATA + FIN. It
    // carries nothing, so it is dropped rather than answered STREAM_ALREADY_CLOSED, and those
    // clients keep working.
    if (piece.length === 0 && this.#streams.get(id)?.stream.isRemoteFinished) return undefined;
    if (this.#flowControl && piece.length > this.#sessionRecvWindow) {
      throw new SpdyProtocolError(`DATA frame of ${piece.length} bytes on stream ${id} overruns the session window of ${this.#sessionRecvWindow}`);
    }
    const st = this.#acceptingStream(id, 'DATA');
    if (!st) return undefined;
    if (this.#flowControl && piece.length > st.recvWindow) {
      this.#resetStream(st, rstStatus.flowControlError, `DATA frame of ${piece.length} bytes overruns the stream window of ${st.recvWindow}`);
      return undefined;
    }
    return st;
  }

  #onRemoteFin(st: StreamState): void {
    st.stream.deliverFin();
    this.#maybeForget(st);
  }

  /**
   * The stream a DATA or HEADERS frame may carry data for, or undefined after answering the frame
   * as draft §2.2.2 and §2.3.6 ask: a stream we opened must be replied to first (PROTOCOL_ERROR),
   * and the peer must not send after its FIN (STREAM_ALREADY_CLOSED).
   */
  #acceptingStream(id: number, frame: string): StreamState | undefined {
    const st = this.#streams.get(id);
    if (!st) {
      this.#unknownStream(id);
      return undefined;
    }
    if (!st.replied) {
      this.#resetStream(st, rstStatus.protocolError, `${frame} before SYN_REPLY`);
      return undefined;
    }
    if (st.stream.isRemoteFinished) {
      this.#resetStream(st, rstStatus.streamAlreadyClosed, `${frame} after the peer's FIN`);
      return undefined;
    }
    return st;
  }

  /**
   * A frame for a stream we do not hold. One that was never opened is answered INVALID_STREAM
   * (draft §2.2.2), the first maxInvalidStreamAnswers of them. One that has closed is dropped, as spdystream does: frames the peer sent
   * before it saw our RST_STREAM or FIN are a normal race (draft §2.3.7), not an error worth a reset.
   */
  #unknownStream(id: number): void {
    const neverOpened = this.#isPeerStreamId(id) ? id > this.#lastPeerStreamId : id >= this.#nextStreamId;
    if (!neverOpened || this.#sentGoAway || this.#invalidStreamAnswers >= maxInvalidStreamAnswers) return;
    this.#invalidStreamAnswers++;
    this.#write(encodeRstStream(id, rstStatus.invalidStream));
  }

  #creditStream(st: StreamState, threshold: number): void {
    if (!this.#flowControl || st.recvUnacked < threshold || st.stream.isRemoteFinished) return;
    this.#write(encodeWindowUpdate(st.stream.id, st.recvUnacked));
    st.recvWindow += st.recvUnacked;
    st.recvUnacked = 0;
  }

  #creditSession(): void {
    if (this.#sessionRecvUnacked === 0) return;
    this.#write(encodeWindowUpdate(0, this.#sessionRecvUnacked));
    this.#sessionRecvWindow += this.#sessionRecvUnacked;
    this.#sessionRecvUnacked = 0;
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
    if (st.stream.isLocalFinished) {
      // Only a stream the peer opened FLAG_UNIDIRECTIONAL gets here (our own FIN ends writing):
      // draft §2.6.1 puts us in the half-closed state, so nothing may be sent on it. The write is
      // dropped rather than failed: a failed write destroys the stream with an error, and what a
      // peer sends must never become an error event its owner may not listen for.
      done();
      return;
    }
    st.out.push({ data, fin, done });
    // Without this the write would be dropped by #write on the ended transport and reported as sent.
    if (this.#closing) return this.#endClosedStream(st);
    this.#flush(st);
  }

  #flush(st: StreamState): void {
    while (st.out.length > 0 && !this.#closed) {
      // Data waits for the transport to drain before each piece, so what waits in the transport is
      // about its highWaterMark plus one piece, however many streams are sending.
      if (this.#transport.writableNeedDrain) {
        this.#drainStreams.add(st);
        return;
      }
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
      if (!last) continue;
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
    this.#forget(st, new Error('stream reset'));
    this.#write(encodeRstStream(stream.id, status));
  }

  /** A stream error (draft §2.4.2): RST_STREAM `status` to the peer, and the stream destroyed with the error. */
  #resetStream(st: StreamState, status: number, message: string): void {
    const err = new SpdyStreamError(`SPDY stream ${st.stream.id}: ${message}`, status);
    this.#write(encodeRstStream(st.stream.id, status));
    this.#endStream(st, status, err, err);
  }

  /** A stream error for an id that may have no stream (yet, or any more). */
  #streamError(id: number, status: number, message: string): void {
    const st = this.#streams.get(id);
    if (st) this.#resetStream(st, status, message);
    else this.#write(encodeRstStream(id, status));
  }

  #remove(st: StreamState): void {
    if (this.#streams.get(st.stream.id) !== st) return;
    this.#streams.delete(st.stream.id);
    this.#drainStreams.delete(st);
    if (this.#isPeerStreamId(st.stream.id)) this.#peerStreams--;
  }

  #isPeerStreamId(id: number): boolean {
    return (id & 1) === (this.#isServer ? 1 : 0);
  }

  /**
   * A stream's end in the session: its state dropped, the stream destroyed as reset with `status`
   * (`err` reaching its owner only if it listens, see deliverReset), and then its pending reply and
   * queued writes failed with `reason`. In that order: a write failed on a live stream would destroy
   * it with an 'error' of its own, and set its reset status to CANCEL first.
   */
  #endStream(st: StreamState, status: number, err: Error | undefined, reason: Error): void {
    const out = st.out;
    st.out = [];
    const onReply = st.onReply;
    st.onReply = undefined;
    this.#remove(st);
    this.#blockedReaders.delete(st.stream);
    st.stream.deliverReset(status, err);
    onReply?.(reason);
    for (const o of out) o.done(reason);
    this.#maybeResume();
  }

  /** Drops the state of a stream that is being destroyed already: its pending reply and writes fail with `reason`. */
  #forget(st: StreamState, reason: Error): void {
    this.#remove(st);
    this.#blockedReaders.delete(st.stream);
    st.onReply?.(reason);
    st.onReply = undefined;
    for (const o of st.out) o.done(reason);
    st.out = [];
    this.#maybeResume();
  }

  #maybeForget(st: StreamState): void {
    if (st.stream.isLocalFinished && st.stream.isRemoteFinished && st.out.length === 0) this.#remove(st);
  }

  /**
   * A session error (draft §2.4.1): GOAWAY first (PROTOCOL_ERROR when the peer broke the protocol,
   * INTERNAL_ERROR when handling a frame threw), then the connection is closed and every stream is
   * destroyed with the error.
   */
  #fail(thrown: unknown): void {
    if (this.#closed) return;
    const err = thrown instanceof Error ? thrown : new Error(String(thrown));
    const status = err instanceof SpdyProtocolError ? goAwayStatus.protocolError : goAwayStatus.internalError;
    this.#goneAway = true;
    this.#sentGoAway = true;
    this.#write(encodeGoAway(this.#lastPeerStreamId, status));
    // end() rather than destroy() so the GOAWAY reaches the peer; a peer that never closes its side
    // is cut off shortly after.
    this.#transport.end();
    this.#setTimer(() => this.#transport.destroy(), closeGraceMs);
    // Settles every write at once: queued ones fail with `err`, drain waiters are released.
    this.#teardown(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close');
  }
}
