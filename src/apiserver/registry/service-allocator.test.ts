import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import { errors, type Status } from '../../api/errors.ts';
import { ServiceAllocator, type ServicePlanResult } from './service-allocator.ts';
import { applyJsonMergePatch } from '../../api/patch/index.ts';

const GOLDEN = '/work/shared/notes/apiserver-golden';

/** A recorded exchange: the request body and the JSON the real kube-apiserver answered. */
function readGolden(name: string): { body: Record<string, unknown>; response: Record<string, unknown> } {
  const text = readFileSync(`${GOLDEN}/${name}`, 'utf8');
  const [request = '', response = ''] = text.split('### RESPONSE:');
  const bodyText = request.split('### Body:\n')[1]?.trim() ?? '';
  const lastJson = response.trim().split('\n').reverse().find((l) => l.startsWith('{')) ?? '';
  return { body: JSON.parse(bodyText), response: JSON.parse(lastJson) };
}

/** mulberry32: a tiny seeded PRNG so every run picks the same values. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeService(name: string, mutate: (s: Service) => void = () => {}): Service {
  const svc: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'ClusterIP', selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }] },
  };
  mutate(svc);
  return svc;
}

/** The allocator of the cluster the goldens were recorded on (§12: 10.96.0.0/16, 30000-32767). */
function goldenCluster(seed = 1): ServiceAllocator {
  return new ServiceAllocator({ serviceCIDR: '10.96.0.0/16', nodePortRange: '30000-32767', random: seeded(seed) });
}

/** Creates and commits, failing the test on any error. */
function mustCreate(alloc: ServiceAllocator, svc: Service): Service {
  const r = alloc.planCreate(svc);
  assert.deepEqual(r.errors, [], JSON.stringify(r.errors));
  assert.equal(r.internalError, undefined);
  assert.deepEqual(alloc.commit(r.plan), []);
  return r.service;
}

function statusOf(name: string, r: ServicePlanResult): Status {
  return errors.invalid('Service', '', name, r.errors).toStatus();
}

/** The project's RFC 7386 merge patch, as the server applies it. */
const mergePatch = applyJsonMergePatch;

// ---- every golden 422 reproduced exactly -------------------------------------------------

interface GoldenCase {
  file: string;
  /** Builds the cluster state and returns the plan result for the golden's request. */
  run: (body: Record<string, unknown>) => ServicePlanResult;
}

