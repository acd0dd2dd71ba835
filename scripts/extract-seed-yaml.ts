// Copies every YAML snippet of the user's source documents (../shared/seeds, blog posts in
// Markdown or HTML) into test/e2e/seeds/, verbatim, so end-to-end tests apply them unchanged.
// Run: node scripts/extract-seed-yaml.ts [seedsDir]
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const seedsDir = process.argv[2] ?? join(import.meta.dirname, '../../shared/seeds');
const outDir = join(import.meta.dirname, '../test/e2e/seeds');
mkdirSync(outDir, { recursive: true });

function unhtml(s: string): string {
  return s.replace(/<[^>]+>/g, '').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

for (const file of readdirSync(seedsDir).sort()) {
  const text = readFileSync(join(seedsDir, file), 'utf8');
  const prefix = basename(file).slice(0, 3);
  const blocks: string[] = [];
  for (const m of text.matchAll(/```ya?ml\n([\s\S]*?)```/g)) blocks.push(m[1]!);
  // Unlabelled fences that hold a Kubernetes object are YAML too.
  for (const m of text.matchAll(/```\n((?:apiVersion|kind):[\s\S]*?)```/g)) blocks.push(m[1]!);
  // The HTML post appends its copy button's label (复制代码) to each block.
  for (const m of text.matchAll(/<code[^>]*language-yaml[^>]*>([\s\S]*?)<\/code>/g)) blocks.push(unhtml(m[1]!).replace(/复制代码\s*$/, ''));
  blocks.forEach((b, i) => writeFileSync(join(outDir, `${prefix}-${String(i + 1).padStart(2, '0')}.yaml`), b));
  console.log(`${file}: ${blocks.length} YAML snippets`);
}
