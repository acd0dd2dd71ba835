// What a control plane publishes for joining nodes, and how a node pins it, as kubeadm does.
import { createHash, X509Certificate } from 'node:crypto';

/** kubeadm's public key pin of a CA certificate: `sha256:` + the hex SHA-256 of its DER SubjectPublicKeyInfo. */
export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** The kubeconfig kubeadm publishes in kube-public/cluster-info: the server and its CA, no user. */
export function clusterInfoKubeconfig(server: string, caPem: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    `    server: ${server}`,
    '  name: ""',
    'contexts: null',
    'current-context: ""',
    'preferences: {}',
    'users: null',
    '',
  ].join('\n');
}
