// Every validation 422 recorded from a real kube-apiserver (v1.25) in
// /work/shared/notes/apiserver-golden must come out word for word; the ok-* answers must pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { errors } from '../errors.ts';
import type { KObject } from '../object.ts';
import { applyDefaults } from '../defaults/apply-defaults.ts';
import { validateObject } from './validate-object.ts';
import { applyJsonMergePatch } from '../patch/index.ts';

const dir = '/work/shared/notes/apiserver-golden';

interface Golden {
  file: string;
  method: string;
  path: string;
  contentType: string;
  body: Record<string, unknown>;
  status: number;
  response: Record<string, unknown>;
}

function parseGolden(file: string): Golden {
  const text = readFileSync(`${dir}/${file}`, 'utf8');
  const lines = text.split('\n');
  const req = /^### REQUEST: (\S+) (\S+)/.exec(lines[0] ?? '');
  assert.ok(req, `${file}: no request line`);
  const bodyAt = lines.indexOf('### Body:');
  const contentType = lines.find((l) => l.startsWith('### Content-Type: '))?.slice('### Content-Type: '.length) ?? '';
  const statusLine = lines.find((l) => l.startsWith('HTTP/')) ?? '';
  const responseLine = [...lines].reverse().find((l) => l.startsWith('{')) ?? '{}';
  return {
    file,
    method: req[1]!,
    path: req[2]!,
    contentType,
    body: JSON.parse(lines[bodyAt + 1] ?? '{}') as Record<string, unknown>,
    status: Number(statusLine.split(' ')[1]),
    response: JSON.parse(responseLine) as Record<string, unknown>,
  };
}

const goldens = readdirSync(dir).filter((f) => /^(error-422|ok-)/.test(f) && f.endsWith('.http')).sort().map(parseGolden);

// These 422s come from the registry's allocators (node port and cluster IP ranges and
// bookkeeping), not from validation; the registry reproduces them.
const allocationGoldens = new Set([
  'error-422-clusterip-out-of-range.http',
  'error-422-create-existing-name-but-nodeport-taken.http',
  'error-422-nodeport-80-out-of-range.http',
  'error-422-nodeport-duplicate.http',
  'error-422-update-nodeport-32768-out-of-range-smp.http',
  'error-422-update-nodeport-duplicate-smp.http',
]);

function namespaceOf(path: string): string | undefined {
  return /\/namespaces\/([^/]+)\//.exec(path)?.[1];
}

/** The stored Service "web" the update goldens were sent against (from the PUT answer). */
function storedWeb(): KObject {
  const g = goldens.find((x) => x.file === 'ok-200-put-service-omitting-clusterip-keeps-it.http');
  assert.ok(g);
  return structuredClone(g.response) as unknown as KObject;
}

/** The project's RFC 7386 merge patch, as the server applies it. */
const mergePatch = applyJsonMergePatch;

/** What the server validates: the request body, namespaced from the URL and defaulted, or the patched stored object. */
function objectsFor(g: Golden): { obj: KObject; old?: KObject } {
  if (g.method === 'POST') {
    const obj = structuredClone(g.body) as unknown as KObject;
    obj.metadata = { ...obj.metadata };
    const ns = namespaceOf(g.path);
    if (ns) obj.metadata.namespace = ns;
    applyDefaults(obj.kind, '', obj);
    return { obj };
  }
  const old = storedWeb();
  if (g.method === 'PATCH' && g.contentType === 'application/merge-patch+json') {
    return { obj: mergePatch(old, g.body) as KObject, old };
  }
  return { obj: structuredClone(g.body) as unknown as KObject, old };
}

test('the goldens are all there', () => {
  assert.ok(goldens.filter((g) => g.file.startsWith('error-422')).length >= 18);
});

for (const g of goldens) {
  if (allocationGoldens.has(g.file)) continue;
  if (g.file.startsWith('error-422')) {
    test(`golden ${g.file}`, () => {
      const { obj, old } = objectsFor(g);
      const errs = validateObject(obj.kind, '', obj, old);
      const details = g.response.details as { name: string; kind: string; causes: unknown[] };
      const status = errors.invalid(details.kind, '', details.name, errs).toStatus();
      assert.equal(status.message, g.response.message);
      assert.deepEqual(status.details, g.response.details);
      assert.equal(status.code, 422);
    });
  } else if (g.file.startsWith('ok-201') && g.method === 'POST') {
    test(`golden ${g.file} is accepted`, () => {
      const { obj } = objectsFor(g);
      assert.deepEqual(validateObject(obj.kind, '', obj), []);
    });
  } else if (g.file.startsWith('ok-200')) {
    test(`golden ${g.file}: the stored answer validates as an update of itself`, () => {
      const stored = structuredClone(g.response) as unknown as KObject;
      assert.deepEqual(validateObject(stored.kind, '', stored, storedWeb()), []);
    });
  }
}