/** Stored `web` NodePort service holding nodePort 30080 (the goldens' fixture). */
function webNodePort(alloc: ServiceAllocator): Service {
  return mustCreate(
    alloc,
    makeService('web', (s) => {
      s.spec!.type = 'NodePort';
      s.spec!.ports = [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http', nodePort: 30080 }];
    }),
  );
}

/** The strategic-merge patch `{"ports":[{"nodePort":N,"port":80}]}` applied to the stored object. */
function withNodePort(svc: Service, nodePort: number): Service {
  const next = structuredClone(svc);
  for (const p of next.spec!.ports!) if (p.port === 80) p.nodePort = nodePort;
  return next;
}

const goldenCases: GoldenCase[] = [
  {
    file: 'error-422-clusterip-out-of-range.http',
    run: (body) => goldenCluster().planCreate(body as Service),
  },
  {
    file: 'error-422-nodeport-80-out-of-range.http',
    run: (body) => goldenCluster().planCreate(body as Service),
  },
  {
    file: 'error-422-nodeport-duplicate.http',
    run: (body) => {
      const alloc = goldenCluster();
      webNodePort(alloc);
      return alloc.planCreate(body as Service);
    },
  },
  {
    file: 'error-422-nodeport-on-clusterip.http',
    run: (body) => goldenCluster().planCreate(body as Service),
  },
  {
    // The name exists too; kube answers 422 because allocation comes before the name check.
    file: 'error-422-create-existing-name-but-nodeport-taken.http',
    run: (body) => {
      const alloc = goldenCluster();
      webNodePort(alloc);
      return alloc.planCreate(body as Service);
    },
  },
  {
    file: 'error-422-update-nodeport-32768-out-of-range-smp.http',
    run: () => {
      const alloc = goldenCluster();
      const web = webNodePort(alloc);
      return alloc.planUpdate(web, withNodePort(web, 32768));
    },
  },
  {
    file: 'error-422-update-nodeport-duplicate-smp.http',
    run: () => {
      const alloc = goldenCluster();
      const web = webNodePort(alloc);
      mustCreate(alloc, makeService('other', (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports![0]!.nodePort = 30398;
      }));
      return alloc.planUpdate(web, withNodePort(web, 30398));
    },
  },
  {
    file: 'error-422-clusterip-immutable-patch.http',
    run: (body) => {
      const alloc = goldenCluster();
      const web = mustCreate(alloc, makeService('web', (s) => (s.spec!.clusterIP = '10.96.140.164')));
      return alloc.planUpdate(web, mergePatch(web, body) as Service);
    },
  },
];

for (const c of goldenCases) {
  test(`golden ${c.file}: same message and causes as kube-apiserver`, () => {
    const { body, response } = readGolden(c.file);
    const name = (response['details'] as { name: string }).name;
    const r = c.run(body);
    assert.equal(r.internalError, undefined);
    assert.ok(r.errors.length > 0, 'expected errors');
    const got = statusOf(name, r);
    assert.equal(got.message, response['message']);
    assert.deepEqual(got.details, response['details']);
    assert.deepEqual(r.plan, { allocate: { ips: [], ports: [] }, release: { ips: [], ports: [] } }, 'a failed plan allocates nothing');
  });
}

test('golden ok-200-put-service-omitting-clusterip-keeps-it: PUT without clusterIP keeps the stored one', () => {
  const { body, response } = readGolden('ok-200-put-service-omitting-clusterip-keeps-it.http');
  const stored = response as unknown as Service;
  const alloc = goldenCluster();
  alloc.rebuild([stored]);
  const r = alloc.planUpdate(stored, body as unknown as Service);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.service.spec, stored.spec);
  assert.deepEqual(r.plan, { allocate: { ips: [], ports: [] }, release: { ips: [], ports: [] } });
});

test('golden ok-200-type-nodeport-to-clusterip-drops-nodeports: the nodePorts go and are released', () => {
  const { body, response } = readGolden('ok-200-type-nodeport-to-clusterip-drops-nodeports.http');
  const after = response as unknown as Service;
  // The stored object before the patch: NodePort with 30080, as its managedFields show.
  const before = structuredClone(after);
  before.spec!.type = 'NodePort';
  before.spec!.externalTrafficPolicy = 'Cluster';
  before.spec!.ports![0]!.nodePort = 30080;
  const alloc = goldenCluster();
  alloc.rebuild([before]);
  assert.ok(alloc.hasNodePort(30080));
  const r = alloc.planUpdate(before, mergePatch(before, body) as Service);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.service.spec, after.spec);
  assert.deepEqual(r.plan, { allocate: { ips: [], ports: [] }, release: { ips: [], ports: [30080] } });
  assert.ok(alloc.hasNodePort(30080), 'planning does not release');
  alloc.commit(r.plan);
  assert.ok(!alloc.hasNodePort(30080));
});

// ---- create ---------------------------------------------------------------------------------

