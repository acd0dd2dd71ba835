// Pod validation (pkg/apis/core/validation ValidatePodCreate / ValidatePodUpdate), covering the
// fields podgate runs: containers, ports and hostPorts, probes, env, mounts, policies, tolerations.
import type { Container, ContainerPort, Pod, PodSpec, Probe, Toleration } from 'kubernetes-types/core/v1.d.ts';
import type { FieldError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { inclusiveRangeError, isDNS1123Label, isLabelValue, isQualifiedName, isValidPortName, isValidPortNum, regexError } from './format.ts';
import { child, duplicate, forbidden, goQuote, index, invalid, notSupported, required } from './field-errors.ts';
import { nameIsDNSSubdomain, validateLabels, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';

const supportedProtocols = ['SCTP', 'TCP', 'UDP'];
const maxInt32 = 2147483647;

/** The list kube-apiserver v1.25 puts in its "pod updates may not change fields" message. */
export const podUpdatableFieldsMessage =
  'pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, ' +
  '`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or ' +
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function notFound(path: string, value: string): FieldError {
  return { type: 'FieldValueNotFound', field: path, message: `Not found: ${goQuote(value)}` };
}

function nonNegative(path: string, v: number | undefined): FieldError[] {
  return typeof v === 'number' && v < 0 ? [invalid(path, v, 'must be greater than or equal to 0')] : [];
}

function validatePortNumOrName(v: number | string | undefined, path: string): FieldError[] {
  if (typeof v === 'string') return isValidPortName(v).map((m) => invalid(path, v, m));
  const n = typeof v === 'number' ? v : 0;
  return isValidPortNum(n).map((m) => invalid(path, n, m));
}

function validateContainerPorts(ports: readonly ContainerPort[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const ip = index(path, i);
    if (p.name) {
      const msgs = isValidPortName(p.name);
      if (msgs.length) for (const m of msgs) errs.push(invalid(child(ip, 'name'), p.name, m));
      else if (names.has(p.name)) errs.push(duplicate(child(ip, 'name'), p.name));
      else names.add(p.name);
    }
    if (!p.containerPort) errs.push(required(child(ip, 'containerPort')));
    else for (const m of isValidPortNum(p.containerPort)) errs.push(invalid(child(ip, 'containerPort'), p.containerPort, m));
    if (p.hostPort) for (const m of isValidPortNum(p.hostPort)) errs.push(invalid(child(ip, 'hostPort'), p.hostPort, m));
    if (!p.protocol) errs.push(required(child(ip, 'protocol')));
    else if (!supportedProtocols.includes(p.protocol)) errs.push(notSupported(child(ip, 'protocol'), p.protocol, supportedProtocols));
  });
  return errs;
}

/** Two ports may not claim the same `protocol/hostIP/hostPort` across all containers. */
function checkHostPortConflicts(containers: readonly Container[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  containers.forEach((c, ci) => {
    (c.ports ?? []).forEach((p, pi) => {
      if (!p.hostPort) return;
      const k = `${p.protocol ?? ''}/${p.hostIP ?? ''}/${p.hostPort}`;
      if (seen.has(k)) errs.push(duplicate(child(index(child(index(path, ci), 'ports'), pi), 'hostPort'), k));
      else seen.add(k);
    });
  });
  return errs;
}

function validateHandler(h: Probe, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  const one = (name: string, present: boolean, check: () => FieldError[]) => {
    if (!present) return;
    if (n > 0) {
      errs.push(forbidden(child(path, name), 'may not specify more than 1 handler type'));
      return;
    }
    n++;
    errs.push(...check());
  };
  one('exec', !!h.exec, () => ((h.exec?.command ?? []).length === 0 ? [required(child(child(path, 'exec'), 'command'))] : []));
  one('httpGet', !!h.httpGet, () => {
    const g = h.httpGet!;
    const p = child(path, 'httpGet');
    const out: FieldError[] = [];
    if (!g.path) out.push(required(child(p, 'path')));
    out.push(...validatePortNumOrName(g.port, child(p, 'port')));
    if (g.scheme !== 'HTTP' && g.scheme !== 'HTTPS') out.push(notSupported(child(p, 'scheme'), g.scheme ?? '', ['HTTP', 'HTTPS']));
    for (const hd of g.httpHeaders ?? []) {
      if (!/^[-A-Za-z0-9]+$/.test(hd.name)) {
        out.push(invalid(child(p, 'httpHeaders'), hd.name, regexError("a valid HTTP header must consist of alphanumeric characters or '-'", '[-A-Za-z0-9]+', 'X-Header-Name')));
      }
    }
    return out;
  });
  one('tcpSocket', !!h.tcpSocket, () => validatePortNumOrName(h.tcpSocket?.port, child(child(path, 'tcpSocket'), 'port')));
  one('grpc', !!h.grpc, () => isValidPortNum(h.grpc?.port ?? 0).map((m) => invalid(child(child(path, 'grpc'), 'port'), h.grpc?.port ?? 0, m)));
  if (n === 0) errs.push(required(path, 'must specify a handler type'));
  return errs;
}

function validateProbe(probe: Probe | undefined, path: string): FieldError[] {
  if (!probe) return [];
  const errs = validateHandler(probe, path);
  errs.push(...nonNegative(child(path, 'initialDelaySeconds'), probe.initialDelaySeconds));
  errs.push(...nonNegative(child(path, 'timeoutSeconds'), probe.timeoutSeconds));
  errs.push(...nonNegative(child(path, 'periodSeconds'), probe.periodSeconds));
  errs.push(...nonNegative(child(path, 'successThreshold'), probe.successThreshold));
  errs.push(...nonNegative(child(path, 'failureThreshold'), probe.failureThreshold));
  if (typeof probe.terminationGracePeriodSeconds === 'number' && probe.terminationGracePeriodSeconds <= 0) {
    errs.push(invalid(child(path, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must be greater than 0'));
  }
  return errs;
}

function isEnvVarName(v: string): string[] {
  const errs: string[] = [];
  if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(v)) {
    errs.push(regexError("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit", '[-._a-zA-Z][-._a-zA-Z0-9]*', 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1'));
  }
  if (v === '.') errs.push("must not be '.'");
  else if (v === '..') errs.push("must not be '..'");
  else if (v.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

function validateContainerCommon(c: Container, volumes: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const namePath = child(path, 'name');
  if (!c.name) errs.push(required(namePath));
  else for (const m of isDNS1123Label(c.name)) errs.push(invalid(namePath, c.name, m));
  if (!c.image) errs.push(required(child(path, 'image')));
  const tmp = c.terminationMessagePolicy ?? '';
  if (tmp === '') errs.push(required(child(path, 'terminationMessagePolicy'), "must be 'File' or 'FallbackToLogsOnError'"));
  else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError') errs.push(notSupported(child(path, 'terminationMessagePolicy'), tmp, ['File', 'FallbackToLogsOnError']));
  errs.push(...validateContainerPorts(c.ports ?? [], child(path, 'ports')));
  (c.env ?? []).forEach((e, i) => {
    const p = child(index(child(path, 'env'), i), 'name');
    if (!e.name) errs.push(required(p));
    else for (const m of isEnvVarName(e.name)) errs.push(invalid(p, e.name, m));
  });
  const mountPoints = new Set<string>();
  (c.volumeMounts ?? []).forEach((vm, i) => {
    const p = index(child(path, 'volumeMounts'), i);
    if (!vm.name) errs.push(required(child(p, 'name')));
    else if (!volumes.has(vm.name)) errs.push(notFound(child(p, 'name'), vm.name));
    if (!vm.mountPath) errs.push(required(child(p, 'mountPath')));
    if (mountPoints.has(vm.mountPath)) errs.push(invalid(child(p, 'mountPath'), vm.mountPath, 'must be unique'));
    mountPoints.add(vm.mountPath);
  });
  const pull = c.imagePullPolicy ?? '';
  if (pull === '') errs.push(required(child(path, 'imagePullPolicy')));
  else if (!['Always', 'IfNotPresent', 'Never'].includes(pull)) errs.push(notSupported(child(path, 'imagePullPolicy'), pull, ['Always', 'IfNotPresent', 'Never']));
  return errs;
}

function validateContainers(containers: readonly Container[], volumes: Set<string>, path: string): FieldError[] {
  if (containers.length === 0) return [required(path)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(c, volumes, p));
    if (names.has(c.name)) errs.push(duplicate(child(p, 'name'), c.name));
    else names.add(c.name);
    errs.push(...validateProbes(c, p));
    // Only an init container may have its own restartPolicy (a sidecar's `Always`).
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) errs.push(forbidden(child(p, 'restartPolicy'), 'may not be set for non-init containers'));
  });
  errs.push(...checkHostPortConflicts(containers, path));
  return errs;
}

/** The probes of an app container or a sidecar (validateLivenessProbe, validateReadinessProbe, validateStartupProbe). */
function validateProbes(c: Container, p: string): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...validateProbe(c.livenessProbe, child(p, 'livenessProbe')));
  if (c.livenessProbe && c.livenessProbe.successThreshold !== 1) {
    errs.push(invalid(child(child(p, 'livenessProbe'), 'successThreshold'), c.livenessProbe.successThreshold ?? 0, 'must be 1'));
  }
  errs.push(...validateProbe(c.readinessProbe, child(p, 'readinessProbe')));
  errs.push(...validateProbe(c.startupProbe, child(p, 'startupProbe')));
  if (c.startupProbe && c.startupProbe.successThreshold !== 1) {
    errs.push(invalid(child(child(p, 'startupProbe'), 'successThreshold'), c.startupProbe.successThreshold ?? 0, 'must be 1'));
  }
  return errs;
}

function validateInitContainers(inits: readonly Container[], regular: readonly Container[], volumes: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set(regular.map((c) => c.name));
  inits.forEach((c, i) => {
    const p = index(path, i);
    errs.push(...validateContainerCommon(c, volumes, p));
    // A sidecar (native sidecar container, KEP-753) is an init container with restartPolicy Always.
    let restartAlways = false;
    if (c.restartPolicy !== undefined && c.restartPolicy !== null) {
      if (c.restartPolicy !== 'Always') errs.push(notSupported(child(p, 'restartPolicy'), c.restartPolicy, ['Always']));
      restartAlways = c.restartPolicy === 'Always';
    }
    if (names.has(c.name)) errs.push(duplicate(child(p, 'name'), c.name));
    else if (c.name) names.add(c.name);
    if (restartAlways) {
      // A sidecar may have probes and lifecycle hooks, as an app container.
      errs.push(...validateProbes(c, p));
    } else {
      for (const field of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (c[field]) errs.push(forbidden(child(p, field), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });
  if (inits.length) errs.push(...checkHostPortConflicts(inits, path));
  return errs;
}

export function validateTolerations(tolerations: readonly Toleration[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  tolerations.forEach((t, i) => {
    const p = index(path, i);
    if (t.key) for (const m of isQualifiedName(t.key)) errs.push(invalid(child(p, 'key'), t.key, m));
    if (!t.key && t.operator !== 'Exists') {
      errs.push(invalid(child(p, 'operator'), t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null && t.effect !== 'NoExecute') {
      errs.push(invalid(child(p, 'effect'), t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    switch (t.operator ?? '') {
      case 'Equal':
      case '': {
        const msgs = isLabelValue(t.value ?? '');
        if (msgs.length) errs.push(invalid(child(p, 'operator'), t.value ?? '', msgs.join(';')));
        break;
      }
      case 'Exists':
        if (t.value) errs.push(invalid(child(p, 'operator'), t, "value must be empty when `operator` is 'Exists'", goToleration(t)));
        break;
      default:
        errs.push(notSupported(child(p, 'operator'), t.operator, ['Equal', 'Exists']));
    }
    if (t.effect && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
      errs.push(notSupported(child(p, 'effect'), t.effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']));
    }
  });
  return errs;
}

function goToleration(t: Toleration): string {
  const secs = t.tolerationSeconds === undefined || t.tolerationSeconds === null ? '(*int64)(nil)' : `&${t.tolerationSeconds}`;
  return `core.Toleration{Key:${goQuote(t.key ?? '')}, Operator:${goQuote(t.operator ?? '')}, Value:${goQuote(t.value ?? '')}, Effect:${goQuote(t.effect ?? '')}, TolerationSeconds:${secs}}`;
}

/** ValidatePodSpec, in kube's order. */
export function validatePodSpec(spec: PodSpec, path = 'spec'): FieldError[] {
  const errs: FieldError[] = [];
  const volumes = new Set<string>();
  (spec.volumes ?? []).forEach((v, i) => {
    const p = child(index(child(path, 'volumes'), i), 'name');
    if (!v.name) errs.push(required(p));
    else for (const m of isDNS1123Label(v.name)) errs.push(invalid(p, v.name, m));
    if (volumes.has(v.name)) errs.push(duplicate(p, v.name));
    volumes.add(v.name);
  });
  const containers = spec.containers ?? [];
  errs.push(...validateContainers(containers, volumes, child(path, 'containers')));
  errs.push(...validateInitContainers(spec.initContainers ?? [], containers, volumes, child(path, 'initContainers')));
  const rp = spec.restartPolicy ?? '';
  if (rp === '') errs.push(required(child(path, 'restartPolicy')));
  else if (!['Always', 'OnFailure', 'Never'].includes(rp)) errs.push(notSupported(child(path, 'restartPolicy'), rp, ['Always', 'OnFailure', 'Never']));
  const dp = spec.dnsPolicy ?? '';
  const dnsPolicies = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
  if (dp === '') errs.push(required(child(path, 'dnsPolicy')));
  else if (!dnsPolicies.includes(dp)) errs.push(notSupported(child(path, 'dnsPolicy'), dp, dnsPolicies));
  errs.push(...validateLabels(spec.nodeSelector, child(path, 'nodeSelector')));
  if (spec.hostNetwork) {
    containers.forEach((c, ci) => {
      (c.ports ?? []).forEach((p, pi) => {
        if ((p.hostPort ?? 0) !== p.containerPort) {
          errs.push(invalid(child(index(child(index(child(path, 'containers'), ci), 'ports'), pi), 'containerPort'), p.containerPort, 'must match `hostPort` when `hostNetwork` is true'));
        }
      });
    });
  }
  if (spec.serviceAccountName) {
    for (const m of nameIsDNSSubdomain(spec.serviceAccountName, false)) errs.push(invalid(child(path, 'serviceAccountName'), spec.serviceAccountName, m));
  }
  if (spec.nodeName) {
    for (const m of nameIsDNSSubdomain(spec.nodeName, false)) errs.push(invalid(child(path, 'nodeName'), spec.nodeName, m));
  }
  if (typeof spec.activeDeadlineSeconds === 'number') {
    const v = spec.activeDeadlineSeconds;
    if (v < 1 || v > maxInt32) errs.push(invalid(child(path, 'activeDeadlineSeconds'), v, inclusiveRangeError(1, maxInt32)));
  }
  if (spec.hostname) for (const m of isDNS1123Label(spec.hostname)) errs.push(invalid(child(path, 'hostname'), spec.hostname, m));
  if (spec.subdomain) for (const m of isDNS1123Label(spec.subdomain)) errs.push(invalid(child(path, 'subdomain'), spec.subdomain, m));
  if ((spec.tolerations ?? []).length) errs.push(...validateTolerations(spec.tolerations ?? [], child(path, 'tolerations')));
  if (spec.priorityClassName) {
    for (const m of nameIsDNSSubdomain(spec.priorityClassName, false)) errs.push(invalid(child(path, 'priorityClassName'), spec.priorityClassName, m));
  }
  if (spec.preemptionPolicy !== undefined && spec.preemptionPolicy !== null) {
    const pp = spec.preemptionPolicy;
    if (pp === '') errs.push(required(child(path, 'preemptionPolicy')));
    else if (pp !== 'PreemptLowerPriority' && pp !== 'Never') errs.push(notSupported(child(path, 'preemptionPolicy'), pp, ['PreemptLowerPriority', 'Never']));
  }
  return errs;
}

function specOf(obj: KObject): PodSpec {
  return ((obj as unknown as Pod).spec ?? { containers: [] }) as PodSpec;
}

/** ValidatePodCreate. */
export function validatePod(obj: KObject): FieldError[] {
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...validatePodSpec(specOf(obj)));
  if ((specOf(obj).ephemeralContainers ?? []).length > 0) {
    errs.push(forbidden('spec.ephemeralContainers', 'cannot be set on create'));
  }
  return errs;
}

/** JSON equality that ignores key order and absent-vs-undefined, like Semantic.DeepEqual on JSON. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
    }
    return val;
  }) ?? 'undefined';
}

/** A readable stand-in for kube's cmp.Diff: one -/+ pair per changed spec field. */
function describeSpecDiff(before: PodSpec, after: PodSpec): string {
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
  const lines = ['  core.PodSpec{'];
  let same = 0;
  for (const k of keys) {
    if (jsonEqual(b[k], a[k])) {
      same++;
      continue;
    }
    const field = k.charAt(0).toUpperCase() + k.slice(1);
    if (b[k] !== undefined) lines.push(`- \t${field}: ${JSON.stringify(b[k])},`);
    if (a[k] !== undefined) lines.push(`+ \t${field}: ${JSON.stringify(a[k])},`);
  }
  if (same) lines.splice(1, 0, `  \t... // ${same} identical fields`);
  lines.push('  }');
  return `${lines.join('\n')}\n`;
}

function validateOnlyAddedTolerations(now: readonly Toleration[], before: readonly Toleration[], path: string): FieldError[] {
  for (const old of before) {
    const found = now.some((t) => jsonEqual({ ...old, tolerationSeconds: t.tolerationSeconds }, t));
    if (!found) return [forbidden(path, 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return validateTolerations(now, path);
}

function containerUpdates(now: readonly Container[], before: readonly Container[], path: string): { errs: FieldError[]; stop: boolean } {
  if (now.length !== before.length) return { errs: [forbidden(path, 'pod updates may not add or remove containers')], stop: true };
  const errs: FieldError[] = [];
  now.forEach((c, i) => {
    if (!c.image) errs.push(required(child(index(path, i), 'image')));
    if ((c.image ?? '').trim().length !== (c.image ?? '').length) {
      errs.push(invalid(child(index(path, i), 'image'), c.image, 'must not have leading or trailing whitespace'));
    }
  });
  return { errs, stop: false };
}

/** ValidatePodUpdate: only images, activeDeadlineSeconds, added tolerations and one grace-period case may change. */
export function validatePodUpdate(obj: KObject, old: KObject): FieldError[] {
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  errs.push(...validatePodSpec(specOf(obj)));
  const spec = specOf(obj);
  const before = specOf(old);
  for (const [k, p] of [['containers', 'spec.containers'], ['initContainers', 'spec.initContainers']] as const) {
    const r = containerUpdates(spec[k] ?? [], before[k] ?? [], p);
    errs.push(...r.errs);
    if (r.stop) return errs;
  }
  const ads = spec.activeDeadlineSeconds;
  if (typeof ads === 'number') {
    if (ads < 0 || ads > maxInt32) {
      errs.push(invalid('spec.activeDeadlineSeconds', ads, inclusiveRangeError(0, maxInt32)));
      return errs;
    }
    if (typeof before.activeDeadlineSeconds === 'number' && before.activeDeadlineSeconds < ads) {
      errs.push(invalid('spec.activeDeadlineSeconds', ads, 'must be less than or equal to previous value'));
      return errs;
    }
  } else if (typeof before.activeDeadlineSeconds === 'number') {
    errs.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
  }
  errs.push(...validateOnlyAddedTolerations(spec.tolerations ?? [], before.tolerations ?? [], 'spec.tolerations'));
  if (jsonEqual(spec, before)) return errs;
  const munged: PodSpec = structuredClone(spec);
  munged.containers = (munged.containers ?? []).map((c, i) => ({ ...c, image: before.containers?.[i]?.image } as Container));
  if (munged.initContainers) munged.initContainers = munged.initContainers.map((c, i) => ({ ...c, image: before.initContainers?.[i]?.image } as Container));
  munged.activeDeadlineSeconds = before.activeDeadlineSeconds;
  munged.tolerations = before.tolerations;
  if (typeof before.terminationGracePeriodSeconds === 'number' && before.terminationGracePeriodSeconds < 0 && munged.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = before.terminationGracePeriodSeconds;
  }
  if (!jsonEqual(munged, before)) {
    errs.push(forbidden('spec', `${podUpdatableFieldsMessage}\n${describeSpecDiff(before, munged)}`));
  }
  return errs;
}

