import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container } from 'kubernetes-types/core/v1.d.ts';
import { builtinImages, makeImageTable, parseImageConfig, resolveContainerCommand, type ImageTable } from './image-table.ts';
import { parseImageReference } from './image-reference.ts';

const NODE = '/opt/node/bin/node';
const DIR = '/opt/podgate/src/agent/images';
function table(opts: { has?: (p: string) => boolean; user?: string } = {}): ImageTable {
  const builtins = builtinImages({ nodePath: NODE, imagesDir: DIR, hasFile: opts.has ?? (() => true) });
  return makeImageTable(builtins, opts.user ? parseImageConfig(opts.user, '/etc/podgate/images.yaml') : new Map(), '/etc/podgate/images.yaml');
}
function container(c: Partial<Container>): Container {
  return { name: 'c', ...c };
}
function argvOf(r: ReturnType<typeof resolveContainerCommand>): string[] {
  assert.ok('argv' in r, JSON.stringify(r));
  return r.argv;
}

describe('parseImageReference', () => {
  const cases: [string, string | undefined, string | undefined][] = [
    ['redis', 'redis', undefined],
    ['redis:7', 'redis', '7'],
    ['library/redis', 'redis', undefined],
    ['docker.io/library/redis:latest', 'redis', 'latest'],
    ['index.docker.io/hashicorp/http-echo:1.0', 'hashicorp/http-echo', '1.0'],
    ['registry.k8s.io/echoserver:1.10', 'registry.k8s.io/echoserver', '1.10'],
    ['localhost:5000/app', 'localhost:5000/app', undefined],
    ['redis@sha256:' + 'a'.repeat(64), 'redis', undefined],
  ];
  for (const [ref, familiar, tag] of cases) {
    it(`parses ${ref}`, () => {
      const r = parseImageReference(ref);
      assert.equal(r?.familiar, familiar);
      assert.equal(r?.tag, tag);
    });
  }
  for (const bad of ['', 'Redis', 'redis:', 'redis::7', 'a b', 'redis@sha256:xyz', '/redis']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(parseImageReference(bad), undefined));
  }
});

