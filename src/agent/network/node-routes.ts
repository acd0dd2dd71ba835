// Cross-node pod routes, as flannel's host-gw backend: every other node's podCIDR is routed via
// that node's InternalIP (`ip route replace 10.244.2.0/24 via 10.250.3.12 dev eth0 proto 147`).
// Nothing is encapsulated and nothing is translated, so a pod sees the other pod's own address.
// It works only when the nodes share an L2 segment: a node whose InternalIP is not on a subnet
// this node is directly connected to gets no route and a logged reason (flannel host-gw refuses
// the same way), as does a podCIDR that overlaps this node's own pod range or connected subnets,
// one already claimed by another node, or one that already has a route podgate did not make.
//
// IPv4 only: IPv6 podCIDRs and InternalIPs are ignored (and reported as a skip reason).
//
// Kernel settings: forwarding is the pod network's (planSysctls sets net.ipv4.ip_forward=1; the
// first sync with routes logs when it is still 0). Strict rp_filter needs nothing: a remote pod's
// packets arrive on the interface the route back to its podCIDR leaves by (one L2 segment), which
// the netns test checks with rp_filter=1.
//
// Ownership: every route podgate makes carries `proto 147` (ROUTE_PROTOCOL). A sync lists the main
// table, replaces or deletes only routes with that protocol, and never touches any other route,
// so a restart finds the stale routes of the previous run (a node deleted while podgate was down)
// and removes them without disturbing those still wanted.
//
// Pure: planNodeRoutes (Nodes + this node's links → routes and skip reasons), diffRoutes (desired
// vs installed). I/O edge: syncNodeRoutes (one level-triggered pass through the Exec seam) and the
// NodeRoutes controller (a Node informer, one sync at a time, a full resync on every relevant
// change and periodically, retry with back-off, routes released on stop).
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { resources } from '../../api/resources.ts';
import { Informer, stripReadOnly } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { CommandError, type Exec, runCommand } from '../../util/exec.ts';
import { type Cidr, cidrContains, cidrOfAddress, cidrsOverlap, formatCidr, parseCidr, parseIPv4 } from './cidr.ts';

/**
 * The `proto` of podgate's routes. Not in iproute2's rt_protos (Calico uses 80, BIRD 12, the
 * routing daemons 186-192); `ip route show proto 147` lists exactly what podgate made.
 */
export const ROUTE_PROTOCOL = 147;

/** An interface of this node with its IPv4 addresses (`ip -j -4 addr show up`). */
export interface LocalLink {
  readonly name: string;
  readonly addresses: readonly { readonly ip: string; readonly prefixLen: number }[];
}

/** A route this node should have: `dst via gateway dev dev`. */
export interface DesiredRoute {
  readonly dst: string;
  readonly gateway: string;
  readonly dev: string;
  /** The Node whose podCIDR this is. */
  readonly node: string;
}

export interface SkippedRoute {
  readonly node: string;
  /** Why the node (or one of its podCIDRs) gets no route; stable text, so a caller can log it once. */
  readonly reason: string;
}

export interface RoutePlan {
  /** Sorted by destination address. */
  readonly routes: readonly DesiredRoute[];
  /** Sorted by node name, then reason. */
  readonly skipped: readonly SkippedRoute[];
}

/** A route of the main table as `ip -N -j -4 route show table main` lists it. */
export interface InstalledRoute {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  /** Numeric (`-N`): "2" kernel, "4" static, "147" podgate. */
  readonly protocol: string;
  readonly metric?: number;
}

/** What the route-relevant part of a Node is: its podCIDRs and IPv4 InternalIP. */
export interface NodeRouteFacts {
  readonly name: string;
  readonly podCIDRs: readonly string[];
  readonly internalIPs: readonly string[];
}

