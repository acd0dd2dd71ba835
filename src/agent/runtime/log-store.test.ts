import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync, appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriLineSplitter, formatRfc3339Nano, parseCriLine } from './cri-log.ts';
import { LogNotFoundError, LogStore, RotatingLogFile } from './log-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'podgate-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_795_000_000_000_000_000n; // 2026-11-18T…Z
const sec = (n: number): bigint => T0 + BigInt(n) * 1_000_000_000n;

async function collect(it: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts).toString();
}

function writeRecords(path: string, lines: [number, 'stdout' | 'stderr', string][]): void {
  const f = new RotatingLogFile({ path });
  for (const [s, stream, text] of lines) {
    const sp = new CriLineSplitter({ stream, now: () => sec(s), emit: (r) => f.write(r) });
    sp.write(Buffer.from(text));
    sp.end();
  }
  f.close();
}

describe('CRI log format', () => {
  it('formats RFC3339Nano like Go (trailing zeros dropped)', () => {
    assert.equal(formatRfc3339Nano(1_795_000_000_123_456_789n), '2026-11-18T11:06:40.123456789Z');
    assert.equal(formatRfc3339Nano(1_795_000_000_100_000_000n), '2026-11-18T11:06:40.1Z');
    assert.equal(formatRfc3339Nano(1_795_000_000_000_000_000n), '2026-11-18T11:06:40Z');
  });

  it('splits output into full lines, holds a partial line, and cuts long lines into P records', () => {
    const out: string[] = [];
    const sp = new CriLineSplitter({ stream: 'stdout', now: () => T0, emit: (r) => out.push(r.toString()), maxLine: 8 });
    sp.write(Buffer.from('one\ntw'));
    assert.deepEqual(out, ['2026-11-18T11:06:40Z stdout F one\n']);
    sp.write(Buffer.from('o\n0123456789abc\n\nend'));
    sp.end();
    assert.deepEqual(out.slice(1).map((l) => l.slice(21)), ['stdout F two\n', 'stdout P 01234567\n', 'stdout F 89abc\n', 'stdout F \n', 'stdout F end\n']);
    const rec = parseCriLine(Buffer.from(out[2]!.trimEnd()));
    assert.equal(rec?.partial, true);
    assert.equal(rec?.content.toString(), '01234567');
    assert.equal(parseCriLine(Buffer.from('2026-11-18T11:06:40Z stdout F'))?.content.length, 0);
    assert.equal(parseCriLine(Buffer.from('garbage')), undefined);
  });
});

describe('LogStore', () => {
  const store = new LogStore({ dir, now: () => Number(sec(100) / 1_000_000n) });

  it('reads like kubectl logs: all, --tail, --since-time, --since, --timestamps, --limit-bytes', async () => {
    const path = await store.prepare('pod-a', 'app', 0);
    writeRecords(path, [[1, 'stdout', 'a\n'], [2, 'stderr', 'b\n'], [3, 'stdout', 'c1'], [3, 'stdout', 'c2\n'], [95, 'stdout', 'd\n']]);
    assert.equal(await collect(store.read({ podUid: 'pod-a', container: 'app' })), 'a\nb\nc1\nc2\nd\n');
    assert.equal(await collect(store.read({ podUid: 'pod-a', container: 'app', tailLines: 2 })), 'c2\nd\n');
    assert.equal(await collect(store.read({ podUid: 'pod-a', container: 'app', tailLines: 0 })), '');
    assert.equal(await collect(store.read({ podUid: 'pod-a', container: 'app', sinceTime: new Date(Number(sec(2) / 1_000_000n)) })), 'b\nc1\nc2\nd\n');
    assert.equal(await collect(store.read({ podUid: 'pod-a', container: 'app', sinceSeconds: 10 })), 'd\n');
    assert.equal(await collect(store.read({ podUid: 'pod-a', container: 'app', tailLines: 1, timestamps: true })), '2026-11-18T11:08:15Z d\n');
    assert.equal(await collect(store.read({ podUid: 'pod-a', container: 'app', limitBytes: 3 })), 'a\nb');
  });

  it('keeps the current and previous run only, and serves --previous', async () => {
    for (let n = 0; n < 4; n++) writeRecords(await store.prepare('pod-b', 'app', n), [[n, 'stdout', `run ${n}\n`]]);
    assert.deepEqual(readdirSync(join(dir, 'pod-b', 'app')).sort(), ['2.log', '3.log']);
    assert.equal(await collect(store.read({ podUid: 'pod-b', container: 'app' })), 'run 3\n');
    assert.equal(await collect(store.read({ podUid: 'pod-b', container: 'app', previous: true })), 'run 2\n');
    await assert.rejects(collect(store.read({ podUid: 'pod-b', container: 'nope' })), LogNotFoundError);
    // An explicit run (the one a container id names), as the kubelet handler asks for it.
    assert.equal(await collect(store.read({ podUid: 'pod-b', container: 'app', run: 2 })), 'run 2\n');
    assert.equal(await collect(store.read({ podUid: 'pod-b', container: 'app', run: 3, previous: true })), 'run 3\n');
    await assert.rejects(collect(store.read({ podUid: 'pod-b', container: 'app', run: 1 })), LogNotFoundError);
    await store.prepare('pod-c', 'app', 0);
    await assert.rejects(collect(store.read({ podUid: 'pod-c', container: 'app', previous: true })), /previous terminated container "app" in pod "pod-c" not found/);
  });

  it('rotates a file past its size bound and reads across the rotation', async () => {
    const path = await store.prepare('pod-d', 'app', 0);
    const f = new RotatingLogFile({ path, maxBytes: 200 });
    const sp = new CriLineSplitter({ stream: 'stdout', now: () => T0, emit: (r) => f.write(r) });
    for (let i = 0; i < 20; i++) sp.write(Buffer.from(`line ${i}\n`));
    f.close();
    assert.ok(existsSync(`${path}.1`));
    assert.ok(readFileSync(path).length <= 200 && readFileSync(`${path}.1`).length <= 200);
    const text = await collect(store.read({ podUid: 'pod-d', container: 'app' }));
    assert.ok(text.endsWith('line 18\nline 19\n'), text);
    assert.ok(text.split('\n').length - 1 < 20, 'older records were dropped by rotation');
  });

  it('follows new output until the container stops, or until aborted', async () => {
    let running = true;
    const follow = new LogStore({ dir, pollMs: 10, isRunning: () => running });
    const path = await follow.prepare('pod-e', 'app', 0);
    const f = new RotatingLogFile({ path });
    const sp = new CriLineSplitter({ stream: 'stdout', now: () => T0, emit: (r) => f.write(r) });
    sp.write(Buffer.from('first\n'));
    const got: string[] = [];
    const done = (async () => { for await (const c of follow.read({ podUid: 'pod-e', container: 'app', follow: true })) got.push(c.toString()); })();
    await new Promise((r) => setTimeout(r, 50));
    sp.write(Buffer.from('second\n'));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, ['first\n', 'second\n']);
    sp.write(Buffer.from('last\n'));
    running = false;
    await done;
    assert.deepEqual(got, ['first\n', 'second\n', 'last\n']);
    f.close();

    running = true;
    const ac = new AbortController();
    const aborted = collect(follow.read({ podUid: 'pod-e', container: 'app', follow: true, signal: ac.signal }));
    setTimeout(() => ac.abort(), 30);
    assert.equal(await aborted, 'first\nsecond\nlast\n');
    appendFileSync(path, ''); // the file is untouched by readers
  });
});
