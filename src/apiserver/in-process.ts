// A complete API server on 127.0.0.1 over plain HTTP with an in-memory store, for tests of the
// components that talk to it (controllers, the proxy, ingress) through a real KubeClient.
import { KubeClient } from '../client/rest-client.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { bootstrapCluster } from './bootstrap.ts';
import { defaultMachinery } from './default-machinery.ts';
import { Registry } from './registry/registry.ts';
import { ServiceAllocator } from './registry/service-allocator.ts';
import { defaultStrategies } from './registry/strategies.ts';
import { ApiServer, type RequestAuthenticator } from './server.ts';

export interface InProcessApiServer {
  readonly client: KubeClient;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * `authenticator`: who requests are made by (a test's token table); without one every request is
 * served, nobody is recorded as the requester, and nothing is checked against the requester (a
 * CSR's /approval, which otherwise only system:masters may write). `token` is what the returned client sends.
 */
export async function startInProcessApiServer(opts: { historyCapacity?: number; bookmarkIntervalMs?: number; authenticator?: RequestAuthenticator; token?: string } = {}): Promise<InProcessApiServer> {
  const store = new SqliteStore({ path: ':memory:', historyCapacity: opts.historyCapacity ?? 1000 });
  const machinery = defaultMachinery();
  const registry = new Registry({
    store, strategies: defaultStrategies({ serviceAllocator: new ServiceAllocator({ random: Math.random }) }),
    applyDefaults: machinery.applyDefaults, validate: machinery.validate,
  });
  await bootstrapCluster(registry, { serviceIP: '10.96.0.1', apiAddress: '192.0.2.1', apiPort: 6443 });
  const server = new ApiServer({
    registry, machinery, bindAddress: '127.0.0.1', port: 0, advertiseHost: '127.0.0.1', bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 50,
    ...(opts.authenticator ? { authenticator: opts.authenticator } : {}),
  });
  const addr = await server.listen();
  const url = `http://127.0.0.1:${addr.port}`;
  const client = new KubeClient({ server: url, ...(opts.token ? { token: opts.token } : {}) });
  return {
    client, url,
    async stop() {
      client.close();
      await server.close();
      await store.close();
    },
  };
}
