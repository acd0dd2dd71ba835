// Parses container image references the way the Docker distribution/reference grammar does, so
// `redis`, `redis:7`, `library/redis` and `docker.io/library/redis:latest` all name one image.

export interface ImageReference {
  /** Registry host (`quay.io`, `localhost:5000`); empty for Docker Hub. */
  domain: string;
  /** Repository path with Docker Hub's `library/` dropped: `redis`, `hashicorp/http-echo`. */
  path: string;
  tag?: string;
  digest?: string;
  /** `domain/path` (or just `path` on Docker Hub): the name image tables are keyed by. */
  familiar: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Parses an image reference; returns undefined when it is not a valid reference (kubelet: InvalidImageName). */
export function parseImageReference(ref: string): ImageReference | undefined {
  if (ref === '' || ref !== ref.trim() || ref.length > 4096) return undefined;
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return undefined;
  }
  const parts = rest.split('/');
  let domain = '';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    parts.shift();
    if (!DOMAIN.test(domain)) return undefined;
  }
  if (parts.length === 0 || !parts.every((p) => COMPONENT.test(p))) return undefined;
  if (DOCKER_HUB.has(domain)) domain = '';
  if (domain === '' && parts.length === 2 && parts[0] === 'library') parts.shift();
  const path = parts.join('/');
  const result: ImageReference = { domain, path, familiar: domain ? `${domain}/${path}` : path };
  if (tag !== undefined) result.tag = tag;
  if (digest !== undefined) result.digest = digest;
  return result;
}

/** Keys to look an image up by, most specific first: `name:tag`, then `name`. */
export function imageLookupKeys(ref: ImageReference): string[] {
  return ref.tag !== undefined ? [`${ref.familiar}:${ref.tag}`, ref.familiar] : [ref.familiar];
}
