// `ecs-imds-guard audit` at fleet scale: Terraform JSON files with 1, 100, 1,000 and 10,000 launch
// templates of the corpus's shapes (each with its own cluster name, so no two user data are the
// same), audited in-process (read, judge, JSON report) and end to end by the executable, against the
// floor of reading the same file and decoding every template's user data (bench/audit-floor.cjs).
//   node --require ./tools/swc-register.cjs bench/audit.ts [--rounds N] [--json]
// `npm run bench` runs it as its "audit" section.
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { formatJson, judge, readAuditInputs } from "../lib/audit";
import { renderUserData } from "../lib/user-data";

const ROOT = resolve(__dirname, "..");
export const AUDIT_SIZES = [1, 100, 1000, 10000] as const;
/** The goal for the largest file: the executable within this many times the floor (reading the file and decoding every user data). */
export const AUDIT_FLOOR_RATIO_GOAL = 4;

const fixture = (name: string) => readFileSync(join(ROOT, "__tests__", "fixtures", "audit", name), "utf8");

/** One template of each shape, for cluster `name`: user data text and metadata options. */
function shapes(name: string): Array<{ text: string; metadata: Record<string, unknown> }> {
  const hop = (limit: number, tokens = "required") => ({ http_endpoint: "enabled", http_tokens: tokens, http_put_response_hop_limit: limit });
  return [
    { text: renderUserData({ clusterName: name }).text, metadata: hop(1) },
    { text: fixture("cdk-2.232-forward.sh").replace("prod", name), metadata: hop(2) },
    { text: fixture("cdk-2.232-docker-user.sh").replace("prod", name), metadata: hop(2) },
    { text: fixture("article-mime.txt").replace("my-ecs-cluster", name), metadata: hop(2, "optional") },
    { text: fixture("quoted-true.sh").replace("prod", name), metadata: hop(1) },
    { text: fixture("bootcmd-every-boot.yaml").replace("prod", name), metadata: hop(2) },
    { text: fixture("bottlerocket-block.toml").replace("prod", name), metadata: hop(1) },
  ];
}

/** Terraform JSON with `count` aws_launch_template resources. */
export function fleetTerraformJson(count: number, prefix = "cluster"): string {
  const resources: Record<string, unknown> = {};
  for (let index = 0; index < count; index++) {
    const all = shapes(`${prefix}-${index}`);
    const shape = all[index % all.length];
    resources[`template_${index}`] = { user_data: Buffer.from(shape.text).toString("base64"), metadata_options: shape.metadata };
  }
  return JSON.stringify({ resource: { aws_launch_template: resources } });
}

export interface AuditBenchRow {
  readonly templates: number;
  readonly bytes: number;
  /** Median in-process time: read the file, judge every template, write the JSON report. */
  readonly inProcessMs: number;
  /** Median time of the executable run from TypeScript (swc at load), node start-up included. */
  readonly cliMs: number;
  /** Median time of the executable as the package ships it (dist/ from `npm run build`). */
  readonly compiledMs: number;
  /** Median time of the floor: node reading the file and decoding every template's user data (bench/audit-floor.cjs). */
  readonly floorMs: number;
  /** Median CPU time (user + system) of the executable as packaged, when GNU time is there: what the shared machine's load does not change. */
  readonly compiledCpuMs?: number;
  /** Median CPU time of the floor, likewise. */
  readonly floorCpuMs?: number;
  /** Median over the rounds of the executable's time over the floor's, run one after the other. */
  readonly compiledOverFloor: number;
  /** The machine's one-minute load average, median over the rounds: on a shared machine it decides the wall time. */
  readonly loadAverage: number;
}

/**
 * The executable as the package ships it: dist/ from `npm run build`, built again when a file under
 * lib/ is newer than it.
 */
