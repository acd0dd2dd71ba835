// Stale UDP conntrack entries. UDP has no connection to close: a client that keeps sending to a
// service keeps its conntrack entry, and with it the NAT binding to an endpoint that is gone (or
// to the reject of a service that had none). kube-proxy deletes those entries
// (pkg/proxy/conntrack/cleanup.go); so does this. Pure: old and new ports in, conntrack argv out.
import type { ServicePortInfo } from './service-ports.ts';

/** `conntrack -D` commands for UDP flows whose endpoint went away or whose service gained its first endpoint. Sorted. */
export function staleConntrackCommands(prev: ReadonlyMap<string, readonly ServicePortInfo[]>, next: ReadonlyMap<string, readonly ServicePortInfo[]>): string[][] {
  const nextById = new Map<string, ServicePortInfo>();
  for (const list of next.values()) for (const p of list) if (p.protocol === 'udp') nextById.set(p.id, p);
  const prevById = new Map<string, ServicePortInfo>();
  for (const list of prev.values()) for (const p of list) if (p.protocol === 'udp') prevById.set(p.id, p);
  const cmds = new Map<string, string[]>();
  const add = (argv: string[]) => cmds.set(argv.join(' '), argv);
  const used = (p: ServicePortInfo) => new Set([...p.internalEndpoints, ...p.externalEndpoints].map((e) => e.ip));
  for (const [id, old] of prevById) {
    const cur = nextById.get(id);
    const still = cur ? used(cur) : new Set<string>();
    for (const ip of used(old)) {
      if (still.has(ip)) continue;
      for (const addr of [old.clusterIP, ...old.externalAddresses]) add(['conntrack', '-D', '-p', 'udp', '--orig-dst', addr, '--orig-port-dst', String(old.port), '--dst-nat', ip]);
      if (old.nodePort) add(['conntrack', '-D', '-p', 'udp', '--orig-port-dst', String(old.nodePort), '--dst-nat', ip]);
    }
  }
  for (const [id, cur] of nextById) {
    const old = prevById.get(id);
    if (!cur.hasEndpoints || (old?.hasEndpoints ?? false)) continue;
    // Entries created while the service rejected (or did not exist) would keep bypassing the new DNAT.
    for (const addr of [cur.clusterIP, ...cur.externalAddresses]) add(['conntrack', '-D', '-p', 'udp', '--orig-dst', addr, '--orig-port-dst', String(cur.port)]);
    if (cur.nodePort) add(['conntrack', '-D', '-p', 'udp', '--orig-port-dst', String(cur.nodePort)]);
  }
  return [...cmds.keys()].sort().map((k) => cmds.get(k)!);
}