test('create fills clusterIP, clusterIPs, ipFamilies, ipFamilyPolicy and nodePorts by type', async (t) => {
  const cases: { name: string; mutate: (s: Service) => void; expect: (r: ServicePlanResult) => void }[] = [
    {
      name: 'ClusterIP gets an IP and no nodePort',
      mutate: () => {},
      expect: (r) => {
        assert.match(r.service.spec!.clusterIP!, /^10\.96\./);
        assert.deepEqual(r.service.spec!.clusterIPs, [r.service.spec!.clusterIP]);
        assert.deepEqual(r.service.spec!.ipFamilies, ['IPv4']);
        assert.equal(r.service.spec!.ipFamilyPolicy, 'SingleStack');
        assert.equal(r.service.spec!.ports![0]!.nodePort, undefined);
        assert.deepEqual(r.plan.allocate.ports, []);
      },
    },
    {
      name: 'NodePort gets a nodePort per port',
      mutate: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports!.push({ name: 'https', port: 443, protocol: 'TCP' });
      },
      expect: (r) => {
        const [a, b] = r.service.spec!.ports!.map((p) => p.nodePort!);
        assert.ok(a! >= 30000 && a! <= 32767 && b! >= 30000 && b! <= 32767 && a !== b);
        assert.deepEqual(r.plan.allocate.ports, [a, b]);
      },
    },
    {
      name: 'LoadBalancer with allocateLoadBalancerNodePorts false gets none, but a requested one is kept',
      mutate: (s) => {
        s.spec!.type = 'LoadBalancer';
        s.spec!.allocateLoadBalancerNodePorts = false;
        s.spec!.ports!.push({ name: 'https', port: 443, protocol: 'TCP', nodePort: 31443 });
      },
      expect: (r) => {
        assert.equal(r.service.spec!.ports![0]!.nodePort, undefined);
        assert.equal(r.service.spec!.ports![1]!.nodePort, 31443);
        assert.deepEqual(r.plan.allocate.ports, [31443]);
      },
    },
    {
      name: 'LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort',
      mutate: (s) => {
        s.spec!.type = 'LoadBalancer';
        s.spec!.externalTrafficPolicy = 'Local';
      },
      expect: (r) => {
        const hc = r.service.spec!.healthCheckNodePort!;
        assert.ok(hc >= 30000 && hc <= 32767);
        assert.notEqual(hc, r.service.spec!.ports![0]!.nodePort);
        assert.equal(r.plan.allocate.ports.length, 2);
      },
    },
    {
      name: 'NodePort with externalTrafficPolicy Local gets no healthCheckNodePort (LoadBalancer only)',
      mutate: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.externalTrafficPolicy = 'Local';
      },
      expect: (r) => assert.equal(r.service.spec!.healthCheckNodePort, undefined),
    },
    {
      name: 'headless keeps None and allocates nothing',
      mutate: (s) => (s.spec!.clusterIP = 'None'),
      expect: (r) => {
        assert.equal(r.service.spec!.clusterIP, 'None');
        assert.deepEqual(r.service.spec!.clusterIPs, ['None']);
        assert.deepEqual(r.plan.allocate.ips, []);
      },
    },
    {
      name: 'headless without selector defaults to RequireDualStack with both families, as kube does',
      mutate: (s) => {
        s.spec!.clusterIP = 'None';
        delete s.spec!.selector;
      },
      expect: (r) => {
        assert.equal(r.service.spec!.ipFamilyPolicy, 'RequireDualStack');
        assert.deepEqual(r.service.spec!.ipFamilies, ['IPv4', 'IPv6']);
      },
    },
    {
      name: 'ExternalName gets no clusterIP and no families',
      mutate: (s) => {
        s.spec = { type: 'ExternalName', externalName: 'example.com' };
      },
      expect: (r) => {
        assert.equal(r.service.spec!.clusterIP, undefined);
        assert.equal(r.service.spec!.ipFamilies, undefined);
        assert.deepEqual(r.plan.allocate, { ips: [], ports: [] });
      },
    },
    {
      name: 'a requested clusterIP in range is taken as is',
      mutate: (s) => (s.spec!.clusterIP = '10.96.0.10'),
      expect: (r) => {
        assert.deepEqual(r.service.spec!.clusterIPs, ['10.96.0.10']);
        assert.deepEqual(r.plan.allocate.ips, ['10.96.0.10']);
      },
    },
    {
      name: 'TCP and UDP on the same port share one requested nodePort',
      mutate: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports = [
          { name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30053 },
          { name: 'dns-udp', port: 53, protocol: 'UDP', nodePort: 30053 },
        ];
      },
      expect: (r) => {
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.plan.allocate.ports, [30053]);
      },
    },
    {
      name: 'TCP and UDP on the same port share one allocated nodePort when only one asks',
      mutate: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports = [
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          { name: 'dns-udp', port: 53, protocol: 'UDP', nodePort: 30053 },
        ];
      },
      expect: (r) => assert.deepEqual(r.service.spec!.ports!.map((p) => p.nodePort), [30053, 30053]),
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const alloc = goldenCluster();
      const r = alloc.planCreate(makeService('svc', c.mutate));
      assert.deepEqual(r.errors, []);
      assert.equal(r.internalError, undefined);
      c.expect(r);
    });
  }
});