export function packagedBin(): string {
  const bin = join(ROOT, "dist", "bin", "ecs-imds-guard.js");
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? newest(join(dir, entry.name)) : statSync(join(dir, entry.name)).mtimeMs)));
  if (existsSync(bin) && statSync(bin).mtimeMs >= newest(join(ROOT, "lib"))) return bin;
  const build = spawnSync("npm", ["run", "build"], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`.slice(0, 2000));
  return bin;
}

const GNU_TIME = "/usr/bin/time";
const hasGnuTime = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ["-f", "%U", "true"], { encoding: "utf8" }).status === 0;

/**
 * Runs node with `args`; its wall time (spawn included), and its CPU time (user + system, all its
 * threads) read by GNU time when the machine has it: on a shared machine the wall time depends on
 * what else runs, the CPU time much less.
 */
export function timedNode(args: readonly string[], maxBuffer = 64 * 1024 * 1024): { run: SpawnSyncReturns<string>; wallMs: number; cpuMs?: number } {
  const statsDir = hasGnuTime ? mkdtempSync(join(tmpdir(), "ecs-imds-cpu-")) : undefined;
  try {
    const argv = statsDir ? [GNU_TIME, "-f", "%U %S", "-o", join(statsDir, "cpu"), process.execPath, ...args] : [process.execPath, ...args];
    const started = process.hrtime.bigint();
    const run = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", maxBuffer });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (!statsDir) return { run, wallMs };
    const [user, system] = readFileSync(join(statsDir, "cpu"), "utf8").trim().split(/\s+/).slice(-2).map(Number);
    return { run, wallMs, cpuMs: Math.round((user + system) * 1000) };
  } finally {
    if (statsDir) rmSync(statsDir, { recursive: true, force: true });
  }
}

/** Runs the floor: read the file and decode every template's user data (bench/audit-floor.cjs); checks it saw `templates`. */
function runFloor(file: string, templates: number): { wallMs: number; cpuMs?: number } {
  const { run: floor, wallMs, cpuMs } = timedNode([join(ROOT, "bench", "audit-floor.cjs"), file]);
  if (floor.status !== 0 || JSON.parse(floor.stdout).templates !== templates) throw new Error(`the floor on ${templates} templates failed: ${floor.stderr.slice(0, 400)}`);
  return { wallMs, cpuMs };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Runs the benchmark; `rounds` measurements of each size, interleaved. */
export async function benchAudit(rounds: number): Promise<AuditBenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-audit-bench-"));
  try {
    const inProcess = AUDIT_SIZES.map(() => [] as number[]);
    const cli = AUDIT_SIZES.map(() => [] as number[]);
    const compiled = AUDIT_SIZES.map(() => [] as number[]);
    const floor = AUDIT_SIZES.map(() => [] as number[]);
    const ratios = AUDIT_SIZES.map(() => [] as number[]);
    const compiledCpu = AUDIT_SIZES.map(() => [] as number[]);
    const floorCpu = AUDIT_SIZES.map(() => [] as number[]);
    const loads = AUDIT_SIZES.map(() => [] as number[]);
    const compiledBin = packagedBin();
    const files: string[] = [];
    for (let round = 0; round < rounds; round++) {
      // New cluster names every round and size: the judge's cache of identical templates never hits.
      for (const [index, size] of AUDIT_SIZES.entries()) {
        const file = join(dir, `templates-${size}.tf.json`);
        writeFileSync(file, fleetTerraformJson(size, `r${round}-n${size}`));
        files[index] = file;
        const started = process.hrtime.bigint();
        const found = await readAuditInputs([file]);
        const audited = found.map((resource) => ({ ...resource, judgement: judge(resource.description) }));
        formatJson(audited, ["bridge", "awsvpc"], "open");
        inProcess[index].push(Number(process.hrtime.bigint() - started) / 1e6);
        if (audited.length !== AUDIT_SIZES[index]) throw new Error(`audited ${audited.length} of ${AUDIT_SIZES[index]} templates`);

        const cliStarted = process.hrtime.bigint();
        const run = spawnSync(process.execPath, ["--require", join(ROOT, "tools", "swc-register.cjs"), join(ROOT, "lib", "bin", "ecs-imds-guard.ts"), "audit", "--format", "json", file], {
          encoding: "utf8",
          maxBuffer: 1024 * 1024 * 1024,
        });
        cli[index].push(Number(process.hrtime.bigint() - cliStarted) / 1e6);
        if ((run.status !== 0 && run.status !== 1) || JSON.parse(run.stdout).resources.length !== AUDIT_SIZES[index]) {
          throw new Error(`the executable on ${AUDIT_SIZES[index]} templates exited ${run.status}: ${run.stderr.slice(0, 400)}`);
        }

        const { run: packaged, wallMs: compiledMs, cpuMs: packagedCpuMs } = timedNode([compiledBin, "audit", "--format", "json", file], 1024 * 1024 * 1024);
        compiled[index].push(compiledMs);
        if (packaged.stdout !== run.stdout) throw new Error(`the compiled executable on ${AUDIT_SIZES[index]} templates printed something else: ${packaged.stderr.slice(0, 400)}`);
        const { wallMs: floorMs, cpuMs: floorCpuMs } = runFloor(file, AUDIT_SIZES[index]);
        floor[index].push(floorMs);
        if (packagedCpuMs !== undefined && floorCpuMs !== undefined) {
          compiledCpu[index].push(packagedCpuMs);
          floorCpu[index].push(floorCpuMs);
        }
        ratios[index].push(compiledMs / floorMs);
        loads[index].push(loadavg()[0]);
      }
    }
    return AUDIT_SIZES.map((templates, index) => ({
      templates,
      bytes: readFileSync(files[index]).length,
      inProcessMs: median(inProcess[index]),
      cliMs: median(cli[index]),
      compiledMs: median(compiled[index]),
      floorMs: median(floor[index]),
      ...(compiledCpu[index].length > 0 ? { compiledCpuMs: median(compiledCpu[index]), floorCpuMs: median(floorCpu[index]) } : {}),
      compiledOverFloor: Number(median(ratios[index]).toFixed(2)),
      loadAverage: Number(median(loads[index]).toFixed(2)),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rows as a Markdown table. */
export function auditTable(rows: readonly AuditBenchRow[]): string {
  const lines = [
    "| templates | Terraform JSON | read + judge + report, one thread, in-process | executable as packaged (dist/) | floor: read + decode user data | executable / floor | CPU: executable / floor | executable from TypeScript (swc at load) | load average |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (row) =>
        `| ${row.templates.toLocaleString("en-US")} | ${(row.bytes / 1024 / 1024).toFixed(1)} MiB | ${seconds(row.inProcessMs)} | ${seconds(row.compiledMs)} | ${seconds(row.floorMs)} | ${row.compiledOverFloor.toFixed(1)}x | ${row.compiledCpuMs !== undefined && row.floorCpuMs !== undefined ? `${seconds(row.compiledCpuMs)} / ${seconds(row.floorCpuMs)}` : "-"} | ${seconds(row.cliMs)} | ${row.loadAverage.toFixed(1)} |`,
    ),
  ];
  const largest = rows[rows.length - 1];
  lines.push(
    "",
    `goal: ${largest.templates.toLocaleString("en-US")} templates within ${AUDIT_FLOOR_RATIO_GOAL}x the floor, end to end as packaged: ${largest.compiledOverFloor <= AUDIT_FLOOR_RATIO_GOAL ? "met" : "not met"} (${largest.compiledOverFloor.toFixed(1)}x: ${seconds(largest.compiledMs)} against ${seconds(largest.floorMs)}, load average ${largest.loadAverage.toFixed(1)})`,
  );
  return lines.join("\n");
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

if (require.main === module) {
  const roundsArg = process.argv.indexOf("--rounds");
  const rounds = roundsArg >= 0 ? Number(process.argv[roundsArg + 1]) : 3;
  benchAudit(rounds).then(
    (rows) => console.log(process.argv.includes("--json") ? JSON.stringify(rows) : auditTable(rows)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
