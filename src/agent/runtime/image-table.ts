// The image table: how podgate turns a container's `image` into a program to run without pulling
// anything. Built-in images ship with podgate (src/agent/images/) or map to Debian packages; users add
// their own names in a YAML file. Resolution is pure: everything it needs to know about the node
// (which programs exist) is decided when the table is built.

import { resolve as resolvePath } from 'node:path';
import type { Container } from 'kubernetes-types/core/v1.d.ts';
import { parse as parseYaml } from 'yaml';
import { expandEnvList, expandVars } from './env-expansion.ts';
import { imageLookupKeys, parseImageReference } from './image-reference.ts';

export interface ImageEntry {
  /** The table key this entry was found under (`redis`, `podgate/echo`, `myorg/app:1.0`). */
  name: string;
  builtin: boolean;
  /** Docker's ENTRYPOINT: always run; a pod's `command` replaces it. */
  command: string[];
  /** Docker's CMD: default arguments; a pod's `args` replace them. */
  args: string[];
  /** Environment the image provides; the container's own `env` wins. */
  env: Record<string, string>;
  workingDir?: string;
  /** For images whose entrypoint script rearranges arguments (redis): builds argv from the pod's args. */
  argvFor?: (podArgs: string[] | undefined) => string[];
  /** Set when the image is known but cannot run on this node; the message says what to install. */
  unavailable?: string;
}

export interface ImageTable {
  entries: ReadonlyMap<string, ImageEntry>;
  /** Where user entries come from, named in "not found" messages. */
  configFile: string;
}

export interface ResolvedImage {
  /** The image as written in the pod spec. */
  image: string;
  /** The table entry used; undefined when the pod's `command` was run as written. */
  entry?: string;
  builtin: boolean;
  env: Record<string, string>;
  workingDir?: string;
}

export type WaitingReason = 'ErrImagePull' | 'InvalidImageName';

export type ResolveResult =
  | { argv: string[]; image: ResolvedImage }
  | { reason: WaitingReason; message: string };

/** Options for the built-in images; `hasFile` is the only look at the node. */
export interface BuiltinImageOptions {
  /** The Node binary that runs podgate (process.execPath). */
  nodePath: string;
  /** Directory holding the built-in image scripts (src/agent/images, or their compiled copies). */
  imagesDir: string;
  /** The scripts' extension there: `.ts` (sources) or `.cjs` (compiled by compileBuiltinImages). */
  scriptExtension?: '.ts' | '.cjs';
  hasFile: (path: string) => boolean;
}

const REDIS_SERVER = '/usr/bin/redis-server';
const BUSYBOX = '/bin/busybox';
const NGINX = '/usr/sbin/nginx';

/** The images podgate provides itself, keyed by every name they answer to. */
export function builtinImages(opts: BuiltinImageOptions): Map<string, ImageEntry> {
  const entries = new Map<string, ImageEntry>();
  const add = (names: string[], e: Omit<ImageEntry, 'name' | 'builtin'>): void => {
    for (const name of names) entries.set(name, { ...e, name, builtin: true });
  };
  // Absolute whatever the data directory was given as: containers start in /, not in podgate's directory.
  const script = (file: string): string[] => [opts.nodePath, resolvePath(opts.imagesDir, file.replace(/\.ts$/, opts.scriptExtension ?? '.ts'))];

  add(['podgate/echo', 'echoserver', 'registry.k8s.io/echoserver', 'k8s.gcr.io/echoserver', 'gcr.io/google_containers/echoserver'], {
    command: script('echo-server.ts'), args: [], env: {},
  });
  // traefik/whoami and hashicorp/http-echo answer on their own default ports; the echo server also
  // listens on every declared containerPort, so pods written for them keep working.
  add(['traefik/whoami', 'containous/whoami'], { command: script('echo-server.ts'), args: [], env: { PORT: '80' } });
  add(['hashicorp/http-echo'], { command: script('echo-server.ts'), args: [], env: { PORT: '5678' } });
  add(['podgate/tcp-echo'], { command: script('tcp-echo.ts'), args: [], env: {} });
  // A stand-in, not InfluxDB: it answers /ping (204) and /health the way InfluxDB 1.8 does so the
  // seeds' curl examples work; every other path gets the echo server's JSON.
  add(['influxdb'], { command: script('echo-server.ts'), args: [], env: { PORT: '8086', PODGATE_ECHO_FLAVOR: 'influxdb' } });

  const redisMissing = opts.hasFile(REDIS_SERVER) ? undefined
    : `built-in image "redis" runs Debian's redis-server, which is not installed on this node (${REDIS_SERVER} is missing): apt-get install redis-server`;
  add(['redis'], {
    command: [], args: [], env: {},
    argvFor: redisArgv,
    ...(redisMissing ? { unavailable: redisMissing } : {}),
  });

  const busyboxMissing = opts.hasFile(BUSYBOX) ? undefined
    : `built-in image "busybox" runs Debian's busybox, which is not installed on this node (${BUSYBOX} is missing): apt-get install busybox`;
  add(['busybox'], { command: [BUSYBOX], args: ['sh'], env: {}, ...(busyboxMissing ? { unavailable: busyboxMissing } : {}) });

  const nginxMissing = opts.hasFile(NGINX) ? undefined
    : `built-in image "nginx" runs Debian's nginx, which is not installed on this node (${NGINX} is missing): apt-get install nginx-light`;
  add(['nginx'], { command: ['/bin/sh', '-c', NGINX_START, 'nginx'], args: [], env: {}, ...(nginxMissing ? { unavailable: nginxMissing } : {}) });
  return entries;
}

