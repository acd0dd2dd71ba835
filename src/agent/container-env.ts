// A container's environment as the kubelet builds it (pure): the service env vars of the
// `kubernetes` Service, envFrom, then env with $(VAR) expansion and valueFrom (fieldRef,
// configMapKeyRef, secretKeyRef, resourceFieldRef). A missing ConfigMap/Secret is CreateContainerConfigError.
import type { ConfigMap, Container, Pod, Secret } from 'kubernetes-types/core/v1.d.ts';
import { expandVars } from './runtime/env-expansion.ts';
import { containerResourceValue } from './resource-quantity.ts';

export interface EnvContext {
  podIP: string;
  hostIP: string;
  nodeName: string;
  configMaps: ReadonlyMap<string, ConfigMap>;
  secrets: ReadonlyMap<string, Secret>;
  /** KUBERNETES_SERVICE_HOST and friends (kubelet adds them for the master service). */
  serviceEnv: Readonly<Record<string, string>>;
  /** The node's allocatable quantities (`cpu`, `memory`, …): what an unset limit reads as. */
  allocatable: Readonly<Record<string, string>>;
}

export type EnvResult = { env: Record<string, string> } | { reason: 'CreateContainerConfigError'; message: string };

function fieldRef(pod: Pod, path: string, ctx: EnvContext): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata?.name ?? '';
    case 'metadata.namespace': return pod.metadata?.namespace ?? '';
    case 'metadata.uid': return pod.metadata?.uid ?? '';
    case 'spec.nodeName': return pod.spec?.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP': return ctx.podIP;
    case 'status.podIPs': return ctx.podIP;
    case 'status.hostIP': return ctx.hostIP;
    case 'status.hostIPs': return ctx.hostIP;
    default: return undefined;
  }
}

function decodeSecret(v: string): string {
  return Buffer.from(v, 'base64').toString('utf8');
}

export function resolveEnv(pod: Pod, container: Container, ctx: EnvContext): EnvResult {
  const ns = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = {};
  // The master service's variables are always set; enableServiceLinks governs only the others.
  Object.assign(env, ctx.serviceEnv);
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = ctx.configMaps.get(from.configMapRef.name ?? '');
      if (!cm) {
        if (from.configMapRef.optional) continue;
        return { reason: 'CreateContainerConfigError', message: `configmap "${from.configMapRef.name}" not found` };
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) env[prefix + k] = v;
    }
    if (from.secretRef) {
      const s = ctx.secrets.get(from.secretRef.name ?? '');
      if (!s) {
        if (from.secretRef.optional) continue;
        return { reason: 'CreateContainerConfigError', message: `secret "${from.secretRef.name}" not found` };
      }
      for (const [k, v] of Object.entries(s.data ?? {})) env[prefix + k] = decodeSecret(v);
    }
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expandVars(e.value ?? '', (name) => env[name]);
      continue;
    }
    const vf = e.valueFrom;
    if (vf.fieldRef) {
      const v = fieldRef(pod, vf.fieldRef.fieldPath, ctx);
      if (v === undefined) return { reason: 'CreateContainerConfigError', message: `unsupported fieldPath: ${vf.fieldRef.fieldPath}` };
      env[e.name] = v;
    } else if (vf.configMapKeyRef) {
      const ref = vf.configMapKeyRef;
      const cm = ctx.configMaps.get(ref.name ?? '');
      const v = cm?.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        return { reason: 'CreateContainerConfigError', message: cm ? `couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}` : `configmap "${ref.name}" not found` };
      }
      env[e.name] = v;
    } else if (vf.secretKeyRef) {
      const ref = vf.secretKeyRef;
      const s = ctx.secrets.get(ref.name ?? '');
      const v = s?.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        return { reason: 'CreateContainerConfigError', message: s ? `couldn't find key ${ref.key} in Secret ${ns}/${ref.name}` : `secret "${ref.name}" not found` };
      }
      env[e.name] = decodeSecret(v);
    } else if (vf.resourceFieldRef) {
      const ref = vf.resourceFieldRef;
      // A reference to another container reads that container's resources (kubelet's containerName).
      const target = ref.containerName ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((x) => x.name === ref.containerName) : container;
      const v = target ? containerResourceValue(target, ref.resource, ref.divisor === undefined ? undefined : String(ref.divisor), ctx.allocatable) : undefined;
      if (v === undefined) return { reason: 'CreateContainerConfigError', message: `unsupported container resource : ${ref.resource}` };
      env[e.name] = v;
    }
  }
  return { env };
}
