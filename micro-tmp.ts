import { findHeadEnd, parseRequestHead, parseResponseHead } from './src/ingress/http-head.ts';
import { translate } from './src/ingress/translate.ts';
import { Router } from './src/ingress/router.ts';
import { decideAction, LimitState, type RequestFacts } from './src/ingress/request-policy.ts';
import { makeIngress, makeService, makeSlice, path, rule } from './src/ingress/test-builders.ts';
import { randomBytes } from 'node:crypto';
const table = translate({ ingresses: [makeIngress('default', 'a', (i) => { i.spec!.rules = [rule('foo.com', path('/', 'svc', 80))]; })], ingressClasses: [], services: [makeService('default', 'svc')], endpointSlices: [makeSlice('default', 'svc', ['127.0.0.1'], [{ port: 18080 }])], secrets: [] });
const router = new Router(table); const limits = new LimitState();
const req = Buffer.from('GET / HTTP/1.1\r\nHost: foo.com\r\n\r\n');
const res = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 05:02:49 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 19\r\nConnection: keep-alive\r\n\r\nhello from backend\n');
let pool = randomBytes(4096), off = 0;
function one() {
  const end = findHeadEnd(req, 32768); const h = parseRequestHead(req, end);
  const facts: RequestFacts = { method: h.method, path: '/', query: '', host: h.host!, secure: false, remoteAddress: '127.0.0.1', contentLength: -1, header: () => undefined };
  const a = decideAction(router.decide(h.host!, '/'), facts, limits, 443);
  if (off + 16 > pool.length) { pool = randomBytes(4096); off = 0; }
  const id = pool.toString('hex', off, off + 16); off += 16;
  const s = h.text.slice(0, h.length - 2) + `X-Request-ID: ${id}\r\nX-Real-IP: 127.0.0.1\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: foo.com\r\nX-Forwarded-Port: 18082\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Scheme: http\r\nX-Scheme: http\r\n\r\n`;
  const b = Buffer.from(s, 'latin1');
  const e2 = findHeadEnd(res, 65536); const r = parseResponseHead(res, e2);
  return b.length + r.status + (a.kind === 'proxy' ? 1 : 0);
}
for (let i = 0; i < 200000; i++) one();
const t0 = performance.now(); const N = 500000; let x = 0;
for (let i = 0; i < N; i++) x += one();
console.log(((performance.now() - t0) * 1000 / N).toFixed(2), 'µs per request', x > 0);
function time(name: string, f: () => unknown) { for (let i = 0; i < 100000; i++) f(); const t0 = performance.now(); for (let i = 0; i < 300000; i++) f(); console.log(name, ((performance.now() - t0) * 1000 / 300000).toFixed(3)); }
time('findHeadEnd', () => findHeadEnd(req, 32768));
time('parseRequestHead', () => parseRequestHead(req, 33));
time('decide', () => router.decide('foo.com', '/'));
const facts: RequestFacts = { method: 'GET', path: '/', query: '', host: 'foo.com', secure: false, remoteAddress: '127.0.0.1', contentLength: -1, header: () => undefined };
time('decideAction', () => decideAction(router.decide('foo.com', '/'), facts, limits, 443));
time('hex', () => { if (off + 16 > pool.length) { pool = randomBytes(4096); off = 0; } const id = pool.toString('hex', off, off + 16); off += 16; return id; });
time('Buffer.from', () => Buffer.from('GET / HTTP/1.1\r\nHost: foo.com\r\nX-Request-ID: 0123456789abcdef0123456789abcdef\r\nX-Real-IP: 127.0.0.1\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: foo.com\r\nX-Forwarded-Port: 18082\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Scheme: http\r\nX-Scheme: http\r\n\r\n' + off, 'latin1'));
time('parseResponseHead', () => parseResponseHead(res, findHeadEnd(res, 65536)));
time('toString', () => res.toString("latin1", 0, 140));