// The official redis image's docker-entrypoint.sh: a first argument that is an option or a .conf
// file means "redis-server with these"; `redis-server ...` runs as given; anything else (redis-cli,
// sh) runs instead of the server. The image's redis-server listens on every address with
// protected mode off; podgate also stops it from writing dump.rdb into whatever directory it runs in.
function redisArgv(podArgs: string[] | undefined): string[] {
  const args = podArgs ?? [];
  const first = args[0];
  if (first !== undefined && !first.startsWith('-') && !first.endsWith('.conf') && first !== 'redis-server') return args;
  const rest = first === 'redis-server' ? args.slice(1) : args;
  const conf = rest[0] !== undefined && rest[0].endsWith('.conf') ? [rest[0]] : [];
  const defaults = ['--bind', '* -::*', '--protected-mode', 'no', '--port', '6379', '--daemonize', 'no', '--save', ''];
  return [REDIS_SERVER, ...conf, ...defaults, ...rest.slice(conf.length)];
}

// nginx as the official image runs it: in the foreground, serving the default page on port 80.
// Debian's /etc/nginx/nginx.conf would daemonize and log to /var/log; this writes a minimal config
// into a private directory and logs to the container's stdout/stderr instead. The container's
// stdout is a socket (Node's pipes are socketpairs), which nginx cannot open as /dev/stdout, so the
// access log goes through a FIFO copied to stdout by `cat` in the same process group.
const NGINX_START = `set -e
d=$(mktemp -d /tmp/podgate-nginx.XXXXXX)
cat > "$d/nginx.conf" <<CONF
worker_processes 1;
pid $d/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log $d/access.log;
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  server {
    listen 80;
    listen [::]:80;
    server_name localhost;
    location / { root /usr/share/nginx/html; index index.html index.htm; }
  }
}
CONF
if [ "$#" -gt 0 ]; then exec "$@"; fi
mkfifo "$d/access.log"
cat "$d/access.log" &
exec ${NGINX} -c "$d/nginx.conf" -g 'daemon off;'`;

/** Parses the user image file (`images: { NAME: { command, args, env, workingDir } }`); throws with the offending key. */
export function parseImageConfig(text: string, file: string): Map<string, ImageEntry> {
  const doc: unknown = parseYaml(text);
  const entries = new Map<string, ImageEntry>();
  if (doc === null || doc === undefined) return entries;
  if (!isRecord(doc)) throw new Error(`${file}: expected a mapping with an "images" key`);
  const images = doc['images'];
  if (images === undefined || images === null) return entries;
  if (!isRecord(images)) throw new Error(`${file}: "images" must be a mapping of image name to { command, args, env }`);
  for (const [rawName, value] of Object.entries(images)) {
    const ref = parseImageReference(rawName);
    if (!ref) throw new Error(`${file}: images.${rawName}: not a valid image name`);
    const name = ref.tag !== undefined ? `${ref.familiar}:${ref.tag}` : ref.familiar;
    if (!isRecord(value)) throw new Error(`${file}: images.${rawName}: expected { command, args, env }`);
    const command = stringList(value['command'], `${file}: images.${rawName}.command`);
    const args = stringList(value['args'], `${file}: images.${rawName}.args`);
    if (command.length === 0 && args.length === 0) throw new Error(`${file}: images.${rawName}: needs a command or args`);
    const env: Record<string, string> = {};
    const rawEnv = value['env'] ?? {};
    if (!isRecord(rawEnv)) throw new Error(`${file}: images.${rawName}.env must be a mapping of name to value`);
    for (const [k, v] of Object.entries(rawEnv)) env[k] = String(v);
    const entry: ImageEntry = { name, builtin: false, command, args, env };
    const wd = value['workingDir'];
    if (typeof wd === 'string') entry.workingDir = wd;
    entries.set(name, entry);
  }
  return entries;
}

