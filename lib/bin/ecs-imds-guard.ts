#!/usr/bin/env node
import * as nodeModule from "node:module";
import { setFlagsFromString } from "node:v8";

// A run is short, so start-up is much of it (bench/audit-root-module.ts). Node 22.1+ keeps the
// compiled JavaScript of the audit and its shell parser on disk between runs.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
// The HCL parser is Go compiled to WebAssembly, run once per file for well under a second:
// optimising its hot functions in the background costs more than it gains (measured: the root
// module's parse took half the CPU with baseline code only). Set before the parser is compiled.
setFlagsFromString("--liftoff-only");

// Required after the settings above, so the modules it loads are read under them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runAudit } = require("../audit/cli") as typeof import("../audit/cli");

runAudit(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ecs-imds-guard: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  },
);
