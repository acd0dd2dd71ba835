// Ports a built-in image listens on: its main port (env PORT, `--port N`, `-listen=:N`, or the
// image's default) plus every containerPort the agent passes in PODGATE_CONTAINER_PORTS
// (`8086,8087/udp`), so a pod declaring any port gets an answer there.

export interface ListenPort {
  port: number;
  protocol: 'tcp' | 'udp';
}

/** Parses the listening ports from argv and env; the first entry is the main port. */
export function listenPorts(argv: readonly string[], env: NodeJS.ProcessEnv, defaultPort: number): ListenPort[] {
  let main = env['PORT'] ? Number(env['PORT']) : defaultPort;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?(?:port|listen)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const value = m[1] ?? argv[++i] ?? '';
    const n = Number(value.slice(value.lastIndexOf(':') + 1));
    if (Number.isInteger(n) && n > 0 && n < 65536) main = n;
  }
  const out: ListenPort[] = [{ port: main, protocol: 'tcp' }];
  for (const item of (env['PODGATE_CONTAINER_PORTS'] ?? '').split(',')) {
    const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(item.trim());
    if (!m) continue;
    const proto = (m[2] ?? 'tcp').toLowerCase();
    if (proto === 'sctp') continue;
    const p: ListenPort = { port: Number(m[1]), protocol: proto as 'tcp' | 'udp' };
    if (!out.some((o) => o.port === p.port && o.protocol === p.protocol)) out.push(p);
  }
  return out;
}

/** Strips the IPv4-mapped prefix Node reports on dual-stack sockets. */
export function plainAddress(addr: string | undefined): string {
  return (addr ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}