export function nodeRouteFacts(node: Node): NodeRouteFacts {
  const spec = node.spec ?? {};
  const podCIDRs = spec.podCIDRs?.length ? spec.podCIDRs : spec.podCIDR ? [spec.podCIDR] : [];
  return {
    name: node.metadata?.name ?? '',
    podCIDRs: [...podCIDRs],
    internalIPs: (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' && a.address).map((a) => a.address),
  };
}

const isIPv6 = (text: string) => text.includes(':');

function tryParseIPv4(text: string): number | undefined {
  try {
    return parseIPv4(text);
  } catch {
    return undefined;
  }
}

function tryParseCidr(text: string): Cidr | undefined {
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

/**
 * The routes this node needs to reach every other node's pods, and why some nodes get none.
 * `links` are this node's interfaces that are up, with their IPv4 addresses (the pod bridge
 * included: its subnet is this node's own pod range). Deterministic: the same input gives the
 * same output whatever the order of `nodes` and `links`.
 */
export function planNodeRoutes(input: { readonly nodeName: string; readonly nodes: readonly Node[]; readonly links: readonly LocalLink[] }): RoutePlan {
  const facts = input.nodes.map(nodeRouteFacts).filter((n) => n.name).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const self = facts.find((n) => n.name === input.nodeName);
  const localIPs = new Set<number>();
  // Connected subnets: the address's network, except host routes (/32: LoadBalancer IPs the L2
  // announcer adds, which make nothing else reachable).
  const connected: { cidr: Cidr; dev: string }[] = [];
  for (const l of input.links) {
    for (const a of l.addresses) {
      const ip = tryParseIPv4(a.ip);
      if (ip === undefined) continue;
      localIPs.add(ip);
      if (a.prefixLen < 32 && l.name !== 'lo') connected.push({ cidr: cidrOfAddress(ip, a.prefixLen), dev: l.name });
    }
  }
  // Longest prefix first, then link name: the link the kernel would pick for the gateway.
  connected.sort((a, b) => b.cidr.prefix - a.cidr.prefix || (a.dev < b.dev ? -1 : a.dev > b.dev ? 1 : 0) || a.cidr.base - b.cidr.base);
  const ownCIDRs = (self?.podCIDRs ?? []).map(tryParseCidr).filter((c) => c !== undefined);

  const routes: DesiredRoute[] = [];
  const skipped: SkippedRoute[] = [];
  const claimed: { cidr: Cidr; node: string }[] = [];
  for (const n of facts) {
    if (n.name === input.nodeName) continue;
    const skip = (reason: string) => skipped.push({ node: n.name, reason });
    const v4CIDRs = n.podCIDRs.filter((c) => !isIPv6(c));
    for (const c of n.podCIDRs.filter(isIPv6)) skip(`podCIDR ${c} is IPv6 (cross-node routes are IPv4 only)`);
    if (v4CIDRs.length === 0) {
      if (n.podCIDRs.length === 0) skip('no podCIDR yet');
      continue;
    }
    const ipText = n.internalIPs.find((a) => !isIPv6(a));
    const gw = ipText === undefined ? undefined : tryParseIPv4(ipText);
    if (ipText === undefined || gw === undefined) {
      skip(ipText === undefined ? 'no IPv4 InternalIP in status.addresses' : `InternalIP ${ipText} is not an IPv4 address`);
      continue;
    }
    if (localIPs.has(gw)) {
      skip(`InternalIP ${ipText} is an address of this node`);
      continue;
    }
    const link = connected.find((c) => cidrContains(c.cidr, gw));
    if (!link) {
      skip(`InternalIP ${ipText} is not on a subnet this node is directly connected to (host-gw routes need one L2 segment)`);
      continue;
    }
    for (const text of v4CIDRs) {
      const cidr = tryParseCidr(text);
      if (!cidr) { skip(`podCIDR ${text} is not a valid IPv4 CIDR`); continue; }
      const own = ownCIDRs.find((o) => cidrsOverlap(o, cidr));
      if (own) { skip(`podCIDR ${text} overlaps this node's podCIDR ${formatCidr(own)}`); continue; }
      const net = connected.find((c) => cidrsOverlap(c.cidr, cidr));
      if (net) { skip(`podCIDR ${text} overlaps the connected subnet ${formatCidr(net.cidr)} on ${net.dev}`); continue; }
      const other = claimed.find((c) => cidrsOverlap(c.cidr, cidr));
      if (other) { skip(`podCIDR ${text} overlaps node ${other.node}'s`); continue; }
      claimed.push({ cidr, node: n.name });
      routes.push({ dst: formatCidr(cidr), gateway: ipText, dev: link.dev, node: n.name });
    }
  }
  routes.sort((a, b) => parseCidr(a.dst).base - parseCidr(b.dst).base || parseCidr(a.dst).prefix - parseCidr(b.dst).prefix);
  skipped.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0));
  return { routes, skipped };
}