test('create errors, as kube words them', async (t) => {
  const cases: { name: string; mutate: (s: Service) => void; want: string; internal?: boolean }[] = [
    {
      name: 'requested clusterIP already allocated',
      mutate: (s) => (s.spec!.clusterIP = '10.96.0.10'),
      want: 'spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated',
    },
    {
      name: 'the network address is not in the range',
      mutate: (s) => (s.spec!.clusterIP = '10.96.0.0'),
      want: 'spec.clusterIPs: Invalid value: []string{"10.96.0.0"}: failed to allocate IP 10.96.0.0: the provided IP (10.96.0.0) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
    },
    {
      name: 'the broadcast address is not in the range',
      mutate: (s) => (s.spec!.clusterIP = '10.96.255.255'),
      want: 'spec.clusterIPs: Invalid value: []string{"10.96.255.255"}: failed to allocate IP 10.96.255.255: the provided IP (10.96.255.255) is not in the valid range. The range of valid IPs is 10.96.0.0/16',
    },
    {
      name: 'an IPv6 clusterIP on this IPv4 cluster',
      mutate: (s) => (s.spec!.clusterIP = 'fd00::1'),
      want: 'spec.clusterIPs[0]: Invalid value: []string{"fd00::1"}: IPv6 is not configured on this cluster',
    },
    {
      name: 'RequireDualStack on this single-stack cluster',
      mutate: (s) => (s.spec!.ipFamilyPolicy = 'RequireDualStack'),
      want: 'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
    },
    {
      name: 'a garbage clusterIP',
      mutate: (s) => (s.spec!.clusterIP = '10.96.0.300'),
      want: 'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    },
    {
      name: 'two port numbers asking for one nodePort',
      mutate: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports = [
          { name: 'a', port: 80, protocol: 'TCP', nodePort: 30090 },
          { name: 'b', port: 81, protocol: 'UDP', nodePort: 30090 },
        ];
      },
      want: 'spec.ports[1].nodePort: Invalid value: 30090: provided port is already allocated',
    },
    {
      name: 'requested healthCheckNodePort taken is a 500, as in kube',
      mutate: (s) => {
        s.spec!.type = 'LoadBalancer';
        s.spec!.externalTrafficPolicy = 'Local';
        s.spec!.healthCheckNodePort = 30080;
      },
      want: 'failed to allocate requested HealthCheck NodePort 30080: provided port is already allocated',
      internal: true,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const alloc = goldenCluster();
      webNodePort(alloc);
      mustCreate(alloc, makeService('taken', (s) => (s.spec!.clusterIP = '10.96.0.10')));
      const before = alloc.used;
      const r = alloc.planCreate(makeService('svc', c.mutate));
      if (c.internal) {
        assert.equal(r.internalError, c.want);
        assert.deepEqual(r.errors, []);
      } else {
        assert.equal(r.internalError, undefined);
        assert.deepEqual(r.errors.map((e) => `${e.field}: ${e.message}`), [c.want]);
      }
      assert.deepEqual(alloc.used, before, 'planning never changes the allocator');
    });
  }
});

