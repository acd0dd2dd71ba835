// tcp-services / udp-services listeners: a client's UDP session follows the Service's endpoints.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { ConfigMap } from 'kubernetes-types/core/v1.d.ts';
import { StreamProxy } from './stream-proxy.ts';
import { makeService, makeSlice } from './test-builders.ts';
import { translate } from './translate.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function udpEcho(tag: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${tag}:${String(m)}`, r.port, r.address));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('StreamProxy UDP sessions', () => {
  it('moves a talking client off an endpoint that left, and sends nothing on once there is none', async () => {
    const a = await udpEcho('A'), b = await udpEcho('B');
    const port = await freeUdpPort();
    const sp = new StreamProxy({ bindAddress: '127.0.0.1' });
    const backend = (s?: dgram.Socket) => ({ name: 'default/dns:53', endpoints: s ? [{ address: '127.0.0.1', port: s.address().port }] : [] });
    const client = dgram.createSocket('udp4');
    const got: string[] = [];
    client.on('message', (m) => got.push(String(m)));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    const exchange = async (msg: string) => {
      const n = got.length;
      client.send(msg, port, '127.0.0.1');
      for (let i = 0; i < 40 && got.length === n; i++) await sleep(10);
    };
    try {
      await sp.update([{ protocol: 'UDP', port, backend: backend(a) }]);
      await exchange('1');
      await sp.update([{ protocol: 'UDP', port, backend: backend(b) }]);
      await exchange('2');
      await sp.update([{ protocol: 'UDP', port, backend: backend() }]);
      await exchange('3');
      assert.deepEqual(got, ['A:1', 'B:2']);
    } finally {
      client.close(); a.close(); b.close();
      await sp.close();
    }
  });
});

describe('tcp-services entries', () => {
  it('serves a Service port, and leaves out (reported) a missing Service or port and a PROXY suffix, as ingress-nginx does', () => {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ingress', name: 'tcp-services' },
      data: { 9000: 'default/redis:6379', 9001: 'default/missing:6379', 9002: 'default/redis:1234', 9003: 'default/redis:6379:PROXY:PROXY' } };
    const t = translate({ ingresses: [], ingressClasses: [], secrets: [], configMaps: [cm],
      services: [makeService('default', 'redis', [{ port: 6379 }])], endpointSlices: [makeSlice('default', 'redis', ['10.244.0.9'], [{ port: 6379 }])] },
      { tcpServicesConfigMap: 'ingress/tcp-services' });
    assert.deepEqual(t.streams.map((s) => s.port), [9000]);
    assert.deepEqual(t.problems.map((p) => p.message), [
      '9001: service default/missing not found',
      '9002: service default/redis has no port 1234',
      '9003: "PROXY:PROXY" (PROXY protocol) is not supported; the port is not served',
    ]);
  });
});
