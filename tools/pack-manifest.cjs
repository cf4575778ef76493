// Keeps the `prepare` script out of the package a user installs. `prepare` builds dist/ when the
// package is installed from git or a folder (npm runs it there, not prepack); left in the packed
// package.json, npm lists it as an install script of every tarball install (`install-scripts`).
// `npm pack` and `npm publish` run `prepack` (build, then `strip`: package.json without `prepare`,
// the original kept aside) and, once the tarball is written, `postpack` (`restore`).
"use strict";
const { existsSync, readFileSync, renameSync, writeFileSync } = require("node:fs");
const { join, resolve } = require("node:path");

const MANIFEST = join(resolve(__dirname, ".."), "package.json");
const KEPT = `${MANIFEST}.before-pack`;

function restore() {
  if (existsSync(KEPT)) renameSync(KEPT, MANIFEST);
}

function strip() {
  // A pack that failed before postpack left the original aside: put it back first.
  restore();
  const text = readFileSync(MANIFEST, "utf8");
  const manifest = JSON.parse(text);
  if (!manifest.scripts || !("prepare" in manifest.scripts)) return;
  writeFileSync(KEPT, text);
  delete manifest.scripts.prepare;
  writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
}

const command = process.argv[2];
if (command === "strip") strip();
else if (command === "restore") restore();
else {
  process.stderr.write("usage: node tools/pack-manifest.cjs strip|restore\n");
  process.exitCode = 2;
}