export interface RouteDiff {
  /** `ip route replace` each (desired routes missing or different). */
  readonly replace: readonly DesiredRoute[];
  /** `ip route del` each: podgate's routes that are no longer wanted (after the replacements). */
  readonly remove: readonly InstalledRoute[];
  /** Desired routes left out because a route to the same destination exists that podgate did not make. */
  readonly blocked: readonly { readonly route: DesiredRoute; readonly by: InstalledRoute }[];
}

/** Desired routes vs the main table. Only routes with `protocol` are ever replaced or removed. */
export function diffRoutes(desired: readonly DesiredRoute[], installed: readonly InstalledRoute[], protocol = ROUTE_PROTOCOL): RouteDiff {
  const proto = String(protocol);
  const ours = installed.filter((r) => r.protocol === proto);
  const foreign = installed.filter((r) => r.protocol !== proto);
  const same = (d: DesiredRoute, r: InstalledRoute) => r.dst === d.dst && r.gateway === d.gateway && r.dev === d.dev && !r.metric;
  const replace: DesiredRoute[] = [];
  const blocked: { route: DesiredRoute; by: InstalledRoute }[] = [];
  const kept: DesiredRoute[] = [];
  for (const d of desired) {
    const by = foreign.find((r) => r.dst === d.dst);
    if (by) { blocked.push({ route: d, by }); continue; }
    kept.push(d);
    if (!ours.some((r) => same(d, r))) replace.push(d);
  }
  const remove = ours.filter((r) => !kept.some((d) => same(d, r)));
  return { replace, remove, blocked };
}