// ---- update ---------------------------------------------------------------------------------

test('type changes allocate and release', async (t) => {
  const cases: {
    name: string;
    from: (s: Service) => void;
    to: (s: Service) => void;
    check: (r: ServicePlanResult, old: Service) => void;
  }[] = [
    {
      name: 'ClusterIP → NodePort allocates a nodePort',
      from: () => {},
      to: (s) => (s.spec!.type = 'NodePort'),
      check: (r) => {
        const np = r.service.spec!.ports![0]!.nodePort!;
        assert.deepEqual(r.plan, { allocate: { ips: [], ports: [np] }, release: { ips: [], ports: [] } });
      },
    },
    {
      name: 'NodePort → LoadBalancer keeps the nodePort even when omitted (matched by port name)',
      from: (s) => (s.spec!.type = 'NodePort'),
      to: (s) => {
        s.spec!.type = 'LoadBalancer';
        delete s.spec!.ports![0]!.nodePort;
      },
      check: (r, old) => {
        assert.equal(r.service.spec!.ports![0]!.nodePort, old.spec!.ports![0]!.nodePort);
        assert.deepEqual(r.plan, { allocate: { ips: [], ports: [] }, release: { ips: [], ports: [] } });
      },
    },
    {
      name: 'LoadBalancer Local → ClusterIP releases nodePort and healthCheckNodePort and drops them',
      from: (s) => {
        s.spec!.type = 'LoadBalancer';
        s.spec!.externalTrafficPolicy = 'Local';
      },
      to: (s) => (s.spec!.type = 'ClusterIP'),
      check: (r, old) => {
        assert.equal(r.service.spec!.ports![0]!.nodePort, undefined);
        assert.equal(r.service.spec!.healthCheckNodePort, undefined);
        assert.equal(r.service.spec!.externalTrafficPolicy, undefined);
        assert.deepEqual(r.plan.release.ports, [old.spec!.ports![0]!.nodePort, old.spec!.healthCheckNodePort]);
      },
    },
    {
      name: 'ClusterIP → ExternalName releases the clusterIP and wipes it',
      from: () => {},
      to: (s) => {
        s.spec!.type = 'ExternalName';
        s.spec!.externalName = 'example.com';
      },
      check: (r, old) => {
        assert.equal(r.service.spec!.clusterIP, undefined);
        assert.equal(r.service.spec!.clusterIPs, undefined);
        assert.equal(r.service.spec!.ipFamilies, undefined);
        assert.deepEqual(r.plan.release.ips, [old.spec!.clusterIP]);
      },
    },
    {
      name: 'ExternalName → ClusterIP allocates a clusterIP',
      from: (s) => (s.spec = { type: 'ExternalName', externalName: 'example.com', ports: [{ port: 80 }] }),
      to: (s) => {
        s.spec!.type = 'ClusterIP';
        delete s.spec!.externalName;
      },
      check: (r) => {
        assert.match(r.service.spec!.clusterIP!, /^10\.96\./);
        assert.deepEqual(r.plan.allocate.ips, [r.service.spec!.clusterIP]);
      },
    },
    {
      name: 'removing a port releases its nodePort',
      from: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports!.push({ name: 'https', port: 443, protocol: 'TCP', nodePort: 30443 });
      },
      to: (s) => s.spec!.ports!.pop(),
      check: (r) => assert.deepEqual(r.plan.release.ports, [30443]),
    },
    {
      name: 'changing a nodePort takes the new one and frees the old',
      from: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports![0]!.nodePort = 30100;
      },
      to: (s) => (s.spec!.ports![0]!.nodePort = 30101),
      check: (r) => assert.deepEqual(r.plan, { allocate: { ips: [], ports: [30101] }, release: { ips: [], ports: [30100] } }),
    },
    {
      name: 'adding a UDP port with the same nodePort as the TCP one is fine',
      from: (s) => {
        s.spec!.type = 'NodePort';
        s.spec!.ports![0]!.nodePort = 30100;
      },
      to: (s) => s.spec!.ports!.push({ name: 'http-udp', port: 80, protocol: 'UDP', nodePort: 30100 }),
      check: (r) => {
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.plan, { allocate: { ips: [], ports: [] }, release: { ips: [], ports: [] } });
      },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const alloc = goldenCluster();
      const old = mustCreate(alloc, makeService('svc', c.from));
      const next = structuredClone(old);
      c.to(next);
      const before = alloc.used;
      const r = alloc.planUpdate(old, next);
      assert.deepEqual(r.errors, []);
      assert.equal(r.internalError, undefined);
      assert.deepEqual(alloc.used, before, 'planning never changes the allocator');
      c.check(r, old);
      alloc.commit(r.plan);
      for (const ip of r.plan.allocate.ips) assert.ok(alloc.hasIP(ip));
      for (const ip of r.plan.release.ips) assert.ok(!alloc.hasIP(ip));
      for (const p of r.plan.allocate.ports) assert.ok(alloc.hasNodePort(p));
      for (const p of r.plan.release.ports) assert.ok(!alloc.hasNodePort(p));
    });
  }
});

