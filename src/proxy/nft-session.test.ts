// NftSession against a real `nft -i` in a throwaway network namespace (needs root, nft, ip, nsenter).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { NftSession, NftSessionUnavailableError, NftTransactionError } from './nft-session.ts';

describe('NftSession', () => {
  const netns = `pgt-nftsess-${process.pid}`;
  const list = () => execFileSync('nsenter', [`--net=/run/netns/${netns}`, '--', 'nft', 'list', 'table', 'inet', 't'], { encoding: 'utf8' });
  let session: NftSession;
  before(() => {
    execFileSync('ip', ['netns', 'add', netns]);
    session = new NftSession({ argv: ['nsenter', `--net=/run/netns/${netns}`, '--', 'nft', '-i'] });
  });
  after(() => {
    session?.close();
    execFileSync('ip', ['netns', 'del', netns]);
  });

  it('applies a multi-line script as one transaction and reports a rejected one, applying none of it', async () => {
    await session.run('add table inet t\nadd chain inet t c { type nat hook prerouting priority -100; policy accept; }\nadd set inet t s { type ipv4_addr; }\nadd rule inet t c ip daddr != 10.0.0.1 meta l4proto tcp dnat ip to 10.0.0.2:80\n');
    assert.match(list(), /ip daddr != 10\.0\.0\.1 meta l4proto tcp dnat ip to 10\.0\.0\.2:80/);
    await assert.rejects(session.run('add element inet t s { 10.1.1.1 }\nadd rule inet t nosuch counter\n'), NftTransactionError);
    assert.doesNotMatch(list(), /10\.1\.1\.1/);
    await assert.rejects(session.run('add rule inet t c bogus\n'), NftTransactionError);
    // Still usable after errors.
    await session.run('add element inet t s { 10.1.1.2 }\n');
    assert.match(list(), /10\.1\.1\.2/);
  });

  it('reports a dead process as unavailable (the caller falls back to nft -f)', async () => {
    const dead = new NftSession({ argv: ['sh', '-c', 'exit 3'] });
    await assert.rejects(dead.run('add table inet t\n'), NftSessionUnavailableError);
    dead.close();
  });
});
