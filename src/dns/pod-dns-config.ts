// A pod's /etc/resolv.conf and /etc/hosts, built as the kubelet builds them (pure):
// GetPodDNS in pkg/kubelet/network/dns/dns.go for the resolver settings, containerd's
// parseDNSOptions (pkg/cri/server/sandbox_run.go) for the file text, and the kubelet's
// managedHostsFileContent (pkg/kubelet/kubelet_pods.go) for the hosts file.
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import type { ResolvConf } from './resolv-conf.ts';

/** The node's DNS settings: the kubelet's --cluster-dns, --cluster-domain and --resolv-conf. */
export interface NodeDnsSettings {
  /** `--cluster-dns`; empty: ClusterFirst pods fall back to Default, with the kubelet's MissingClusterDNS events. */
  readonly clusterDNS: readonly string[];
  /** `--cluster-domain` (cluster.local); empty: no cluster search domains. */
  readonly clusterDomain: string;
  /** The parsed `--resolv-conf` file; undefined when the flag is empty (no host DNS at all). */
  readonly hostResolvConf: ResolvConf | undefined;
  /** The node's addresses (IPv6 nodes get ::1 when --resolv-conf is empty). */
  readonly nodeIPs: readonly string[];
  /**
   * The node's /etc/hosts text: the base of the hosts file of a hostNetwork pod with hostAliases.
   * Without it such a pod gets no file of its own (it sees the node's, without its aliases).
   */
  readonly nodeHosts?: string | undefined;
}

/** The CRI DNSConfig the kubelet hands the runtime. */
export interface PodDnsConfig {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
}

/** An event the kubelet records while forming the config, on the pod or on the node. */
export interface DnsEvent {
  readonly on: 'pod' | 'node';
  readonly type: 'Warning';
  readonly reason: 'DNSConfigForming' | 'MissingClusterDNS';
  readonly message: string;
}

// pkg/apis/core/validation: MaxDNSNameservers, and the ExpandedDNSConfig limits (GA and locked on
// since 1.28); DNS1123SubdomainMaxLength for one search domain (glibc 2.28 aborts on longer ones).
const MAX_NAMESERVERS = 3;
const MAX_SEARCH_PATHS = 32;
const MAX_SEARCH_LIST_CHARS = 2048;
const MAX_SEARCH_DOMAIN_LENGTH = 253;
const DEFAULT_OPTIONS = ['ndots:5'];

type PodDnsType = 'cluster' | 'host' | 'none';

/** kubelet's getPodDNSType: ClusterFirst on the host network falls back to Default. */
function podDnsType(pod: Pod): PodDnsType {
  switch (pod.spec?.dnsPolicy ?? 'ClusterFirst') {
    case 'None': return 'none';
    case 'ClusterFirstWithHostNet': return 'cluster';
    case 'ClusterFirst': return pod.spec?.hostNetwork ? 'host' : 'cluster';
    case 'Default': return 'host';
    // The API server rejects other values; the kubelet falls back to ClusterFirst.
    default: return 'cluster';
  }
}

