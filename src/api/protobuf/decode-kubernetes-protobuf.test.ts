import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StatusError } from '../errors.ts';
import { decodableKinds, decodeKubernetesProtobuf, formatDuration, isKubernetesProtobuf } from './decode-kubernetes-protobuf.ts';
import { MESSAGES, ROOTS } from './schema.ts';
import { servedPod } from './testdata/served-objects.ts';

const testdata = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

function fixture(name: string): Uint8Array {
  return readFileSync(join(testdata, name));
}

/** Go writes a zero metav1.Time as null; the decoder leaves it out. */
function withoutNullTimestamps(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullTimestamps);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'creationTimestamp' && v === null) continue;
    out[k] = withoutNullTimestamps(v);
  }
  return out;
}

// ---- a tiny protobuf writer, for the kinds kubectl never sends and for malformed input ----

type Part = Uint8Array;

function varint(n: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return Uint8Array.from(out);
}

function concat(...parts: Part[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

function bytesField(field: number, payload: Uint8Array): Part {
  return concat(varint(field * 8 + 2), varint(payload.length), payload);
}

const str = (field: number, s: string): Part => bytesField(field, new TextEncoder().encode(s));
const num = (field: number, n: number | bigint): Part => concat(varint(field * 8), varint(n));
const msg = (field: number, ...parts: Part[]): Part => bytesField(field, concat(...parts));
const entry = (field: number, key: string, value: Part): Part => msg(field, str(1, key), value);

function envelope(apiVersion: string, kind: string, raw: Uint8Array, ...extra: Part[]): Uint8Array {
  return concat(Uint8Array.of(0x6b, 0x38, 0x73, 0), msg(1, str(1, apiVersion), str(2, kind)), bytesField(2, raw), ...extra);
}

function badRequest(body: Uint8Array, message: RegExp): void {
  assert.throws(
    () => decodeKubernetesProtobuf(body),
    (err: unknown) => err instanceof StatusError && err.code === 400 && err.reason === 'BadRequest' && message.test(err.message),
  );
}

describe('decodeKubernetesProtobuf on bodies the real kubectl 1.32 sent', () => {
  const created = readdirSync(testdata).filter((f) => f.endsWith('.pb') && !f.startsWith('pod-debug'));

  it('has the captured fixtures', () => {
    assert.ok(created.length >= 16, `only ${created.length} fixtures`);
  });

  for (const file of created) {
    it(`${file} decodes to what \`kubectl create -o json\` prints`, () => {
      const want = JSON.parse(readFileSync(join(testdata, file.replace(/\.pb$/, '.json')), 'utf8')) as unknown;
      assert.deepStrictEqual(decodeKubernetesProtobuf(fixture(file)), withoutNullTimestamps(want));
    });
  }

  it('keeps pointer fields set to zero (replicas: 0) and drops empty omitempty strings', () => {
    const d = decodeKubernetesProtobuf(fixture('deployment-zero.pb')) as { spec: Record<string, unknown>; metadata: Record<string, unknown> };
    assert.equal(d.spec.replicas, 0);
    assert.equal('namespace' in d.metadata, false);
    assert.equal('generation' in d.metadata, false);
  });

  it('writes Secret data as base64, as JSON does', () => {
    const s = decodeKubernetesProtobuf(fixture('secret-s.pb')) as { data: Record<string, string> };
    assert.deepEqual(s.data, { p: Buffer.from('q').toString('base64') });
  });

  it('decodes the pod `kubectl debug --copy-to` copies, field for field', () => {
    const pod = decodeKubernetesProtobuf(fixture('pod-debug-copy.pb'));
    const app = servedPod.spec.containers[0];
    const debugger_ = { name: 'dbg', image: 'busybox', command: ['sleep', '1d'], resources: {}, terminationMessagePolicy: 'File' };
    assert.deepStrictEqual(pod, {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'web-copy', namespace: 'default', annotations: servedPod.metadata.annotations },
      spec: { ...servedPod.spec, containers: [app, debugger_] },
      status: {},
    });
  });

  it('decodes the pod `kubectl debug node/...` creates', () => {
    const pod = decodeKubernetesProtobuf(fixture('pod-debug-node.pb')) as { metadata: { name: string } };
    assert.match(pod.metadata.name, /^node-debugger-worker-/);
    assert.deepStrictEqual(pod, {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: pod.metadata.name },
      spec: {
        volumes: [{ name: 'host-root', hostPath: { path: '/' } }],
        containers: [{
          name: 'debugger', image: 'busybox', resources: {}, terminationMessagePolicy: 'File',
          volumeMounts: [{ name: 'host-root', mountPath: '/host' }],
        }],
        restartPolicy: 'Never', nodeName: 'worker', hostNetwork: true, hostPID: true, hostIPC: true,
        tolerations: [{ operator: 'Exists' }],
      },
      status: {},
    });
  });
});

