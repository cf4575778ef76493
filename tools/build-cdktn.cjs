// Writes the CDK Terrain (cdktn) flavour of the built library to dist/cdktn/: the top-level
// modules of dist/ (the constructs) with cdktf and @cdktf/provider-aws imports renamed through
// tools/flavours.cjs, and relative imports of the framework-free folders (user-data/, audit/)
// pointed at the shared copies one level up. Run by `npm run build` after tsc.
"use strict";
const { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");
const { FRAMEWORK_PACKAGES, toCdktn } = require("./flavours.cjs");

const DIST = join(__dirname, "..", "dist");
const OUT = join(DIST, "cdktn");
const SPECIFIER = /(\brequire\(|\bfrom |\bimport\()"([^"]+)"/g;
const isBuilt = (name) => /\.(js|d\.ts)$/.test(name);
const usesFramework = (text) =>
  [...text.matchAll(SPECIFIER)].some(([, , specifier]) => toCdktn(specifier) !== null);

function rewrite(text) {
  return text.replace(SPECIFIER, (whole, opener, specifier) => {
    const cdktn = toCdktn(specifier);
    if (cdktn !== null) return `${opener}"${cdktn}"`;
    if (!specifier.startsWith("./")) return whole;
    // Top-level modules are copied beside this one; the framework-free folders stay shared.
    const target = specifier.slice(2);
    return target.includes("/") || !isTopLevelModule(target) ? `${opener}"../${target}"` : whole;
  });
}

function isTopLevelModule(name) {
  return existsSync(join(DIST, `${name}.js`)) || existsSync(join(DIST, `${name}.d.ts`));
}

/** Every relative import of a written file must name a module that exists. */
function checkRelativeImports(file, text) {
  for (const [, , specifier] of text.matchAll(SPECIFIER)) {
    if (!specifier.startsWith(".")) continue;
    const base = join(OUT, specifier);
    if (![".js", ".d.ts", "/index.js", "/index.d.ts"].some((ending) => existsSync(base + ending))) {
      throw new Error(`dist/cdktn/${file} imports ${specifier}, which does not exist`);
    }
  }
}

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

rmSync(OUT, { recursive: true, force: true });
// Only top-level modules are copied: a framework import deeper down would reach cdktf from both flavours.
for (const dir of readdirSync(DIST, { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
  for (const file of filesUnder(join(DIST, dir.name)).filter(isBuilt)) {
    if (usesFramework(readFileSync(file, "utf8"))) {
      throw new Error(`${file} imports ${FRAMEWORK_PACKAGES.map(([cdktf]) => cdktf).join(" or ")}: modules below dist/ must be framework-free`);
    }
  }
}
mkdirSync(OUT);
for (const name of readdirSync(DIST).filter(isBuilt)) {
  const text = rewrite(readFileSync(join(DIST, name), "utf8"));
  if (usesFramework(text)) throw new Error(`dist/cdktn/${name} still imports cdktf after the rewrite`);
  writeFileSync(join(OUT, name), text);
}
for (const name of readdirSync(OUT)) checkRelativeImports(name, readFileSync(join(OUT, name), "utf8"));