/** Builds the table: built-ins first, user entries override them by name. */
export function makeImageTable(builtins: ReadonlyMap<string, ImageEntry>, user: ReadonlyMap<string, ImageEntry>, configFile: string): ImageTable {
  return { entries: new Map([...builtins, ...user]), configFile };
}

/**
 * Decides what to run for a container. With `command` it runs command + args as written (the image
 * is only recorded); otherwise the image table supplies the entrypoint and default args, with the
 * pod's `args` replacing the image's (Docker's ENTRYPOINT/CMD rules). `$(VAR)` references in
 * command and args are expanded from `env` (the container's resolved environment; defaults to its
 * literal `env` values). Never throws: an unusable image yields a Waiting reason and message.
 */
export function resolveContainerCommand(container: Container, images: ImageTable, env?: Readonly<Record<string, string>>): ResolveResult {
  const image = container.image ?? '';
  const vars = env ?? expandEnvList(container.env ?? []);
  const expand = (s: string): string => expandVars(s, (n) => (Object.hasOwn(vars, n) ? vars[n] : undefined));
  const ref = image === '' ? undefined : parseImageReference(image);
  if (image !== '' && !ref) {
    return { reason: 'InvalidImageName', message: `Failed to apply default image tag "${image}": couldn't parse image reference "${image}": invalid reference format` };
  }
  const portsEnv = containerPortsEnv(container);
  const podArgs = container.args?.map(expand);
  if (container.command && container.command.length > 0) {
    return { argv: [...container.command.map(expand), ...(podArgs ?? [])], image: { image, builtin: false, env: portsEnv } };
  }
  if (!ref) {
    return { reason: 'InvalidImageName', message: 'container has neither an image nor a command' };
  }
  const entry = imageLookupKeys(ref).map((k) => images.entries.get(k)).find((e) => e !== undefined);
  if (!entry) {
    const builtins = [...new Set([...images.entries.values()].filter((e) => e.builtin).map((e) => e.name))].sort();
    return {
      reason: 'ErrImagePull',
      message: `image "${image}" is not in podgate's image table (built-in: ${builtins.join(', ')}; add it to ${images.configFile} as images: { ${ref.familiar}: { command: [...] } }, or give the container a command)`,
    };
  }
  if (entry.unavailable) return { reason: 'ErrImagePull', message: entry.unavailable };
  const argv = entry.argvFor ? entry.argvFor(podArgs) : [...entry.command, ...(podArgs ?? entry.args)];
  if (argv.length === 0) return { reason: 'ErrImagePull', message: `image "${image}" has no command and the container gives no args` };
  const resolved: ResolvedImage = { image, entry: entry.name, builtin: entry.builtin, env: { ...entry.env, ...portsEnv } };
  if (entry.workingDir !== undefined) resolved.workingDir = entry.workingDir;
  return { argv, image: resolved };
}

function containerPortsEnv(container: Container): Record<string, string> {
  const ports = (container.ports ?? []).map((p) => `${p.containerPort}${p.protocol === 'UDP' ? '/udp' : p.protocol === 'SCTP' ? '/sctp' : ''}`);
  return ports.length > 0 ? { PODGATE_CONTAINER_PORTS: ports.join(',') } : {};
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${where} must be a list of strings`);
  return v.map((x) => String(x));
}

/** The directory of podgate's built-in image scripts. */
export const BUILTIN_IMAGES_DIR = new URL('../images', import.meta.url).pathname;

/**
 * Loads the image table for this node: built-ins (checking which Debian programs exist) plus the
 * user file when it exists. Throws when the user file exists but is malformed.
 */
export async function loadImageTable(opts: { configFile: string; nodePath?: string; imagesDir?: string; scriptExtension?: '.ts' | '.cjs' }): Promise<ImageTable> {
  const { existsSync } = await import('node:fs');
  const { readFile } = await import('node:fs/promises');
  const builtins = builtinImages({ nodePath: opts.nodePath ?? process.execPath, imagesDir: opts.imagesDir ?? BUILTIN_IMAGES_DIR, scriptExtension: opts.scriptExtension, hasFile: existsSync });
  let text: string | undefined;
  try {
    text = await readFile(opts.configFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return makeImageTable(builtins, text === undefined ? new Map() : parseImageConfig(text, opts.configFile), opts.configFile);
}
