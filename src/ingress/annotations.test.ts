import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseAnnotations, parseNginxSize } from './annotations.ts';
import { bcryptCacheEntries, hashScheme, verifyPassword } from './htpasswd.ts';
import { makeSecret } from './test-builders.ts';

const P = 'nginx.ingress.kubernetes.io/';
const parse = (a: Record<string, string>, secrets = {}) => parseAnnotations(Object.fromEntries(Object.entries(a).map(([k, v]) => [P + k, v])), 'default',
  (ns, n) => (secrets as Record<string, ReturnType<typeof makeSecret>>)[`${ns}/${n}`]);

describe('annotations', () => {
  it('defaults are ingress-nginx\'s', () => {
    const o = parse({}).options;
    assert.equal(o.sslRedirect, true);
    assert.equal(o.maxBodyBytes, 1024 * 1024);
    assert.equal(o.connectTimeoutMs, 5000);
    assert.equal(o.readTimeoutMs, 60000);
  });
  it('bad values become problems and keep the default', () => {
    const r = parse({ 'proxy-body-size': 'huge', 'ssl-redirect': 'yes', 'proxy-read-timeout': '-1', 'backend-protocol': 'GRPC' });
    assert.equal(r.problems.length, 4);
    assert.equal(r.options.maxBodyBytes, 1024 * 1024);
    assert.equal(r.options.sslRedirect, true);
  });
  it('an unusable whitelist or auth secret denies the route instead of opening it', () => {
    assert.ok(parse({ 'whitelist-source-range': '10.0.0.0/33' }).options.denied);
    assert.ok(parse({ 'auth-type': 'basic', 'auth-secret': 'nope' }).options.denied);
  });
  it('auth-url: an unusable URL, method or header list denies the route; a bad auth-signin is dropped with a problem', () => {
    for (const a of [{ 'auth-url': 'auth.example.com/check' } as Record<string, string>, { 'auth-url': 'ftp://auth/check' }, { 'auth-url': 'http:///check' }, { 'auth-url': 'https://$host/oauth2/auth' },
      { 'auth-url': 'http://auth/check', 'auth-method': 'get' }, { 'auth-url': 'http://auth/check', 'auth-response-headers': 'X-User, X User' },
      // Framing headers from the auth service would re-frame the request upstream (smuggling).
      { 'auth-url': 'http://auth/check', 'auth-response-headers': 'X-User, Content-Length' }, { 'auth-url': 'http://auth/check', 'auth-response-headers': 'transfer-encoding' }]) {
      const r = parse(a);
      assert.ok(r.options.denied, JSON.stringify(a));
      assert.equal(r.options.externalAuth, undefined);
      assert.equal(r.problems.length, 1);
    }
    const r = parse({ 'auth-url': 'https://auth.example.com:8443/oauth2/auth?x=$host', 'auth-signin': 'not a url', 'auth-response-headers': 'X-Auth-Request-User, X-Auth-Request-Email' });
    assert.equal(r.options.denied, undefined);
    assert.deepEqual(r.problems.map((p) => p.reason), ['InvalidAnnotation']);
    const ea = r.options.externalAuth!;
    assert.deepEqual([ea.protocol, ea.host, ea.target, ea.backend.endpoints, ea.signinUrl, ea.responseHeaders],
      ['HTTPS', 'auth.example.com', '/oauth2/auth?x=$host', [{ address: 'auth.example.com', port: 8443 }], undefined, ['X-Auth-Request-User', 'X-Auth-Request-Email']]);
  });
  it('sizes', () => {
    assert.deepEqual(['0', '8m', '512k', '1g', '100', 'm'].map(parseNginxSize), [0, 8 * 1024 ** 2, 512 * 1024, 1024 ** 3, 100, undefined]);
  });
});

describe('htpasswd', () => {
  for (const [name, args] of [['apr1 (htpasswd -m)', ['htpasswd', '-nbm', 'u', 'pw']], ['sha (htpasswd -s)', ['htpasswd', '-nbs', 'u', 'pw']], ['md5-crypt (openssl passwd -1)', ['openssl', 'passwd', '-1', 'pw']], ['apr1 (openssl passwd -apr1)', ['openssl', 'passwd', '-apr1', 'pw']]] as const) {
    it(name, () => {
      let out: string;
      try {
        out = execFileSync(args[0], args.slice(1), { encoding: 'utf8' }).trim();
      } catch (err) {
        // Hashes made by the real tools are the point of this test: missing tools fail it.
        throw new Error(`${args[0]} is needed: apt-get install ${args[0] === 'htpasswd' ? 'apache2-utils' : 'openssl'} (${String(err)})`);
      }
      const hash = out.includes(':') ? out.split(':')[1]! : out;
      assert.equal(verifyPassword('pw', hash), true);
      assert.equal(verifyPassword('wrong', hash), false);
    });
  }
  it('bcrypt (htpasswd -B) in its $2y$, $2a$ and $2b$ spellings, checked once per credentials', () => {
    let out: string;
    try {
      out = execFileSync('htpasswd', ['-nbB', '-C', '4', 'u', 'pw'], { encoding: 'utf8' }).trim();
    } catch (err) {
      throw new Error(`htpasswd is needed: apt-get install apache2-utils (${String(err)})`);
    }
    const hash = out.split(':')[1]!;
    assert.match(hash, /^\$2y\$04\$/);
    assert.equal(hashScheme(hash), 'bcrypt');
    for (const h of [hash, hash.replace('$2y$', '$2a$'), hash.replace('$2y$', '$2b$')]) {
      assert.equal(verifyPassword('pw', h), true);
      assert.equal(verifyPassword('wrong', h), false);
    }
    const n = bcryptCacheEntries();
    assert.equal(verifyPassword('pw', hash), true);
    assert.equal(verifyPassword('wrong', hash), false);
    assert.equal(bcryptCacheEntries(), n);
    assert.equal(hashScheme('$2y$05$short'), 'unsupported');
  });
  it('an auth secret with a bcrypt user is served, not denied', () => {
    const hash = execFileSync('htpasswd', ['-nbB', '-C', '4', 'u', 'pw'], { encoding: 'utf8' }).trim();
    const r = parse({ 'auth-type': 'basic', 'auth-secret': 'creds' }, { 'default/creds': makeSecret('default', 'creds', { auth: `${hash}\n` }) });
    assert.equal(r.options.denied, undefined);
    assert.equal(r.options.basicAuth?.users.u, hash.split(':')[1]);
  });
});
