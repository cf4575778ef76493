// Resolves this package's own entry points (`ecs-imds-guard`, `ecs-imds-guard/cdktn`,
// `ecs-imds-guard/user-data`) to the TypeScript sources, so a program written as a user writes it
// (the README's examples) runs against the working tree without a build. With
// tools/cdktn-register.cjs beside it, `ecs-imds-guard/cdktn` is the CDK Terrain flavour, as built.
"use strict";
const Module = require("node:module");
const { join } = require("node:path");

const LIB = join(__dirname, "..", "..", "lib");
const ENTRY_POINTS = {
  "ecs-imds-guard": join(LIB, "index.ts"),
  "ecs-imds-guard/cdktn": join(LIB, "index.ts"),
  "ecs-imds-guard/user-data": join(LIB, "user-data", "index.ts"),
};

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolveSelf(request, ...rest) {
  return resolveFilename.call(this, ENTRY_POINTS[request] ?? request, ...rest);
};
