// Loads the cdktn flavour of this repository's TypeScript: every import of cdktf or
// @cdktf/provider-aws resolves to cdktn or @cdktn/provider-aws (tools/flavours.cjs), as in the
// flavour the build writes to dist/cdktn/. Used by `npm run synth:cdktn` and the flavour tests.
"use strict";
const Module = require("node:module");
const { toCdktn } = require("./flavours.cjs");

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolveCdktn(request, ...rest) {
  return resolveFilename.call(this, toCdktn(request) ?? request, ...rest);
};
