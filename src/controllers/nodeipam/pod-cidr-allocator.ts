// Pod CIDRs for nodes: one /24 (by default) per node out of the cluster pod range (default
// 10.244.0.0/16), as kube-controller-manager's node IPAM range allocator hands them out.
// Pure and in-memory; rebuilt from the Nodes' spec.podCIDR on start.
import { formatIpv4, parseCidr } from '../../api/net/cidr.ts';

export class PodCidrAllocator {
  readonly #base: number;
  readonly #count: number;
  readonly #size: number;
  readonly #maskBits: number;
  readonly #used = new Set<number>();

  constructor(opts: { clusterCIDR: string; nodeMaskSize?: number }) {
    const c = parseCidr(opts.clusterCIDR);
    this.#maskBits = opts.nodeMaskSize ?? 24;
    if (this.#maskBits < c.prefix || this.#maskBits > 30) throw new Error(`node mask /${this.#maskBits} does not fit in ${c.text}`);
    this.#base = c.base;
    this.#size = 2 ** (32 - this.#maskBits);
    this.#count = 2 ** (this.#maskBits - c.prefix);
  }

  /** Marks a CIDR already held by a node; false when it is outside the range or misaligned. */
  occupy(cidr: string): boolean {
    const c = parseCidr(cidr);
    const idx = (c.base - this.#base) / this.#size;
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.#count || c.prefix !== this.#maskBits) return false;
    this.#used.add(idx);
    return true;
  }

  /** The next free CIDR, or undefined when the range is full. */
  allocate(): string | undefined {
    for (let i = 0; i < this.#count; i++) {
      if (this.#used.has(i)) continue;
      this.#used.add(i);
      return `${formatIpv4(this.#base + i * this.#size)}/${this.#maskBits}`;
    }
    return undefined;
  }

  release(cidr: string): void {
    const c = parseCidr(cidr);
    this.#used.delete((c.base - this.#base) / this.#size);
  }
}
