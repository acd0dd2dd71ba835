// Request authentication as kube-apiserver does it with --client-ca-file and --token-auth-file:
// a verified client certificate (CN = user, O = groups) first, then `Authorization: Bearer`.
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { parseTokenFile } from './token-file.ts';

export interface UserInfo {
  readonly user: string;
  readonly uid?: string;
  /** Always ends with 'system:authenticated', as kube-apiserver's AuthenticatedGroupAdder does. */
  readonly groups: readonly string[];
}

export interface AuthenticatorOptions {
  /** Content of a static token file (`token,user,uid,"group1,group2"`). */
  readonly tokensCsv: string;
  /** The CA that client certificates must be signed by (the `ca` given to https.createServer). */
  readonly caPem: string;
}

export interface AuthRequest {
  readonly headers: IncomingHttpHeaders;
  readonly socket: TLSSocket | Socket;
}

const AUTHENTICATED_GROUP = 'system:authenticated';
const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

/**
 * The non-resource URLs kube-apiserver's default RBAC lets anyone GET (ClusterRole
 * system:public-info-viewer, bound to system:unauthenticated): exact paths, so `/readyz/ping`
 * or `/healthz/etcd` are not among them, while `/version/` is.
 */
const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz', '/version', '/version/']);

/** True for the paths a request without credentials may reach; the query string is ignored. */
export function isAnonymousPath(path: string): boolean {
  const q = path.indexOf('?');
  return PUBLIC_PATHS.has(q === -1 ? path : path.slice(0, q));
}

interface TokenRecord {
  readonly digest: Buffer;
  readonly info: UserInfo;
}

/** Maps a request to a user, or to `undefined` when it carries no valid credentials. */
export class Authenticator {
  readonly #tokens: readonly TokenRecord[];
  readonly #ca: X509Certificate;
  /** A TLS connection's client certificate does not change, so it is checked once per socket. */
  readonly #bySocket = new WeakMap<object, UserInfo | null>();

  /** Throws when the token file does not parse or the CA is not a PEM certificate. */
  constructor(opts: AuthenticatorOptions) {
    this.#tokens = parseTokenFile(opts.tokensCsv).map((e) => ({
      digest: sha256(e.token),
      info: withAuthenticatedGroup({ user: e.user, uid: e.uid, groups: e.groups }),
    }));
    this.#ca = new X509Certificate(opts.caPem);
  }

  /** Reads the token file and the client CA from disk. */
  static async fromFiles(opts: { tokenFile: string; clientCaFile: string }): Promise<Authenticator> {
    const [tokensCsv, caPem] = await Promise.all([readFile(opts.tokenFile, 'utf8'), readFile(opts.clientCaFile, 'utf8')]);
    return new Authenticator({ tokensCsv, caPem });
  }

  authenticate(req: AuthRequest): UserInfo | undefined {
    return this.#fromClientCertificate(req.socket) ?? this.#fromBearerToken(req.headers.authorization);
  }

  #fromClientCertificate(socket: TLSSocket | Socket): UserInfo | undefined {
    if (!isTlsSocket(socket) || !socket.authorized) return undefined;
    const cached = this.#bySocket.get(socket);
    if (cached !== undefined) return cached ?? undefined;
    const info = this.#verifyPeer(socket);
    this.#bySocket.set(socket, info ?? null);
    return info;
  }

  /**
   * `socket.authorized` means OpenSSL verified the chain against the server's `ca`; this also
   * insists on our CA in particular and on the clientAuth usage, as kube's x509 authenticator does.
   */
  #verifyPeer(socket: TLSSocket): UserInfo | undefined {
    const peer = socket.getPeerX509Certificate();
    if (!peer || !peer.checkIssued(this.#ca) || !peer.verify(this.#ca.publicKey)) return undefined;
    if (peer.keyUsage !== undefined && !peer.keyUsage.includes(CLIENT_AUTH_EKU)) return undefined;
    const subject = socket.getPeerCertificate().subject;
    const cn = firstValue(subject?.CN);
    if (!cn) return undefined;
    return withAuthenticatedGroup({ user: cn, groups: allValues(subject?.O) });
  }

  /** Parsed as k8s.io/apiserver's bearertoken authenticator: `Bearer <token>`, scheme case-insensitive. */
  #fromBearerToken(header: string | undefined): UserInfo | undefined {
    if (header === undefined) return undefined;
    const parts = header.trim().split(' ');
    if (parts.length < 2 || parts[0]?.toLowerCase() !== 'bearer') return undefined;
    const token = parts[1];
    if (!token) return undefined;
    const digest = sha256(token);
    // Compare against every entry without stopping early, so timing says nothing about which
    // tokens exist or how much of one matched.
    let found: UserInfo | undefined;
    for (const record of this.#tokens) {
      if (timingSafeEqual(record.digest, digest) && found === undefined) found = record.info;
    }
    return found;
  }
}

function isTlsSocket(socket: TLSSocket | Socket): socket is TLSSocket {
  return 'getPeerX509Certificate' in socket && typeof socket.getPeerX509Certificate === 'function';
}

function withAuthenticatedGroup(info: { user: string; uid?: string; groups: readonly string[] }): UserInfo {
  const groups = info.groups.includes(AUTHENTICATED_GROUP) ? info.groups : [...info.groups, AUTHENTICATED_GROUP];
  return { user: info.user, ...(info.uid ? { uid: info.uid } : {}), groups };
}

/** Node gives a subject field as a string, or as an array when the name repeats it. */
function allValues(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return allValues(v)[0];
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
