import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedScanner, findHeadEnd, HeadError, parseRequestHead, parseResponseHead, requestHeader } from './http-head.ts';

const req = (s: string, max = 65536) => { const h = parseRequestHead(Buffer.from(s, 'latin1'), max); assert.ok(h, `incomplete: ${JSON.stringify(s)}`); return h; };
const status = (s: string) => { try { req(s); return 0; } catch (e) { return (e as HeadError).status; } };

describe('request heads', () => {
  it('parses framing facts and records the lines the proxy owns', () => {
    const h = req('POST /x?y HTTP/1.1\r\nHost: a.com\r\nContent-Length: 5\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: keep-alive\r\nCookie: a=b\r\n\r\nhello');
    assert.equal(h.method, 'POST');
    assert.equal(h.target, '/x?y');
    assert.equal(h.host, 'a.com');
    assert.equal(h.contentLength, 5);
    assert.deepEqual(h.connection, ['keep-alive']);
    assert.equal(h.drops?.length, 4);
    assert.equal(requestHeader(h, 'cookie'), 'a=b');
  });
  it('finds the headers it owns or reads in any case, among others of the same length or first letter', () => {
    const lines = ['HOST: a.com', 'User-Agent: u', 'X-FORWARDED-FOR: 1.2.3.4', 'x-forwarded-fox: keep', 'te: trailers', 'Tk: keep', 'PROXY: x', 'x-real-ip: 9.9.9.9', 'host-x: keep',
      'Proxy-Authorization: keep', 'X-Request-Id: rid', 'KEEP-ALIVE: 5', 'Keep-Alivex: keep', 'Upgrade: websocket', 'Referer: r', 'CONNECTION: Upgrade', 'Cookie: c=1'];
    const text = `GET / HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
    const h = req(text);
    assert.equal(h.host, 'a.com');
    assert.equal(h.requestId, 'rid');
    assert.equal(h.upgrade, 'websocket');
    assert.deepEqual(h.connection, ['upgrade']);
    const dropped: string[] = [];
    for (let i = 0; i < h.drops!.length; i += 2) dropped.push(text.slice(h.drops![i], h.drops![i + 1]! - 2));
    assert.deepEqual(dropped, ['X-FORWARDED-FOR: 1.2.3.4', 'te: trailers', 'PROXY: x', 'x-real-ip: 9.9.9.9', 'X-Request-Id: rid', 'KEEP-ALIVE: 5', 'Upgrade: websocket', 'CONNECTION: Upgrade']);
  });
  const bad: [string, string, number][] = [
    ['CL and TE', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['conflicting CL', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n', 400],
    ['bare LF', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n', 400],
    ['missing Host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['unknown TE', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
  ];
  for (const [name, text, code] of bad) it(`rejects ${name} with ${code}`, () => assert.equal(status(text), code));
  it('431 past the size bound', () => assert.throws(() => findHeadEnd(Buffer.alloc(40000, 'a'), 32768), (e: HeadError) => e.status === 431));
  const browser = 'GET /static/app.js?v=1 HTTP/1.1\r\nHost: foo.example.com\r\nUser-Agent: Mozilla/5.0 (X11)\r\nAccept: */*\r\n' +
    'Cookie: a=b; c=d\r\nContent-Length: 0\r\nConnection: keep-alive, X-Trace\r\nX-Request-ID: abc\r\n\r\n';
  it('waits (undefined) at every cut point of a head, and parses it whole', () => {
    for (let cut = 0; cut < browser.length; cut++) assert.equal(parseRequestHead(Buffer.from(browser.slice(0, cut), 'latin1'), 65536), undefined, `cut at ${cut}`);
    const h = req(browser + 'next');
    assert.equal(h.length, browser.length);
    assert.deepEqual([h.method, h.target, h.host, h.contentLength, h.requestId, h.connection], ['GET', '/static/app.js?v=1', 'foo.example.com', 0, 'abc', ['keep-alive', 'x-trace']]);
    assert.equal(requestHeader(h, 'user-agent'), 'Mozilla/5.0 (X11)');
  });
  it('431 for a head longer than the bound, complete or not', () => {
    assert.throws(() => parseRequestHead(Buffer.from(browser.slice(0, 100), 'latin1'), 99), (e: HeadError) => e.status === 431);
    assert.throws(() => req(browser, browser.length - 1), (e: HeadError) => e.status === 431);
    assert.equal(req(browser, browser.length).length, browser.length);
  });
  it('waits when an empty line before the request line is cut between its CR and LF', () => {
    for (const cut of ['\r', '\r\n\r', '\r\n']) assert.equal(parseRequestHead(Buffer.from(cut, 'latin1'), 65536), undefined, JSON.stringify(cut));
  });
  it('skips empty lines before the request line, and says where it starts', () => {
    const h = req('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.deepEqual([h.lineStart, h.method, h.target, h.host], [4, 'GET', '/', 'a']);
  });
  it('gives the same strings for the same bytes (one string per repeated host, not one per request)', () => {
    const a = req('GET /x HTTP/1.1\r\nHost: same.example\r\n\r\n'), b = req('GET /x HTTP/1.1\r\nhost:  same.example \r\n\r\n');
    assert.deepEqual([b.host, b.target, b.method], [a.host, a.target, a.method]);
    assert.equal(req('GET /x HTTP/1.1\r\nHost: other.example\r\n\r\n').host, 'other.example');
  });
  const moreBad: [string, string, number][] = [
    ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n', 400],
    ['a bare CR', 'GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n', 400],
    ['a bare LF in the target', 'GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a tab in the target', 'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a control character in the target', 'GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['DEL in the target', 'GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['an empty target', 'GET  HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a method that is not a token', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a header name that is not a token', 'GET / HTTP/1.1\r\nHost: a\r\nX@Y: z\r\n\r\n', 400],
    ['a line without a colon', 'GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n', 400],
    ['an empty header name', 'GET / HTTP/1.1\r\nHost: a\r\n: z\r\n\r\n', 400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', 400],
    ['a Content-Length that is not a number', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n', 400],
    ['a 16-digit Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456\r\n\r\n', 400],
    ['chunked in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505],
    ['a version that is not one', 'GET / HTTX/1.1\r\nHost: a\r\n\r\n', 400],
  ];
  for (const [name, text, code] of moreBad) it(`rejects ${name} with ${code}`, () => assert.equal(status(text), code));
  it('accepts HTTP/1.0 without Host, chunked as the last coding, equal Content-Lengths', () => {
    assert.equal(req('GET / HTTP/1.0\r\n\r\n').minorVersion, 0);
    assert.equal(req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip , Chunked \r\n\r\n').chunked, true);
    assert.equal(req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length:7\r\n\r\n').contentLength, 7);
  });
});

describe('response heads and chunked bodies', () => {
  it('parses the status and framing', () => {
    const b = Buffer.from('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
    const h = parseResponseHead(b, 1000)!;
    assert.equal(h.status, 204);
    assert.deepEqual(h.connection, ['close']);
  });
  const res = (text: string, max = 65536) => parseResponseHead(Buffer.from(text, 'latin1'), max);
  const refused = (text: string, why: RegExp) => assert.throws(() => res(text), (e: HeadError) => e.status === 502 && why.test(e.message), JSON.stringify(text));
  const nginxHead = 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 19\r\nConnection: keep-alive\r\n\r\n';
  it('reads status, length, framing and Connection straight from the bytes, and where the Connection lines are', () => {
    const h = res(nginxHead + 'hello from backend\n')!;
    assert.deepEqual({ ...h }, { length: nginxHead.length, status: 200, minorVersion: 1, contentLength: 19, chunked: false, connection: ['keep-alive'], connectionLines: [nginxHead.indexOf('Connection'), nginxHead.length - 2], keepAliveLine: false, transferEncodingLines: undefined });
    const k = res('HTTP/1.0 302\r\nkeep-alive: timeout=5\r\nCONNECTION:  Keep-Alive , Upgrade,close\t\r\ntransfer-encoding: gzip, Chunked\r\n\r\n')!;
    assert.equal(k.status, 302);
    assert.equal(k.minorVersion, 0);
    assert.deepEqual(k.connection, ['keep-alive', 'upgrade', 'close']);
    // The keep-alive and Connection lines are adjacent: one range.
    assert.equal(k.connectionLines!.length, 2);
    assert.equal(k.keepAliveLine, true);
    assert.deepEqual(k.transferEncodingLines, [k.connectionLines![1]!, k.length - 2]);
    const nodeHead = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX: y\r\n\r\n';
    assert.deepEqual(res(nodeHead)!.connectionLines, [nodeHead.indexOf('Connection'), nodeHead.indexOf('X: y')]);
    const apart = 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nX: y\r\nKeep-Alive: timeout=5\r\n\r\n';
    assert.equal(res(apart)!.connectionLines!.length, 4);
    assert.equal(k.chunked, true);
    assert.equal(k.contentLength, -1);
    assert.equal(res('HTTP/1.1 200 OK\r\nX: y\r\n\r\n')!.connectionLines, undefined);
  });
  it('waits for a head cut anywhere, and finds it whole once it is all there', () => {
    for (let cut = 0; cut < nginxHead.length; cut++) assert.equal(res(nginxHead.slice(0, cut)), undefined, `cut at ${cut}`);
    assert.equal(res(nginxHead)!.length, nginxHead.length);
  });
  it('framing: Transfer-Encoding wins over Content-Length and makes the connection unreusable; a coding other than chunked last reads to the close', () => {
    const both = res('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n')!;
    assert.deepEqual([both.chunked, both.contentLength, both.connection], [true, -1, ['close']]);
    const gz = res('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n')!;
    assert.deepEqual([gz.chunked, gz.contentLength, gz.connection], [false, -1, ['close']]);
    assert.equal(res('HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length:7\r\n\r\n')!.contentLength, 7);
    assert.equal(res('HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n')!.contentLength, 999999999999999);
  });
  it('refuses what nginx refuses from an upstream', () => {
    refused('HTTP/1.1 200 OK\nX: y\r\n\r\n', /bare/);
    refused('HTTP/1.1 200 OK\r\nX: y\rz\r\n\r\n', /bare/);
    refused('HTTP/1.1 200 OK\r\nX: \0\r\n\r\n', /NUL/);
    refused('HTTP/1.1 200 OK\r\nX: y\r\n\n', /bare/);
    refused('HTTP/1.1 200 OK\r\nX: y\r\n\rx', /bare/);
    for (const line of ['HTTP/1.2 200 OK', 'HTTP/2.0 200 OK', 'http/1.1 200 OK', 'HTTP/1.1 099 Low', 'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 2x0 OK', 'ICY 200 OK'])
      refused(`${line}\r\n\r\n`, /status line/);
    refused('HTTP/1.1 200 OK\r\n folded\r\n\r\n', /folding/);
    refused('HTTP/1.1 200 OK\r\nNo colon\r\n\r\n', /invalid header/);
    refused('HTTP/1.1 200 OK\r\n: empty name\r\n\r\n', /invalid header/);
    refused('HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n', /invalid header/);
    for (const v of ['', '-1', '1 2', '0x10', '+5', '1234567890123456', '5\xa0'])
      refused(`HTTP/1.1 200 OK\r\nContent-Length: ${v}\r\n\r\n`, /Content-Length/);
    refused('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', /conflicting/);
  });
  it('a head longer than the bound is refused, whether or not its end has come', () => {
    const head = 'HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(100) + '\r\n\r\n';
    assert.equal(res(head, head.length)!.length, head.length);
    assert.throws(() => res(head, head.length - 1), /too large/);
    assert.throws(() => res(head.slice(0, 60), 50), /too large/);
    assert.equal(res(head.slice(0, 60), 60), undefined);
  });
  it('finds the end of a chunked message split anywhere', () => {
    const msg = Buffer.from('5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\nNEXT');
    for (let cut = 1; cut < msg.length - 4; cut++) {
      const s = new ChunkedScanner();
      assert.equal(s.feed(msg.subarray(0, cut)), -1);
      const end = s.feed(msg.subarray(cut));
      assert.equal(cut + end, msg.length - 4, `cut at ${cut}`);
      assert.equal(s.dataBytes, 5);
    }
  });
  it('rejects chunk data longer than its size', () => {
    assert.throws(() => new ChunkedScanner().feed(Buffer.from('2\r\nabc\r\n')), HeadError);
  });
});
