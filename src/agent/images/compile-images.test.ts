import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_IMAGES_DIR } from '../runtime/image-table.ts';
import { compileBuiltinImages, toCommonJs } from './compile-images.ts';

describe('compileBuiltinImages', () => {
  it('turns named imports and exports into CommonJS, keeping line numbers', () => {
    const src = "import { a, type B } from './x.ts';\nimport { c } from 'node:os';\nexport function f(n: number): number { return n; }\nexport const k: string = 'v';\n";
    const js = toCommonJs(src);
    assert.match(js, /const \{ a \} = require\('\.\/x\.cjs'\);/);
    assert.match(js, /const \{ c \} = require\('node:os'\);/);
    assert.match(js, /module\.exports = \{ f, k \};/);
    assert.equal(js.split('\n')[3], 'function f(n        )         { return n; }');
  });
  it('compiles the real images into scripts that load', () => {
    const out = mkdtempSync(join(tmpdir(), 'podgate-images-'));
    try {
      compileBuiltinImages(BUILTIN_IMAGES_DIR, out);
      const ports = execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(join(out, 'ports.cjs'))}).listenPorts([], { PORT: '9090' }, 8080)))`]).toString();
      assert.match(ports, /9090/);
      assert.match(readFileSync(join(out, 'echo-server.cjs'), 'utf8'), /require\('\.\/ports\.cjs'\)/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