test('update: the same nodePort twice for one protocol is a 500 "duplicate nodePort", as in kube', () => {
  const alloc = goldenCluster();
  const old = mustCreate(alloc, makeService('svc', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.ports![0]!.nodePort = 30100;
  }));
  const next = structuredClone(old);
  next.spec!.ports!.push({ name: 'alt', port: 8080, protocol: 'TCP', nodePort: 30100 });
  const r = alloc.planUpdate(old, next);
  assert.equal(r.internalError, 'duplicate nodePort: {TCP 30100}');
});

test('update: changing type to ClusterIP with a brand-new nodePort is rejected by the Forbidden check', () => {
  const alloc = goldenCluster();
  const old = mustCreate(alloc, makeService('svc', (s) => (s.spec!.type = 'NodePort')));
  const next = structuredClone(old);
  next.spec!.type = 'ClusterIP';
  next.spec!.ports![0]!.nodePort = 31999;
  const r = alloc.planUpdate(old, next);
  assert.deepEqual(r.errors.map((e) => `${e.field}: ${e.message}`), ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]);
});

// ---- commit, release, rebuild ---------------------------------------------------------------

test('delete releases clusterIP, nodePorts and healthCheckNodePort', () => {
  const alloc = goldenCluster();
  const svc = mustCreate(alloc, makeService('lb', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.externalTrafficPolicy = 'Local';
  }));
  assert.deepEqual(alloc.used, { ips: 1, ports: 2 });
  alloc.release(svc);
  assert.deepEqual(alloc.used, { ips: 0, ports: 0 });
});

test('the kubernetes Service IP is the first of the range and never handed out', () => {
  const alloc = new ServiceAllocator({ serviceCIDR: '10.0.0.0/29', nodePortRange: '30000-30001', random: seeded(3) });
  assert.equal(alloc.reserveKubernetesServiceIP(), '10.0.0.1');
  const got = new Set<string>();
  for (let i = 0; i < 5; i++) got.add(mustCreate(alloc, makeService(`s${i}`)).spec!.clusterIP!);
  assert.deepEqual([...got].sort(), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  const r = alloc.planCreate(makeService('one-too-many'));
  assert.equal(r.internalError, 'failed to allocate a serviceIP: range is full');
  alloc.rebuild([]);
  assert.ok(alloc.hasIP('10.0.0.1'), 'the reservation survives rebuild');
  const k = makeService('kubernetes', (s) => (s.spec!.clusterIP = '10.0.0.1'));
  k.spec!.clusterIPs = ['10.0.0.1'];
  alloc.release(k);
  assert.ok(alloc.hasIP('10.0.0.1'), 'and release');
});

test('exhausting a tiny node port range gives kube\'s range-is-full 500', () => {
  const alloc = new ServiceAllocator({ nodePortRange: '30000-30001', random: seeded(4) });
  mustCreate(alloc, makeService('a', (s) => (s.spec!.type = 'NodePort')));
  mustCreate(alloc, makeService('b', (s) => (s.spec!.type = 'NodePort')));
  const r = alloc.planCreate(makeService('c', (s) => (s.spec!.type = 'NodePort')));
  assert.equal(r.internalError, 'failed to allocate a nodePort: range is full');
  assert.equal(errors.internal(r.internalError!).message, 'Internal error occurred: failed to allocate a nodePort: range is full');
  const hc = alloc.planCreate(makeService('d', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.allocateLoadBalancerNodePorts = false;
    s.spec!.externalTrafficPolicy = 'Local';
  }));
  assert.equal(hc.internalError, 'failed to allocate a HealthCheck NodePort 0: range is full');
});

