// `ecs-imds-guard audit` at fleet scale: Terraform JSON files with 1, 100, 1,000 and 10,000 launch
// templates of the corpus's shapes (each with its own cluster name, so no two user data are the
// same), audited in-process (read, judge, JSON report) and end to end by the executable.
//   node --require ./tools/swc-register.cjs bench/audit.ts [--rounds N] [--json]
// `npm run bench` runs it as its "audit" section.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { transformFileSync } from "@swc/core";
import { formatJson, judge, readAuditInputs } from "../lib/audit";
import { renderUserData } from "../lib/user-data";

const ROOT = resolve(__dirname, "..");
export const AUDIT_SIZES = [1, 100, 1000, 10000] as const;
/** The goal for the largest file, in milliseconds. */
export const AUDIT_GOAL_MS = 2000;

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
  /** Median time of the executable compiled to JavaScript ahead, as the package ships it. */
  readonly compiledMs: number;
}

/** lib/ compiled to CommonJS in `out` (what the package's build ships), for the end-to-end timing. */
export function compileLib(out: string): string {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []));
  for (const file of walk(join(ROOT, "lib"))) {
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, transformFileSync(file, { swcrc: false, jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "commonjs" } }).code);
  }
  return join(out, "lib", "bin", "ecs-imds-guard.js");
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
    const compiledBin = compileLib(join(dir, "compiled"));
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

        const compiledStarted = process.hrtime.bigint();
        const packaged = spawnSync(process.execPath, [compiledBin, "audit", "--format", "json", file], {
          encoding: "utf8",
          maxBuffer: 1024 * 1024 * 1024,
          env: { ...process.env, NODE_PATH: join(ROOT, "node_modules") },
        });
        compiled[index].push(Number(process.hrtime.bigint() - compiledStarted) / 1e6);
        if (packaged.stdout !== run.stdout) throw new Error(`the compiled executable on ${AUDIT_SIZES[index]} templates printed something else: ${packaged.stderr.slice(0, 400)}`);
      }
    }
    return AUDIT_SIZES.map((templates, index) => ({
      templates,
      bytes: readFileSync(files[index]).length,
      inProcessMs: median(inProcess[index]),
      cliMs: median(cli[index]),
      compiledMs: median(compiled[index]),
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rows as a Markdown table. */
export function auditTable(rows: readonly AuditBenchRow[]): string {
  const lines = [
    "| templates | Terraform JSON | read + judge + report, one thread, in-process | executable, compiled JavaScript (as packaged) | executable from TypeScript (swc at load) |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map(
      (row) =>
        `| ${row.templates.toLocaleString("en-US")} | ${(row.bytes / 1024 / 1024).toFixed(1)} MiB | ${(row.inProcessMs / 1000).toFixed(2)} s | ${(row.compiledMs / 1000).toFixed(2)} s | ${(row.cliMs / 1000).toFixed(2)} s |`,
    ),
  ];
  const largest = rows[rows.length - 1];
  lines.push(
    "",
    `goal: ${largest.templates.toLocaleString("en-US")} templates in under ${AUDIT_GOAL_MS / 1000} s, end to end as packaged: ${largest.compiledMs < AUDIT_GOAL_MS ? "met" : "not met"} (${(largest.compiledMs / 1000).toFixed(2)} s; the judge alone ${(largest.inProcessMs / 1000).toFixed(2)} s)`,
  );
  return lines.join("\n");
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
