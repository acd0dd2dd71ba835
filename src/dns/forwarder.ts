// Sends queries the cluster does not answer to the node's upstream resolvers (CoreDNS's
// `forward . /etc/resolv.conf`): the client's query bytes as they came, under a fresh random ID,
// over the transport the client used (a truncated UDP answer goes back truncated, and the client
// retries over TCP, as with CoreDNS's default `force_tcp`/`prefer_udp` off). Upstreams are tried
// in order, each for `timeoutMs`; none answering is SERVFAIL, decided by the caller.
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { isIPv6 } from 'node:net';
import type { Upstream } from './resolv-conf.ts';

export type Transport = 'udp' | 'tcp';

export interface ForwarderOptions {
  readonly upstreams: readonly Upstream[];
  /** Per upstream attempt (CoreDNS forward's read timeout is 2 s). */
  readonly timeoutMs?: number;
  /** At most this many upstreams are tried per query. */
  readonly maxAttempts?: number;
  /** CoreDNS kubeadm Corefile: `max_concurrent 1000`; beyond it queries are refused. */
  readonly maxConcurrent?: number;
}

export class ForwarderBusyError extends Error {
  readonly code = 'FORWARD_BUSY';
}

export class Forwarder {
  readonly #upstreams: readonly Upstream[];
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #maxConcurrent: number;
  #inFlight = 0;

  constructor(o: ForwarderOptions) {
    this.#upstreams = o.upstreams;
    this.#timeoutMs = o.timeoutMs ?? 2000;
    this.#maxAttempts = o.maxAttempts ?? 3;
    this.#maxConcurrent = o.maxConcurrent ?? 1000;
  }

  get upstreams(): readonly Upstream[] {
    return this.#upstreams;
  }

  /**
   * The upstream's answer to `query` (a whole DNS message), with the query's own ID put back, or
   * undefined when no upstream answered in time. Throws ForwarderBusyError over the concurrency limit.
   */
  async exchange(query: Buffer, transport: Transport): Promise<Buffer | undefined> {
    if (query.length < 12) return undefined;
    if (this.#inFlight >= this.#maxConcurrent) throw new ForwarderBusyError('too many queries in flight upstream');
    this.#inFlight++;
    try {
      for (const u of this.#upstreams.slice(0, this.#maxAttempts)) {
        const id = randomInt(0, 65536);
        const q = Buffer.from(query);
        q.writeUInt16BE(id, 0);
        const answer = await (transport === 'udp' ? this.#udp(u, q, id) : this.#tcp(u, q, id)).catch(() => undefined);
        if (answer) {
          answer.writeUInt16BE(query.readUInt16BE(0), 0);
          return answer;
        }
      }
      return undefined;
    } finally {
      this.#inFlight--;
    }
  }

  /** One UDP exchange from a fresh socket (a random source port per query, against spoofed answers). */
  #udp(u: Upstream, q: Buffer, id: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = createSocket(isIPv6(u.host) ? 'udp6' : 'udp4');
      let done = false;
      const finish = (b: Buffer | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.close();
        resolve(b);
      };
      const timer = setTimeout(() => finish(undefined), this.#timeoutMs);
      sock.on('error', () => finish(undefined));
      sock.on('message', (msg, rinfo) => {
        // Only an answer from the server asked, to this ID, with the question asked.
        if (rinfo.address !== u.host || rinfo.port !== u.port || msg.length < 12 || msg.readUInt16BE(0) !== id) return;
        if (!sameQuestion(q, msg)) return;
        finish(msg);
      });
      sock.send(q, u.port, u.host, (err) => { if (err) finish(undefined); });
    });
  }

  #tcp(u: Upstream, q: Buffer, id: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = connect({ host: u.host, port: u.port });
      let buf: Buffer = Buffer.alloc(0);
      let done = false;
      const finish = (b: Buffer | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve(b);
      };
      const timer = setTimeout(() => finish(undefined), this.#timeoutMs);
      sock.on('error', () => finish(undefined));
      sock.on('close', () => finish(undefined));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length, 0);
        sock.write(Buffer.concat([len, q]));
      });
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2) return;
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) return;
        const msg = buf.subarray(2, 2 + n);
        finish(msg.length >= 12 && msg.readUInt16BE(0) === id && sameQuestion(q, msg) ? Buffer.from(msg) : undefined);
      });
    });
  }
}

/** The question section's bytes (after the 12-byte header), compared case-insensitively up to the shorter. */
function sameQuestion(query: Buffer, answer: Buffer): boolean {
  if (answer.readUInt16BE(4) !== query.readUInt16BE(4)) return false;
  if (query.readUInt16BE(4) === 0) return true;
  const end = questionEnd(query);
  if (end === undefined || answer.length < end) return false;
  return query.subarray(12, end).toString('latin1').toLowerCase() === answer.subarray(12, end).toString('latin1').toLowerCase();
}

/** Where the first question ends (name labels, then type and class), or undefined when malformed. */
function questionEnd(msg: Buffer): number | undefined {
  let i = 12;
  while (i < msg.length) {
    const len = msg[i]!;
    if (len === 0) return i + 5 <= msg.length ? i + 5 : undefined;
    if ((len & 0xc0) !== 0) return undefined;
    i += len + 1;
  }
  return undefined;
}