test('one plan never picks the same value twice, even before commit', () => {
  const alloc = new ServiceAllocator({ nodePortRange: '30000-30002', random: () => 0 });
  const r = alloc.planCreate(makeService('a', (s) => {
    s.spec!.type = 'LoadBalancer';
    s.spec!.externalTrafficPolicy = 'Local';
    s.spec!.ports = [{ name: 'a', port: 1 }, { name: 'b', port: 2 }];
  }));
  assert.deepEqual([...r.plan.allocate.ports].sort(), [30000, 30001, 30002]);
});

test('commit reports values another commit already took (interleaved plans), keeping them marked', () => {
  const alloc = goldenCluster();
  const a = alloc.planCreate(makeService('a', (s) => (s.spec!.clusterIP = '10.96.0.50')));
  const b = alloc.planCreate(makeService('b', (s) => (s.spec!.clusterIP = '10.96.0.50')));
  assert.deepEqual(alloc.commit(a.plan), []);
  assert.deepEqual(alloc.commit(b.plan), ['clusterIP 10.96.0.50']);
  assert.ok(alloc.hasIP('10.96.0.50'));
});

test('rebuild then allocate never duplicates; out-of-range stored values are ignored', () => {
  const random = seeded(7);
  const first = new ServiceAllocator({ serviceCIDR: '10.96.0.0/24', nodePortRange: '30000-30099', random });
  const stored: Service[] = [];
  for (let i = 0; i < 60; i++) stored.push(mustCreate(first, makeService(`s${i}`, (s) => (s.spec!.type = 'NodePort'))));
  stored.push(makeService('old-range', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.clusterIP = '10.0.0.7';
    s.spec!.clusterIPs = ['10.0.0.7'];
    s.spec!.ports![0]!.nodePort = 31999;
  }));

  const restarted = new ServiceAllocator({ serviceCIDR: '10.96.0.0/24', nodePortRange: '30000-30099', random: seeded(7) });
  const report = restarted.rebuild(stored);
  assert.deepEqual(report, { duplicates: [], outOfRange: ['default/old-range: clusterIP 10.0.0.7', 'default/old-range: nodePort 31999'] });
  assert.deepEqual(restarted.used, { ips: 60, ports: 60 });

  const ips = new Set(stored.slice(0, 60).map((s) => s.spec!.clusterIP!));
  const ports = new Set(stored.slice(0, 60).map((s) => s.spec!.ports![0]!.nodePort!));
  for (let i = 0; i < 40; i++) {
    const svc = mustCreate(restarted, makeService(`n${i}`, (s) => (s.spec!.type = 'NodePort')));
    assert.ok(!ips.has(svc.spec!.clusterIP!), `duplicate IP ${svc.spec!.clusterIP}`);
    assert.ok(!ports.has(svc.spec!.ports![0]!.nodePort!), `duplicate port ${svc.spec!.ports![0]!.nodePort}`);
    ips.add(svc.spec!.clusterIP!);
    ports.add(svc.spec!.ports![0]!.nodePort!);
  }
  assert.equal(restarted.planCreate(makeService('full', (s) => (s.spec!.type = 'NodePort'))).internalError, 'failed to allocate a nodePort: range is full');
});

