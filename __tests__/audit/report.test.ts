/**
 * What the audit's outputs say about where a resource is and how many were judged: every file
 * relative to the working directory (module rows included) and on the resource's line in SARIF,
 * and a summary that counts resources and verdicts apart, per mode.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runAudit } from "../../lib/audit";

const ROOT = resolve(__dirname, "..", "..");
const FIXTURES = join(ROOT, "__tests__", "fixtures", "audit");

async function audit(args: readonly string[]): Promise<string> {
  let stdout = "";
  await runAudit(["audit", ...args], { stdout: (text) => (stdout += text), stderr: () => undefined });
  return stdout;
}

describe("files and lines", () => {
  const cwd = process.cwd();
  beforeAll(() => process.chdir(ROOT));
  afterAll(() => process.chdir(cwd));

  it("JSON names each file relative to the working directory, module files included, for absolute inputs too", async () => {
    const report = JSON.parse(await audit(["--format", "json", join(FIXTURES, "hcl-modules"), join(FIXTURES, "plan.json")]));
    const files = Object.fromEntries(report.resources.map((r: { address: string; file: string }) => [r.address, r.file]));
    expect(files).toEqual({
      "module.guarded.aws_launch_template.this": "__tests__/fixtures/audit/hcl-modules/modules/ecs-capacity/main.tf",
      "module.legacy.aws_launch_template.this": "__tests__/fixtures/audit/hcl-modules/modules/ecs-capacity/main.tf",
      "aws_launch_template.legacy": "__tests__/fixtures/audit/plan.json",
      "aws_instance.bastion": "__tests__/fixtures/audit/plan.json",
      'module.ecs["web"].aws_launch_template.this': "__tests__/fixtures/audit/plan.json",
      'module.ecs["web"].aws_launch_template.computed': "__tests__/fixtures/audit/plan.json",
      'module.ecs["batch"].aws_launch_template.this': "__tests__/fixtures/audit/plan.json",
      'module.ecs["batch"].aws_launch_template.computed': "__tests__/fixtures/audit/plan.json",
    });
  });

  it("the table names the file in every row, one input or many", async () => {
    const table = await audit([join(FIXTURES, "tam-ecs-ec2-hop2")]);
    const rows = table.split("\n").filter((line) => line.startsWith("| aws_"));
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/^\| aws_launch_template\.this \(__tests__\/fixtures\/audit\/tam-ecs-ec2-hop2\/main\.tf\) \|/);
  });

  it("SARIF locates each result on its resource's line with a relative uri: HCL, module HCL and plan addresses", async () => {
    const log = JSON.parse(await audit(["--format", "sarif", join(FIXTURES, "hcl-modules"), join(FIXTURES, "plan.json"), join(FIXTURES, "tam-ecs-ec2-hop2")]));
    const results = log.runs[0].results as Array<{ locations: Array<{ physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } }; logicalLocations: Array<{ fullyQualifiedName: string }> }> }>;
    const seen = new Map<string, string>();
    for (const result of results) {
      const [location] = result.locations;
      const { uri } = location.physicalLocation.artifactLocation;
      expect(uri).not.toMatch(/^\//);
      const line = readFileSync(join(ROOT, uri), "utf8").split("\n")[location.physicalLocation.region.startLine - 1];
      seen.set(location.logicalLocations[0].fullyQualifiedName, line.trim());
    }
    expect(seen.get("module.legacy.aws_launch_template.this")).toBe('resource "aws_launch_template" "this" {');
    expect(seen.get("aws_launch_template.this")).toBe('resource "aws_launch_template" "this" {');
    expect(seen.get('module.ecs["batch"].aws_launch_template.computed')).toBe('"address": "module.ecs[\\"batch\\"].aws_launch_template.computed",');
    expect(seen.get("aws_instance.bastion")).toBe('"address": "aws_instance.bastion",');
  });
});

describe("the summary counts resources and verdicts apart", () => {
  const corpus = join(FIXTURES, "corpus.tf.json");

  it("in the table: resources, verdicts, and the counts per mode", async () => {
    const table = await audit(["--network-modes", "bridge,awsvpc,host", corpus]);
    const report = JSON.parse(await audit(["--format", "json", "--network-modes", "bridge,awsvpc,host", corpus]));
    const count = (mode: string, verdict: string) => report.resources.filter((r: { verdicts: Record<string, string> }) => r.verdicts[mode] === verdict).length;
    const n = report.resources.length;
    const line = (mode: string) => `- ${mode}: ${["closed", "unknown", "fragile", "open"].map((v) => `${count(mode, v)} ${v}`).join(", ")}`;
    expect(table.endsWith(`\n${n} resources judged in 3 network modes (bridge, awsvpc, host): ${3 * n} verdicts, one per resource and mode.\n\n${line("bridge")}\n${line("awsvpc")}\n${line("host")}\n`)).toBe(true);
    // Host mode cannot be closed by the network: every resource is open there unless the endpoint is off.
    expect(count("host", "open") + count("host", "closed")).toBe(n);
  });

  it("speaks of one resource and one verdict in the singular", async () => {
    const table = await audit(["--network-modes", "bridge", join(FIXTURES, "tam-ecs-ec2")]);
    expect(table).toContain("\n1 resource judged in 1 network mode (bridge): 1 verdict, one per resource and mode.\n\n- bridge: 1 closed, 0 unknown, 0 fragile, 0 open\n");
  });

  it("in JSON and SARIF: resources, verdicts, totals over modes and per mode", async () => {
    const report = JSON.parse(await audit(["--format", "json", corpus]));
    const { summary } = report;
    expect(summary.resources).toBe(report.resources.length);
    expect(summary.verdicts).toBe(2 * report.resources.length);
    for (const mode of ["bridge", "awsvpc"]) {
      const counts = summary.byMode[mode];
      expect(Object.values(counts).reduce((a: number, b) => a + (b as number), 0)).toBe(report.resources.length);
      expect(counts.open).toBe(report.resources.filter((r: { verdicts: Record<string, string> }) => r.verdicts[mode] === "open").length);
    }
    expect(summary.closed + summary.unknown + summary.fragile + summary.open).toBe(summary.verdicts);
    const sarif = JSON.parse(await audit(["--format", "sarif", corpus]));
    expect(sarif.runs[0].properties.summary).toEqual(summary);
    expect(sarif.runs[0].results).toHaveLength(summary.verdicts - summary.closed);
  });
});
