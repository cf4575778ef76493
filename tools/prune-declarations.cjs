// Keeps in dist/ only the declaration files a user's TypeScript can reach from the package's entry
// points (package.json "exports"): the audit's and the renderer's internal modules ship as
// JavaScript only. Run by `npm run build` last.
"use strict";
const { existsSync, readdirSync, readFileSync, rmSync } = require("node:fs");
const { dirname, join, relative, resolve } = require("node:path");

const ROOT = join(__dirname, "..");
const DIST = join(ROOT, "dist");
const RELATIVE_IMPORT = /(\bfrom |\bimport\()"(\.[^"]*)"/g;

const { exports: entries } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const reachable = new Set();
const pending = Object.values(entries)
  .filter((entry) => typeof entry === "object" && entry.types)
  .map((entry) => resolve(ROOT, entry.types));
while (pending.length > 0) {
  const file = pending.pop();
  if (reachable.has(file)) continue;
  if (!existsSync(file)) throw new Error(`${relative(ROOT, file)} is an entry point or imported, but was not built`);
  reachable.add(file);
  for (const [, , specifier] of readFileSync(file, "utf8").matchAll(RELATIVE_IMPORT)) {
    const base = resolve(dirname(file), specifier);
    const target = [`${base}.d.ts`, join(base, "index.d.ts")].find((candidate) => existsSync(candidate));
    if (target === undefined) throw new Error(`${relative(ROOT, file)} imports ${specifier}, which has no declaration file`);
    pending.push(target);
  }
}

function declarationsUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? declarationsUnder(join(dir, entry.name)) : entry.name.endsWith(".d.ts") ? [join(dir, entry.name)] : [],
  );
}
for (const file of declarationsUnder(DIST)) if (!reachable.has(file)) rmSync(file);