describe('decodeKubernetesProtobuf on hand-encoded objects', () => {
  const meta = (name: string, ...more: Part[]): Part => msg(1, str(1, name), str(2, ''), num(7, 0), msg(8), ...more);

  it('Event: Time to RFC3339 seconds, MicroTime to microseconds, ObjectReference, count', () => {
    const raw = concat(
      meta('e1', str(3, 'default')),
      msg(2, str(1, 'Pod'), str(2, 'default'), str(3, 'web'), str(5, ''), str(7, '')),
      str(3, 'Started'),
      str(4, 'Started container'),
      msg(5, str(1, 'kubelet'), str(2, 'worker')),
      msg(6, num(1, 1714557600)),
      msg(7, num(1, 1714557601)),
      num(8, 2),
      str(9, 'Normal'),
      msg(10, num(1, 1714557600), num(2, 123456789)),
      str(14, ''),
    );
    assert.deepStrictEqual(decodeKubernetesProtobuf(envelope('v1', 'Event', raw)), {
      kind: 'Event',
      apiVersion: 'v1',
      metadata: { name: 'e1', namespace: 'default' },
      involvedObject: { kind: 'Pod', namespace: 'default', name: 'web' },
      reason: 'Started',
      message: 'Started container',
      source: { component: 'kubelet', host: 'worker' },
      firstTimestamp: '2024-05-01T10:00:00Z',
      lastTimestamp: '2024-05-01T10:00:01Z',
      count: 2,
      type: 'Normal',
      eventTime: '2024-05-01T10:00:00.123456Z',
      reportingComponent: '', // no omitempty in Go: kept
    });
  });

  it('Endpoints: subsets with addresses, targetRef and ports', () => {
    const raw = concat(
      meta('web'),
      msg(2,
        msg(1, str(1, '10.244.0.7'), str(4, 'worker'), msg(2, str(1, 'Pod'), str(3, 'web-1'))),
        msg(2, str(1, '10.244.0.8')),
        msg(3, str(1, 'http'), num(2, 8080), str(3, 'TCP'))),
    );
    assert.deepStrictEqual(decodeKubernetesProtobuf(envelope('v1', 'Endpoints', raw)), {
      kind: 'Endpoints',
      apiVersion: 'v1',
      metadata: { name: 'web' },
      subsets: [{
        addresses: [{ ip: '10.244.0.7', nodeName: 'worker', targetRef: { kind: 'Pod', name: 'web-1' } }],
        notReadyAddresses: [{ ip: '10.244.0.8' }],
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      }],
    });
  });

  it('EndpointSlice: conditions pointers keep false, ports keep port 0 pointer', () => {
    const raw = concat(
      meta('web-abc', msg(11, str(1, 'kubernetes.io/service-name'), str(2, 'web'))),
      str(4, 'IPv4'),
      msg(2, str(1, '10.244.0.7'), msg(2, num(1, 1), num(2, 0)), str(6, 'worker')),
      msg(3, str(1, 'http'), str(2, 'TCP'), num(3, 0)),
    );
    assert.deepStrictEqual(decodeKubernetesProtobuf(envelope('discovery.k8s.io/v1', 'EndpointSlice', raw)), {
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1',
      metadata: { name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.0.7'], conditions: { ready: true, serving: false }, nodeName: 'worker' }],
      ports: [{ name: 'http', protocol: 'TCP', port: 0 }],
    });
  });

  it('Node: capacity quantities, addresses, unschedulable, taints', () => {
    const raw = concat(
      meta('worker'),
      msg(2, str(3, 'podgate://worker'), num(4, 1), msg(5, str(1, 'k'), str(3, 'NoSchedule')), str(1, '10.244.0.0/24')),
      msg(3, entry(1, 'cpu', msg(2, str(1, '4'))), entry(1, 'pods', msg(2)), msg(5, str(1, 'InternalIP'), str(2, '192.168.1.10'))),
    );
    assert.deepStrictEqual(decodeKubernetesProtobuf(envelope('v1', 'Node', raw)), {
      kind: 'Node',
      apiVersion: 'v1',
      metadata: { name: 'worker' },
      spec: { podCIDR: '10.244.0.0/24', providerID: 'podgate://worker', unschedulable: true, taints: [{ key: 'k', effect: 'NoSchedule' }] },
      status: { capacity: { cpu: '4', pods: '0' }, addresses: [{ type: 'InternalIP', address: '192.168.1.10' }] },
    });
  });

  it('IngressClass', () => {
    const cls = concat(meta('nginx'), msg(2, str(1, 'k8s.io/ingress-nginx')));
    assert.deepStrictEqual(decodeKubernetesProtobuf(envelope('networking.k8s.io/v1', 'IngressClass', cls)), {
      kind: 'IngressClass', apiVersion: 'networking.k8s.io/v1', metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' },
    });
  });

  it('DeleteOptions under any served group version; gracePeriodSeconds 0 is kept', () => {
    const raw = concat(num(1, 0), msg(2, str(1, 'uid-1')), str(4, 'Foreground'), str(5, 'All'));
    for (const apiVersion of ['v1', 'apps/v1', 'meta.k8s.io/v1']) {
      assert.deepStrictEqual(decodeKubernetesProtobuf(envelope(apiVersion, 'DeleteOptions', raw)), {
        kind: 'DeleteOptions', apiVersion, gracePeriodSeconds: 0, preconditions: { uid: 'uid-1' }, propagationPolicy: 'Foreground', dryRun: ['All'],
      });
    }
  });

  it('IntOrString as a string, negative int32, ManagedFields JSON and unknown fields', () => {
    const raw = concat(
      meta('svc',
        msg(17, str(1, 'kubectl'), str(2, 'Update'), str(3, 'v1'), msg(4, num(1, 0)), str(6, 'FieldsV1'), msg(7, str(1, '{"f:spec":{}}')))),
      msg(2, msg(1, str(1, 'http'), num(3, 80), msg(4, num(1, 1), str(3, 'web'))), num(99, 7)),
      str(42, 'a field from the future'),
    );
    assert.deepStrictEqual(decodeKubernetesProtobuf(envelope('v1', 'Service', raw)), {
      kind: 'Service',
      apiVersion: 'v1',
      metadata: {
        name: 'svc',
        managedFields: [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '1970-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
      },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 'web' }] },
    });
    const pod = concat(meta('p'), msg(2, num(25, -5), num(4, -1n)));
    assert.deepStrictEqual(decodeKubernetesProtobuf(envelope('v1', 'Pod', pod)), {
      kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' }, spec: { priority: -5, terminationGracePeriodSeconds: -1 },
    });
  });

  it('every kind the brief lists is decodable, and every type in the schema resolves', () => {
    const kinds = new Set(decodableKinds().map((k) => `${k.apiVersion} ${k.kind}`));
    for (const k of [
      'v1 Service', 'v1 ConfigMap', 'v1 Secret', 'v1 Namespace', 'v1 ServiceAccount', 'v1 Pod', 'v1 Endpoints', 'v1 Node', 'v1 Event',
      'apps/v1 Deployment', 'networking.k8s.io/v1 Ingress', 'networking.k8s.io/v1 IngressClass',
      'discovery.k8s.io/v1 EndpointSlice', 'meta.k8s.io/v1 DeleteOptions', 'batch/v1 Job', 'batch/v1 CronJob',
      'certificates.k8s.io/v1 CertificateSigningRequest',
    ]) assert.ok(kinds.has(k), k);
    const special = new Set(['meta.v1.Time', 'meta.v1.MicroTime', 'meta.v1.Duration', 'meta.v1.FieldsV1', 'runtime.RawExtension', 'intstr.IntOrString', 'resource.Quantity', 'certificates.v1.ExtraValue']);
    const scalar = /^(string|bytes|bool|u?int(32|64)|sint(32|64)|double|float|fixed(32|64))$/;
    for (const root of ROOTS) assert.ok(MESSAGES[root], root);
    for (const [name, rows] of Object.entries(MESSAGES)) {
      for (const [number, json, type, flags = ''] of rows) {
        assert.ok(scalar.test(type) || special.has(type) || MESSAGES[type], `${name}.${json} (${number}) has unknown type ${type}`);
        assert.ok(json !== '' || flags.includes('i'), `${name} field ${number} has no JSON name`);
      }
    }
  });
});

