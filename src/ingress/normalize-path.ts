// The request path as nginx matches locations against it (ngx_http_parse_complex_uri): %XX
// decoded, runs of slashes merged, `.` and `..` segments resolved. Routing on the raw target
// instead would let `/x/../admin`, `//admin` or `/%61dmin` reach the `/` route's backend past
// a whitelist-source-range or an auth guarding `/admin`. The raw target is still what goes
// upstream when nothing rewrites it, as nginx's proxy_pass without a URI passes it.

/** Characters after which a path may need work: `%`, and `/` (for `//`, `/.`). */
const PERCENT = 37, SLASH = 47, DOT = 46;

function needsWork(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === PERCENT) return true;
    if (c === SLASH && i + 1 < path.length) {
      const n = path.charCodeAt(i + 1);
      if (n === SLASH || n === DOT) return true;
    }
  }
  return false;
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * The normalised form of an origin-form path (bytes as latin1 characters, as the head parser
 * makes them), or undefined where nginx answers 400: a `%` not followed by two hex digits, an
 * encoded NUL, or `..` above the root. Anything not starting with `/` (`*`) is returned as it is.
 */
export function normalizePath(path: string): string | undefined {
  if (path.charCodeAt(0) !== SLASH || !needsWork(path)) return path;
  let decoded = path;
  if (path.includes('%')) {
    decoded = '';
    for (let i = 0; i < path.length; i++) {
      const c = path.charCodeAt(i);
      if (c !== PERCENT) { decoded += path[i]; continue; }
      const hi = i + 2 < path.length ? hex(path.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hex(path.charCodeAt(i + 2)) : -1;
      if (lo < 0 || (hi === 0 && lo === 0)) return undefined;
      decoded += String.fromCharCode(hi * 16 + lo);
      i += 2;
    }
  }
  const segments = decoded.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i]!;
    if (s === '.' || (s === '' && i < last)) {
      if (i === last) out.push(''); // `/a/.` is `/a/`
      continue;
    }
    if (s === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      if (i === last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}