describe('resolveContainerCommand', () => {
  it('names the built-in images\' scripts by absolute path, also from a relative data directory (containers start in /)', () => {
    const rel = makeImageTable(builtinImages({ nodePath: NODE, imagesDir: 'data/node/images', hasFile: () => true }), new Map(), 'data/images.yaml');
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'podgate/echo' }), rel)), [NODE, `${process.cwd()}/data/node/images/echo-server.ts`]);
  });
  it('runs command + args as written, expanding $(VAR) from env, and only records the image', () => {
    const r = resolveContainerCommand(container({
      image: 'no-such-image:1', command: ['sh', '-c', 'echo $(GREETING) $$(GREETING) $(MISSING)'], args: ['x$(GREETING)'],
      env: [{ name: 'GREETING', value: 'hi' }],
    }), table());
    assert.deepEqual(argvOf(r), ['sh', '-c', 'echo hi $(GREETING) $(MISSING)', 'xhi']);
    assert.ok('image' in r && r.image.entry === undefined && r.image.image === 'no-such-image:1');
  });

  it('expands from the resolved env the agent passes (valueFrom already applied)', () => {
    const r = resolveContainerCommand(container({ command: ['echo', '$(POD_IP)'] }), table(), { POD_IP: '10.244.0.5' });
    assert.deepEqual(argvOf(r), ['echo', '10.244.0.5']);
  });

  it('finds an image by name with or without tag and registry', () => {
    for (const image of ['podgate/echo', 'podgate/echo:1.2', 'docker.io/podgate/echo:latest', 'echoserver', 'registry.k8s.io/echoserver:1.10']) {
      assert.deepEqual(argvOf(resolveContainerCommand(container({ image }), table())), [NODE, `${DIR}/echo-server.ts`], image);
    }
  });

  it('applies Docker ENTRYPOINT/CMD rules: pod args replace the default args, command replaces both', () => {
    const t = table();
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'busybox' }), t)), ['/bin/busybox', 'sh']);
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'busybox', args: ['sleep', '5'] }), t)), ['/bin/busybox', 'sleep', '5']);
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'busybox:1.36', command: ['sleep'], args: ['5'] }), t)), ['sleep', '5']);
  });

  it('gives the image env and the declared container ports to the process', () => {
    const r = resolveContainerCommand(container({ image: 'influxdb:1.8', ports: [{ containerPort: 8086 }, { containerPort: 8089, protocol: 'UDP' }] }), table());
    assert.ok('image' in r);
    assert.deepEqual(r.image.env, { PORT: '8086', PODGATE_ECHO_FLAVOR: 'influxdb', PODGATE_CONTAINER_PORTS: '8086,8089/udp' });
    assert.equal(r.image.entry, 'influxdb');
  });

  it('runs redis-server as the official image does, with config file and options from args', () => {
    const t = table();
    const defaults = ['--bind', '* -::*', '--protected-mode', 'no', '--port', '6379', '--daemonize', 'no', '--save', ''];
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'redis' }), t)), ['/usr/bin/redis-server', ...defaults]);
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'redis:7', args: ['--appendonly', 'yes'] }), t)), ['/usr/bin/redis-server', ...defaults, '--appendonly', 'yes']);
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'redis', args: ['redis-server', '/etc/redis/r.conf', '--port', '7000'] }), t)),
      ['/usr/bin/redis-server', '/etc/redis/r.conf', ...defaults, '--port', '7000']);
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'redis', args: ['redis-cli', 'ping'] }), t)), ['redis-cli', 'ping']);
  });

  it('says what to install when a Debian-backed image is missing', () => {
    const r = resolveContainerCommand(container({ image: 'redis' }), table({ has: () => false }));
    assert.deepEqual(r, { reason: 'ErrImagePull', message: 'built-in image "redis" runs Debian\'s redis-server, which is not installed on this node (/usr/bin/redis-server is missing): apt-get install redis-server' });
  });

  it('names the built-ins and the config file for an unknown image', () => {
    const r = resolveContainerCommand(container({ image: 'quay.io/acme/thing:2' }), table());
    assert.ok('reason' in r);
    assert.equal(r.reason, 'ErrImagePull');
    assert.match(r.message, /^image "quay.io\/acme\/thing:2" is not in podgate's image table \(built-in: .*busybox.*podgate\/echo.*redis.*; add it to \/etc\/podgate\/images.yaml/);
  });

  it('rejects an invalid image name as kubelet does', () => {
    assert.deepEqual(resolveContainerCommand(container({ image: 'Bad:Name:x' }), table()), {
      reason: 'InvalidImageName',
      message: 'Failed to apply default image tag "Bad:Name:x": couldn\'t parse image reference "Bad:Name:x": invalid reference format',
    });
  });

  it('user entries from the config file add names and override built-ins', () => {
    const t = table({ user: 'images:\n  myorg/app:1.0:\n    command: [/usr/local/bin/app]\n    args: [--serve]\n    env: { MODE: prod, N: 3 }\n  redis:\n    command: [/opt/redis/bin/redis-server]\n' });
    const r = resolveContainerCommand(container({ image: 'docker.io/myorg/app:1.0' }), t);
    assert.deepEqual(argvOf(r), ['/usr/local/bin/app', '--serve']);
    assert.ok('image' in r && r.image.env['MODE'] === 'prod' && r.image.env['N'] === '3' && !r.image.builtin);
    assert.ok('reason' in resolveContainerCommand(container({ image: 'myorg/app:2.0' }), t), 'a tagged entry matches only its tag');
    assert.deepEqual(argvOf(resolveContainerCommand(container({ image: 'redis' }), t)), ['/opt/redis/bin/redis-server']);
  });

  it('reports a malformed config file with the offending key', () => {
    assert.throws(() => parseImageConfig('images:\n  app:\n    command: notalist\n', 'f.yaml'), /f.yaml: images.app.command must be a list of strings/);
    assert.throws(() => parseImageConfig('images:\n  app: {}\n', 'f.yaml'), /images.app: needs a command or args/);
  });
});
