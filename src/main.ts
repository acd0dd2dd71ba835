#!/usr/bin/env node
// The `podgate` command.
import { enableCompileCache } from 'node:module';

// V8's code cache on disk (os.tmpdir()/node-compile-cache): later starts skip most compiling.
enableCompileCache();
const { runCli } = await import('./cli/index.ts');
await runCli(process.argv);