test('rebuild reports two stored services holding one value', () => {
  const alloc = goldenCluster();
  const a = makeService('a', (s) => (s.spec!.clusterIPs = ['10.96.0.9']));
  const b = makeService('b', (s) => (s.spec!.clusterIPs = ['10.96.0.9']));
  assert.deepEqual(alloc.rebuild([a, b]).duplicates, ['default/b: clusterIP 10.96.0.9']);
});

test('dynamic allocation prefers the upper band and leaves the lower band for static requests', () => {
  // 30000-32767: the first 86 ports (2768/32) are the static band; 10.96.0.0/12: the first 256 IPs.
  const alloc = new ServiceAllocator({ random: () => 0 });
  const svc = mustCreate(alloc, makeService('a', (s) => (s.spec!.type = 'NodePort')));
  assert.equal(svc.spec!.ports![0]!.nodePort, 30086);
  assert.equal(svc.spec!.clusterIP, '10.96.1.1');
  // With the upper band full, the lower band is used.
  const small = new ServiceAllocator({ nodePortRange: '30000-30019', random: () => 0 });
  const got: number[] = [];
  for (let i = 0; i < 20; i++) got.push(mustCreate(small, makeService(`s${i}`, (s) => (s.spec!.type = 'NodePort'))).spec!.ports![0]!.nodePort!);
  assert.deepEqual(got.slice(0, 4), [30016, 30017, 30018, 30019]);
  assert.deepEqual([...got.slice(4)].sort(), Array.from({ length: 16 }, (_, i) => 30000 + i));
});

test('allocation is deterministic for a given random source', () => {
  const pick = () => {
    const alloc = new ServiceAllocator({ random: seeded(42) });
    return Array.from({ length: 5 }, (_, i) => mustCreate(alloc, makeService(`s${i}`, (s) => (s.spec!.type = 'NodePort'))))
      .map((s) => `${s.spec!.clusterIP}:${s.spec!.ports![0]!.nodePort}`);
  };
  assert.deepEqual(pick(), pick());
});

test('10k allocations stay fast and unique (bitmap, not scans of objects)', () => {
  const alloc = new ServiceAllocator({ serviceCIDR: '10.96.0.0/18', random: seeded(9) });
  const seen = new Set<string>();
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) {
    const r = alloc.planCreate(makeService(`s${i}`));
    alloc.commit(r.plan);
    seen.add(r.service.spec!.clusterIP!);
  }
  const ms = performance.now() - t0;
  assert.equal(seen.size, 10_000);
  assert.equal(alloc.used.ips, 10_000);
  assert.ok(ms < 2000, `10k allocations took ${ms.toFixed(0)} ms`);
});

test('hold before the write, unhold on failure, finishRelease on success', () => {
  const alloc = goldenCluster();
  const old = mustCreate(alloc, makeService('svc', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.ports![0]!.nodePort = 30100;
  }));
  const next = structuredClone(old);
  next.spec!.ports![0]!.nodePort = 30101;
  const r = alloc.planUpdate(old, next);
  const held = alloc.hold(r.plan);
  assert.deepEqual(held, { ips: [], ports: [30101] });
  // A concurrent plan now sees 30101 as taken.
  const rival = alloc.planCreate(makeService('rival', (s) => {
    s.spec!.type = 'NodePort';
    s.spec!.ports![0]!.nodePort = 30101;
  }));
  assert.deepEqual(rival.errors.map((e) => e.message), ['Invalid value: 30101: provided port is already allocated']);
  alloc.unhold(held);
  assert.ok(!alloc.hasNodePort(30101) && alloc.hasNodePort(30100), 'a failed write leaves the old state');
  alloc.hold(r.plan);
  alloc.finishRelease(r.plan);
  assert.ok(alloc.hasNodePort(30101) && !alloc.hasNodePort(30100));
});