function omitDuplicates(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/**
 * kubelet's mergeDNSOptions: the pod's dnsConfig options override same-named ones. (The kubelet
 * rebuilds the list from a Go map, so its order is random; here it is first-seen order.)
 */
function mergeOptions(existing: readonly string[], podOptions: readonly { name?: string; value?: string }[]): string[] {
  const merged = new Map<string, string>();
  for (const op of existing) {
    const i = op.indexOf(':');
    if (i === -1) merged.set(op, '');
    else merged.set(op.slice(0, i), op.slice(i + 1));
  }
  for (const op of podOptions) merged.set(op.name ?? '', op.value ?? '');
  return [...merged].map(([name, value]) => (value !== '' ? `${name}:${value}` : name));
}

/** kubelet's formDNSSearchFitsLimits: at most 32 domains, none over 253 chars, 2048 chars in all. */
function fitSearches(searches: string[], events: DnsEvent[]): string[] {
  let exceeded = false;
  let s = searches;
  if (s.length > MAX_SEARCH_PATHS) { s = s.slice(0, MAX_SEARCH_PATHS); exceeded = true; }
  const short = s.filter((d) => d.length <= MAX_SEARCH_DOMAIN_LENGTH);
  if (short.length !== s.length) exceeded = true;
  s = short;
  const lineLength = s.join(' ').length;
  if (lineLength > MAX_SEARCH_LIST_CHARS) {
    let cutLength = 0;
    let cut = 0;
    for (let i = s.length - 1; i >= 0; i--) {
      cutLength += s[i]!.length + 1;
      cut++;
      if (lineLength - cutLength <= MAX_SEARCH_LIST_CHARS) break;
    }
    s = s.slice(0, s.length - cut);
    exceeded = true;
  }
  if (exceeded) {
    events.push({ on: 'pod', type: 'Warning', reason: 'DNSConfigForming',
      message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${s.join(' ')}` });
  }
  return s;
}

/** kubelet's formDNSNameserversFitsLimits: at most 3 nameservers. */
function fitNameservers(servers: string[], events: DnsEvent[]): string[] {
  if (servers.length <= MAX_NAMESERVERS) return servers;
  const kept = servers.slice(0, MAX_NAMESERVERS);
  events.push({ on: 'pod', type: 'Warning', reason: 'DNSConfigForming',
    message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${kept.join(' ')}` });
  return kept;
}

/**
 * The pod's resolver settings, as the kubelet's GetPodDNS computes them: ClusterFirst (and
 * ClusterFirstWithHostNet) use the cluster DNS only, with `<ns>.svc.<domain> svc.<domain> <domain>`
 * before the host's search domains and `options ndots:5`; Default uses the host's file (or
 * 127.0.0.1 and search `.` when --resolv-conf is empty); None starts empty; then the pod's
 * dnsConfig is appended and the limits applied, with the kubelet's event texts.
 */
export function podDnsConfig(pod: Pod, node: NodeDnsSettings): { config: PodDnsConfig; events: DnsEvent[] } {
  const events: DnsEvent[] = [];
  const host = node.hostResolvConf;
  let servers = [...(host?.nameservers ?? [])];
  let searches = [...(host?.searches ?? [])];
  let options = [...(host?.options ?? [])];
  let type = podDnsType(pod);
  if (type === 'none') {
    servers = []; searches = []; options = [];
  } else if (type === 'cluster') {
    if (node.clusterDNS.length > 0) {
      // The cluster DNS is the only nameserver; it forwards what it cannot answer.
      servers = [...node.clusterDNS];
      if (node.clusterDomain !== '') {
        const d = node.clusterDomain;
        searches = omitDuplicates([`${pod.metadata?.namespace ?? 'default'}.svc.${d}`, `svc.${d}`, d, ...searches]);
      }
      options = [...DEFAULT_OPTIONS];
    } else {
      const msg = 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.';
      events.push({ on: 'node', type: 'Warning', reason: 'MissingClusterDNS', message: msg });
      // format.Pod: NAME_NAMESPACE(UID).
      const who = `${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? ''}(${pod.metadata?.uid ?? ''})`;
      events.push({ on: 'pod', type: 'Warning', reason: 'MissingClusterDNS', message: `pod: ${JSON.stringify(who)}. ${msg}` });
      type = 'host';
    }
  }
  if (type === 'host' && host === undefined) {
    // --resolv-conf="": lookups go to the local machine, as bind documents for no nameserver.
    servers = node.nodeIPs.length ? node.nodeIPs.map((ip) => (ip.includes(':') ? '::1' : '127.0.0.1')) : ['127.0.0.1'];
    searches = ['.'];
  }
  const extra = pod.spec?.dnsConfig;
  if (extra) {
    servers = omitDuplicates([...servers, ...(extra.nameservers ?? [])]);
    searches = omitDuplicates([...searches, ...(extra.searches ?? [])]);
    options = mergeOptions(options, extra.options ?? []);
  }
  return { config: { servers: fitNameservers(servers, events), searches: fitSearches(searches, events), options }, events };
}

/**
 * The resolv.conf text containerd writes from the CRI DNSConfig (parseDNSOptions), or undefined
 * when the config is empty: containerd then copies the host's file, so the pod sees the host's.
 */
export function renderResolvConf(c: PodDnsConfig): string | undefined {
  let out = '';
  if (c.searches.length) out += `search ${c.searches.join(' ')}\n`;
  if (c.servers.length) out += `nameserver ${c.servers.join('\nnameserver ')}\n`;
  if (c.options.length) out += `options ${c.options.join(' ')}\n`;
  return out === '' ? undefined : out;
}

/**
 * The pod's hostname and domain as the kubelet's GeneratePodHostNameAndDomain gives them:
 * spec.hostname or the pod name (cut to 63 characters, without a trailing `-` or `.`), and
 * `<subdomain>.<ns>.svc.<domain>` when spec.subdomain is set.
 */
export function podHostnameAndDomain(pod: Pod, clusterDomain: string): { hostname: string; domain: string } {
  let hostname = pod.spec?.hostname || pod.metadata?.name || '';
  if (hostname.length > 63) hostname = hostname.slice(0, 63).replace(/[-.]+$/, '');
  const sub = pod.spec?.subdomain;
  const domain = sub ? `${sub}.${pod.metadata?.namespace ?? 'default'}.svc.${clusterDomain}` : '';
  return { hostname, domain };
}

/**
 * The kubelet-managed /etc/hosts of a pod on the pod network (managedHostsFileContent): the
 * localhost lines, the pod's addresses with its (fully qualified) hostname, and spec.hostAliases.
 */
export function renderHostsFile(pod: Pod, podIPs: readonly string[], clusterDomain: string): string {
  const { hostname, domain } = podHostnameAndDomain(pod, clusterDomain);
  let out = '# Kubernetes-managed hosts file.\n'
    + '127.0.0.1\tlocalhost\n'
    + '::1\tlocalhost ip6-localhost ip6-loopback\n'
    + 'fe00::0\tip6-localnet\n'
    + 'fe00::0\tip6-mcastprefix\n'
    + 'fe00::1\tip6-allnodes\n'
    + 'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs) out += domain ? `${ip}\t${hostname}.${domain}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  return out + hostAliasEntries(pod);
}

/** kubelet's hostsEntriesFromHostAliases: a blank line, a comment, then one line per alias IP ('' without aliases). */
function hostAliasEntries(pod: Pod): string {
  const aliases = pod.spec?.hostAliases ?? [];
  if (!aliases.length) return '';
  let out = '\n# Entries added by HostAliases.\n';
  for (const a of aliases) out += `${a.ip ?? ''}\t${(a.hostnames ?? []).join('\t')}\n`;
  return out;
}

/**
 * The hosts file of a hostNetwork pod (kubelet's nodeHostsFileContent): the node's /etc/hosts under
 * the kubelet's header, then spec.hostAliases.
 */
export function renderHostNetworkHostsFile(pod: Pod, nodeHosts: string): string {
  return `# Kubernetes-managed hosts file (host network).\n${nodeHosts}${hostAliasEntries(pod)}`;
}

/**
 * The files a pod's containers see over the host's (pure): resolv.conf unless the config is empty;
 * /etc/hosts for pods on the pod network, and for hostNetwork pods with hostAliases the node's
 * file (`node.nodeHosts`) with them appended, as the kubelet's ensureHostsFile. Other hostNetwork
 * pods get none and see the node's own file, which stays current (the kubelet mounts a copy of it
 * with its header; the entries are the same). `events` are the kubelet's, to record before the
 * containers start.
 */
export function podDnsFiles(pod: Pod, podIPs: readonly string[], node: NodeDnsSettings): { resolvConf?: string; hosts?: string; events: DnsEvent[] } {
  const { config, events } = podDnsConfig(pod, node);
  const resolvConf = renderResolvConf(config);
  let hosts: string | undefined;
  if (!pod.spec?.hostNetwork) hosts = renderHostsFile(pod, podIPs, node.clusterDomain);
  else if ((pod.spec.hostAliases ?? []).length > 0 && node.nodeHosts !== undefined) hosts = renderHostNetworkHostsFile(pod, node.nodeHosts);
  return { ...(resolvConf !== undefined ? { resolvConf } : {}), ...(hosts !== undefined ? { hosts } : {}), events };
}