/** `ip -j -4 addr show` → links with their IPv4 addresses. */
export function parseLinks(text: string): LocalLink[] {
  const raw = JSON.parse(text || '[]') as { ifname?: string; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
  return raw.filter((l) => l.ifname).map((l) => ({
    name: l.ifname!,
    addresses: (l.addr_info ?? []).filter((a) => a.local && (a.family ?? 'inet') === 'inet').map((a) => ({ ip: a.local!, prefixLen: a.prefixlen ?? 32 })),
  }));
}

/** `ip -N -j -4 route show table main` → routes; a destination without a prefix is a /32, `default` is 0.0.0.0/0. */
export function parseRoutes(text: string): InstalledRoute[] {
  const raw = JSON.parse(text || '[]') as { dst?: string; gateway?: string; dev?: string; protocol?: string | number; metric?: number }[];
  return raw.filter((r) => r.dst).map((r) => {
    const dst = r.dst === 'default' ? '0.0.0.0/0' : r.dst!.includes('/') ? r.dst! : `${r.dst}/32`;
    return {
      dst,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(r.dev ? { dev: r.dev } : {}),
      protocol: String(r.protocol ?? '0'),
      ...(r.metric ? { metric: r.metric } : {}),
    };
  });
}

function replaceArgv(r: DesiredRoute, protocol: number): string[] {
  return ['ip', 'route', 'replace', r.dst, 'via', r.gateway, 'dev', r.dev, 'proto', String(protocol)];
}

function deleteArgv(r: InstalledRoute, protocol: number): string[] {
  return [
    'ip', 'route', 'del', r.dst,
    ...(r.gateway ? ['via', r.gateway] : []), ...(r.dev ? ['dev', r.dev] : []),
    'proto', String(protocol), ...(r.metric ? ['metric', String(r.metric)] : []),
  ];
}

/** A route already gone (someone removed it, or a replace took its place) is as good as deleted. */
function isRouteGone(err: unknown): boolean {
  return err instanceof CommandError && /No such process|Cannot find device/i.test(err.stderr);
}

export async function listLinks(exec: Exec): Promise<LocalLink[]> {
  return parseLinks((await exec(['ip', '-j', '-4', 'addr', 'show', 'up'])).stdout);
}

export async function listRoutes(exec: Exec): Promise<InstalledRoute[]> {
  return parseRoutes((await exec(['ip', '-N', '-j', '-4', 'route', 'show', 'table', 'main'])).stdout);
}

export interface SyncResult {
  readonly plan: RoutePlan;
  readonly diff: RouteDiff;
  /** `dst via gateway` of each route added or changed, and `dst` of each removed. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/**
 * One level-triggered pass: reads this node's links and routes, plans, and replaces and deletes
 * podgate's routes to match. Every command is tried; the first failures are thrown together
 * afterwards (a caller retries the whole pass).
 */
export async function syncNodeRoutes(opts: { readonly exec: Exec; readonly nodeName: string; readonly nodes: readonly Node[]; readonly protocol?: number }): Promise<SyncResult> {
  const protocol = opts.protocol ?? ROUTE_PROTOCOL;
  const plan = planNodeRoutes({ nodeName: opts.nodeName, nodes: opts.nodes, links: await listLinks(opts.exec) });
  return applyRoutes(opts.exec, plan, protocol);
}

async function applyRoutes(exec: Exec, plan: RoutePlan, protocol: number): Promise<SyncResult> {
  const diff = diffRoutes(plan.routes, await listRoutes(exec), protocol);
  const errors: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  // Replacements first: a route whose gateway changed is overwritten in place, so its pods stay reachable.
  for (const r of diff.replace) {
    try {
      await exec(replaceArgv(r, protocol));
      added.push(`${r.dst} via ${r.gateway} dev ${r.dev}`);
    } catch (err) {
      errors.push(`route ${r.dst} via ${r.gateway} (node ${r.node}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const r of diff.remove) {
    try {
      await exec(deleteArgv(r, protocol));
      removed.push(r.dst);
    } catch (err) {
      if (isRouteGone(err)) continue;
      errors.push(`removing route ${r.dst}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (errors.length) throw new Error(`node routes: ${errors.join('; ')}`);
  return { plan, diff, added, removed };
}

/** Removes every route with podgate's protocol from the main table. */
export async function removeNodeRoutes(exec: Exec, protocol = ROUTE_PROTOCOL): Promise<string[]> {
  return [...(await applyRoutes(exec, { routes: [], skipped: [] }, protocol)).removed];
}

export interface NodeRoutesOptions {
  readonly client: KubeClient;
  /** This node's name: its own Node is never routed (its pods are on its bridge). */
  readonly nodeName: string;
  /** Runs `ip` (and `sysctl`); defaults to the real commands. Wrap with inNetns for a node living in a named netns. */
  readonly exec?: Exec;
  readonly log?: (m: string) => void;
  /** Remove podgate's routes on stop (default true). */
  readonly releaseOnStop?: boolean;
  /** Full resync this often even without Node changes, for links that changed and routes someone removed (default 60 s; 0: never). */
  readonly resyncIntervalMs?: number;
  /** The routes' `proto` (default ROUTE_PROTOCOL). */
  readonly protocol?: number;
}

const nodesResource = resources.find((x) => x.resource === 'nodes')!;

export class NodeRoutes {
  readonly #nodeName: string;
  readonly #exec: Exec;
  readonly #log: (m: string) => void;
  readonly #releaseOnStop: boolean;
  readonly #resyncMs: number;
  readonly #protocol: number;
  readonly #nodes: Informer;
  readonly #queue: WorkQueue;
  #timer: NodeJS.Timeout | undefined;
  #ready = false;
  /** Reason last logged per skipped node (`node\0reason` keys), so each is logged once. */
  #loggedSkips = new Set<string>();
  #forwardingChecked = false;
  #routes: readonly DesiredRoute[] = [];

  constructor(opts: NodeRoutesOptions) {
    this.#nodeName = opts.nodeName;
    this.#exec = opts.exec ?? runCommand;
    this.#log = opts.log ?? (() => {});
    this.#releaseOnStop = opts.releaseOnStop ?? true;
    this.#resyncMs = opts.resyncIntervalMs ?? 60_000;
    this.#protocol = opts.protocol ?? ROUTE_PROTOCOL;
    this.#nodes = new Informer({ client: opts.client, resource: nodesResource, transform: stripReadOnly, onError: (e) => this.#log(`node routes: nodes: ${String(e)}`) });
    // The whole node's routes from one key: bursts of changes coalesce into one sync.
    this.#queue = new WorkQueue({ process: () => this.#sync(), workers: 1, baseDelayMs: 500, maxDelayMs: 30_000, onError: (_k, e) => this.#log(String(e)) });
    const dirty = () => { if (this.#ready) this.#queue.add('sync'); };
    // Node status is rewritten at every heartbeat; only podCIDRs and addresses matter here.
    const relevant = (o: unknown) => JSON.stringify(nodeRouteFacts(o as Node));
    this.#nodes.addHandlers({
      onAdd: dirty,
      onDelete: dirty,
      onUpdate: (o, old) => { if (relevant(o) !== relevant(old)) dirty(); },
    });
  }

  /** Starts watching Nodes; resolves after the first sync was tried (a failed one is retried in the background). */
  async start(): Promise<void> {
    this.#nodes.start();
    await this.#nodes.waitForSync();
    this.#ready = true;
    this.#queue.add('sync');
    if (this.#resyncMs > 0) {
      this.#timer = setInterval(() => this.#queue.add('sync'), this.#resyncMs);
      this.#timer.unref();
    }
    await this.#queue.idle();
  }

  async stop(): Promise<void> {
    this.#ready = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#queue.stop();
    await this.#queue.idle();
    await this.#nodes.stop();
    if (this.#releaseOnStop) {
      const removed = await removeNodeRoutes(this.#exec, this.#protocol);
      if (removed.length) this.#log(`node routes: removed ${removed.join(', ')}`);
    }
  }

  /** Resolves when the last change has been applied (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** The routes of the last successful sync. */
  routes(): readonly DesiredRoute[] {
    return this.#routes;
  }

  async #sync(): Promise<void> {
    const r = await syncNodeRoutes({ exec: this.#exec, nodeName: this.#nodeName, nodes: this.#nodes.list() as unknown as Node[], protocol: this.#protocol });
    const skips = [
      ...r.plan.skipped.map((s) => ({ key: `${s.node}\0${s.reason}`, text: `node ${s.node}: ${s.reason}` })),
      ...r.diff.blocked.map((b) => ({
        key: `${b.route.node}\0blocked ${b.route.dst} ${b.by.protocol} ${b.by.gateway ?? ''} ${b.by.dev ?? ''}`,
        text: `node ${b.route.node}: a route to ${b.route.dst} exists that podgate did not make (proto ${b.by.protocol}${b.by.gateway ? ` via ${b.by.gateway}` : ''}${b.by.dev ? ` dev ${b.by.dev}` : ''}); leaving it`,
      })),
    ];
    const keys = new Set(skips.map((s) => s.key));
    for (const s of skips) if (!this.#loggedSkips.has(s.key)) this.#log(`node routes: no route to the pods of ${s.text}`);
    this.#loggedSkips = keys;
    for (const a of r.added) this.#log(`node routes: ${a}`);
    if (r.removed.length) this.#log(`node routes: removed ${r.removed.join(', ')}`);
    this.#routes = r.plan.routes.filter((d) => !r.diff.blocked.some((b) => b.route === d));
    if (this.#routes.length && !this.#forwardingChecked) await this.#checkForwarding();
  }

  /** The pod network turns forwarding on (planSysctls); without it cross-node pod traffic goes nowhere, so say so (once, at the first sync with routes). */
  async #checkForwarding(): Promise<void> {
    this.#forwardingChecked = true;
    try {
      const { stdout } = await this.#exec(['sysctl', '-n', 'net.ipv4.ip_forward']);
      if (stdout.trim() === '0') {
        this.#log('node routes: net.ipv4.ip_forward is 0 here: pods of this and other nodes cannot reach each other until it is 1 (the pod network sets it when it sets up its bridge)');
      }
    } catch { /* sysctl missing: nothing to say */ }
  }
}
