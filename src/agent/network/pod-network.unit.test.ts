// PodNetwork's edge with a recording fake Exec: which commands run, in which order, and how
// failures and repeats are handled. No root needed.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, type Exec } from '../../util/exec.ts';
import { PodNetwork, STATE_FILE } from './pod-network.ts';
import { hostVethName, podNetnsName } from './plan.ts';
import type { PodNetworkPort } from '../ports.ts';

interface Call { argv: string; input?: string }

function fakeExec(respond: (argv: string, input?: string) => string | CommandError = () => ''): { exec: Exec; calls: Call[] } {
  const calls: Call[] = [];
  const exec: Exec = async (argv, opts) => {
    const line = argv.join(' ');
    calls.push(opts?.input === undefined ? { argv: line } : { argv: line, input: opts.input });
    await new Promise((r) => setImmediate(r));
    const out = respond(line, opts?.input);
    if (out instanceof CommandError) throw out;
    return { stdout: out, stderr: '' };
  };
  return { exec, calls };
}
const fail = (argv: string, stderr: string) => new CommandError(argv.split(' '), 2, stderr);

describe('PodNetwork (fake exec)', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'podgate-net-unit-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const make = (exec: Exec, logs: string[] = []) => new PodNetwork({
    nodeName: 'n1', nodeIP: '192.0.2.10', podCIDR: '10.244.1.0/24', clusterCIDR: '10.244.0.0/16', stateDir: dir, log: (m) => logs.push(m), exec,
  });

  it('sets up the bridge, sysctls and table in that order', async () => {
    const { exec, calls } = fakeExec((a) => (a.startsWith('ip link add podgate0') ? fail(a, 'RTNETLINK answers: File exists') : a.includes('address show') ? '[{"addr_info":[{"local":"10.244.9.1","prefixlen":24}]}]' : ''));
    await make(exec).setupNode();
    assert.deepEqual(calls.map((c) => c.argv), [
      'ip link add podgate0 type bridge',
      'ip -j -4 address show dev podgate0',
      'ip -batch -',
      'sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.podgate0.route_localnet=1',
      'nft -f -',
    ]);
    assert.match(calls[2]!.input!, /^address del 10\.244\.9\.1\/24 dev podgate0\n/);
    assert.match(calls[4]!.input!, /^table inet podgate_node\ndelete table inet podgate_node\ntable inet podgate_node \{/);
  });

  it('adds a pod once, repairs on repeat, and persists the allocation', async () => {
    const netns = podNetnsName('n1', 'u1');
    const veth = hostVethName('u1');
    let exists = false;
    const { exec, calls } = fakeExec((a) => {
      if (exists && (a.startsWith('ip netns add') || a.startsWith('ip link add'))) return fail(a, a.startsWith('ip netns') ? `Cannot create namespace file "/run/netns/${netns}": File exists` : 'RTNETLINK answers: File exists');
      return '';
    });
    const net = make(exec);
    const first = await net.addPod({ namespace: 'ns', name: 'p', uid: 'u1' });
    assert.deepEqual(first, { ip: '10.244.1.2', netns, netnsPath: `/run/netns/${netns}` });
    assert.deepEqual(calls.map((c) => c.argv), [
      `ip netns add ${netns}`,
      `ip link add ${veth} type veth peer name eth0 netns ${netns}`,
      'ip -batch -',
      `ip -n ${netns} -batch -`,
    ]);
    exists = true;
    assert.deepEqual(await net.addPod({ namespace: 'ns', name: 'p', uid: 'u1' }), first);
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as { pods: Record<string, { ip: string }> };
    assert.deepEqual(Object.keys(state.pods), ['u1']);
    // A fresh instance (restart) reads the file back.
    assert.deepEqual(await make(fakeExec().exec).addPod({ namespace: 'ns', name: 'p', uid: 'u1' }), first);
  });

  it('undoes a failed addPod and frees the address', async () => {
    const logs: string[] = [];
    const { exec, calls } = fakeExec((a) => (a.startsWith('ip -n') ? fail(a, 'Error: Nexthop has invalid gateway.') : ''));
    const net = make(exec, logs);
    await assert.rejects(net.addPod({ namespace: 'ns', name: 'p', uid: 'u1' }), /Nexthop has invalid gateway/);
    assert.deepEqual(calls.slice(-2).map((c) => c.argv), [`ip link del dev ${hostVethName('u1')}`, `ip netns del ${podNetnsName('n1', 'u1')}`]);
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as { pods: object };
    assert.deepEqual(state.pods, {});
  });

  it('allocates distinct addresses to concurrent pods', async () => {
    const net: PodNetworkPort = make(fakeExec().exec); // the node agent's port is satisfied
    const uids = Array.from({ length: 30 }, (_, i) => `u${i}`);
    const got = await Promise.all(uids.map((uid) => net.addPod({ namespace: 'ns', name: uid, uid })));
    assert.equal(new Set(got.map((g) => g.ip)).size, 30);
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as { pods: object };
    assert.equal(Object.keys(state.pods).length, 30);
    assert.deepEqual(await net.listPods(), uids.sort());
  });

  it('removePod tolerates what is already gone', async () => {
    const { exec, calls } = fakeExec((a) => (a.startsWith('ip link del') ? fail(a, 'Cannot find device "vethx"') : a.startsWith('ip netns del') ? fail(a, 'Cannot remove namespace file "/run/netns/x": No such file or directory') : ''));
    await make(exec).removePod('gone');
    assert.equal(calls.length, 2);
  });

  it('setHostPorts validates first and skips an unchanged ruleset', async () => {
    const { exec, calls } = fakeExec();
    const net = make(exec);
    await assert.rejects(net.setHostPorts([{ hostPort: 0, protocol: 'TCP', podIP: '10.244.1.2', containerPort: 80 }]), /hostPort must be 1-65535/);
    assert.equal(calls.length, 0);
    const mapping = [{ hostPort: 80, protocol: 'TCP' as const, podIP: '10.244.1.2', containerPort: 8080 }];
    await net.setHostPorts(mapping);
    await net.setHostPorts(mapping);
    assert.deepEqual(calls.map((c) => c.argv), ['nft -f -']);
    assert.match(calls[0]!.input!, /tcp dport 80 dnat ip to 10\.244\.1\.2:8080/);
  });

  it('lists only this node\'s pod netns and collects garbage', async () => {
    const mine = podNetnsName('n1', 'keep');
    const orphan = podNetnsName('n1', 'orphan');
    const { exec, calls } = fakeExec((a) => (a === 'ip netns list' ? `${orphan} (id: 3)\n${podNetnsName('n2', 'x')}\nother\n${mine}\n` : ''));
    const net = make(exec);
    assert.deepEqual(await net.listPodNetns(), [mine, orphan].sort());
    assert.deepEqual(await net.collectGarbage(['keep']), [orphan]);
    assert.ok(calls.some((c) => c.argv === `ip netns del ${orphan}`));
    assert.ok(!calls.some((c) => c.argv === `ip netns del ${mine}`));
  });
});
