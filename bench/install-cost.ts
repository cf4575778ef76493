// What `npm ci` costs: its wall time from the lock file into a scratch folder, the size of the
// resulting node_modules, and for each direct dependency the packages that are there only because
// of it (what removing it would save).
import { spawnSync } from "node:child_process";
import { copyFileSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

/** The cost of one direct dependency. */
export interface DirectDependencyCost {
  readonly name: string;
  readonly dev: boolean;
  /** Disk use of the dependency and of every package reachable only through it. */
  readonly exclusiveMiB: number;
  readonly exclusivePackages: number;
  /** Disk use of everything it pulls in, shared or not. */
  readonly closureMiB: number;
}

/** The cost of installing the project. */
export interface InstallCost {
  readonly npmCiMs: number;
  readonly nodeModulesMiB: number;
  readonly packages: number;
  readonly byDirectDependency: readonly DirectDependencyCost[];
}

interface LockEntry {
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly link?: boolean;
}

export function installCost(root: string, log: (line: string) => void): InstallCost {
  const scratch = mkdtempSync(join(tmpdir(), "imds-guard-npm-ci-"));
  try {
    copyFileSync(join(root, "package.json"), join(scratch, "package.json"));
    copyFileSync(join(root, "package-lock.json"), join(scratch, "package-lock.json"));
    const started = performance.now();
    // --ignore-scripts: the scratch folder has no sources for this package's own `prepare` (its build).
    const install = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: scratch, encoding: "utf8", timeout: 600_000 });
    const npmCiMs = performance.now() - started;
    if (install.status !== 0) throw new Error(`npm ci failed in ${scratch}:\n${install.stderr}`);
    log(`  npm ci: ${(npmCiMs / 1000).toFixed(1)} s`);

    const lock = JSON.parse(readFileSync(join(scratch, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
    const installed = Object.keys(lock.packages).filter((path) => path.startsWith("node_modules/") && !lock.packages[path]!.link);
    const sizeOf = new Map(installed.map((path) => [path, packageBytes(join(scratch, path))]));
    const rootEntry = lock.packages[""] ?? {};
    const direct = [
      ...Object.keys(rootEntry.dependencies ?? {}).map((name) => ({ name, dev: false })),
      ...Object.keys(rootEntry.devDependencies ?? {}).map((name) => ({ name, dev: true })),
    ];
    const closures = direct.map((dep) => reachable(lock.packages, `node_modules/${dep.name}`));
    const reachedBy = new Map<string, number>();
    for (const closure of closures) for (const path of closure) reachedBy.set(path, (reachedBy.get(path) ?? 0) + 1);
    const byDirectDependency = direct
      .map((dep, index) => {
        const only = [...closures[index]!].filter((path) => reachedBy.get(path) === 1);
        const bytes = only.reduce((sum, path) => sum + (sizeOf.get(path) ?? 0), 0);
        const closureBytes = [...closures[index]!].reduce((sum, path) => sum + (sizeOf.get(path) ?? 0), 0);
        return {
          ...dep,
          exclusiveMiB: Number((bytes / 2 ** 20).toFixed(1)),
          exclusivePackages: only.length,
          closureMiB: Number((closureBytes / 2 ** 20).toFixed(1)),
        };
      })
      .sort((a, b) => b.exclusiveMiB - a.exclusiveMiB);
    return {
      npmCiMs,
      nodeModulesMiB: Number((treeBytes(join(scratch, "node_modules")) / 2 ** 20).toFixed(1)),
      packages: installed.length,
      byDirectDependency,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Lock paths reachable from `start` through dependencies, as node would resolve them. */
function reachable(packages: Record<string, LockEntry>, start: string): Set<string> {
  const seen = new Set<string>();
  const pending = [start];
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (seen.has(path) || !packages[path]) continue;
    seen.add(path);
    const entry = packages[path]!;
    const names = { ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies };
    for (const name of Object.keys(names)) {
      const found = resolveFrom(packages, path, name);
      if (found) pending.push(found);
    }
  }
  return seen;
}

/** node's lookup: `<from>/node_modules/<name>`, then the same from each enclosing package. */
function resolveFrom(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    const cut = base.lastIndexOf("/node_modules/");
    if (cut === -1) return packages[`node_modules/${name}`] ? `node_modules/${name}` : undefined;
    base = base.slice(0, cut);
  }
}

/** Disk use of a package folder, without the packages nested in its own node_modules. */
function packageBytes(dir: string): number {
  return treeBytes(dir, true);
}

function treeBytes(dir: string, skipNestedModules = false): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0; // an optional package for another platform is in the lock but not on disk
  }
  for (const name of entries) {
    if (skipNestedModules && name === "node_modules") continue;
    const path = join(dir, name);
    const stat = lstatSync(path);
    total += stat.blocks * 512;
    if (stat.isDirectory()) total += treeBytes(path);
  }
  return total;
}
