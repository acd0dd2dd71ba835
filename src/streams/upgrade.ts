import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/** An HTTP upgrade as Node's `server.on('upgrade')` hands it over. */
export interface StreamUpgrade {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
}

/** The header client-go and the kubelet negotiate stream protocols with (apimachinery httpstream). */
export const protocolVersionHeader = 'X-Stream-Protocol-Version';
const acceptedVersionsHeader = 'X-Accepted-Stream-Protocol-Versions';

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return /\bupgrade\b/i.test(req.headers.connection ?? '') && (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return /\bupgrade\b/i.test(req.headers.connection ?? '') && (req.headers.upgrade ?? '').toLowerCase() === 'spdy/3.1';
}

/** Every value of a possibly repeated, comma-separated header, in the client's order. */
function headerValues(req: IncomingMessage, name: string): string[] {
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== name.toLowerCase()) continue;
    for (const v of raw[i + 1]!.split(',')) if (v.trim() !== '') out.push(v.trim());
  }
  return out;
}

/** The first protocol the client lists that the server supports (apimachinery httpstream negotiateProtocol). */
function negotiate(client: readonly string[], server: readonly string[]): string | undefined {
  return client.find((p) => server.includes(p));
}

/** Writes a plain HTTP response on an upgrade socket and closes it. */
export function rejectUpgrade(
  socket: Duplex, code: number, body: string,
  options: { contentType?: string; headers?: [string, string][] } = {},
): void {
  if (socket.destroyed) return;
  const bytes = Buffer.from(body);
  const lines = [
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`,
    `Content-Type: ${options.contentType ?? 'text/plain; charset=utf-8'}`,
    'X-Content-Type-Options: nosniff',
    ...(options.headers ?? []).map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${bytes.length}`,
    'Connection: close',
  ];
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), bytes]));
}

/** A metav1.Status failure body as kube-apiserver writes it. */
export function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

/**
 * Answers a plain `Upgrade: SPDY/3.1` request: negotiates X-Stream-Protocol-Version like
 * apimachinery httpstream.Handshake (403 with the accepted versions when nothing matches) and
 * writes the 101 that spdy.UpgradeResponse writes. Returns the protocol, or undefined after
 * rejecting. The 101 must name the protocol, or kubectl fails with "unable to negotiate protocol".
 */
export function acceptSpdyUpgrade(up: StreamUpgrade, serverProtocols: readonly string[]): string | undefined {
  const client = headerValues(up.req, protocolVersionHeader);
  if (client.length === 0) {
    rejectUpgrade(up.socket, 400, `unable to upgrade: ${protocolVersionHeader} is required\n`);
    return undefined;
  }
  const protocol = negotiate(client, serverProtocols);
  if (protocol === undefined) {
    rejectUpgrade(up.socket, 403,
      `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${serverProtocols.join(' ')}]\n`,
      { headers: serverProtocols.map((p) => [acceptedVersionsHeader, p]) });
    return undefined;
  }
  up.socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Connection: Upgrade\r\n' +
    'Upgrade: SPDY/3.1\r\n' +
    `${protocolVersionHeader}: ${protocol}\r\n` +
    `Date: ${new Date().toUTCString()}\r\n\r\n`,
  );
  return protocol;
}

const chosenProtocol = new WeakMap<IncomingMessage, string>();
let wss: WebSocketServer | undefined;

function webSocketServer(): WebSocketServer {
  if (wss) return wss;
  // permessage-deflate off: gorilla (client-go) does not offer it, and it would cost CPU per frame.
  wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  // `ws` rejects subprotocols that are not RFC 7230 tokens, and `SPDY/3.1+portforward.k8s.io`
  // has a `/`: we negotiate ourselves, hide the header from `ws`, and add our answer here.
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    const protocol = chosenProtocol.get(req);
    if (protocol !== undefined) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
  });
  return wss;
}

/** The subprotocols a WebSocket upgrade offers, in the client's order. */
export function offeredWebSocketProtocols(req: IncomingMessage): string[] {
  return headerValues(req, 'sec-websocket-protocol');
}

/**
 * Completes a WebSocket handshake choosing the client's first offered protocol that the server
 * supports. With no match it answers 400 with a Status (any non-101 makes kubectl fall back to
 * SPDY, and it prints the Status message at -v=4). `allowNone` accepts a client that offers no
 * protocol at all (wsstream treats that as the plain binary channel protocol).
 */
export function acceptWebSocket(
  up: StreamUpgrade, serverProtocols: readonly string[], options: { allowNone?: boolean } = {},
): Promise<{ ws: WebSocket; protocol: string } | undefined> {
  const offered = offeredWebSocketProtocols(up.req);
  const protocol = offered.length === 0 && options.allowNone ? '' : negotiate(offered, serverProtocols);
  if (protocol === undefined) {
    rejectUpgrade(up.socket, 400,
      statusBody(400, 'BadRequest', `unable to upgrade streaming request: no supported subprotocol in [${offered.join(', ')}], server accepts [${serverProtocols.join(', ')}]`),
      { contentType: 'application/json' });
    return Promise.resolve(undefined);
  }
  delete up.req.headers['sec-websocket-protocol'];
  if (protocol !== '') chosenProtocol.set(up.req, protocol);
  return new Promise((resolve) => {
    up.socket.once('close', () => resolve(undefined));
    webSocketServer().handleUpgrade(up.req, up.socket, up.head, (ws) => resolve({ ws, protocol }));
  });
}
