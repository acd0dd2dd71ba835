import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessEntry } from './http1-connection.ts';
import { accessLogLine, mergeSnapshots, renderPrometheus, RequestMetrics } from './metrics.ts';

const route = { ingress: 'default/fanout', host: 'foo.bar.com', backend: { name: 'default/svc-a:80' } };
const observe = (m: RequestMetrics, over: Partial<AccessEntry> = {}, r: typeof route | undefined = route) => {
  const e = entry(over);
  m.observe(e.ingress ? r : undefined, e.method, e.status, e.durationMs);
};
const entry = (over: Partial<AccessEntry> = {}): AccessEntry => ({
  remoteAddress: '10.0.0.9', method: 'GET', host: 'foo.bar.com:8080', target: '/foo?x=1', status: 200, durationMs: 7,
  ingress: 'default/fanout', backend: 'default/svc-a:80', upstream: '10.244.0.5:8080', ...over,
});

describe('request metrics', () => {
  it('counts per ingress, service, host, method and status, with duration buckets', () => {
    const m = new RequestMetrics();
    observe(m);
    observe(m, { durationMs: 300 });
    observe(m, { status: 503, method: 'BREW' });
    observe(m, { ingress: undefined, backend: undefined, host: 'random.example', status: 404 });
    // A rule without a host matches any Host header: the label is the rule's host (''), not the header's.
    for (let i = 0; i < 50; i++) observe(m, { host: `scanner-${i}.example` }, { ...route, host: '' });
    const snap = m.snapshot();
    assert.equal(snap.length, 4);
    const ok = snap.find((s) => s.labels[5] === '200')!;
    assert.deepEqual(ok.labels, ['default', 'fanout', 'svc-a', 'foo.bar.com', 'GET', '200']);
    assert.equal(ok.count, 2);
    assert.equal(ok.buckets[1], 1, '7 ms falls in le=0.01');
    assert.equal(ok.buckets[6], 1, '300 ms falls in le=0.5');
    assert.equal(snap.find((s) => s.labels[5] === '503')!.labels[4], 'OTHER');
    assert.deepEqual(snap.find((s) => s.labels[5] === '404')!.labels, ['', '', '', '', 'GET', '404'], 'hosts no Ingress names are not label values');
    const anyHost = snap.filter((s) => s.labels[3] === '' && s.labels[1] === 'fanout');
    assert.equal(anyHost.length, 1, '50 Host headers on a host-less rule make one series');
    assert.equal(anyHost[0]!.count, 50);
  });

  it('merges snapshots of several workers and renders the Prometheus text format', () => {
    const a = new RequestMetrics();
    const b = new RequestMetrics();
    observe(a);
    observe(b, { durationMs: 20 });
    observe(b, {}, { ...route, host: 'say "hi"\\' });
    const text = renderPrometheus(mergeSnapshots([a.snapshot(), b.snapshot()]), 'podgate.io/ingress');
    const labels = 'controller_class="podgate.io/ingress",namespace="default",ingress="fanout",service="svc-a",host="foo.bar.com",method="GET",status="200"';
    assert.match(text, /# TYPE nginx_ingress_controller_requests counter/);
    assert.ok(text.includes(`nginx_ingress_controller_requests{${labels}} 2\n`), text);
    assert.ok(text.includes(`nginx_ingress_controller_request_duration_seconds_bucket{${labels},le="0.01"} 1\n`));
    assert.ok(text.includes(`nginx_ingress_controller_request_duration_seconds_bucket{${labels},le="0.025"} 2\n`));
    assert.ok(text.includes(`nginx_ingress_controller_request_duration_seconds_bucket{${labels},le="+Inf"} 2\n`));
    assert.ok(text.includes(`nginx_ingress_controller_request_duration_seconds_sum{${labels}} 0.027\n`));
    assert.ok(text.includes('host="say \\"hi\\"\\\\"'), 'label values are escaped');
  });

  it('writes one JSON access log line per request', () => {
    const line = JSON.parse(accessLogLine(entry(), new Date('2026-01-02T03:04:05.006Z'))) as Record<string, unknown>;
    assert.deepEqual(line, {
      time: '2026-01-02T03:04:05.006Z', remote_addr: '10.0.0.9', method: 'GET', host: 'foo.bar.com:8080', request_uri: '/foo?x=1', status: 200,
      request_time: 0.007, ingress: 'default/fanout', service: 'default/svc-a:80', upstream_addr: '10.244.0.5:8080',
    });
  });
});