describe('decodeKubernetesProtobuf rejects malformed bodies with 400', () => {
  const service = fixture('service-nodeport.pb');

  it('without the magic', () => badRequest(service.subarray(4), /magic bytes "k8s\\x00"/));
  it('as JSON', () => badRequest(new TextEncoder().encode('{"kind":"Service"}'), /magic bytes/));
  it('empty', () => badRequest(new Uint8Array(0), /magic bytes/));
  it('truncated envelope', () => badRequest(service.subarray(0, 20), /envelope \(runtime.Unknown\) is malformed: .* at byte/));
  it('truncated object', () => {
    const raw = fixture('deployment-hello.pb');
    const d = concat(Uint8Array.of(0x6b, 0x38, 0x73, 0), msg(1, str(1, 'apps/v1'), str(2, 'Deployment')), bytesField(2, raw.subarray(40, 120)));
    badRequest(d, /unable to decode the protobuf body of Deployment: /);
  });
  it('a wire type that does not fit the field', () => {
    badRequest(envelope('v1', 'ConfigMap', concat(num(1, 5))), /of ConfigMap: wire type 0 where 2 was expected \(at metadata\)/);
  });
  it('an unknown kind', () => badRequest(envelope('v1', 'Widget', new Uint8Array(0)), /no kind "Widget" is registered for version "v1"/));
  it('a kind in the wrong group', () => badRequest(envelope('v1', 'Deployment', new Uint8Array(0)), /no kind "Deployment" is registered for version "v1"/));
  it('an unknown group version', () => badRequest(envelope('apps/v1beta1', 'Deployment', new Uint8Array(0)), /version "apps\/v1beta1"/));
  it('no kind', () => badRequest(envelope('v1', '', new Uint8Array(0)), /does not name its kind/));
  it('gzip content encoding', () => badRequest(envelope('v1', 'Namespace', new Uint8Array(0), str(3, 'gzip')), /contentEncoding "gzip"/));
  it('a field key with number 0', () => badRequest(envelope('v1', 'Namespace', Uint8Array.of(0x02, 0x00)), /field number 0/));
  it('a length past the end', () => badRequest(envelope('v1', 'Namespace', Uint8Array.of(0x0a, 0x05, 0x01)), /runs past its message/));
  it('FieldsV1 that is not JSON', () => {
    const raw = msg(1, msg(17, msg(7, str(1, '{not json'))));
    badRequest(envelope('v1', 'Namespace', raw), /embedded raw value is not JSON \(at metadata.managedFields\[0\].fieldsV1\)/);
  });
});

describe('helpers', () => {
  it('formatDuration prints like Go time.Duration.String', () => {
    const cases: Array<[bigint, string]> = [
      [0n, '0s'], [1n, '1ns'], [1500n, '1.5µs'], [300_000_000n, '300ms'], [1_000_000_000n, '1s'],
      [90_500_000_000n, '1m30.5s'], [3_600_000_000_000n, '1h0m0s'], [-2_000_000_000n, '-2s'],
    ];
    for (const [ns, want] of cases) assert.equal(formatDuration(ns), want, String(ns));
  });

  it('isKubernetesProtobuf reads the media type only', () => {
    assert.equal(isKubernetesProtobuf('application/vnd.kubernetes.protobuf'), true);
    assert.equal(isKubernetesProtobuf('application/vnd.kubernetes.protobuf; charset=binary'), true);
    assert.equal(isKubernetesProtobuf('application/vnd.kubernetes.protobuf;stream=watch'), true);
    assert.equal(isKubernetesProtobuf('application/json'), false);
    assert.equal(isKubernetesProtobuf(undefined), false);
  });
});
