import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import { choosePod, defaultLocalPort, parseDuration, parsePortSpec, parseTarget, remotePortsFor } from './port-forward-command.ts';

const pod = (name: string, o: { ready?: boolean; phase?: string; created?: string; deleting?: boolean } = {}): Pod => ({
  metadata: { name, uid: `uid-${name}`, creationTimestamp: o.created ?? '2025-01-01T00:00:00Z', ...(o.deleting ? { deletionTimestamp: '2025-01-02T00:00:00Z' } : {}) },
  spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }, { name: 'dns', containerPort: 5354 }] }] },
  status: { phase: o.phase ?? 'Running', conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
});

describe('podgate port-forward arguments', () => {
  test('port specs: kubectl forms plus /udp', () => {
    assert.deepEqual(parsePortSpec('8080:80'), { local: 8080, remote: 80, protocol: 'tcp', text: '8080:80' });
    assert.deepEqual(parsePortSpec('80'), { local: undefined, remote: 80, protocol: 'tcp', text: '80' });
    assert.deepEqual(parsePortSpec(':80'), { local: 0, remote: 80, protocol: 'tcp', text: ':80' });
    assert.deepEqual(parsePortSpec('0:9000/udp'), { local: 0, remote: 9000, protocol: 'udp', text: '0:9000/udp' });
    assert.deepEqual(parsePortSpec('5353:dns/UDP'), { local: 5353, remote: 'dns', protocol: 'udp', text: '5353:dns/UDP' });
    for (const bad of ['', '70000', '1:0', 'a:b', '80/sctp', '80:']) assert.throws(() => parsePortSpec(bad), /invalid/, bad);
  });

  test('targets: pod/, svc/, bare names', () => {
    assert.deepEqual(parseTarget('web'), { kind: 'pod', name: 'web' });
    assert.deepEqual(parseTarget('pods/web'), { kind: 'pod', name: 'web' });
    assert.deepEqual(parseTarget('svc/echo'), { kind: 'service', name: 'echo' });
    assert.deepEqual(parseTarget('service/echo'), { kind: 'service', name: 'echo' });
    assert.throws(() => parseTarget('deployment/x'), /pods and services/);
  });

  test('remote ports: container port names for pods; service port → targetPort (number or name) for Services', () => {
    const p = pod('a');
    assert.deepEqual(remotePortsFor([parsePortSpec('1:http'), parsePortSpec('2:dns/udp'), parsePortSpec('3:dns'), parsePortSpec('4:99')], p), [8080, 5353, 5354, 99]);
    assert.throws(() => remotePortsFor([parsePortSpec('nope')], p), /does not have a named port 'nope'/);
    const svc: Service = { metadata: { name: 'echo' }, spec: { ports: [
      { name: 'web', port: 80, targetPort: 'http' },
      { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
      { name: 'dns-tcp', port: 53, targetPort: 'dns', protocol: 'TCP' },
      { name: 'plain', port: 9000 },
    ] } };
    assert.deepEqual(remotePortsFor([parsePortSpec('80'), parsePortSpec('web'), parsePortSpec('53/udp'), parsePortSpec('53'), parsePortSpec('9000')], p, svc),
      [8080, 8080, 5353, 5354, 9000]);
    assert.throws(() => remotePortsFor([parsePortSpec('81')], p, svc), /Service echo does not have a service port 81/);
    // kubectl's local port when none is given: the number given, else the named port's number.
    assert.equal(defaultLocalPort(parsePortSpec('80'), 8080, svc), 80);
    assert.equal(defaultLocalPort(parsePortSpec('web'), 8080, svc), 80);
    assert.equal(defaultLocalPort(parsePortSpec('http'), 8080), 8080);
    assert.equal(defaultLocalPort(parsePortSpec(':web'), 8080, svc), 0);
  });

  test('a Service forward picks a Running, Ready, not terminating pod, the oldest, avoiding the one just lost', () => {
    const pods = [
      pod('new', { created: '2025-01-03T00:00:00Z' }),
      pod('unready', { ready: false, created: '2025-01-01T00:00:00Z' }),
      pod('old', { created: '2025-01-02T00:00:00Z' }),
      pod('going', { deleting: true, created: '2024-01-01T00:00:00Z' }),
      pod('pending', { phase: 'Pending', created: '2024-01-01T00:00:00Z' }),
    ];
    assert.equal(choosePod(pods)?.metadata?.name, 'old');
    assert.equal(choosePod(pods, 'uid-old')?.metadata?.name, 'new');
    assert.equal(choosePod([pod('only')], 'uid-only')?.metadata?.name, 'only');
    assert.equal(choosePod([pod('x', { ready: false })]), undefined);
  });
});

describe('podgate port-forward durations', () => {
  test('takes Go durations as kubectl does, and a bare number as seconds', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('45'), 45_000);
    for (const bad of ['', '1x', 'm', '1m30']) assert.throws(() => parseDuration(bad), /invalid duration/);
  });
});
