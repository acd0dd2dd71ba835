// `npm run bench`: runs every benchmark module in turn, prints one table per module and writes
// bench/report.json and bench/report.md. Exits non-zero when a module failed (its partial rows
// are still reported). Every child process and temp dir is removed, even on Ctrl-C.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { apiserverBench } from './apiserver.bench.ts';
import { ingressBench } from './ingress.bench.ts';
import { ingressRoutesBench } from './ingress-routes.bench.ts';
import { proxyBench } from './proxy.bench.ts';
import { servicesBench } from './services.bench.ts';
import { nodeBench } from './node.bench.ts';
import { tunnelsBench } from './tunnels.bench.ts';
import type { BenchModule, BenchOutput } from './bench-module.ts';
import { cleanupAll } from './processes.ts';
import { type ModuleResult, renderMarkdown, renderText } from './report.ts';

const modules: BenchModule[] = [apiserverBench, ingressBench, nodeBench, tunnelsBench, proxyBench, servicesBench, ingressRoutesBench];

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' }).trim();
    return dirty ? `${head} (src/ has uncommitted changes)` : head;
  } catch {
    return 'unknown';
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping children and removing temp dirs`);
    cleanupAll();
    process.exit(130);
  });
}
process.on('exit', () => cleanupAll());

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const selected = only.length ? modules.filter((m) => only.includes(m.name)) : modules;
  if (!selected.length) {
    log(`no module named ${only.join(', ')}; modules: ${modules.map((m) => m.name).join(', ')}`);
    return 2;
  }
  const env = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  };
  const results: ModuleResult[] = [];
  const t0 = performance.now();
  for (const m of selected) {
    log(`${m.name}: ${m.description}`);
    const out: BenchOutput = { rows: [], peers: {}, notes: [] };
    const start = performance.now();
    let error: string | undefined;
    try {
      await m.run({ out, log: (msg) => log(`${m.name}: ${msg}`) });
    } catch (err) {
      error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`${m.name} FAILED: ${error}`);
    } finally {
      cleanupAll();
    }
    results.push({ module: m.name, description: m.description, ...out, ...(error ? { error } : {}), elapsedMs: performance.now() - start });
  }
  const total = performance.now() - t0;
  const envWithTime = { ...env, 'bench time': `${(total / 1000).toFixed(1)} s` };
  process.stdout.write(`\n${renderText(results)}`);
  writeFileSync(join(import.meta.dirname, 'report.json'), `${JSON.stringify({ env: envWithTime, results }, null, 2)}\n`);
  writeFileSync(join(import.meta.dirname, 'report.md'), renderMarkdown(results, envWithTime));
  log(`wrote bench/report.json and bench/report.md (${(total / 1000).toFixed(1)} s)`);
  return results.some((r) => r.error) ? 1 : 0;
}

process.exitCode = await main();
