// The objects capture.ts serves to `kubectl debug`; the tests compare the decoded copies with them.

// Served to `kubectl debug`, which copies it (typed client, so protobuf) into a new pod. It is
// written the way Go's JSON encoder writes a Pod, so the parts kubectl keeps must decode back to
// exactly this. It exercises what the create generators do not: inline structs, IntOrString
// names, quantities, times, pointers to zero values and a negative int32.
export const servedPod = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: {
    name: 'web', namespace: 'default', uid: '6d1c0d1e-0000-4000-8000-000000000001', resourceVersion: '42',
    creationTimestamp: '2024-05-01T10:00:00Z', labels: { app: 'web', tier: 'front' }, annotations: { note: 'x' },
  },
  spec: {
    volumes: [
      { name: 'cfg', configMap: { name: 'web-cfg', items: [{ key: 'a', path: 'a.txt', mode: 256 }], defaultMode: 420, optional: false } },
      { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
      { name: 'host', hostPath: { path: '/var/log', type: 'Directory' } },
      { name: 'tok', projected: { sources: [{ serviceAccountToken: { audience: 'api', expirationSeconds: 3600, path: 'token' } }], defaultMode: 420 } },
    ],
    initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'true'], resources: {} }],
    containers: [
      {
        name: 'app',
        image: 'nginx:1.27',
        args: ['--port', '8080', ''],
        workingDir: '/srv',
        ports: [
          { name: 'http', containerPort: 8080, protocol: 'TCP' },
          { name: 'metrics', hostPort: 9090, containerPort: 9090, protocol: 'UDP', hostIP: '0.0.0.0' },
        ],
        envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'web-cfg', optional: true } }],
        env: [
          { name: 'PLAIN', value: 'v' },
          { name: 'EMPTY' },
          { name: 'NODE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
          { name: 'PASS', valueFrom: { secretKeyRef: { name: 'db', key: 'password', optional: false } } },
          { name: 'MEM', valueFrom: { resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } } },
        ],
        resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '250m', memory: '64Mi' } },
        volumeMounts: [{ name: 'cfg', readOnly: true, mountPath: '/etc/web' }, { name: 'scratch', mountPath: '/tmp', subPath: 'x' }],
        livenessProbe: {
          httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] },
          initialDelaySeconds: 3, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3,
        },
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 5 },
        startupProbe: { exec: { command: ['cat', '/tmp/ready'] }, failureThreshold: 30, terminationGracePeriodSeconds: 0 },
        lifecycle: { preStop: { sleep: { seconds: 5 } } },
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
        securityContext: {
          capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
          runAsUser: 1000, runAsNonRoot: true, readOnlyRootFilesystem: false, allowPrivilegeEscalation: false,
        },
        stdin: true,
        tty: true,
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 0,
    activeDeadlineSeconds: 600,
    dnsPolicy: 'ClusterFirst',
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    serviceAccountName: 'default',
    automountServiceAccountToken: false,
    nodeName: 'worker',
    hostNetwork: true,
    securityContext: { fsGroup: 2000, sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
    imagePullSecrets: [{ name: 'regcred' }],
    hostname: 'web-0',
    subdomain: 'web',
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }],
        },
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 10, preference: { matchExpressions: [{ key: 'disk', operator: 'Exists' }] } },
        ],
      },
    },
    schedulerName: 'default-scheduler',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { operator: 'Exists' },
    ],
    hostAliases: [{ ip: '10.0.0.1', hostnames: ['db.local'] }],
    priority: -5,
    dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
    enableServiceLinks: false,
    preemptionPolicy: 'PreemptLowerPriority',
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } },
    ],
  },
  status: {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2024-05-01T10:00:05Z' }],
    hostIP: '192.168.1.10',
    podIP: '10.244.0.7',
    podIPs: [{ ip: '10.244.0.7' }],
    startTime: '2024-05-01T10:00:01Z',
    containerStatuses: [
      {
        name: 'app', state: { running: { startedAt: '2024-05-01T10:00:03Z' } }, lastState: {}, ready: true,
        restartCount: 0, image: 'nginx:1.27', imageID: '', started: true,
      },
    ],
    qosClass: 'Burstable',
  },
};

export const servedNode = {
  kind: 'Node',
  apiVersion: 'v1',
  metadata: { name: 'worker', uid: '6d1c0d1e-0000-4000-8000-000000000002', resourceVersion: '7', creationTimestamp: '2024-05-01T09:00:00Z', labels: { 'kubernetes.io/hostname': 'worker' } },
  spec: {},
  status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }] },
};
