// `npm run bench`: how fast ecs-imds-guard synthesizes and tests, against the cdktf TypeScript
// template's way (bench/reference/), printed as a table and written to bench/results.json.
//   npm run bench -- [--only synth,flavours,choices,tests,fleet,install,audit,guard] [--rounds N] [--out FILE]
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, relative, resolve } from "node:path";
import { AUDIT_FLOOR_RATIO_GOAL, AuditBenchRow, auditTable } from "./audit";
import { ROOT_MODULE_GOAL_MS, RootModuleBenchRow, rootModuleTable } from "./audit-root-module";
import { GuardedInstanceFirewall, soakGuard } from "../__tests__/support/guard-on-instance";
import { installCost, InstallCost } from "./install-cost";
import { formatMs, Measurement, measureInterleaved, memorySource, runOnce } from "./measure";

const ROOT = resolve(__dirname, "..");
const REFERENCE = join(ROOT, "bench", "reference");
const TSX = join(REFERENCE, "node_modules", "tsx");
const SECTIONS = ["synth", "flavours", "choices", "tests", "fleet", "install", "audit", "guard"] as const;
type Section = (typeof SECTIONS)[number];
const FLEET_SIZES = [1, 10, 100, 1000] as const;
/** Guard runs per round of the guard section: a day of the heal timer is 2,880. */
const GUARD_SOAK_RUNS = 3000;

interface Options {
  readonly sections: ReadonlySet<Section>;
  /** Overrides every section's default number of rounds. */
  readonly rounds?: number;
  readonly out: string;
}

