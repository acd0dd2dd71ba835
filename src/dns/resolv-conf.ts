// The node's resolver configuration: what the kubelet reads from `--resolv-conf` (for pods with
// dnsPolicy Default and the host's search domains) and where the cluster DNS server forwards
// names outside the cluster domain (CoreDNS's `forward . /etc/resolv.conf`). Pure, except
// defaultResolvConfPath, whose file checks are injected.
import { isIPv4, isIPv6 } from 'node:net';

export interface ResolvConf {
  /** `nameserver` lines, in order (they accumulate). */
  readonly nameservers: readonly string[];
  /** The last `search` line's domains, trailing dots dropped, `.` skipped. */
  readonly searches: readonly string[];
  /** The entries of every `options` line (`ndots:5`, `edns0`, …), a later one replacing a same-named earlier one. */
  readonly options: readonly string[];
}

/** systemd-resolved's list of the real upstream servers (what kubeadm points the kubelet at). */
export const SYSTEMD_RESOLVED_CONF = '/run/systemd/resolve/resolv.conf';
/** systemd-resolved's stub listener, what /etc/resolv.conf names on such hosts. */
const SYSTEMD_STUB = '127.0.0.53';

/**
 * Parses resolv.conf text as the kubelet's parseResolvConf (pkg/kubelet/network/dns/dns.go):
 * `nameserver` lines accumulate, the last `search` line wins (without `.`, which systemd-resolved
 * writes when there is no search domain: kubernetes PR #109441), `options` lines are merged by
 * option name, the later one winning (appendOptions, PR #112414), `#` comments are skipped.
 * Errors (a `nameserver` line without an address) are returned, not thrown.
 */
export function parseResolvConf(text: string): { conf: ResolvConf; errors: string[] } {
  const nameservers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) continue;
    if (fields[0] === 'nameserver') {
      if (fields.length >= 2) nameservers.push(fields[1]!);
      else errors.push('nameserver list is empty ');
    }
    // Same domain with and without trailing dot counts once (kubelet, "Normalise search fields").
    if (fields[0] === 'search') searches = fields.slice(1).filter((s) => s !== '.').map((s) => s.replace(/\.$/, ''));
    if (fields[0] === 'options') options = appendOptions(options, fields.slice(1));
  }
  return { conf: { nameservers, searches, options }, errors };
}

/**
 * kubelet's appendOptions: an option replaces an earlier one of the same name (`ndots:2` then
 * `ndots:3` keeps `ndots:3`), on the same line or a later one. The kubelet rebuilds the list from a
 * Go map, so its order is random; here an option keeps the place where its name first appeared.
 */
function appendOptions(options: readonly string[], added: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const op of [...options, ...added]) byName.set(op.split(':')[0]!, op);
  return [...byName.values()];
}

/**
 * The file the node reads as the kubelet's `--resolv-conf` when none is given: /etc/resolv.conf,
 * unless it only names systemd-resolved's stub (127.0.0.53) and systemd-resolved's own list exists.
 * kubeadm does the same (it sets the kubelet's resolvConf to /run/systemd/resolve/resolv.conf when
 * systemd-resolved is active), because a loopback stub is unreachable from pods and a forwarding loop
 * for CoreDNS (see "Known issues" in the Kubernetes DNS debugging docs).
 */
export function defaultResolvConfPath(fs: { exists(path: string): boolean; read(path: string): string }): string {
  const etc = '/etc/resolv.conf';
  let text: string;
  try {
    text = fs.read(etc);
  } catch {
    return etc;
  }
  const { nameservers } = parseResolvConf(text).conf;
  const onlyStub = nameservers.length > 0 && nameservers.every((n) => n === SYSTEMD_STUB);
  return onlyStub && fs.exists(SYSTEMD_RESOLVED_CONF) ? SYSTEMD_RESOLVED_CONF : etc;
}

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/**
 * The servers the cluster DNS forwards to (pure): the resolv.conf nameservers that are IP
 * addresses, without loopback ones (a stub resolver such as systemd-resolved's 127.0.0.53 or a
 * local dnsmasq: CoreDNS's loop plugin stops on them, kubelet docs tell to point --resolv-conf at
 * the real servers) and without the cluster DNS's own addresses (a loop). `skipped` says why each
 * other one was left out, for the log.
 */
export function forwardUpstreams(conf: ResolvConf, own: readonly string[] = []): { upstreams: Upstream[]; skipped: { address: string; why: string }[] } {
  const upstreams: Upstream[] = [];
  const skipped: { address: string; why: string }[] = [];
  for (const address of conf.nameservers) {
    const host = address.replace(/%.*$/, '');
    if (!isIPv4(host) && !isIPv6(host)) skipped.push({ address, why: 'not an IP address' });
    else if (isLoopback(host)) skipped.push({ address, why: 'a loopback (stub) resolver, unreachable from pods and a forwarding loop for cluster DNS' });
    else if (own.includes(host)) skipped.push({ address, why: 'the cluster DNS itself' });
    else if (!upstreams.some((u) => u.host === host)) upstreams.push({ host, port: 53 });
  }
  return { upstreams, skipped };
}

function isLoopback(ip: string): boolean {
  return isIPv4(ip) ? ip.startsWith('127.') : ip === '::1';
}
