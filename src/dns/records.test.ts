import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Namespace, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { buildClusterView, type ClusterView } from './cluster-view.ts';
import { addressFromReverse, planAnswer, type Plan, type PodsMode, type RecordOptions } from './records.ts';

function makeService(ns: string, name: string, edit: (s: Service) => void = () => {}): Service {
  const s: Service = { metadata: { namespace: ns, name, uid: `uid-${name}` }, spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
  edit(s);
  return s;
}

function makeSlice(ns: string, svc: string, name: string, endpoints: { ip: string; ready?: boolean; hostname?: string }[], ports = [{ name: 'http', port: 8080, protocol: 'TCP' }]): EndpointSlice {
  return {
    metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ...(e.ready !== undefined ? { ready: e.ready } : {}) }, ...(e.hostname ? { hostname: e.hostname } : {}) })),
    ports,
  };
}

const ns = (name: string): Namespace => ({ metadata: { name } });

function fixture(pods: Pod[] = []): ClusterView {
  return buildClusterView({
    namespaces: [ns('default'), ns('kube-system'), ns('other')],
    services: [
      makeService('default', 'kubernetes', (s) => { s.spec!.clusterIP = '10.96.0.1'; s.spec!.ports = [{ name: 'https', port: 443, protocol: 'TCP' }]; }),
      makeService('default', 'echo', (s) => { s.spec!.clusterIP = '10.96.0.20'; s.spec!.ports = [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]; }),
      makeService('default', 'db', (s) => { s.spec!.clusterIP = 'None'; s.spec!.ports = [{ name: 'pg', port: 5432, protocol: 'TCP' }]; }),
      makeService('default', 'empty-headless', (s) => { s.spec!.clusterIP = 'None'; }),
      makeService('default', 'ext', (s) => { s.spec = { type: 'ExternalName', externalName: 'www.example.com' }; }),
      makeService('default', 'alias', (s) => { s.spec = { type: 'ExternalName', externalName: 'echo.default.svc.cluster.local.' }; }),
      makeService('default', 'ext-ip', (s) => { s.spec = { type: 'ExternalName', externalName: '192.0.2.1' }; }),
      makeService('kube-system', 'kube-dns', (s) => { s.spec!.clusterIP = '10.96.0.10'; s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }]; }),
    ],
    slices: [
      makeSlice('default', 'echo', 'echo-a', [{ ip: '10.244.0.5' }, { ip: '10.244.0.6', ready: false }]),
      makeSlice('default', 'db', 'db-a', [{ ip: '10.244.0.7', hostname: 'db-0' }, { ip: '10.244.0.8' }, { ip: '10.244.0.9', ready: false }], [{ name: 'pg', port: 5432, protocol: 'TCP' }]),
      makeSlice('default', 'empty-headless', 'eh-a', [{ ip: '10.244.0.10', ready: false }]),
    ],
    pods,
    serial: 1700000000,
  });
}

const opts: RecordOptions = { zone: 'cluster.local', ttl: 30, podsMode: 'insecure', nameserverIPs: ['10.96.0.10'] };

/** A short text of a plan, easy to read in a table: `NOERROR aa | A 10.96.0.20 | +A ...`. */
function describe_(p: Plan): string {
  if (p.kind === 'forward') return 'forward';
  if (p.kind === 'chase') return `chase ${p.type} ${p.target} after ${p.chain.map((c) => `${c.type} ${String((c as { data?: unknown }).data)}`).join(', ')}`;
  const rr = (a: { type: string; data?: unknown }) => {
    const d = a.data as Record<string, unknown> | string;
    if (a.type === 'SRV' && typeof d === 'object') return `SRV ${String(d.priority)} ${String(d.weight)} ${String(d.port)} ${String(d.target)}`;
    if (a.type === 'SOA') return 'SOA';
    return `${a.type} ${String(d)}`;
  };
  return [
    `${p.rcode}${p.authoritative ? ' aa' : ''}`,
    ...p.answers.map((a) => rr(a as { type: string; data?: unknown })),
    ...p.additionals.map((a) => `+${a.name} ${rr(a as { type: string; data?: unknown })}`),
    ...p.authorities.map((a) => `ns:${rr(a as { type: string; data?: unknown })}`),
  ].join(' | ');
}