function parseArgs(argv: readonly string[]): Options {
  let sections: Set<Section> = new Set(SECTIONS);
  let rounds: number | undefined;
  let out = join(ROOT, "bench", "results.json");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === "--only" && value !== undefined) {
      const wanted = value.split(",");
      const unknown = wanted.filter((name) => !(SECTIONS as readonly string[]).includes(name));
      if (unknown.length > 0) throw new Error(`--only ${value}: unknown section ${unknown.join(", ")}; sections: ${SECTIONS.join(", ")}`);
      sections = new Set(wanted as Section[]);
      i++;
    } else if (arg === "--rounds" && value !== undefined) {
      rounds = Number(value);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds ${value}: must be a positive integer`);
      i++;
    } else if (arg === "--out" && value !== undefined) {
      out = resolve(value);
      i++;
    } else {
      throw new Error(`unknown argument ${arg}; usage: npm run bench -- [--only ${SECTIONS.join(",")}] [--rounds N] [--out FILE]`);
    }
  }
  return { sections, rounds, out };
}

const log = (line: string): void => console.error(line);

/** bench/reference has its own lock file (TypeScript 5.9 for ts-node and ts-jest); install it once. */
function ensureReferenceInstalled(): void {
  if (existsSync(join(REFERENCE, "node_modules", ".bin", "ts-node")) && existsSync(TSX)) return;
  log("installing bench/reference dependencies (npm ci)...");
  const install = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: REFERENCE, stdio: ["ignore", "inherit", "inherit"] });
  if (install.status !== 0) throw new Error("npm ci in bench/reference failed");
}

function appCommand(dir: string): string {
  const config = JSON.parse(readFileSync(join(dir, "cdktf.json"), "utf8")) as { app?: unknown };
  if (typeof config.app !== "string" || config.app.trim() === "") throw new Error(`${dir}/cdktf.json has no "app" command`);
  return config.app;
}

/** Resource and data source counts by type, plus providers, of every stack in a cdktf.out folder. */
function summarizeOutput(outdir: string): Record<string, number> {
  const stacksDir = join(outdir, "stacks");
  if (!existsSync(stacksDir)) throw new Error(`no stacks were written to ${outdir}`);
  const summary: Record<string, number> = {};
  for (const stack of readdirSync(stacksDir)) {
    const json = JSON.parse(readFileSync(join(stacksDir, stack, "cdk.tf.json"), "utf8")) as Record<string, unknown>;
    for (const block of ["resource", "data", "provider"] as const) {
      const byType = (json[block] ?? {}) as Record<string, Record<string, unknown> | unknown[]>;
      for (const [type, entries] of Object.entries(byType)) {
        const key = `${block}.${type}`;
        summary[key] = (summary[key] ?? 0) + Object.keys(entries).length;
      }
    }
  }
  return summary;
}

/** Digest of every stack's cdk.tf.json, to show two apps wrote the same Terraform. */
function outputDigest(outdir: string): string {
  const hash = createHash("sha256");
  const stacksDir = join(outdir, "stacks");
  for (const stack of readdirSync(stacksDir).sort()) {
    hash.update(`${stack}\n`).update(readFileSync(join(stacksDir, stack, "cdk.tf.json")));
  }
  return hash.digest("hex");
}

function describeSummary(summary: Record<string, number>): string {
  return Object.entries(summary).sort().map(([key, count]) => `${key} x${count}`).join(", ");
}

interface SynthResults {
  readonly floor: Measurement;
  readonly app: Measurement;
  readonly reference: Measurement;
  readonly resources: string;
}

function benchSynth(rounds: number): SynthResults {
  const app = appCommand(ROOT);
  const reference = appCommand(REFERENCE);
  let appResources: Record<string, number> | undefined;
  let appDigest: string | undefined;
  const [floor, appRun, referenceRun] = measureInterleaved(
    [
      { id: "floor", label: "floor: node -e \"require('cdktf')\"", command: `node -e "require('cdktf')"`, cwd: ROOT },
      {
        id: "app",
        label: `synth app: ${app}`,
        command: `CDKTF_OUTDIR="$BENCH_TMP/out" ${app}`,
        cwd: ROOT,
        verify: (tmp) => {
          const summary = summarizeOutput(join(tmp, "out"));
          if (!summary["resource.aws_launch_template"]) throw new Error("the synth app wrote no aws_launch_template");
          appResources ??= summary;
          appDigest ??= outputDigest(join(tmp, "out"));
        },
      },
      {
        id: "reference",
        label: `reference app: ${reference}`,
        command: `CDKTF_OUTDIR="$BENCH_TMP/out" ${reference}`,
        cwd: REFERENCE,
        verify: (tmp) => {
          if (outputDigest(join(tmp, "out")) !== appDigest) {
            const mine = describeSummary(summarizeOutput(join(tmp, "out")));
            const theirs = describeSummary(appResources ?? {});
            throw new Error(`the reference app's Terraform differs from the synth app's:\n  synth app: ${theirs}\n  reference: ${mine}`);
          }
        },
        timeoutMs: 120_000,
      },
    ],
    rounds,
    log,
  );
  return { floor: floor!, app: appRun!, reference: referenceRun!, resources: describeSummary(appResources ?? {}) };
}

/** Terraform of every stack under a cdktf outdir, without the blocks the flavours may differ in. */
function comparableOutput(outdir: string): string {
  const stacksDir = join(outdir, "stacks");
  return JSON.stringify(
    readdirSync(stacksDir).sort().map((stack) => {
      const { terraform: _terraform, "//": _comment, ...rest } = JSON.parse(readFileSync(join(stacksDir, stack, "cdk.tf.json"), "utf8"));
      return [stack, JSON.stringify(rest).replace(/"\/\/":\{"metadata":\{[^}]*\}\},?/g, "")];
    }),
  );
}

/** This repository's app on cdktf (npm run synth) and on CDK Terrain (npm run synth:cdktn), side by side. */
function benchFlavours(rounds: number): Measurement[] {
  const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
  let cdktfOutput: string | undefined;
  const flavour = (id: string, script: string) => ({
    id,
    label: `${id}: npm run ${script}`,
    command: `CDKTF_OUTDIR="$BENCH_TMP/out" ${scripts[script]}`,
    cwd: ROOT,
    verify: (tmp: string) => {
      const output = comparableOutput(join(tmp, "out"));
      cdktfOutput ??= output;
      if (output !== cdktfOutput) throw new Error(`${id} wrote other Terraform than cdktf (apart from the terraform block)`);
    },
  });
  return measureInterleaved([flavour("cdktf", "synth"), flavour("cdktn", "synth:cdktn")], rounds, log);
}

/** The effect of each choice: app runners, and which part of the reference's cost comes from where. */
function benchChoices(rounds: number): Measurement[] {
  log("  building dist/ once with tsc for the compiled-JS runner...");
  const build = runOnce({ id: "build", label: "tsc build", command: "node_modules/.bin/tsc -p tsconfig.json", cwd: ROOT });
  const synth = (id: string, label: string, command: string, cwd = ROOT) => ({
    id,
    label,
    command: `CDKTF_OUTDIR="$BENCH_TMP/out" ${command}`,
    cwd,
    verify: (tmp: string) => {
      if (!summarizeOutput(join(tmp, "out"))["resource.aws_launch_template"]) throw new Error(`${label} wrote no aws_launch_template`);
    },
  });
  const measured = measureInterleaved(
    [
      synth("runner-swc-register", "main.ts, node -r tools/swc-register.cjs", "node --require ./tools/swc-register.cjs main.ts"),
      // tsx is a yardstick only: it lives in bench/reference's own dependencies.
      synth("runner-tsx-require", "main.ts, node -r tsx/cjs", `node --require ${TSX}/dist/cjs/index.cjs main.ts`),
      synth("runner-tsx-import", "main.ts, node --import tsx", `node --import ${TSX}/dist/loader.mjs main.ts`),
      synth("runner-npx-tsx", "main.ts, tsx CLI", `${join(REFERENCE, "node_modules", ".bin", "tsx")} main.ts`),
      synth("runner-compiled", "dist/main.js, node (prebuilt)", "node dist/main.js"),
      synth("reference-swc-register", "reference main.ts (package index), swc", `node --require ${join(ROOT, "tools/swc-register.cjs")} main.ts`, REFERENCE),
      synth("reference-ts-node-transpile", "reference main.ts, ts-node --transpile-only", "npx ts-node --transpile-only main.ts", REFERENCE),
    ],
    rounds,
    log,
  );
  return [{ id: "build", label: "tsc build of dist/ (once)", command: "tsc -p tsconfig.json", wallMs: build.wallMs, peakRssMiB: build.peakRssMiB, samples: [build] }, ...measured];
}

function benchTests(rounds: number): Measurement[] {
  // Jest prints its summary on stderr; runOnce already fails on a non-zero exit, so a failing or
  // empty suite (jest exits 1 on "No tests found") is never timed as a success.
  return measureInterleaved(
    [
      {
        id: "unit-swc",
        label: "unit tests, jest + @swc/jest",
        command: "node_modules/.bin/jest --selectProjects unit --ci --no-cache",
        cwd: ROOT,
        timeoutMs: 300_000,
      },
      {
        id: "unit-ts-jest",
        label: "unit tests, jest + ts-jest (TS 5.9)",
        command: `${relative(ROOT, join(REFERENCE, "node_modules/.bin/jest"))} --config bench/reference/jest.config.js --ci --no-cache`,
        cwd: ROOT,
        timeoutMs: 600_000,
      },
      { id: "typecheck-ts7", label: "tsc --noEmit, TypeScript 7", command: "node_modules/.bin/tsc --noEmit", cwd: ROOT },
      {
        id: "typecheck-ts59",
        label: "tsc --noEmit, TypeScript 5.9",
        command: `${relative(ROOT, join(REFERENCE, "node_modules/.bin/tsc"))} --noEmit -p tsconfig.json`,
        cwd: ROOT,
      },
    ],
    rounds,
    log,
  );
}

interface FleetPoint extends Measurement {
  readonly templates: number;
}

function benchFleet(rounds: number): FleetPoint[] {
  const app = appCommand(ROOT);
  if (!/\bmain\.ts\b/.test(app)) throw new Error(`cannot derive the fleet command from the app command ${JSON.stringify(app)}: it names no main.ts`);
  const measured = measureInterleaved(
    FLEET_SIZES.map((templates) => ({
      id: `fleet-${templates}`,
      label: `fleet of ${templates}`,
      command: `CDKTF_OUTDIR="$BENCH_TMP/out" ${app.replace(/\bmain\.ts\b/, `bench/fleet.ts ${templates}`)}`,
      cwd: ROOT,
      verify: (tmp: string) => {
        const written = summarizeOutput(join(tmp, "out"))["resource.aws_launch_template"] ?? 0;
        if (written !== templates) throw new Error(`fleet of ${templates} wrote ${written} launch templates`);
      },
    })),
    rounds,
    log,
  );
  return measured.map((measurement, index) => ({ ...measurement, templates: FLEET_SIZES[index]! }));
}

// ---------------------------------------------------------------------------------------------
// Report

const ratio = (a: number, b: number): number => Number((a / b).toFixed(2));
const mib = (value: number): string => `${value.toFixed(0)} MiB`;

function gitCommit(): string | undefined {
  const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" });
  return head.status === 0 ? head.stdout.trim() : undefined;
}

function machine() {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? "unknown",
    cores: cpuList.length,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    memorySource,
  };
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row, index) => {
      const line = row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ");
      return index === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
}

function row(measurement: Measurement, note = ""): string[] {
  return [measurement.label, formatMs(measurement.wallMs), mib(measurement.peakRssMiB), note];
}

function previousResults(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const defaultRounds: Record<Section, number> = { synth: 5, flavours: 5, choices: 3, tests: 3, fleet: 3, install: 1, audit: 3, guard: 1 };
  const rounds = (section: Section): number => options.rounds ?? defaultRounds[section];
  const previous = previousResults(options.out);
  const started = Date.now();
  const results: Record<string, unknown> = { generatedAt: new Date().toISOString(), commit: gitCommit(), machine: machine() };
  const sections: string[] = [];

  if (options.sections.has("synth") || options.sections.has("tests") || options.sections.has("choices")) ensureReferenceInstalled();

  if (options.sections.has("synth")) {
    log(`synth: app vs reference vs floor, ${rounds("synth")} interleaved rounds`);
    const synth = benchSynth(rounds("synth"));
    const targets = {
      atLeast20xFaster: synth.reference.wallMs / synth.app.wallMs >= 20,
      atMostTenthOfMemory: synth.app.peakRssMiB <= synth.reference.peakRssMiB / 10,
      within2xOfFloor: synth.app.wallMs <= 2 * synth.floor.wallMs,
    };
    results.synth = {
      ...synth,
      ratios: {
        referenceOverAppTime: ratio(synth.reference.wallMs, synth.app.wallMs),
        referenceOverAppMemory: ratio(synth.reference.peakRssMiB, synth.app.peakRssMiB),
        appOverFloorTime: ratio(synth.app.wallMs, synth.floor.wallMs),
      },
      targets,
    };
    sections.push(
      `Synth (median of ${rounds("synth")}; declares: ${synth.resources})\n` +
        table([
          ["command", "wall", "peak RSS", "ratio"],
          row(synth.floor),
          row(synth.app, `${ratio(synth.app.wallMs, synth.floor.wallMs)}x floor`),
          row(
            synth.reference,
            `${ratio(synth.reference.wallMs, synth.app.wallMs)}x time, ${ratio(synth.reference.peakRssMiB, synth.app.peakRssMiB)}x memory of the app`,
          ),
        ]) +
        `\ntargets: >=20x faster ${mark(targets.atLeast20xFaster)}, <=1/10 memory ${mark(targets.atMostTenthOfMemory)}, within 2x of floor ${mark(targets.within2xOfFloor)}`,
    );
  }

  if (options.sections.has("flavours")) {
    log(`flavours: the app on cdktf and on CDK Terrain, ${rounds("flavours")} interleaved rounds`);
    const [cdktf, cdktn] = benchFlavours(rounds("flavours"));
    results.flavours = { cdktf, cdktn, ratios: { cdktnOverCdktfTime: ratio(cdktn!.wallMs, cdktf!.wallMs), cdktnOverCdktfMemory: ratio(cdktn!.peakRssMiB, cdktf!.peakRssMiB) } };
    sections.push(
      `Flavours (median of ${rounds("flavours")}; both stacks of the app, same Terraform apart from the terraform block)\n` +
        table([
          ["command", "wall", "peak RSS", "ratio"],
          row(cdktf!),
          row(cdktn!, `${ratio(cdktn!.wallMs, cdktf!.wallMs)}x time, ${ratio(cdktn!.peakRssMiB, cdktf!.peakRssMiB)}x memory of cdktf`),
        ]),
    );
  }

  if (options.sections.has("choices")) {
    log(`choices: app runners and the parts of the reference's cost, ${rounds("choices")} rounds`);
    const choices = benchChoices(rounds("choices"));
    results.choices = choices;
    const swc = choices.find((c) => c.id === "runner-swc-register")!;
    sections.push(
      `Choices (median of ${rounds("choices")})\n` +
        table([["command", "wall", "peak RSS", "vs swc-register"], ...choices.map((c) => row(c, c.id === "build" ? "" : `${ratio(c.wallMs, swc.wallMs)}x`))]),
    );
  }

  if (options.sections.has("tests")) {
    log(`tests: unit suite through swc vs ts-jest (cold caches), ${rounds("tests")} rounds`);
    const tests = benchTests(rounds("tests"));
    const byId = new Map(tests.map((t) => [t.id, t]));
    const tsJest = byId.get("unit-ts-jest")!;
    const swcOnly = byId.get("unit-swc")!;
    // The README's test command type-checks first; ts-jest type-checks as it compiles. The fair
    // comparison adds the type-check to the swc run (medians of the two, run separately).
    const typecheck = byId.get("typecheck-ts7")!;
    const withTypecheck = { wallMs: typecheck.wallMs + swcOnly.wallMs };
    const targets = { atLeast3xFasterWithTypecheck: tsJest.wallMs / withTypecheck.wallMs >= 3 };
    results.tests = {
      measurements: tests,
      typecheckAndUnitSwcMs: withTypecheck.wallMs,
      ratios: {
        tsJestOverSwc: ratio(tsJest.wallMs, swcOnly.wallMs),
        tsJestOverTypecheckAndSwc: ratio(tsJest.wallMs, withTypecheck.wallMs),
        ts59OverTs7Typecheck: ratio(byId.get("typecheck-ts59")!.wallMs, byId.get("typecheck-ts7")!.wallMs),
      },
      targets,
    };
    sections.push(
      `Unit tests (median of ${rounds("tests")}, jest --no-cache)\n` +
        table([
          ["command", "wall", "peak RSS", "ts-jest is"],
          ...tests.map((t) => row(t, t.id.startsWith("typecheck-ts") ? "" : `${ratio(tsJest.wallMs, t.wallMs)}x`)),
          ["tsc --noEmit (TS 7) + unit tests, swc", formatMs(withTypecheck.wallMs), "", `${ratio(tsJest.wallMs, withTypecheck.wallMs)}x`],
        ]) +
        `\ntarget: >=3x faster than ts-jest with the type-check included ${mark(targets.atLeast3xFasterWithTypecheck)}`,
    );
  }

  if (options.sections.has("fleet")) {
    log(`fleet: N = ${FLEET_SIZES.join(", ")} guarded launch templates, ${rounds("fleet")} interleaved rounds`);
    const fleet = benchFleet(rounds("fleet"));
    const at = (n: number) => fleet.find((p) => p.templates === n)!;
    const marginal = (from: number, to: number) => ({
      msPerTemplate: Number(((at(to).wallMs - at(from).wallMs) / (to - from)).toFixed(2)),
      kibPerTemplate: Number((((at(to).peakRssMiB - at(from).peakRssMiB) * 1024) / (to - from)).toFixed(0)),
    });
    const perTemplate = { from1To100: marginal(1, 100), from100To1000: marginal(100, 1000) };
    const targets = { thousandUnder4s: at(1000).wallMs < 4000, thousandUnder400MiB: at(1000).peakRssMiB < 400 };
    results.fleet = { points: fleet, perTemplate, targets };
    sections.push(
      `Fleet (median of ${rounds("fleet")}, 50 templates per stack)\n` +
        table([["templates", "wall", "peak RSS", "per template (wall / N)"], ...fleet.map((p) => [String(p.templates), formatMs(p.wallMs), mib(p.peakRssMiB), `${(p.wallMs / p.templates).toFixed(2)} ms`])]) +
        `\nmarginal cost per template: 1->100 ${perTemplate.from1To100.msPerTemplate} ms, ${perTemplate.from1To100.kibPerTemplate} KiB; ` +
        `100->1000 ${perTemplate.from100To1000.msPerTemplate} ms, ${perTemplate.from100To1000.kibPerTemplate} KiB` +
        `\ntargets: 1000 under 4 s ${mark(targets.thousandUnder4s)}, under 400 MB ${mark(targets.thousandUnder400MiB)}`,
    );
  }

  if (options.sections.has("install")) {
    log("install: npm ci from package-lock.json into a scratch folder (npm cache as found)");
    const install: InstallCost = installCost(ROOT, log);
    results.install = install;
    sections.push(
      `Install: npm ci ${formatMs(install.npmCiMs)}, node_modules ${install.nodeModulesMiB.toFixed(0)} MiB in ${install.packages} packages\n` +
        table([
          ["direct dependency", "only through it", "packages", "all it pulls in"],
          ...install.byDirectDependency.map((d) => [
            `${d.name}${d.dev ? " (dev)" : ""}`,
            `${d.exclusiveMiB.toFixed(1)} MiB`,
            String(d.exclusivePackages),
            `${d.closureMiB.toFixed(1)} MiB`,
          ]),
        ]),
    );
  }

  if (options.sections.has("audit")) {
    log(`audit: ecs-imds-guard audit on Terraform JSON of 1 to 10,000 launch templates, ${rounds("audit")} rounds`);
    // bench/audit.ts is asynchronous (the HCL parser is); it runs as its own process.
    const audit = spawnSync(process.execPath, ["--require", join(ROOT, "tools", "swc-register.cjs"), join(ROOT, "bench", "audit.ts"), "--rounds", String(rounds("audit")), "--json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (audit.status !== 0) throw new Error(`bench/audit.ts exited ${audit.status}`);
    const points = JSON.parse(audit.stdout) as AuditBenchRow[];
    const largest = points[points.length - 1]!;
    log(`audit: ecs-imds-guard audit on a root module of a few dozen .tf files, ${rounds("audit")} rounds`);
    const root = spawnSync(process.execPath, ["--require", join(ROOT, "tools", "swc-register.cjs"), join(ROOT, "bench", "audit-root-module.ts"), "--rounds", String(rounds("audit")), "--json"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (root.status !== 0) throw new Error(`bench/audit-root-module.ts exited ${root.status}`);
    const rootModule = JSON.parse(root.stdout) as RootModuleBenchRow;
    results.audit = { points, rootModule, targets: { tenThousandWithinFloorRatio: largest.compiledOverFloor <= AUDIT_FLOOR_RATIO_GOAL, rootModuleUnderGoal: rootModule.compiledMs <= ROOT_MODULE_GOAL_MS } };
    sections.push(`Audit (median of ${rounds("audit")})\n${auditTable(points)}\n\n${rootModuleTable(rootModule)}`);
  }

  if (options.sections.has("guard")) {
    // The heal timer's work over a long uptime: a run must cost the same after thousands of runs.
    const runs = GUARD_SOAK_RUNS * rounds("guard");
    log(`guard: ${runs} runs of the installed guard script in a private network namespace while tools fight its rules (root)`);
    const firewall = new GuardedInstanceFirewall("bench");
    try {
      const soak = soakGuard(firewall, runs);
      if (soak.failures.length > 0 || soak.violations.length > 0) throw new Error(`guard soak: ${[...soak.failures, ...soak.violations].slice(0, 5).join("; ")}`);
      const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      const firstMs = median(soak.runMs.slice(0, 100));
      const lastMs = median(soak.runMs.slice(-100));
      results.guard = { runs, firstHundredMedianMs: firstMs, lastHundredMedianMs: lastMs, mostJumpsToDockerUser: soak.mostJumps, linesPrinted: soak.printed.length, disturbedRuns: soak.disturbedRuns };
      sections.push(
        `Guard over a long uptime (${runs} runs, ${(runs * 30) / 3600} h of the 30 s heal timer)\n` +
          `median run, first 100: ${formatMs(firstMs)}; last 100: ${formatMs(lastMs)} (${(lastMs / firstMs).toFixed(2)}x)\n` +
          `jumps to DOCKER-USER in FORWARD after any run: at most ${soak.mostJumps}; lines printed: ${soak.printed.length} for ${soak.disturbedRuns} runs after another program changed the rules`,
      );
    } finally {
      firewall.dispose();
    }
  }

  results.benchSeconds = Math.round((Date.now() - started) / 1000);
  writeFileSync(options.out, `${JSON.stringify(withSectionsNotRun(results, previous, options.sections), null, 2)}\n`);
  const header = `ecs-imds-guard benchmark, ${results.commit ?? "uncommitted"} on ${machine().cpu} (${machine().cores} cores), node ${process.version}, memory via ${memorySource}`;
  console.log([header, ...sections].join("\n\n"));
  if (previous) console.log(`\n${compareWithPrevious(previous, results)}`);
  console.log(`\nwritten to ${relative(process.cwd(), options.out)} in ${results.benchSeconds} s`);
}

/**
 * The results with the sections this run skipped (`--only`) kept from the previous file, and for
 * every section the commit and date it was measured at.
 */
function withSectionsNotRun(results: Record<string, unknown>, previous: Record<string, unknown> | undefined, ran: ReadonlySet<Section>): Record<string, unknown> {
  const measured = { commit: results.commit, generatedAt: results.generatedAt };
  const before = (previous?.measuredAt ?? {}) as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...results };
  const measuredAt: Record<string, unknown> = {};
  for (const section of SECTIONS) {
    if (ran.has(section)) {
      if (results[section] !== undefined) measuredAt[section] = measured;
    } else if (previous?.[section] !== undefined) {
      merged[section] = previous[section];
      measuredAt[section] = before[section] ?? { commit: previous.commit, generatedAt: previous.generatedAt };
    }
  }
  return { ...merged, measuredAt };
}

function mark(reached: boolean): string {
  return reached ? "reached" : "NOT reached";
}

/** Headline figures of the last results file next to this run's. */
function compareWithPrevious(previous: Record<string, unknown>, current: Record<string, unknown>): string {
  const pick = (results: Record<string, unknown>, path: string): number | undefined => {
    let value: unknown = results;
    for (const key of path.split(".")) value = (value as Record<string, unknown> | undefined)?.[key];
    return typeof value === "number" ? value : undefined;
  };
  const headline = [
    "synth.app.wallMs",
    "synth.app.peakRssMiB",
    "synth.ratios.referenceOverAppTime",
    "synth.ratios.appOverFloorTime",
    "tests.ratios.tsJestOverTypecheckAndSwc",
  ];
  const lines = headline.flatMap((path) => {
    const before = pick(previous, path);
    const now = pick(current, path);
    return before === undefined || now === undefined ? [] : [`  ${path}: ${before.toFixed(2)} -> ${now.toFixed(2)}`];
  });
  return lines.length > 0 ? `Against the previous results (${String(previous.commit)}):\n${lines.join("\n")}` : "";
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
