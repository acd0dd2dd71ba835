// htpasswd files for auth-type basic. nginx's auth_basic_user_file (what ingress-nginx uses)
// accepts what its libc's crypt() does plus its own schemes: $apr1$ / $1$ (MD5-crypt, `htpasswd -m`,
// `openssl passwd -apr1`), bcrypt $2y$/$2a$/$2b$ (`htpasswd -B`; glibc's crypt in the
// ingress-nginx image is libxcrypt, which has it), {SHA} (`htpasswd -s`), {SSHA} and {PLAIN}.
// Those are the forms verified here; DES crypt is reported as unsupported instead of silently failing.
import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

export type HashScheme = 'md5-crypt' | 'bcrypt' | 'sha1' | 'ssha' | 'plain' | 'unsupported';

/** Parses "user:hash" lines (comments and blank lines skipped). */
export function parseHtpasswd(text: string): Record<string, string> {
  const users: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const user = line.slice(0, i);
    // nginx stops at the first line whose user matches, so the first entry wins.
    if (!(user in users)) users[user] = line.slice(i + 1).split(':')[0]!;
  }
  return users;
}

export function hashScheme(hash: string): HashScheme {
  if (hash.startsWith('$apr1$') || hash.startsWith('$1$')) return 'md5-crypt';
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (hash.startsWith('{SHA}')) return 'sha1';
  if (hash.startsWith('{SSHA}')) return 'ssha';
  if (hash.startsWith('{PLAIN}')) return 'plain';
  return 'unsupported';
}

// bcrypt is slow on purpose (2^cost rounds, milliseconds each check), and a browser sends the same
// credentials with every request: results are remembered, keyed by a digest of hash and password
// (no password kept in memory), so only the first request with given credentials pays for it.
const BCRYPT_CACHE_SIZE = 4096;
const bcryptResults = new Map<string, boolean>();

function verifyBcrypt(password: string, hash: string): boolean {
  const key = createHash('sha256').update(hash).update('\0').update(password).digest('base64');
  const known = bcryptResults.get(key);
  if (known !== undefined) return known;
  const ok = bcrypt.compareSync(password, hash);
  if (bcryptResults.size >= BCRYPT_CACHE_SIZE) bcryptResults.delete(bcryptResults.keys().next().value!);
  bcryptResults.set(key, ok);
  return ok;
}

/** How many bcrypt results are remembered (for tests). */
export function bcryptCacheEntries(): number {
  return bcryptResults.size;
}

/** Whether `password` matches the htpasswd `hash`; false for unsupported schemes. */
export function verifyPassword(password: string, hash: string): boolean {
  const pw = Buffer.from(password, 'utf8');
  switch (hashScheme(hash)) {
    case 'bcrypt':
      return verifyBcrypt(password, hash);
    case 'md5-crypt': {
      const magic = hash.startsWith('$apr1$') ? '$apr1$' : '$1$';
      const salt = hash.slice(magic.length).split('$')[0]!;
      return safeEqual(md5Crypt(pw, salt, magic), hash);
    }
    case 'sha1':
      return safeEqual(`{SHA}${createHash('sha1').update(pw).digest('base64')}`, hash);
    case 'ssha': {
      const raw = Buffer.from(hash.slice(6), 'base64');
      if (raw.length <= 20) return false;
      const salt = raw.subarray(20);
      const digest = createHash('sha1').update(pw).update(salt).digest();
      return timingSafeEqual(digest, raw.subarray(0, 20));
    }
    case 'plain':
      return safeEqual(`{PLAIN}${password}`, hash);
    default:
      return false;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Poul-Henning Kamp's MD5-crypt (FreeBSD $1$, Apache $apr1$ differs only in the magic). */
export function md5Crypt(pw: Buffer, saltIn: string, magic: string): string {
  const salt = Buffer.from(saltIn.slice(0, 8), 'latin1');
  const md5 = () => createHash('md5');
  let alt = md5().update(pw).update(salt).update(pw).digest();
  const ctx = md5().update(pw).update(magic).update(salt);
  for (let n = pw.length; n > 0; n -= 16) ctx.update(alt.subarray(0, Math.min(n, 16)));
  for (let i = pw.length; i; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  let fin = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = md5();
    c.update(i & 1 ? pw : fin);
    if (i % 3) c.update(salt);
    if (i % 7) c.update(pw);
    c.update(i & 1 ? fin : pw);
    fin = c.digest();
  }
  alt = fin;
  let out = '';
  const to64 = (v: number, n: number) => { for (let k = 0; k < n; k++) { out += ITOA64[v & 0x3f]; v >>= 6; } };
  const triples: [number, number, number][] = [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]];
  for (const [a, b, c] of triples) to64((alt[a]! << 16) | (alt[b]! << 8) | alt[c]!, 4);
  to64(alt[11]!, 2);
  return `${magic}${salt.toString('latin1')}$${out}`;
}
