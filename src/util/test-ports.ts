// Ports for tests on 127.0.0.1, and what this process listens on. Tests run side by side
// (node --test runs files concurrently) and each binds port 0, so a port a test has just closed
// may be given to another test at once: a test must not read "connection refused" on such a port
// as "nothing listens", nor count on it staying closed.
import net from 'node:net';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A TCP port on 127.0.0.1 nobody listened on a moment ago (bound to port 0, read, released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', resolve); });
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Local TCP ports in LISTEN state in this network namespace, with the inodes of their sockets. */
function listeningSockets(): Map<number, Set<string>> {
  const byPort = new Map<number, Set<string>>();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      // local_address is ADDR:PORT in hex, st 0A is LISTEN, the tenth column the socket's inode.
      const cols = line.trim().split(/\s+/);
      if (cols.length <= 9 || cols[3] !== '0A') continue;
      const port = parseInt(cols[1]!.split(':')[1]!, 16);
      byPort.set(port, (byPort.get(port) ?? new Set()).add(cols[9]!));
    }
  }
  return byPort;
}

/**
 * A port below 1024 that nothing listens on, so a connect to it on 127.0.0.1 is refused: no test
 * binding port 0 is ever given one, unlike a port a test has just closed.
 */
export function refusedPort(): number {
  const taken = listeningSockets();
  for (let port = 1023; port > 0; port--) if (!taken.has(port)) return port;
  throw new Error('every port below 1024 is listened on');
}

/** Whether this process (any of its threads) holds a listening TCP socket on the port, as /proc tells. */
export function listensHere(port: number): boolean {
  const inodes = listeningSockets().get(port);
  if (!inodes) return false;
  return readdirSync('/proc/self/fd').some((fd) => {
    try { return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1] ?? ''); } catch { return false; }
  });
}
