import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container } from 'kubernetes-types/core/v1.d.ts';
import { builtinImages, makeImageTable, resolveContainerCommand, BUILTIN_IMAGES_DIR } from '../runtime/image-table.ts';
import { ProcessRuntime } from '../runtime/process-runtime.ts';
import { LogStore } from '../runtime/log-store.ts';
import { freePort } from '../../util/test-ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'podgate-img-'));
const runtime = new ProcessRuntime({ stateDir: join(dir, 'state') });
const logs = new LogStore({ dir: join(dir, 'logs') });
const table = makeImageTable(builtinImages({ nodePath: process.execPath, imagesDir: BUILTIN_IMAGES_DIR, hasFile: existsSync }), new Map(), '/etc/podgate/images.yaml');
let n = 0;

before(() => {
  if (!existsSync('/usr/bin/redis-server')) assert.fail('redis-server is missing: apt-get install -y redis-server');
});
after(async () => {
  await runtime.stopAll(1);
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves the container through the image table and starts it in the host namespace. */
async function run(c: Partial<Container>, env: Record<string, string> = {}): Promise<string> {
  const uid = `pod-${++n}`;
  const r = resolveContainerCommand({ name: 'c', ...c }, table);
  assert.ok('argv' in r, JSON.stringify(r));
  const logFile = await logs.prepare(uid, 'c', 0);
  await runtime.start({ podUid: uid, containerName: 'c', argv: r.argv, env: { ...r.image.env, ...env }, logFile });
  return uid;
}

async function waitFor<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try { return await fn(); } catch (err) { if (Date.now() > deadline) throw err; }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function get(port: number, path: string, localPort?: number): Promise<{ status: number; headers: Record<string, unknown>; body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { 'X-Test': 'yes' }, ...(localPort ? { localPort } : {}) }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, localPort: req.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('built-in images', () => {
  it('podgate/echo answers with the pod, the request and the client\'s address, on PORT and every containerPort', async () => {
    const [main, extra] = [await freePort(), await freePort()];
    await run({ image: 'podgate/echo', ports: [{ containerPort: extra }] }, { PORT: String(main), POD_NAME: 'web-1', POD_NAMESPACE: 'default', POD_IP: '10.244.0.7', NODE_NAME: 'node-a' });
    const res = await waitFor(() => get(main, '/some/path?x=1'));
    const body = JSON.parse(res.body);
    assert.deepEqual(body.pod, { name: 'web-1', namespace: 'default', ip: '10.244.0.7' });
    assert.equal(body.node, 'node-a');
    assert.equal(body.request.method, 'GET');
    assert.equal(body.request.path, '/some/path');
    assert.equal(body.request.headers['x-test'], 'yes');
    assert.deepEqual(body.client, { address: '127.0.0.1', port: res.localPort });
    assert.equal(JSON.parse((await waitFor(() => get(extra, '/'))).body).server.port, extra);
  });

  it('influxdb (stand-in) answers /ping with 204 and InfluxDB\'s headers, other paths with the echo', async () => {
    const port = await freePort();
    await run({ image: 'influxdb:1.8' }, { PORT: String(port) });
    const ping = await waitFor(() => get(port, '/ping'));
    assert.equal(ping.status, 204);
    assert.equal(ping.headers['x-influxdb-version'], '1.8.10');
    assert.equal(ping.body, '');
    assert.equal(JSON.parse((await get(port, '/health')).body).status, 'pass');
    assert.equal(JSON.parse((await get(port, '/query')).body).request.path, '/query');
  });

  it('podgate/tcp-echo echoes TCP and UDP', async () => {
    const port = await freePort();
    await run({ image: 'podgate/tcp-echo' }, { PORT: String(port) });
    const tcp = await waitFor(() => new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.end('hello tcp'));
      let got = '';
      s.on('data', (c) => { got += c; });
      s.on('end', () => resolve(got));
      s.on('error', reject);
    }));
    assert.equal(tcp, 'hello tcp');
    const sock = createSocket('udp4');
    try {
      const reply = await waitFor(() => new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no UDP reply')), 300);
        sock.once('message', (m) => { clearTimeout(t); resolve(m.toString()); });
        sock.send('hello udp', port, '127.0.0.1');
      }));
      assert.equal(reply, 'hello udp');
    } finally {
      sock.close();
    }
  });

  it('redis runs Debian\'s redis-server as the official image does and answers PING', async () => {
    const port = await freePort();
    const uid = await run({ image: 'redis', args: ['--port', String(port)] });
    const reply = await waitFor(() => new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.write('*1\r\n$4\r\nPING\r\n'));
      s.once('data', (c) => { resolve(c.toString()); s.destroy(); });
      s.on('error', reject);
    }));
    assert.equal(reply, '+PONG\r\n');
    const exit = await runtime.stop(uid, 'c', 5);
    assert.equal(exit?.exitCode, 0, 'redis-server shuts down cleanly on SIGTERM');
  });
});
