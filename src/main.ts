#!/usr/bin/env node
// The `podgate` command.
import { runCli } from './cli/index.ts';

await runCli(process.argv);
