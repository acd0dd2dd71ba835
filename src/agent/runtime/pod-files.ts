// A pod's own /etc/resolv.conf and /etc/hosts, for containers that run as host processes.
//
// Containers see the host's files, so each one runs in a mount namespace of its own
// (`unshare --mount --propagation slave`) where the pod's files (written under the node's data
// dir) are bind-mounted over the host's, before the container's program is exec'd. Slave
// propagation keeps the host's later mounts and unmounts (pod netns files under /run/netns) flowing
// in, and nothing flows back out: the host's files never change. `kubectl exec` and exec probes
// join that namespace (`nsenter --mount=/proc/<pid>/ns/mnt --wd=<dir>`), so they see the same files.
//
// Pure: the argv builders. I/O: PodFiles, which writes and removes the per-pod files.
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';

/** A file bind-mounted over another inside the container's mount namespace. */
export interface BindMount {
  /** The pod's file on the host (under the node's data dir). */
  readonly source: string;
  /** What it hides in the container: /etc/resolv.conf, /etc/hosts. */
  readonly target: string;
}

export interface MountTools {
  readonly unshare?: string;
  readonly nsenter?: string;
  readonly sh?: string;
}

// Mounts each pair given before `--`, then execs the rest. `mount` failing stops the container
// with its message on stderr (its log) rather than running it with the host's files.
const MOUNT_SCRIPT = 'while [ "$1" != -- ]; do mount -n --bind "$1" "$2" || exit 127; shift 2; done; shift; exec "$@"';

/**
 * The argv prefix that starts a container in a mount namespace of its own with `mounts` in place
 * (pure): `unshare --mount --propagation slave -- /bin/sh -c SCRIPT sh SRC DST … --`, to be followed
 * by the rest of the command (setpriv, the program). Empty when there is nothing to mount.
 */
export function bindMountArgv(mounts: readonly BindMount[], tools: MountTools = {}): string[] {
  if (mounts.length === 0) return [];
  return [
    tools.unshare ?? '/usr/bin/unshare', '--mount', '--propagation', 'slave', '--',
    tools.sh ?? '/bin/sh', '-c', MOUNT_SCRIPT, 'sh', ...mounts.flatMap((m) => [m.source, m.target]), '--',
  ];
}

/**
 * The nsenter options that put an exec (kubectl exec, exec probes, hooks) in a running container's
 * mount namespace (pure). `--wd` because entering a mount namespace resets the working directory.
 */
export function joinMountNamespaceArgs(pid: number, workingDir: string): string[] {
  return [`--mount=/proc/${pid}/ns/mnt`, `--wd=${workingDir}`];
}

/**
 * The whole namespace prefix of a container's command (pure): the network namespace (nsenter
 * --net), and either a new mount namespace with the pod's files (a start) or the running
 * container's (an exec, `joinPid`).
 */
export function namespaceArgv(o: { netnsPath?: string | undefined; bindMounts?: readonly BindMount[] | undefined; joinPid?: number | undefined; workingDir: string; tools?: MountTools }): string[] {
  const nsenter = o.tools?.nsenter ?? '/usr/bin/nsenter';
  const mounts = o.bindMounts ?? [];
  const join = o.joinPid !== undefined && mounts.length > 0 ? joinMountNamespaceArgs(o.joinPid, o.workingDir) : [];
  const out: string[] = [];
  if (o.netnsPath !== undefined || join.length > 0) {
    out.push(nsenter, ...(o.netnsPath !== undefined ? [`--net=${o.netnsPath}`] : []), ...join, '--');
  }
  if (o.joinPid === undefined) out.push(...bindMountArgv(mounts, o.tools ?? {}));
  return out;
}

/**
 * Whether the process at `pid` sees each mount's source at its target (same device and inode,
 * looked up through /proc/PID/root, in the process's own mount namespace). False while the
 * container's mount script has not run yet, and after the host replaced its own file by a rename
 * (systemd-resolved, dhclient, `sed -i`), which takes the bind mount on the old file away in every
 * mount namespace.
 */
export function mountsInPlace(pid: number, mounts: readonly BindMount[], stat: (path: string) => { dev: number; ino: number } = statSync): boolean {
  try {
    return mounts.every((m) => {
      const seen = stat(`/proc/${pid}/root${m.target}`);
      const want = stat(m.source);
      return seen.dev === want.dev && seen.ino === want.ino;
    });
  } catch {
    return false;
  }
}

/** The command that puts a mount back in a running container's mount namespace (pure). */
export function remountArgv(pid: number, m: BindMount, tools: { nsenter?: string; mount?: string } = {}): string[] {
  return [tools.nsenter ?? '/usr/bin/nsenter', `--mount=/proc/${pid}/ns/mnt`, '--', tools.mount ?? '/bin/mount', '-n', '--bind', m.source, m.target];
}

/** What a pod's files hold (undefined: the container sees the host's). */
export interface PodFileContents {
  readonly resolvConf?: string | undefined;
  readonly hosts?: string | undefined;
}

/** Writes and removes the per-pod files under `<dir>/<podUid>/`. */
export class PodFiles {
  readonly #dir: string;
  readonly #exists: (path: string) => boolean;

  constructor(o: { dir: string; exists?: (path: string) => boolean }) {
    this.#dir = o.dir;
    this.#exists = o.exists ?? existsSync;
  }

  /**
   * Writes the pod's files (again: a pod's IP or its DNS settings may have changed since a previous
   * run) and returns the bind mounts for its containers. A file whose target does not exist on
   * this host is left out (there is nothing to mount over).
   */
  async write(podUid: string, files: PodFileContents): Promise<BindMount[]> {
    const dir = join(this.#dir, podUid);
    await mkdir(dir, { recursive: true });
    const mounts: BindMount[] = [];
    for (const [content, name, target] of [[files.resolvConf, 'resolv.conf', '/etc/resolv.conf'], [files.hosts, 'hosts', '/etc/hosts']] as const) {
      const source = join(dir, name);
      if (content === undefined || !this.#exists(target)) {
        await rm(source, { force: true });
        continue;
      }
      await writeFile(source, content, { mode: 0o644 });
      mounts.push({ source, target });
    }
    return mounts;
  }

  /** The pods with files here (directory names: pod UIDs). */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.#dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Removes a pod's files (the pod is gone). */
  async remove(podUid: string): Promise<void> {
    await rm(join(this.#dir, podUid), { recursive: true, force: true });
  }
}

/**
 * What the node gives the runtime port to prepare a pod's files (the composition root builds it
 * from the DNS settings): the bind mounts for its containers, and the events (the kubelet's
 * DNSConfigForming, MissingClusterDNS) to record on the pod.
 */
export interface PodFilesHook {
  prepare(pod: Pod, podIP: string): Promise<{ bindMounts: BindMount[]; events: { type: 'Warning' | 'Normal'; reason: string; message: string }[] }>;
  remove(podUid: string): Promise<void>;
  /** The pods that have files here. */
  list(): Promise<string[]>;
}
