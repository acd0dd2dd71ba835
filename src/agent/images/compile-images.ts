// Built-in images are TypeScript like the rest of podgate, but a pod should not pay at every start
// for type stripping (~0.15 s of CPU, ~30 MB) nor for the ES module loader (~0.07 s, ~14 MB more
// than CommonJS): a 100-pod apply starts 100 of them. So podgate turns each image script once into
// a plain CommonJS file in a cache directory, and pods run those. The scripts keep to a small
// module subset this supports: named imports, `export function` / `export const`.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';

/** ES module syntax of an image script → CommonJS (pure; whitespace mode keeps line numbers). */
export function toCommonJs(tsSource: string): string {
  const exported: string[] = [];
  const js = stripTypeScriptTypes(tsSource, { mode: 'strip' })
    .replace(/^import\s*\{([^}]*)\}\s*from\s*'([^']+)';/gm, (_m, names: string, from: string) => {
      const list = names.split(',').map((n) => n.trim()).filter(Boolean).join(', ');
      return `const { ${list} } = require('${from.replace(/^(\.\/.*)\.ts$/, '$1.cjs')}');`;
    })
    .replace(/^export (async function|function|const|let) ([A-Za-z_$][\w$]*)/gm, (_m, kw: string, name: string) => {
      exported.push(name);
      return `${kw} ${name}`;
    });
  if (/^\s*(import|export)\s/m.test(js)) throw new Error('image script uses module syntax compileBuiltinImages does not convert');
  return `'use strict';\n${js}${exported.length ? `\nmodule.exports = { ${exported.join(', ')} };\n` : ''}`;
}

/** Writes `<outDir>/<name>.cjs` for every image script in `srcDir`; returns `outDir`. Idempotent. */
export function compileBuiltinImages(srcDir: string, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  for (const file of readdirSync(srcDir)) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts') || file === 'compile-images.ts') continue;
    const js = toCommonJs(readFileSync(join(srcDir, file), 'utf8'));
    const target = join(outDir, file.replace(/\.ts$/, '.cjs'));
    if (existsSync(target) && readFileSync(target, 'utf8') === js) continue;
    writeFileSync(`${target}.tmp`, js);
    renameSync(`${target}.tmp`, target);
  }
  return outDir;
}
