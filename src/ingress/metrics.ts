// Prometheus metrics per Ingress and Service, under ingress-nginx's metric names and labels so
// existing dashboards and alerts keep working: nginx_ingress_controller_requests (counter) and
// nginx_ingress_controller_request_duration_seconds (histogram). Each proxy worker counts into its
// own RequestMetrics (found through the route object, a few comparisons per request); a scrape
// merges the workers' snapshots, which are plain data. The text format is written here: merging per-thread snapshots is not something
// prom-client's registries do, and two metric families need no more than this.
import type { AccessEntry } from './http1-connection.ts';

/** Prometheus' default buckets, as ingress-nginx uses for request durations (seconds). */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);
const LABELS = ['namespace', 'ingress', 'service', 'host', 'method', 'status'] as const;

export interface Series {
  /** Values of LABELS, in order. */
  readonly labels: readonly string[];
  count: number;
  sumSeconds: number;
  /** Cumulative counts per DURATION_BUCKETS entry are computed at render; these are per bucket (last one is +Inf). */
  readonly buckets: number[];
}

export type MetricsSnapshot = readonly Series[];

/** The labels of one route's series, and its series by method and status. */
interface RouteSeries {
  readonly namespace: string;
  readonly ingress: string;
  readonly service: string;
  readonly host: string;
  readonly byKey: Map<string, Series>;
  /** The series of the previous request (most requests repeat method and status). */
  last: Series | undefined;
  lastMethod: string;
  lastStatus: number;
}

/** What identifies a route for metrics: the Ingress ("namespace/name") and backend ("namespace/service:port"). */
export interface MetricsRoute {
  readonly ingress: string;
  /** The rule's host as written: exact, `*.suffix`, or '' (any host). */
  readonly host: string;
  readonly backend: { readonly name: string };
}

const NO_ROUTE: MetricsRoute = { ingress: '', host: '', backend: { name: '' } };

export class RequestMetrics {
  /** By "ingress\0host\0backend": counts outlive route-table swaps. */
  readonly #routes = new Map<string, RouteSeries>();
  /** The same, found by the route object of the table in use (no key building per request). */
  #byRoute = new WeakMap<MetricsRoute, RouteSeries>();

  /**
   * Counts one request; `route` is the route that answered it (undefined: no Ingress matched). The
   * host label is the rule's host as written (`*.example.com`, '' for rules without one), never
   * the request's Host header, so label values stay bounded by the Ingresses (scanners send any Host).
   */
  observe(route: MetricsRoute | undefined, method: string, status: number, durationMs: number): void {
    const r = route ?? NO_ROUTE;
    let rs = this.#byRoute.get(r);
    if (!rs) {
      const key = `${r.ingress}\0${r.host}\0${r.backend.name}`;
      rs = this.#routes.get(key);
      if (!rs) {
        const [namespace, ingress] = splitName(r.ingress);
        // Backend names are "namespace/service:port".
        const service = splitName(r.backend.name)[1].replace(/:[^:]*$/, '');
        rs = { namespace, ingress, service, host: r.host, byKey: new Map(), last: undefined, lastMethod: '', lastStatus: 0 };
        this.#routes.set(key, rs);
      }
      this.#byRoute.set(r, rs);
    }
    let s = rs.last;
    if (!s || rs.lastStatus !== status || rs.lastMethod !== method) {
      const methodLabel = METHODS.has(method) ? method : 'OTHER';
      const key = `${methodLabel}\0${status}`;
      s = rs.byKey.get(key);
      if (!s) {
        s = { labels: [rs.namespace, rs.ingress, rs.service, rs.host, methodLabel, String(status)], count: 0, sumSeconds: 0, buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0) };
        rs.byKey.set(key, s);
      }
      rs.last = s;
      rs.lastMethod = method;
      rs.lastStatus = status;
    }
    const seconds = durationMs / 1000;
    s.count++;
    s.sumSeconds += seconds;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    s.buckets[i]!++;
  }

  snapshot(): MetricsSnapshot {
    const out: Series[] = [];
    for (const rs of this.#routes.values()) for (const s of rs.byKey.values()) out.push({ ...s, buckets: [...s.buckets] });
    return out;
  }
}

/** Adds up snapshots from several workers (series with equal labels are summed). */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const out = new Map<string, Series>();
  for (const snap of snapshots) {
    for (const s of snap) {
      const key = s.labels.join('\0');
      const cur = out.get(key);
      if (!cur) { out.set(key, { ...s, buckets: [...s.buckets] }); continue; }
      cur.count += s.count;
      cur.sumSeconds += s.sumSeconds;
      s.buckets.forEach((n, i) => { cur.buckets[i] = (cur.buckets[i] ?? 0) + n; });
    }
  }
  return [...out.values()].sort((a, b) => a.labels.join('\0').localeCompare(b.labels.join('\0')));
}

/** The Prometheus text exposition format (version 0.0.4) of a merged snapshot. */
export function renderPrometheus(snapshot: MetricsSnapshot, controllerClass: string): string {
  const labelText = (s: Series, extra = '') => {
    const pairs = [`controller_class="${escape(controllerClass)}"`, ...LABELS.map((l, i) => `${l}="${escape(s.labels[i] ?? '')}"`)];
    if (extra) pairs.push(extra);
    return `{${pairs.join(',')}}`;
  };
  const lines = [
    '# HELP nginx_ingress_controller_requests The total number of client requests',
    '# TYPE nginx_ingress_controller_requests counter',
    ...snapshot.map((s) => `nginx_ingress_controller_requests${labelText(s)} ${s.count}`),
    '# HELP nginx_ingress_controller_request_duration_seconds The request processing time in seconds (until the response was sent)',
    '# TYPE nginx_ingress_controller_request_duration_seconds histogram',
  ];
  for (const s of snapshot) {
    let cumulative = 0;
    DURATION_BUCKETS.forEach((le, i) => {
      cumulative += s.buckets[i] ?? 0;
      lines.push(`nginx_ingress_controller_request_duration_seconds_bucket${labelText(s, `le="${le}"`)} ${cumulative}`);
    });
    lines.push(`nginx_ingress_controller_request_duration_seconds_bucket${labelText(s, 'le="+Inf"')} ${s.count}`);
    lines.push(`nginx_ingress_controller_request_duration_seconds_sum${labelText(s)} ${s.sumSeconds}`);
    lines.push(`nginx_ingress_controller_request_duration_seconds_count${labelText(s)} ${s.count}`);
  }
  return lines.join('\n') + '\n';
}

function splitName(v: string): [string, string] {
  const slash = v.indexOf('/');
  return [v.slice(0, Math.max(0, slash)), v.slice(slash + 1)];
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** One access log line: JSON with ingress-nginx's log fields where they exist. */
export function accessLogLine(e: AccessEntry, time: Date): string {
  return JSON.stringify({
    time: time.toISOString(), remote_addr: e.remoteAddress, method: e.method, host: e.host, request_uri: e.target, status: e.status,
    request_time: Math.round(e.durationMs) / 1000, ingress: e.ingress ?? '', service: e.backend ?? '', upstream_addr: e.upstream ?? '',
  });
}
