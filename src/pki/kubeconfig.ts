// A kubeconfig for the real kubectl: one cluster, one user, one context, all named 'podgate'
// unless told otherwise; credentials inline (*-data fields, base64) so the file stands alone.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../util/write-file-atomic.ts';

export interface KubeconfigUser {
  readonly token?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

export interface KubeconfigOptions {
  /** e.g. https://127.0.0.1:6443 */
  readonly server: string;
  readonly caPem: string;
  readonly user: KubeconfigUser;
  readonly clusterName?: string;
  readonly contextName?: string;
  readonly userName?: string;
  readonly namespace?: string;
}

/** The kubeconfig as YAML text. Throws TypeError when only one of certPem/keyPem is given. */
export function renderKubeconfig(opts: KubeconfigOptions): string {
  const cluster = opts.clusterName ?? 'podgate';
  const context = opts.contextName ?? 'podgate';
  const userName = opts.userName ?? 'podgate';
  if ((opts.user.certPem === undefined) !== (opts.user.keyPem === undefined)) {
    throw new TypeError('kubeconfig user: certPem and keyPem go together');
  }
  const user: Record<string, string> = {};
  if (opts.user.certPem !== undefined) user['client-certificate-data'] = base64(opts.user.certPem);
  if (opts.user.keyPem !== undefined) user['client-key-data'] = base64(opts.user.keyPem);
  if (opts.user.token !== undefined) user['token'] = opts.user.token;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: opts.server, 'certificate-authority-data': base64(opts.caPem) } }],
    users: [{ name: userName, user }],
    contexts: [
      {
        name: context,
        context: { cluster, user: userName, ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}) },
      },
    ],
    'current-context': context,
    preferences: {},
  };
  // kubectl reads YAML 1.1 (sigs.k8s.io/yaml): emit in that style so e.g. a token like "0777" or
  // "yes" stays a string.
  return stringify(doc, { version: '1.1', lineWidth: 0 });
}

/**
 * Writes the kubeconfig to `path` with mode 0600, atomically (temp file + rename), creating the
 * parent directory (0700) when missing. Throws on I/O errors.
 */
export async function writeKubeconfig(path: string, opts: KubeconfigOptions): Promise<void> {
  const text = renderKubeconfig(opts);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, text, 0o600);
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
