import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { podDnsConfig, podDnsFiles, renderHostsFile, renderResolvConf, type NodeDnsSettings } from './pod-dns-config.ts';
import { defaultResolvConfPath, forwardUpstreams, parseResolvConf } from './resolv-conf.ts';

function makePod(edit: (p: Pod) => void = () => {}): Pod {
  const p: Pod = { metadata: { namespace: 'shop', name: 'web-1', uid: 'u1' }, spec: { dnsPolicy: 'ClusterFirst', containers: [{ name: 'c' }] } };
  edit(p);
  return p;
}

const host = parseResolvConf('# generated\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example.\noptions edns0 timeout:2\n').conf;
const node: NodeDnsSettings = { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', hostResolvConf: host, nodeIPs: ['192.0.2.10'] };

describe('parseResolvConf (kubelet parseResolvConf)', () => {
  it('accumulates nameservers, keeps the last search line, merges options lines, drops trailing dots', () => {
    const { conf, errors } = parseResolvConf('nameserver 1.1.1.1\nsearch a.example\n  # comment\nnameserver 8.8.8.8\nsearch b.example. c.example\noptions ndots:2\noptions rotate\nnameserver\n');
    assert.deepEqual(conf, { nameservers: ['1.1.1.1', '8.8.8.8'], searches: ['b.example', 'c.example'], options: ['ndots:2', 'rotate'] });
    assert.deepEqual(errors, ['nameserver list is empty ']);
  });
  it('merges several options lines by name, a later one winning, as the kubelet since PR #112414', () => {
    const { conf } = parseResolvConf('options ndots:2 edns0\nnameserver 192.0.2.53\noptions timeout:1 ndots:3\noptions attempts:2 timeout:4\n');
    assert.deepEqual(conf.options, ['ndots:3', 'edns0', 'timeout:4', 'attempts:2']);
  });
  it('skips `search .` (systemd-resolved without search domains), as the kubelet since PR #109441', () => {
    assert.deepEqual(parseResolvConf('nameserver 192.0.2.53\nsearch .\n').conf.searches, []);
    assert.deepEqual(parseResolvConf('search . corp.example.\n').conf.searches, ['corp.example']);
    // A Default pod on such a node has no search line, not an empty one.
    const pod = makePod((p) => { p.spec!.dnsPolicy = 'Default'; });
    const conf = parseResolvConf('nameserver 192.0.2.53\noptions edns0 trust-ad\nsearch .\n').conf;
    assert.equal(renderResolvConf(podDnsConfig(pod, { ...node, hostResolvConf: conf }).config), 'nameserver 192.0.2.53\noptions edns0 trust-ad\n');
  });
});

describe('defaultResolvConfPath (kubeadm: systemd-resolved)', () => {
  const fs = (etc: string, runExists: boolean) => ({ read: () => etc, exists: () => runExists });
  it('uses systemd-resolved\'s upstream list when /etc/resolv.conf only names its stub', () => {
    assert.equal(defaultResolvConfPath(fs('nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n', true)), '/run/systemd/resolve/resolv.conf');
  });
  it('keeps /etc/resolv.conf otherwise', () => {
    assert.equal(defaultResolvConfPath(fs('nameserver 127.0.0.53\n', false)), '/etc/resolv.conf');
    assert.equal(defaultResolvConfPath(fs('nameserver 10.0.0.2\n', true)), '/etc/resolv.conf');
  });
});

describe('forwardUpstreams', () => {
  it('skips loopback stub resolvers, non-addresses, duplicates and the cluster DNS itself', () => {
    const conf = parseResolvConf('nameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nnameserver dns.example\nnameserver 192.0.2.53\nnameserver 10.244.0.1\n').conf;
    const r = forwardUpstreams(conf, ['10.244.0.1']);
    assert.deepEqual(r.upstreams, [{ host: '192.0.2.53', port: 53 }]);
    assert.deepEqual(r.skipped.map((s) => s.address), ['127.0.0.53', '::1', 'dns.example', '10.244.0.1']);
  });
});

describe('podDnsConfig (kubelet GetPodDNS)', () => {
  const cases: [string, (p: Pod) => void, NodeDnsSettings, string | undefined][] = [
    ['ClusterFirst: the cluster DNS only, cluster search domains then the host\'s, ndots:5', () => {}, node,
      'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
    ['no dnsPolicy is ClusterFirst', (p) => { delete p.spec!.dnsPolicy; }, node,
      'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
    ['ClusterFirst on the host network falls back to Default', (p) => { p.spec!.hostNetwork = true; }, node,
      'search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 timeout:2\n'],
    ['ClusterFirstWithHostNet uses the cluster DNS', (p) => { p.spec!.hostNetwork = true; p.spec!.dnsPolicy = 'ClusterFirstWithHostNet'; }, node,
      'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
    ['Default is the host\'s settings', (p) => { p.spec!.dnsPolicy = 'Default'; }, node,
      'search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0 timeout:2\n'],
    ['Default with --resolv-conf="": 127.0.0.1 and search .', (p) => { p.spec!.dnsPolicy = 'Default'; }, { ...node, hostResolvConf: undefined },
      'search .\nnameserver 127.0.0.1\n'],
    ['None: only the pod\'s dnsConfig', (p) => { p.spec!.dnsPolicy = 'None'; p.spec!.dnsConfig = { nameservers: ['192.0.2.1'], searches: ['ns1.svc.cluster-domain.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] }; }, node,
      'search ns1.svc.cluster-domain.example\nnameserver 192.0.2.1\noptions ndots:2 edns0\n'],
    ['None without dnsConfig: empty, the host\'s file shows through (containerd copies it)', (p) => { p.spec!.dnsPolicy = 'None'; }, node, undefined],
    ['dnsConfig is merged into ClusterFirst: servers and searches appended, options overridden', (p) => {
      p.spec!.dnsConfig = { nameservers: ['10.96.0.10', '192.0.2.9'], searches: ['cluster.local', 'extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'single-request' }] };
    }, node,
      'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example extra.example\nnameserver 10.96.0.10\nnameserver 192.0.2.9\noptions ndots:1 single-request\n'],
    ['no cluster domain: the host\'s search domains alone', () => {}, { ...node, clusterDomain: '' },
      'search corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
  ];
  for (const [what, edit, settings, want] of cases) {
    it(what, () => {
      const { config } = podDnsConfig(makePod(edit), settings);
      assert.equal(renderResolvConf(config), want);
    });
  }

  it('keeps at most 3 nameservers, with the kubelet\'s event', () => {
    const { config, events } = podDnsConfig(makePod((p) => { p.spec!.dnsConfig = { nameservers: ['192.0.2.1', '192.0.2.2', '192.0.2.3'] }; }), node);
    assert.deepEqual(config.servers, ['10.96.0.10', '192.0.2.1', '192.0.2.2']);
    assert.deepEqual(events, [{ on: 'pod', type: 'Warning', reason: 'DNSConfigForming',
      message: 'Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.96.0.10 192.0.2.1 192.0.2.2' }]);
  });

  it('keeps at most 32 search domains, drops ones over 253 characters, and cuts the line to 2048 characters', () => {
    const many = Array.from({ length: 40 }, (_, i) => `d${i}.example`);
    const r1 = podDnsConfig(makePod((p) => { p.spec!.dnsConfig = { searches: many }; }), node);
    assert.equal(r1.config.searches.length, 32);
    assert.match(r1.events[0]!.message, /^Search Line limits were exceeded, some search paths have been omitted, the applied search line is: shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local corp\.example lab\.example d0\.example .* d26\.example$/);
    const long = `${'a'.repeat(250)}.example`;
    const r2 = podDnsConfig(makePod((p) => { p.spec!.dnsConfig = { searches: [long, 'ok.example'] }; }), node);
    assert.deepEqual(r2.config.searches.slice(-1), ['ok.example']);
    assert.equal(r2.events.length, 1);
    const wide = Array.from({ length: 12 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(200)}.example`);
    const r3 = podDnsConfig(makePod((p) => { p.spec!.dnsConfig = { searches: wide }; }), node);
    assert.ok(r3.config.searches.join(' ').length <= 2048);
    assert.equal(r3.config.searches.length, 5 + 9);
  });

  it('falls back to Default without --cluster-dns, with MissingClusterDNS on the node and the pod', () => {
    const { config, events } = podDnsConfig(makePod(), { ...node, clusterDNS: [] });
    assert.deepEqual(config.servers, ['192.0.2.53', '192.0.2.54']);
    assert.deepEqual(events.map((e) => [e.on, e.reason]), [['node', 'MissingClusterDNS'], ['pod', 'MissingClusterDNS']]);
    assert.equal(events[1]!.message, 'pod: "web-1_shop(u1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.');
  });
});

describe('renderHostsFile (kubelet managedHostsFileContent)', () => {
  it('names the pod by its hostname, fully qualified with its subdomain, and adds hostAliases', () => {
    const pod = makePod((p) => { p.spec!.hostname = 'db-0'; p.spec!.subdomain = 'db'; p.spec!.hostAliases = [{ ip: '192.0.2.7', hostnames: ['foo.local', 'bar.local'] }]; });
    assert.equal(renderHostsFile(pod, ['10.244.0.7'], 'cluster.local'), '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
      + 'fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n'
      + '10.244.0.7\tdb-0.db.shop.svc.cluster.local\tdb-0\n\n# Entries added by HostAliases.\n192.0.2.7\tfoo.local\tbar.local\n');
  });
  it('uses the pod name, cut to 63 characters without a trailing dash', () => {
    const pod = makePod((p) => { p.metadata!.name = `${'a'.repeat(62)}-bbb`; });
    assert.match(renderHostsFile(pod, ['10.244.0.8'], 'cluster.local'), new RegExp(`\\n10\\.244\\.0\\.8\\t${'a'.repeat(62)}\\n$`));
  });
  const nodeHosts = '127.0.0.1\tlocalhost\n192.0.2.10\tnode-1\n';
  it('gives hostNetwork pods without hostAliases no hosts file of their own (they see the node\'s)', () => {
    const files = podDnsFiles(makePod((p) => { p.spec!.hostNetwork = true; }), ['192.0.2.10'], { ...node, nodeHosts });
    assert.equal(files.hosts, undefined);
    assert.ok(files.resolvConf);
  });
  it('gives hostNetwork pods with hostAliases the node\'s hosts file with the aliases appended (kubelet nodeHostsFileContent)', () => {
    const pod = makePod((p) => { p.spec!.hostNetwork = true; p.spec!.hostAliases = [{ ip: '192.0.2.7', hostnames: ['foo.local', 'bar.local'] }, { ip: '192.0.2.8', hostnames: ['baz.local'] }]; });
    const files = podDnsFiles(pod, ['192.0.2.10'], { ...node, nodeHosts });
    assert.equal(files.hosts, '# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n192.0.2.10\tnode-1\n'
      + '\n# Entries added by HostAliases.\n192.0.2.7\tfoo.local\tbar.local\n192.0.2.8\tbaz.local\n');
    // Without the node's file to start from, no file: hiding the node's entries would be worse.
    assert.equal(podDnsFiles(pod, ['192.0.2.10'], node).hosts, undefined);
  });
});
