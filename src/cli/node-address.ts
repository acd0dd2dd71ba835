// The node's address: the IPv4 address of the interface that holds the default route
// (what kubelet reports as InternalIP), or what --node-ip says.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/** Parses /proc/net/route and returns the interface of the default route, if any. */
export function defaultRouteInterface(procNetRoute: string): string | undefined {
  for (const line of procNetRoute.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 8 && cols[1] === '00000000' && cols[7] === '00000000') return cols[0];
  }
  return undefined;
}

export function detectNodeIP(): string {
  let iface: string | undefined;
  try {
    iface = defaultRouteInterface(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    iface = undefined;
  }
  const all = networkInterfaces();
  const pick = (name: string | undefined) => (name ? all[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address : undefined);
  const chosen = pick(iface);
  if (chosen) return chosen;
  for (const name of Object.keys(all).sort()) {
    const a = pick(name);
    if (a) return a;
  }
  return '127.0.0.1';
}