const SOA = 'ns:SOA';

describe('planAnswer (CoreDNS kubernetes plugin answers)', () => {
  const view = fixture();
  const cases: [string, string, string, string][] = [
    // [what, name, type, expected]
    ['ClusterIP Service A', 'echo.default.svc.cluster.local', 'A', 'NOERROR aa | A 10.96.0.20'],
    ['case and trailing dot are ignored', 'Echo.Default.SVC.cluster.local.', 'A', 'NOERROR aa | A 10.96.0.20'],
    ['the kubernetes Service', 'kubernetes.default.svc.cluster.local', 'A', 'NOERROR aa | A 10.96.0.1'],
    ['IPv4 Service AAAA is NODATA', 'echo.default.svc.cluster.local', 'AAAA', `NOERROR aa | ${SOA}`],
    ['missing Service is NXDOMAIN with the SOA', 'nope.default.svc.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['missing Service AAAA is NXDOMAIN', 'nope.default.svc.cluster.local', 'AAAA', `NXDOMAIN aa | ${SOA}`],
    ['missing namespace is NXDOMAIN', 'echo.nons.svc.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['an existing namespace is NODATA', 'default.svc.cluster.local', 'A', `NOERROR aa | ${SOA}`],
    ['a missing namespace alone is NXDOMAIN', 'nons.svc.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['svc.<zone> is NODATA', 'svc.cluster.local', 'A', `NOERROR aa | ${SOA}`],
    ['the apex A is NODATA', 'cluster.local', 'A', `NOERROR aa | ${SOA}`],
    ['the apex SOA', 'cluster.local', 'SOA', 'NOERROR aa | SOA'],
    ['SOA below the apex is NODATA', 'echo.default.svc.cluster.local', 'SOA', `NOERROR aa | ${SOA}`],
    ['the apex NS', 'cluster.local', 'NS', 'NOERROR aa | NS ns.dns.cluster.local | +ns.dns.cluster.local A 10.96.0.10'],
    ['ns.dns.<zone> is the DNS Service', 'ns.dns.cluster.local', 'A', 'NOERROR aa | A 10.96.0.10'],
    ['neither svc nor pod is NXDOMAIN', 'foo.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['too many labels is NXDOMAIN', 'a.b.c.echo.default.svc.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['dns-version TXT', 'dns-version.cluster.local', 'TXT', 'NOERROR aa | TXT 1.1.0'],
    ['TXT of an existing name is NODATA', 'echo.default.svc.cluster.local', 'TXT', `NOERROR aa | ${SOA}`],
    ['TXT of a missing name is NXDOMAIN', 'nope.default.svc.cluster.local', 'TXT', `NXDOMAIN aa | ${SOA}`],
    ['MX of an existing name is NODATA', 'echo.default.svc.cluster.local', 'MX', `NOERROR aa | ${SOA}`],
    ['HTTPS of a missing name is NXDOMAIN', 'nope.default.svc.cluster.local', 'HTTPS', `NXDOMAIN aa | ${SOA}`],
    ['zone transfers are refused', 'cluster.local', 'AXFR', 'REFUSED'],
    // Named ports.
    ['SRV of a named TCP port', '_http._tcp.echo.default.svc.cluster.local', 'SRV',
      'NOERROR aa | SRV 0 100 80 echo.default.svc.cluster.local | +echo.default.svc.cluster.local A 10.96.0.20'],
    ['SRV of a named UDP port', '_dns._udp.echo.default.svc.cluster.local', 'SRV',
      'NOERROR aa | SRV 0 100 53 echo.default.svc.cluster.local | +echo.default.svc.cluster.local A 10.96.0.20'],
    ['SRV of the Service name lists every port', 'echo.default.svc.cluster.local', 'SRV',
      'NOERROR aa | SRV 0 50 80 echo.default.svc.cluster.local | SRV 0 50 53 echo.default.svc.cluster.local | +echo.default.svc.cluster.local A 10.96.0.20'],
    ['SRV of a port the Service lacks is NXDOMAIN', '_nope._tcp.echo.default.svc.cluster.local', 'SRV', `NXDOMAIN aa | ${SOA}`],
    ['SRV with the wrong protocol is NXDOMAIN', '_http._udp.echo.default.svc.cluster.local', 'SRV', `NXDOMAIN aa | ${SOA}`],
    ['A of a port name answers the cluster IP', '_http._tcp.echo.default.svc.cluster.local', 'A', 'NOERROR aa | A 10.96.0.20'],
    // Headless Services.
    ['headless A lists ready endpoints only', 'db.default.svc.cluster.local', 'A', 'NOERROR aa | A 10.244.0.7 | A 10.244.0.8'],
    ['headless endpoint by hostname', 'db-0.db.default.svc.cluster.local', 'A', 'NOERROR aa | A 10.244.0.7'],
    ['headless endpoint by dashed address', '10-244-0-8.db.default.svc.cluster.local', 'A', 'NOERROR aa | A 10.244.0.8'],
    ['a not-ready endpoint has no name', '10-244-0-9.db.default.svc.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['headless SRV points at each endpoint', '_pg._tcp.db.default.svc.cluster.local', 'SRV',
      'NOERROR aa | SRV 0 50 5432 db-0.db.default.svc.cluster.local | SRV 0 50 5432 10-244-0-8.db.default.svc.cluster.local'
      + ' | +db-0.db.default.svc.cluster.local A 10.244.0.7 | +10-244-0-8.db.default.svc.cluster.local A 10.244.0.8'],
    ['headless without ready endpoints is NXDOMAIN', 'empty-headless.default.svc.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['an endpoint name of a ClusterIP Service', '10-244-0-5.echo.default.svc.cluster.local', 'A', 'NOERROR aa | A 10.244.0.5'],
    // ExternalName.
    ['ExternalName CNAME', 'ext.default.svc.cluster.local', 'CNAME', 'NOERROR aa | CNAME www.example.com'],
    ['ExternalName A is chased upstream', 'ext.default.svc.cluster.local', 'A', 'chase A www.example.com after CNAME www.example.com'],
    ['ExternalName into the cluster is followed', 'alias.default.svc.cluster.local', 'A', 'NOERROR aa | CNAME echo.default.svc.cluster.local | A 10.96.0.20'],
    ['ExternalName SRV is NODATA', 'ext.default.svc.cluster.local', 'SRV', `NOERROR aa | ${SOA}`],
    ['ExternalName holding an address is NXDOMAIN', 'ext-ip.default.svc.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['CNAME of a ClusterIP Service is NODATA', 'echo.default.svc.cluster.local', 'CNAME', `NOERROR aa | ${SOA}`],
    // Pods (insecure, as kubeadm).
    ['pod A from its dashed address', '10-244-0-99.default.pod.cluster.local', 'A', 'NOERROR aa | A 10.244.0.99'],
    ['pod A in a missing namespace is NXDOMAIN', '10-244-0-99.nons.pod.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['pod name that is no address is NXDOMAIN', 'web-1.default.pod.cluster.local', 'A', `NXDOMAIN aa | ${SOA}`],
    ['pod.<zone> alone is NODATA', 'default.pod.cluster.local', 'A', `NOERROR aa | ${SOA}`],
    // Reverse and outside names.
    ['PTR of a cluster IP', '20.0.96.10.in-addr.arpa', 'PTR', 'NOERROR aa | PTR echo.default.svc.cluster.local'],
    ['PTR of a headless endpoint', '7.0.244.10.in-addr.arpa', 'PTR', 'NOERROR aa | PTR db-0.db.default.svc.cluster.local'],
    ['PTR of an unknown address falls through upstream', '1.2.0.192.in-addr.arpa', 'PTR', 'forward'],
    ['a partial reverse name falls through', '10.in-addr.arpa', 'PTR', 'forward'],
    ['names outside the zone are forwarded', 'www.example.com', 'A', 'forward'],
    ['a name ending like the zone is not in it', 'notcluster.local', 'A', 'forward'],
  ];
  for (const [what, name, type, want] of cases) {
    it(what, () => assert.equal(describe_(planAnswer(view, { name, type }, opts)), want));
  }

  it('answers with the question\'s own spelling of the name', () => {
    const p = planAnswer(view, { name: 'ECHO.default.svc.Cluster.Local', type: 'A' }, opts);
    assert.equal(p.kind === 'reply' && p.answers[0]!.name, 'ECHO.default.svc.Cluster.Local');
    const nx = planAnswer(view, { name: 'nope.default.svc.Cluster.Local', type: 'A' }, opts);
    assert.equal(nx.kind === 'reply' && nx.authorities[0]!.name, 'Cluster.Local');
  });

  it('gives the SOA as CoreDNS does (ns.dns, hostmaster, TTLs from the ttl option, the view\'s serial)', () => {
    const p = planAnswer(view, { name: 'nope.default.svc.cluster.local', type: 'A' }, opts);
    assert.deepEqual(p.kind === 'reply' && p.authorities[0], {
      name: 'cluster.local', type: 'SOA', class: 'IN', ttl: 30,
      data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1700000000, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 },
    });
  });

  it('answers SERVFAIL for cluster names before the caches synced, and still forwards the rest', () => {
    assert.equal(describe_(planAnswer(undefined, { name: 'echo.default.svc.cluster.local', type: 'A' }, opts)), 'SERVFAIL');
    assert.equal(describe_(planAnswer(undefined, { name: 'example.com', type: 'A' }, opts)), 'forward');
  });

  it('follows another cluster domain', () => {
    assert.equal(describe_(planAnswer(view, { name: 'echo.default.svc.k8s.example', type: 'A' }, { ...opts, zone: 'k8s.example' })), 'NOERROR aa | A 10.96.0.20');
    assert.equal(describe_(planAnswer(view, { name: 'echo.default.svc.cluster.local', type: 'A' }, { ...opts, zone: 'k8s.example' })), 'forward');
  });

  const podCases: [PodsMode, string, string][] = [
    ['insecure', '10-244-0-99.other.pod.cluster.local', 'NOERROR aa | A 10.244.0.99'],
    ['verified', '10-244-0-42.default.pod.cluster.local', 'NOERROR aa | A 10.244.0.42'],
    ['verified', '10-244-0-42.other.pod.cluster.local', `NXDOMAIN aa | ${SOA}`],
    ['verified', '10-244-0-99.default.pod.cluster.local', `NXDOMAIN aa | ${SOA}`],
    ['disabled', '10-244-0-42.default.pod.cluster.local', `NXDOMAIN aa | ${SOA}`],
  ];
  for (const [mode, name, want] of podCases) {
    it(`pods ${mode}: ${name}`, () => {
      const v = fixture([{ metadata: { namespace: 'default', name: 'p' }, status: { podIP: '10.244.0.42', podIPs: [{ ip: '10.244.0.42' }] } }]);
      assert.equal(describe_(planAnswer(v, { name, type: 'A' }, { ...opts, podsMode: mode })), want);
    });
  }

  it('reads reverse names of both families', () => {
    assert.equal(addressFromReverse('4.3.2.1.in-addr.arpa'), '1.2.3.4');
    assert.equal(addressFromReverse('4.3.2.01.in-addr.arpa'), undefined);
    assert.equal(addressFromReverse('3.2.1.in-addr.arpa'), undefined);
    assert.equal(addressFromReverse('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'), '2001:db8:0:0:0:0:0:1');
  });

  it('reflects a Service that changes or goes away in the next view', () => {
    const base = { namespaces: [ns('default')], slices: [], serial: 1 };
    const before = buildClusterView({ ...base, services: [makeService('default', 'web', (s) => { s.spec!.clusterIP = '10.96.0.30'; })] });
    const after = buildClusterView({ ...base, services: [makeService('default', 'web', (s) => { s.spec!.clusterIP = '10.96.0.31'; })] });
    const gone = buildClusterView({ ...base, services: [] });
    const q = { name: 'web.default.svc.cluster.local', type: 'A' };
    assert.equal(describe_(planAnswer(before, q, opts)), 'NOERROR aa | A 10.96.0.30');
    assert.equal(describe_(planAnswer(after, q, opts)), 'NOERROR aa | A 10.96.0.31');
    assert.equal(describe_(planAnswer(gone, q, opts)), `NXDOMAIN aa | ${SOA}`);
  });
});
