// Reads the server name (SNI) from the first TLS record of a connection without terminating TLS,
// so ssl-passthrough hosts can be handed to their backend untouched (ingress-nginx peeks the same
// way in its passthrough listener). Bounded: only the first record is examined. Before that, the
// first byte tells TLS from plain HTTP, as nginx tells them apart on an ssl listener.

export type SniResult = { readonly kind: 'incomplete' } | { readonly kind: 'not-tls' } | { readonly kind: 'done'; readonly serverName: string | undefined };

/**
 * Whether a connection whose first byte is `firstByte` speaks TLS, by nginx's test in
 * ngx_http_ssl_handshake: a TLS handshake record (0x16), or an SSLv2-style ClientHello (high bit
 * set). nginx reads anything else as plain HTTP.
 */
export function startsTls(firstByte: number): boolean {
  return firstByte === 0x16 || (firstByte & 0x80) !== 0;
}

/** Looks for SNI in a ClientHello that starts `buf`. */
export function readClientHelloSni(buf: Buffer): SniResult {
  if (buf.length < 5) return { kind: 'incomplete' };
  if (buf[0] !== 0x16 || buf[1] !== 3) return { kind: 'not-tls' };
  const recLen = buf.readUInt16BE(3);
  if (buf.length < 5 + recLen) return { kind: 'incomplete' };
  const r = buf.subarray(5, 5 + recLen);
  let p = 0;
  const need = (n: number) => p + n <= r.length;
  if (!need(4) || r[0] !== 1) return { kind: 'done', serverName: undefined };
  p = 4 + 2 + 32; // handshake header, client_version, random
  if (!need(1)) return { kind: 'done', serverName: undefined };
  p += 1 + r[p]!; // session id
  if (!need(2)) return { kind: 'done', serverName: undefined };
  p += 2 + r.readUInt16BE(p); // cipher suites
  if (!need(1)) return { kind: 'done', serverName: undefined };
  p += 1 + r[p]!; // compression methods
  if (!need(2)) return { kind: 'done', serverName: undefined };
  const extEnd = Math.min(r.length, p + 2 + r.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = r.readUInt16BE(p);
    const len = r.readUInt16BE(p + 2);
    p += 4;
    if (type === 0 && p + len <= extEnd) {
      let q = p + 2;
      const listEnd = Math.min(p + len, p + 2 + r.readUInt16BE(p));
      while (q + 3 <= listEnd) {
        const nameType = r[q]!;
        const nameLen = r.readUInt16BE(q + 1);
        if (nameType === 0 && q + 3 + nameLen <= listEnd) return { kind: 'done', serverName: r.toString('ascii', q + 3, q + 3 + nameLen).toLowerCase() };
        q += 3 + nameLen;
      }
    }
    p += len;
  }
  return { kind: 'done', serverName: undefined };
}
