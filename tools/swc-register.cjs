// Runs the cdktf app's TypeScript (cdktf.json "app") through swc, the transformer the tests use too.
// Types are stripped, not checked: `npm test` type-checks with `tsc --noEmit`. Chosen over tsx by
// `npm run bench`: tsx's hooks cost every module load cdktf does and make each of the stack traces
// cdktf captures per token slow, which dominates large apps (see CONTRIBUTING.md, "Performance").
// Inline source maps are emitted: run with NODE_OPTIONS=--enable-source-maps for .ts line numbers.
"use strict";
const { readFileSync } = require("node:fs");
const Module = require("node:module");
const { transformSync } = require("@swc/core");

Module._extensions[".ts"] = function compileTypeScript(module, filename) {
  const { code } = transformSync(readFileSync(filename, "utf8"), {
    filename,
    swcrc: false,
    sourceMaps: "inline",
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
  });
  module._compile(code, filename);
};
