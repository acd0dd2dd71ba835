// A minimal HTTPS API server for the tests in this folder: the generated certificates, the
// Authenticator, 401 Status without credentials, and /version. Listens on 127.0.0.1 only.
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Authenticator, isAnonymousPath } from './authenticator.ts';
import type { UserInfo } from './authenticator.ts';
import type { Pki } from './ensure-pki.ts';

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export interface TestApiServer {
  readonly url: string;
  readonly server: Server;
  /** Who each request was authenticated as (undefined for anonymous), in arrival order. */
  readonly seen: (UserInfo | undefined)[];
  close(): Promise<void>;
}

export async function startTestApiServer(pki: Pki, opts: { extraCaPem?: string } = {}): Promise<TestApiServer> {
  const authn = new Authenticator({ tokensCsv: pki.tokensCsv, caPem: pki.ca });
  const seen: (UserInfo | undefined)[] = [];
  const server = createServer(
    {
      key: pki.serverKey,
      cert: pki.serverCert,
      ca: opts.extraCaPem ? [pki.ca, opts.extraCaPem] : pki.ca,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const path = req.url ?? '/';
      const user = authn.authenticate({ headers: req.headers, socket: req.socket as TLSSocket });
      seen.push(user);
      if (!user && !isAnonymousPath(path)) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }));
        return;
      }
      if (path === '/version' || path === '/version/') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(VERSION_INFO));
        return;
      }
      if (path === '/whoami') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(user ?? null));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 }));
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
