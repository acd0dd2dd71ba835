// The Tables kube-apiserver returned (shared/notes/apiserver-golden), rebuilt from objects with
// the same metadata and spec, compared byte for byte after JSON parsing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { KObject } from '../object.ts';
import { toTable, type Table } from './table.ts';

const GOLDEN = '/work/shared/notes/apiserver-golden';

/** The JSON documents of a recorded .http response (one, or one per watch event line). */
function bodies(file: string): any[] {
  return readFileSync(`${GOLDEN}/${file}`, 'utf8').split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l));
}

const svcSpecs: Record<string, object> = {
  hello: { type: 'NodePort', clusterIP: '10.96.202.107', clusterIPs: ['10.96.202.107'], selector: { app: 'hello' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30398 }] },
  kubernetes: { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] },
  web: { type: 'NodePort', clusterIP: '10.96.140.164', clusterIPs: ['10.96.140.164'], selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http', nodePort: 30080 }] },
};

function service(metadata: any): KObject {
  return { apiVersion: 'v1', kind: 'Service', metadata, spec: svcSpecs[metadata.name], status: { loadBalancer: {} } };
}
function pendingPod(metadata: any): KObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'nginx', image: 'nginx:1.25' }] }, status: { phase: 'Pending', qosClass: 'BestEffort' } };
}
function endpoints(metadata: any): KObject {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata };
}

const listCases: { file: string; kind: string; make: (m: any) => KObject }[] = [
  { file: 'get-svc-table.http', kind: 'Service', make: service },
  { file: 'get-svc-single-table.http', kind: 'Service', make: service },
  { file: 'get-pods-table.http', kind: 'Pod', make: pendingPod },
  { file: 'get-endpoints-table.http', kind: 'Endpoints', make: endpoints },
  { file: 'get-ingress-table-empty.http', kind: 'Ingress', make: () => { throw new Error('empty'); } },
];

for (const c of listCases) {
  test(`${c.file} is reproduced`, () => {
    const [want] = bodies(c.file) as [Table];
    const objects = (want.rows ?? []).map(r => c.make((r.object as any).metadata));
    const got = toTable(objects, c.kind, {
      now: new Date('2026-11-22T04:08:20.500Z'), // the response's Date header, mid-second
      resourceVersion: want.metadata.resourceVersion ?? '',
      includeObject: 'Metadata',
      includeHeader: true,
    });
    // Same keys in the same order as Go writes them, so the bytes match up to \u003c escaping.
    assert.equal(JSON.stringify(got), JSON.stringify(want));
  });
}

test('watch-pods-table.http events are reproduced, header only on the first', () => {
  const events = bodies('watch-pods-table.http');
  // When each event was sent: ages in the recording pin them to these seconds.
  const sentAt = ['04:09:47.5', '04:09:47.5', '04:09:47.5', '04:09:48.5', '04:09:49.5', '04:09:49.5', '04:09:49.5'];
  assert.equal(events.length, sentAt.length);
  events.forEach((event, i) => {
    const want = event.object as Table;
    const obj = pendingPod((want.rows?.[0]?.object as any).metadata);
    const got = toTable([obj], 'Pod', {
      now: new Date(`2026-11-22T${sentAt[i]}Z`),
      resourceVersion: obj.metadata.resourceVersion ?? '',
      includeObject: 'Metadata',
      includeHeader: i === 0,
    });
    assert.equal(JSON.stringify(got), JSON.stringify(want), `event ${i} (${event.type})`);
  });
});
