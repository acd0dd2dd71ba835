import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedScanner, findHeadEnd, HeadError, parseRequestHead, parseResponseHead, requestHeader } from './http-head.ts';

const req = (s: string) => { const b = Buffer.from(s, 'latin1'); return parseRequestHead(b, findHeadEnd(b, 65536)); };
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
});

describe('response heads and chunked bodies', () => {
  it('parses the status and framing', () => {
    const b = Buffer.from('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
    const h = parseResponseHead(b, findHeadEnd(b, 1000));
    assert.equal(h.status, 204);
    assert.deepEqual(h.connection, ['close']);
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
