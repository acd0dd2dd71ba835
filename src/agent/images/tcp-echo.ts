// podgate/tcp-echo: echoes every TCP stream and UDP datagram back to its sender, on PORT (default
// 9000) and every declared containerPort, both protocols on each.

import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { listenPorts } from './ports.ts';

const ports = [...new Set(listenPorts(process.argv.slice(2), process.env, 9000).map((p) => p.port))];
const closers: (() => void)[] = [];
for (const port of ports) {
  const tcp = createServer((sock) => {
    sock.on('error', () => sock.destroy());
    sock.pipe(sock);
  });
  tcp.on('error', (err) => process.stderr.write(`podgate/tcp-echo: tcp ${port}: ${err.message}\n`));
  tcp.listen(port, () => process.stdout.write(`podgate/tcp-echo listening on tcp :${port}\n`));
  const udp = createSocket('udp4');
  udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
  udp.on('error', (err) => process.stderr.write(`podgate/tcp-echo: udp ${port}: ${err.message}\n`));
  udp.bind(port, () => process.stdout.write(`podgate/tcp-echo listening on udp :${port}\n`));
  closers.push(() => { tcp.close(); udp.close(); });
}
process.on('SIGTERM', () => {
  for (const c of closers) c();
  process.exit(0);
});
