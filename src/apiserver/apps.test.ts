// apps/v1 Deployment and ReplicaSet through the API server in-process: defaults, kube's 422
// words, generation, the status and scale subresources, discovery, and deletion with a
// propagation policy (the finalizers the garbage collector acts on).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { startInProcessApiServer, type InProcessApiServer } from './in-process.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

function deployment(name: string, f: (d: Record<string, any>) => void = () => {}): KObject {
  const d: Record<string, any> = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { app: name } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'podgate/echo', ports: [{ containerPort: 8080 }] }] } },
    },
  };
  f(d);
  return d as KObject;
}

async function failure(p: Promise<unknown>): Promise<StatusError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StatusError, String(err));
    return err;
  }
  throw new Error('expected the request to fail');
}

describe('apps/v1 through the API server', () => {
  let api: InProcessApiServer;
  let client: KubeClient;

  before(async () => {
    api = await startInProcessApiServer();
    client = api.client;
  });
  after(() => api.stop());

  it('defaults a Deployment as SetDefaults_Deployment and its template as SetDefaults_PodSpec, status empty, generation 1', async () => {
    const d = await client.create(r('deployments'), 'default', deployment('defaults', (x) => { delete x.spec.replicas; }));
    const spec = d.spec as Record<string, any>;
    assert.equal(spec.replicas, 1);
    assert.deepEqual(spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
    assert.equal(spec.revisionHistoryLimit, 10);
    assert.equal(spec.progressDeadlineSeconds, 600);
    const pod = spec.template.spec;
    assert.equal(pod.restartPolicy, 'Always');
    assert.equal(pod.dnsPolicy, 'ClusterFirst');
    assert.equal(pod.schedulerName, 'default-scheduler');
    assert.equal(pod.terminationGracePeriodSeconds, 30);
    assert.deepEqual(pod.securityContext, {});
    // Pod-only defaults and admission do not reach a template.
    assert.equal(pod.enableServiceLinks, undefined);
    assert.equal(pod.tolerations, undefined);
    assert.equal(pod.priority, undefined);
    assert.equal(pod.containers[0].imagePullPolicy, 'Always');
    assert.equal(pod.containers[0].ports[0].protocol, 'TCP');
    assert.deepEqual(d.status, {});
    assert.equal(d.metadata.generation, 1);
  });

  it("refuses a selector that does not select the template with kube-apiserver's 422 text", async () => {
    const err = await failure(client.create(r('deployments'), 'default', deployment('bad', (x) => { x.spec.template.metadata.labels = { app: 'other', tier: 'x' }; })));
    assert.equal(err.code, 422);
    assert.equal(err.reason, 'Invalid');
    assert.equal(err.message, 'Deployment.apps "bad" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other", "tier":"x"}: `selector` does not match template `labels`');
    assert.deepEqual(err.details?.causes, [{ reason: 'FieldValueInvalid', field: 'spec.template.metadata.labels',
      message: 'Invalid value: map[string]string{"app":"other", "tier":"x"}: `selector` does not match template `labels`' }]);
  });

  it('refuses other bad specs in kube order and words', async () => {
    const err = await failure(client.create(r('deployments'), 'default', deployment('bad2', (x) => {
      x.spec.replicas = -1;
      x.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } };
      x.spec.template.spec.restartPolicy = 'Never';
      x.spec.minReadySeconds = 700;
    })));
    assert.equal(err.message, 'Deployment.apps "bad2" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, ' +
      'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always", ' +
      'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0, ' +
      'spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds]');
    const empty = await failure(client.create(r('replicasets'), 'default', { ...deployment('rs-empty', (x) => { x.spec.selector = {}; }), kind: 'ReplicaSet' }));
    assert.equal(empty.message, 'ReplicaSet.apps "rs-empty" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment');
  });

  it('bumps the generation on spec and annotation changes only, keeps status on the main resource, and refuses a changed selector', async () => {
    const d = await client.create(r('deployments'), 'default', deployment('gen'));
    const statusWrite = await client.update(r('deployments'), { ...d, metadata: { ...d.metadata, annotations: { 'deployment.kubernetes.io/revision': '1' } },
      status: { observedGeneration: 1, replicas: 3 } }, 'status');
    assert.equal(statusWrite.metadata.generation, 1, 'a status write never bumps the generation');
    assert.equal(statusWrite.metadata.annotations?.['deployment.kubernetes.io/revision'], '1', 'the controller records the revision through /status');
    const labelled = await client.patch(r('deployments'), 'default', 'gen', { metadata: { labels: { extra: 'x' } } });
    assert.equal(labelled.metadata.generation, 1);
    const annotated = await client.patch(r('deployments'), 'default', 'gen', { metadata: { annotations: { 'kubernetes.io/change-cause': 'x' } } });
    assert.equal(annotated.metadata.generation, 2);
    const scaled = await client.patch(r('deployments'), 'default', 'gen', { spec: { replicas: 5 }, status: { replicas: 99 } });
    assert.equal(scaled.metadata.generation, 3);
    assert.equal((scaled.status as { replicas: number }).replicas, 3, 'status is kept on main-resource writes');
    const err = await failure(client.patch(r('deployments'), 'default', 'gen', { spec: { selector: { matchLabels: { app: 'gen', x: 'y' } }, template: { metadata: { labels: { app: 'gen', x: 'y' } } } } }));
    assert.equal(err.message, 'Deployment.apps "gen" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"gen", "x":"y"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable');
  });

  it('serves the scale subresource as autoscaling/v1 Scale (GET, merge PATCH as kubectl scale sends it, PUT with a stale resourceVersion)', async () => {
    const d = await client.create(r('deployments'), 'default', deployment('sc'));
    const scale = await client.request<Record<string, any>>('GET', '/apis/apps/v1/namespaces/default/deployments/sc/scale');
    assert.deepEqual(scale, { kind: 'Scale', apiVersion: 'autoscaling/v1',
      metadata: { name: 'sc', namespace: 'default', uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata.creationTimestamp },
      spec: { replicas: 3 }, status: { replicas: 0, selector: 'app=sc' } });
    const patched = await client.request<Record<string, any>>('PATCH', '/apis/apps/v1/namespaces/default/deployments/sc/scale', { spec: { replicas: 5 } }, 'application/merge-patch+json');
    assert.equal(patched.spec.replicas, 5);
    const after = await client.get(r('deployments'), 'default', 'sc');
    assert.equal((after.spec as { replicas: number }).replicas, 5);
    assert.equal(after.metadata.generation, 2);
    const stale = await failure(client.request('PUT', '/apis/apps/v1/namespaces/default/deployments/sc/scale', { ...scale, spec: { replicas: 1 } }));
    assert.equal(stale.code, 409);
    assert.equal(stale.message, 'Operation cannot be fulfilled on deployments.apps "sc": the object has been modified; please apply your changes to the latest version and try again');
    const negative = await failure(client.request('PUT', '/apis/apps/v1/namespaces/default/deployments/sc/scale', { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'sc' }, spec: { replicas: -1 } }));
    assert.equal(negative.message, 'Scale.autoscaling "sc" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0');
    const text = await failure(client.request('PATCH', '/apis/apps/v1/namespaces/default/deployments/sc/scale', { spec: { replicas: '3' } }, 'application/merge-patch+json'));
    assert.deepEqual([text.code, text.message], [400, 'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string into Go struct field ScaleSpec.spec.replicas of type int32']);
    assert.equal(((await client.get(r('deployments'), 'default', 'sc')).spec as { replicas: number }).replicas, 5, 'never read as 0');
    const missing = await failure(client.request('GET', '/apis/apps/v1/namespaces/default/replicasets/nope/scale'));
    assert.equal(missing.message, 'replicasets.apps "nope" not found');
  });

  it('lists deployments and replicasets in discovery with short names, the all category and scale as autoscaling/v1', async () => {
    const list = await client.request<{ resources: Record<string, unknown>[] }>('GET', '/apis/apps/v1');
    assert.deepEqual(list.resources.map((x) => x.name), ['deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status']);
    assert.deepEqual(list.resources[0], { name: 'deployments', singularName: 'deployment', namespaced: true, kind: 'Deployment',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['deploy'], categories: ['all'] });
    assert.deepEqual(list.resources[1], { name: 'deployments/scale', singularName: '', namespaced: true, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
  });

  it('marks an object with the orphan or foregroundDeletion finalizer for those policies; Background deletes at once', async () => {
    await client.create(r('configmaps'), 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'o' } });
    const orphaned = await client.request<KObject>('DELETE', '/api/v1/namespaces/default/configmaps/o', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' });
    assert.deepEqual(orphaned.metadata.finalizers, ['orphan']);
    assert.ok(orphaned.metadata.deletionTimestamp);
    // Removing the finalizer (the garbage collector's job) completes the delete.
    await client.patch(r('configmaps'), 'default', 'o', { metadata: { finalizers: null } });
    await failure(client.get(r('configmaps'), 'default', 'o'));

    await client.create(r('configmaps'), 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'f' } });
    const fg = await client.request<KObject>('DELETE', '/api/v1/namespaces/default/configmaps/f?propagationPolicy=Foreground');
    assert.deepEqual(fg.metadata.finalizers, ['foregroundDeletion']);
    // Deleting again in the background swaps the finalizer away: nothing left, so it goes.
    await client.request('DELETE', '/api/v1/namespaces/default/configmaps/f?propagationPolicy=Background');
    assert.equal((await failure(client.get(r('configmaps'), 'default', 'f'))).code, 404);

    await client.create(r('configmaps'), 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' } });
    await client.request('DELETE', '/api/v1/namespaces/default/configmaps/b', { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' });
    assert.equal((await failure(client.get(r('configmaps'), 'default', 'b'))).code, 404);

    // Events are not the collector's: an orphaning delete of one deletes it at once instead of
    // leaving a finalizer nothing would take off.
    await client.create(r('events'), 'default', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'ev' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' } } as KObject);
    await client.request('DELETE', '/api/v1/namespaces/default/events/ev?propagationPolicy=Orphan');
    assert.equal((await failure(client.get(r('events'), 'default', 'ev'))).code, 404);

    const both = await failure(client.request('DELETE', '/api/v1/namespaces/default/configmaps/x', { orphanDependents: true, propagationPolicy: 'Orphan' }));
    assert.equal(both.message, 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set');
  });
});
