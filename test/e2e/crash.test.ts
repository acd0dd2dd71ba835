// kill -9 during a burst of creates: every acknowledged object survives, and no clusterIP or
// nodePort is ever held twice, before or after the restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resources } from '../../src/api/resources.ts';
import { configFromKubeconfig, KubeClient } from '../../src/client/rest-client.ts';
import { type Podgate, startPodgate } from './harness.ts';

const services = resources.find((r) => r.resource === 'services')!;

interface Svc { metadata: { name?: string }; spec?: { clusterIP?: string; ports?: { nodePort?: number }[] } }

function assertNoSharedAllocations(items: Svc[]): void {
  const ips = new Map<string, string>();
  const ports = new Map<number, string>();
  for (const s of items) {
    const ip = s.spec?.clusterIP;
    if (ip && ip !== 'None') {
      assert.ok(!ips.has(ip), `clusterIP ${ip} held by ${ips.get(ip)} and ${s.metadata.name}`);
      ips.set(ip, s.metadata.name!);
    }
    for (const p of s.spec?.ports ?? []) {
      if (!p.nodePort) continue;
      assert.ok(!ports.has(p.nodePort), `nodePort ${p.nodePort} held by ${ports.get(p.nodePort)} and ${s.metadata.name}`);
      ports.set(p.nodePort, s.metadata.name!);
    }
  }
}

describe('crash during a burst of creates', () => {
  let pg: Podgate;
  before(async () => { pg = await startPodgate(); });
  after(async () => { await pg?.stop(); });

  it('keeps every acknowledged write and never double-allocates', async () => {
    const client = new KubeClient(configFromKubeconfig(pg.kubeconfig));
    const acknowledged: string[] = [];
    let n = 0;
    let crashed = false;
    const worker = async () => {
      while (!crashed) {
        const name = `burst-${n++}`;
        try {
          await client.create(services, 'default', {
            apiVersion: 'v1', kind: 'Service', metadata: { name },
            spec: { type: 'NodePort', selector: { app: name }, ports: [{ port: 80 }] },
          });
          acknowledged.push(name);
        } catch {
          // Writes in flight at the crash may or may not have landed; only acknowledged ones count.
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    while (acknowledged.length < 150) await new Promise((r) => setTimeout(r, 5));
    await pg.crash();
    crashed = true;
    await Promise.all(workers);
    client.close();

    await pg.restart();
    const again = new KubeClient(configFromKubeconfig(pg.kubeconfig));
    try {
      const list = await again.list(services, 'default');
      const names = new Set(list.items.map((s) => s.metadata.name));
      const lost = acknowledged.filter((a) => !names.has(a));
      assert.deepEqual(lost, [], 'acknowledged services lost in the crash');
      assertNoSharedAllocations(list.items as Svc[]);
      // The allocator was rebuilt from what is stored: new services get fresh values.
      for (let i = 0; i < 50; i++) {
        await again.create(services, 'default', {
          apiVersion: 'v1', kind: 'Service', metadata: { name: `after-${i}` },
          spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ port: 80 }] },
        });
      }
      const all = await again.list(services, 'default');
      assertNoSharedAllocations(all.items as Svc[]);
      assert.ok(all.items.length >= acknowledged.length + 50);
    } finally {
      again.close();
    }
  });
});
