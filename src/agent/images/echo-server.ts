// podgate/echo: an HTTP server answering every request with JSON describing the pod (name,
// namespace, IP, node, from the env the agent sets) and the request (method, path, headers, the
// client's address and port). Listens on PORT (default 8080) and on every declared containerPort.
//
// With PODGATE_ECHO_FLAVOR=influxdb it is podgate's stand-in for the `influxdb` image — NOT InfluxDB:
// /ping answers 204 with InfluxDB 1.8's headers and /health its JSON, so `curl http://HOST:8086/ping`
// behaves as in the seeds; everything else gets the echo JSON.
// With `-text=...` (hashicorp/http-echo's flag) it answers that text instead of JSON.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { listenPorts, plainAddress } from './ports.ts';

const env = process.env;
const flavor = env['PODGATE_ECHO_FLAVOR'] ?? 'echo';
const INFLUX_VERSION = '1.8.10';
const argv = process.argv.slice(2);
const textArg = argv.map((a) => /^--?text=(.*)$/s.exec(a)).find((m) => m)?.[1];
const pod = {
  name: env['POD_NAME'] ?? env['MY_POD_NAME'] ?? env['PODGATE_POD_NAME'] ?? hostname(),
  namespace: env['POD_NAMESPACE'] ?? env['MY_POD_NAMESPACE'] ?? env['PODGATE_POD_NAMESPACE'] ?? '',
  ip: env['POD_IP'] ?? env['MY_POD_IP'] ?? env['PODGATE_POD_IP'] ?? '',
};
const node = env['NODE_NAME'] ?? env['MY_NODE_NAME'] ?? env['PODGATE_NODE_NAME'] ?? '';

function describe(req: IncomingMessage): object {
  const url = new URL(req.url ?? '/', 'http://x');
  return {
    pod, node, hostname: hostname(),
    request: {
      method: req.method, path: url.pathname, query: url.search.slice(1), httpVersion: req.httpVersion,
      headers: req.headers,
    },
    client: { address: plainAddress(req.socket.remoteAddress), port: req.socket.remotePort },
    server: { address: plainAddress(req.socket.localAddress), port: req.socket.localPort },
  };
}

function influx(req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://x');
  const headers = { 'X-Influxdb-Build': 'OSS', 'X-Influxdb-Version': INFLUX_VERSION, 'Request-Id': crypto.randomUUID(), 'X-Request-Id': crypto.randomUUID() };
  if (url.pathname === '/ping') {
    if (url.searchParams.get('verbose') === 'true') {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify({ version: INFLUX_VERSION }) + '\n');
    } else {
      res.writeHead(204, headers).end();
    }
    return true;
  }
  if (url.pathname === '/health') {
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json' })
      .end(JSON.stringify({ name: 'influxdb', message: 'ready for queries and writes', status: 'pass', checks: [], version: INFLUX_VERSION }) + '\n');
    return true;
  }
  return false;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  process.stdout.write(`${plainAddress(req.socket.remoteAddress)}:${req.socket.remotePort} ${req.method} ${req.url}\n`);
  if (flavor === 'influxdb' && influx(req, res)) return;
  if (textArg !== undefined) {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${textArg}\n`);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(describe(req), null, 2) + '\n');
}

// One request handler, one listening server per port.
const ports = listenPorts(argv, env, flavor === 'influxdb' ? 8086 : 8080).filter((p) => p.protocol === 'tcp');
const servers: Server[] = [];
let pending = ports.length;
let listening = 0;
for (const { port } of ports) {
  const s = createServer(handle);
  s.on('error', (err) => {
    process.stderr.write(`podgate/echo: cannot listen on port ${port}: ${err.message}\n`);
    if (--pending === 0 && listening === 0) process.exit(1);
  });
  s.listen(port, () => {
    listening++;
    pending--;
    process.stdout.write(`${flavor === 'influxdb' ? 'podgate influxdb stand-in' : 'podgate/echo'} listening on :${port}\n`);
  });
  servers.push(s);
}

process.on('SIGTERM', () => {
  for (const s of servers) s.close();
  process.exit(0);
});
