// PROXY protocol headers (HAProxy's proxy-protocol.txt) for tcp-services entries with `:PROXY`:
// read as nginx reads them on a `listen ... proxy_protocol` (v1 text or v2 binary, nginx's
// ngx_proxy_protocol_read), written as nginx writes them with `proxy_protocol on` (v1 text,
// ngx_proxy_protocol_write). Pure functions: the socket I/O is in stream-proxy.ts.
import net from 'node:net';

/** The longest v1 header, CRLF included (proxy-protocol.txt, section 2.1). */
export const V1_MAX_LENGTH = 107;
/** nginx reads at most this many bytes for a header (NGX_PROXY_PROTOCOL_MAX_HEADER); a longer v2 header is refused. */
export const MAX_HEADER_LENGTH = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V2_FIXED_LENGTH = 16;

export interface ProxyEndpoint { readonly address: string; readonly port: number }

/** The connection a header describes: `source` is the client, `destination` the address it reached. */
export interface ProxyAddresses {
  readonly family: 'TCP4' | 'TCP6';
  readonly source: ProxyEndpoint;
  readonly destination: ProxyEndpoint;
}

/**
 * The outcome of reading a header from the first bytes of a connection. When complete, `length`
 * bytes are the header and what follows is the client's data. `addresses` is absent when the header
 * carries none the proxy uses: v1 `UNKNOWN`, v2 `LOCAL`, v2 over another transport or address family
 * (nginx accepts and skips those headers too).
 */
export type ProxyHeaderResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'complete'; readonly length: number; readonly addresses?: ProxyAddresses };

const INCOMPLETE: ProxyHeaderResult = { kind: 'incomplete' };

const invalid = (reason: string): ProxyHeaderResult => ({ kind: 'invalid', reason });

/**
 * Reads the PROXY header at the start of `data`, all the bytes received so far. Call it again with
 * more bytes while it answers `incomplete`; it never asks for more than MAX_HEADER_LENGTH bytes.
 */
export function parseProxyHeader(data: Buffer): ProxyHeaderResult {
  if (startsLike(data, V2_SIGNATURE)) return data.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(data);
  if (startsLike(data, V1_PREFIX)) return data.length < V1_PREFIX.length ? INCOMPLETE : parseV1(data);
  return invalid('no PROXY protocol header');
}

/**
 * The v1 line nginx's `proxy_protocol on` sends before the client's first byte: the client's address
 * and port, then those of the listener it connected to. `PROXY UNKNOWN` when either is not known or
 * the two are not of one family, as nginx writes for a connection that is not TCP over IP.
 */
export function formatProxyV1(source: Partial<ProxyEndpoint>, destination: Partial<ProxyEndpoint>): string {
  const src = source.address === undefined ? undefined : plainAddress(source.address);
  const dst = destination.address === undefined ? undefined : plainAddress(destination.address);
  const family = src && familyOf(src);
  if (!src || !dst || !family || familyOf(dst) !== family || source.port === undefined || destination.port === undefined) return 'PROXY UNKNOWN\r\n';
  return `PROXY ${family} ${src} ${dst} ${source.port} ${destination.port}\r\n`;
}

/** Whether `data` and `prefix` agree on the bytes they both have. */
function startsLike(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return data.subarray(0, n).equals(prefix.subarray(0, n));
}

/** `PROXY TCP4|TCP6 src dst sport dport\r\n`, or `PROXY UNKNOWN ...\r\n` with anything up to the CRLF. */
function parseV1(data: Buffer): ProxyHeaderResult {
  const lf = data.indexOf(0x0a);
  if (lf < 0) return data.length >= V1_MAX_LENGTH ? invalid(`v1 header longer than ${V1_MAX_LENGTH} bytes`) : INCOMPLETE;
  const length = lf + 1;
  if (length > V1_MAX_LENGTH) return invalid(`v1 header longer than ${V1_MAX_LENGTH} bytes`);
  if (data[lf - 1] !== 0x0d) return invalid('v1 header does not end with CRLF');
  const fields = data.toString('latin1', V1_PREFIX.length, lf - 1).split(' ');
  if (fields[0] === 'UNKNOWN') return { kind: 'complete', length };
  const [family, src, dst, srcPort, dstPort] = fields;
  if (family !== 'TCP4' && family !== 'TCP6') return invalid(`v1 protocol ${JSON.stringify(family)} is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 5) return invalid('v1 header does not have the five fields PROTO SRC DST SPORT DPORT');
  const isFamily = family === 'TCP4' ? net.isIPv4 : net.isIPv6;
  // nginx takes an address only of these characters; the family check keeps out what nginx would
  // let through only to fail on later (an IPv6 address after TCP4).
  for (const a of [src!, dst!]) if (!/^[0-9A-Fa-f:.]+$/.test(a) || !isFamily(a)) return invalid(`v1 address ${JSON.stringify(a)} is not an ${family} address`);
  const sport = parsePort(srcPort!), dport = parsePort(dstPort!);
  if (sport === undefined || dport === undefined) return invalid('v1 port is not a number from 0 to 65535');
  return { kind: 'complete', length, addresses: { family, source: { address: src!, port: sport }, destination: { address: dst!, port: dport } } };
}

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/**
 * The 16-byte fixed part (signature, version and command, family and transport, length), then
 * `length` bytes of addresses and TLVs. Only PROXY over TCP (STREAM) over IPv4 or IPv6 carries
 * addresses the proxy uses; nginx skips anything else whole, and so does this.
 */
function parseV2(data: Buffer): ProxyHeaderResult {
  if (data.length < V2_FIXED_LENGTH) return INCOMPLETE;
  const version = data[12]! >> 4, command = data[12]! & 0x0f;
  if (version !== 2) return invalid(`v2 header has version ${version}`);
  const length = V2_FIXED_LENGTH + data.readUInt16BE(14);
  if (length > MAX_HEADER_LENGTH) return invalid(`v2 header longer than ${MAX_HEADER_LENGTH} bytes`);
  if (data.length < length) return INCOMPLETE;
  const family = data[13]! >> 4, transport = data[13]! & 0x0f;
  if (command !== 1 || transport !== 1 || (family !== 1 && family !== 2)) return { kind: 'complete', length };
  const body = data.subarray(V2_FIXED_LENGTH, length);
  const addrLen = family === 1 ? 4 : 16;
  if (body.length < 2 * addrLen + 4) return invalid('v2 header too short for its addresses');
  const format = family === 1 ? formatIPv4 : formatIPv6;
  return { kind: 'complete', length, addresses: {
    family: family === 1 ? 'TCP4' : 'TCP6',
    source: { address: format(body.subarray(0, addrLen)), port: body.readUInt16BE(2 * addrLen) },
    destination: { address: format(body.subarray(addrLen, 2 * addrLen)), port: body.readUInt16BE(2 * addrLen + 2) },
  } };
}

function formatIPv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text, as Node prints addresses (the longest run of two or more zero groups is `::`). */
function formatIPv6(b: Buffer): string {
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${formatIPv4(b.subarray(12))}`;
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(2 * i));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/**
 * An address as nginx would print it: an IPv4 client on a dual-stack listener is an IPv4 client
 * (nginx listens on IPv4 and IPv6 separately, so it never sees `::ffff:a.b.c.d`), and the zone of
 * a link-local address is not part of it.
 */
function plainAddress(address: string): string {
  const unzoned = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(unzoned);
  return mapped ? mapped[1]! : unzoned;
}

function familyOf(address: string): 'TCP4' | 'TCP6' | undefined {
  return net.isIPv4(address) ? 'TCP4' : net.isIPv6(address) ? 'TCP6' : undefined;
}
