// HTTP plumbing shared by the handlers: bodies with a size limit, JSON answers, Status errors.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type StatusError, toStatusError } from '../api/errors.ts';

/** kube-apiserver refuses request bodies over 3 MiB (--max-request-bytes default is larger, but 3 MiB is the object limit). */
export const maxBodyBytes = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = maxBodyBytes): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw errors.tooLarge(`the request is too large: ${declared} bytes is over the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw errors.tooLarge(`the request is too large: over the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export interface ResponseStyle {
  pretty: boolean;
}

/** kube-apiserver pretty-prints for curl and browsers, and with ?pretty=true. */
export function responseStyle(req: IncomingMessage, url: URL): ResponseStyle {
  const p = url.searchParams.get('pretty');
  if (p !== null) return { pretty: p === 'true' || p === '1' || p === '' };
  const ua = req.headers['user-agent'] ?? '';
  return { pretty: /^(curl|Wget|Mozilla)/.test(ua) };
}

export function sendJson(res: ServerResponse, code: number, body: unknown, style: ResponseStyle = { pretty: false }, headers: Record<string, string> = {}): void {
  const text = style.pretty ? JSON.stringify(body, null, 2) + '\n' : JSON.stringify(body) + '\n';
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown, style: ResponseStyle = { pretty: false }): void {
  const se: StatusError = toStatusError(err);
  if (res.headersSent) { res.destroy(); return; }
  sendJson(res, se.code, se.toStatus(), style);
}

export interface MediaType {
  type: string;
  params: Record<string, string>;
}

/** Parses an Accept or Content-Type header into media types with their parameters. */
export function parseMediaTypes(header: string | undefined): MediaType[] {
  if (!header) return [];
  return header.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim());
    const p: Record<string, string> = {};
    for (const kv of params) {
      const eq = kv.indexOf('=');
      if (eq > 0) p[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
    }
    return { type: (type ?? '').toLowerCase(), params: p };
  }).filter((m) => m.type);
}
