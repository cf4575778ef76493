/**
 * `ecs-imds-guard audit` as users run it: the executable in a subprocess, on this repository's own
 * cdktf.out, on a saved plan's JSON, on HCL, and on inputs it must refuse with exit code 2.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { buildApp, DEFAULT_CONFIG } from "../../app";
import { fleetTerraformJson } from "../../bench/audit";
import { formatJson, judge, readAuditInputs, runAudit } from "../../lib/audit";
import { PARALLEL_THRESHOLD } from "../../lib/audit/parallel";

const ROOT = resolve(__dirname, "..", "..");
const FIXTURES = join(ROOT, "__tests__", "fixtures", "audit");
const BIN = join(ROOT, "lib", "bin", "ecs-imds-guard.ts");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The executable, as `node` runs it, with a hard time limit. */
function cli(args: readonly string[], cwd = ROOT): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--require", join(ROOT, "tools", "swc-register.cjs"), BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** The CLI in-process, for the many small cases. */
async function inProcess(args: readonly string[]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

jest.setTimeout(60_000);

const temp: string[] = [];
afterAll(() => temp.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-audit-"));
  temp.push(dir);
  return dir;
}

describe("the executable on this repository's own cdktf.out", () => {
  let outdir: string;
  beforeAll(() => {
    outdir = tempDir();
    buildApp(DEFAULT_CONFIG, outdir).synth();
  });

  it("judges both stacks' launch templates closed and exits 0", async () => {
    const run = await cli(["audit", "--format", "json", outdir]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.resources).toHaveLength(2);
    for (const resource of report.resources) {
      expect(resource.address).toMatch(/^aws_launch_template\./);
      expect(resource.file).toMatch(/stacks\/ecs-imds-guard(-capacity)?\/cdk\.tf\.json$/);
      expect(resource.verdicts).toEqual({ bridge: "closed", awsvpc: "closed" });
    }
  });

  it("finds cdktf.out inside a cdktf project folder", async () => {
    const project = tempDir();
    buildApp(DEFAULT_CONFIG, join(project, "cdktf.out")).synth();
    const run = await inProcess(["audit", "--format", "json", project]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).resources).toHaveLength(2);
  });

  it("exits 1 with host mode listed, which cannot be closed, and prints the table", async () => {
    const run = await cli(["audit", "--network-modes", "bridge,awsvpc,host", outdir]);
    expect(run.code).toBe(1);
    // Two stacks, two files: each row names its stack's cdk.tf.json.
    expect(run.stdout).toMatch(/\| aws_launch_template\.\S+ \(\S+\/stacks\/ecs-imds-guard-capacity\/cdk\.tf\.json\) \| ecs-imds-host \| open \| host-mode tasks share/);
    // Two resources, three modes each: six verdicts, counted per mode.
    expect(run.stdout).toContain("2 resources judged in 3 network modes (bridge, awsvpc, host): 6 verdicts, one per resource and mode.\n\n- bridge: 2 closed, 0 unknown, 0 fragile, 0 open\n- awsvpc: 2 closed, 0 unknown, 0 fragile, 0 open\n- host: 0 closed, 0 unknown, 0 fragile, 2 open\n");
  });

  it("writes SARIF 2.1.0 that code scanning reads: rules, results with locations and levels", async () => {
    const run = await cli(["audit", "--network-modes", "host", "--format", "sarif", outdir]);
    const log = JSON.parse(run.stdout);
    expect(log.version).toBe("2.1.0");
    const [sarifRun] = log.runs;
    expect(sarifRun.tool.driver.name).toBe("ecs-imds-guard");
    expect(sarifRun.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(["ecs-imds-host"]);
    expect(sarifRun.results).toHaveLength(2);
    for (const result of sarifRun.results) {
      expect(result).toMatchObject({ ruleId: "ecs-imds-host", level: "error" });
      const location = result.locations[0].physicalLocation;
      expect(location.artifactLocation.uri).toMatch(/cdk\.tf\.json$/);
      const line = readFileSync(resolve(ROOT, location.artifactLocation.uri), "utf8").split("\n")[location.region.startLine - 1];
      expect(line).toMatch(/"guarded.*launch_template.*":/);
    }
  });
});

describe("the executable on a large input, judged on several threads", () => {
  it("prints what judging every template in order on one thread gives", async () => {
    const file = join(tempDir(), "cdk.tf.json");
    writeFileSync(file, fleetTerraformJson(PARALLEL_THRESHOLD + 500, "threads"));
    const run = await cli(["audit", "--format", "json", file]);
    expect(run.stderr).toBe("");
    const found = await readAuditInputs([file]);
    const sequential = formatJson(found.map((resource) => ({ ...resource, judgement: judge(resource.description) })), ["bridge", "awsvpc"], "open");
    expect(run.stdout).toBe(sequential);
  });
});

describe("the executable on a saved plan's JSON", () => {
  // A real plan (fixtures/audit/plan/, planned by tools/plan-fixtures.ts): a module for_each over two pools.
  it("reads planned values of the root and child modules with their addresses", async () => {
    const run = await cli(["audit", "--format", "json", "--network-modes", "bridge,awsvpc", join(FIXTURES, "plan.json")]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    const byAddress = Object.fromEntries(report.resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
    expect(byAddress).toEqual({
      // IMDSv1 allowed and only ECS_CLUSTER: nothing closes either mode.
      "aws_launch_template.legacy": { bridge: "open", awsvpc: "open" },
      // The plan records only a hash of an instance's user data.
      "aws_instance.bastion": { bridge: "unknown", awsvpc: "unknown" },
      // The v4 drop holds, but the IPv6 endpoint is on and hop limit 2 lets tokens through.
      'module.ecs["web"].aws_launch_template.this': { bridge: "open", awsvpc: "closed" },
      // The same drop with IPv6 off and hop limit 1.
      'module.ecs["batch"].aws_launch_template.this': { bridge: "closed", awsvpc: "closed" },
      // User data from the id of a resource the plan creates.
      'module.ecs["web"].aws_launch_template.computed': { bridge: "unknown", awsvpc: "unknown" },
      'module.ecs["batch"].aws_launch_template.computed': { bridge: "unknown", awsvpc: "unknown" },
    });
  });
});

describe("the executable on HCL", () => {
  it("resolves templatefile() of a file beside the configuration and says unknown for a missing file()", async () => {
    const run = await inProcess(["audit", "--format", "json", join(FIXTURES, "hcl-templatefile")]);
    const report = JSON.parse(run.stdout);
    const byAddress = Object.fromEntries(report.resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
    // The shell part inserts the drop once, at first boot, after Docker made DOCKER-USER: a reboot loses it.
    expect(byAddress["aws_launch_template.ecs"]).toEqual({ bridge: "fragile", awsvpc: "closed" });
    expect(byAddress["aws_instance.legacy"]).toEqual({ bridge: "unknown", awsvpc: "unknown" });
    expect(report.resources.find((r: { address: string }) => r.address === "aws_instance.legacy").reasons.bridge[0]).toMatch(/missing\.sh.*not there/);
  });

  it("follows local modules, with their addresses, literal inputs as variables and references as values known at apply", async () => {
    const report = JSON.parse((await inProcess(["audit", "--format", "json", join(FIXTURES, "hcl-modules")])).stdout);
    const byAddress = Object.fromEntries(report.resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
    expect(byAddress).toEqual({
      // tokens = "required", hop_limit = 1 passed in: the metadata options close bridge.
      "module.guarded.aws_launch_template.this": { bridge: "closed", awsvpc: "closed" },
      // IMDSv1 passed in; the cluster name is a reference, which decides nothing here.
      "module.legacy.aws_launch_template.this": { bridge: "open", awsvpc: "closed" },
    });
  });

  it("reads terraform-aws-modules' ECS EC2 example: hop limit 1 closes bridge, awsvpc stays open", async () => {
    const withHop = JSON.parse((await inProcess(["audit", "--format", "json", join(FIXTURES, "tam-ecs-ec2")])).stdout);
    const withoutHop = JSON.parse((await inProcess(["audit", "--format", "json", join(FIXTURES, "tam-ecs-ec2-hop2")])).stdout);
    expect(withHop.resources[0].verdicts).toEqual({ bridge: "closed", awsvpc: "open" });
    expect(withoutHop.resources[0].verdicts).toEqual({ bridge: "open", awsvpc: "open" });
    // The image is AL2023 by its SSM parameter: the reason gives that AMI's default, not a guess.
    expect(withoutHop.resources[0].reasons.bridge.join(" ")).toMatch(/Amazon Linux 2023 AMI .* is registered with ImdsSupport v2\.0: EC2 defaults the hop limit to 2/);
  });
});

describe("exit codes and --fail-on", () => {
  const terraformJson = (userData: string, metadata: Record<string, unknown>) => {
    const dir = tempDir();
    const file = join(dir, "cdk.tf.json");
    writeFileSync(file, JSON.stringify({ resource: { aws_launch_template: { t: { user_data: userData, metadata_options: metadata } } } }));
    return file;
  };

  it("exits 0 on fragile with the default --fail-on open, 1 with --fail-on fragile", async () => {
    const file = terraformJson(Buffer.from(readFileSync(join(FIXTURES, "cdk-2.232-forward.sh"))).toString("base64"), { http_tokens: "optional" });
    expect((await inProcess(["audit", "--network-modes", "bridge", file])).code).toBe(0);
    expect((await inProcess(["audit", "--network-modes", "bridge", "--fail-on", "fragile", file])).code).toBe(1);
  });

  it("exits 1 on unknown only with --fail-on unknown", async () => {
    const file = terraformJson("${data.cloudinit_config.x.rendered}", { http_tokens: "required", http_put_response_hop_limit: 2 });
    expect((await inProcess(["audit", file])).code).toBe(0);
    expect((await inProcess(["audit", "--fail-on", "unknown", file])).code).toBe(1);
  });

  it.each([
    [["audit"], /no PATH given/],
    [["audit", "--format", "xml", "x"], /--format: "xml" is not one of table, json, sarif/],
    [["audit", "--network-modes", "bridge,nat", "x"], /"nat" is not a network mode/],
    [["audit", "--fail-on", "closed", "x"], /--fail-on: "closed" is not one of open, fragile, unknown/],
    [["scan", "x"], /unknown command "scan"/],
    [["audit", "--verbose", "x"], /unknown option --verbose/],
  ])("exits 2 on bad usage %j", async (args, message) => {
    const run = await inProcess(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it("prints its usage with --help and exits 0", async () => {
    const run = await cli(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: ecs-imds-guard audit/);
  });

  it.each([["--version"], ["-V"], ["audit", "--version"]])("prints the package's version with %s and exits 0", async (...args) => {
    const run = await cli(args);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version}\n`);
  });
});

describe("bad inputs: a clear error naming the file, or unknown; never a crash or a hang", () => {
  it("exits 2 on a file that is not JSON, naming it", async () => {
    const file = join(tempDir(), "cdk.tf.json");
    writeFileSync(file, "resource aws_launch_template {");
    const run = await cli(["audit", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`cannot read ${file}: not JSON`);
  });

  it("exits 2 on a plan of another format version", async () => {
    const file = join(tempDir(), "plan.json");
    writeFileSync(file, JSON.stringify({ format_version: "2.0", terraform_version: "9.0.0", planned_values: { root_module: {} } }));
    const run = await inProcess(["audit", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/plan format_version 2\.0 is not one the audit reads/);
  });

  it("exits 2 on a path that does not exist", async () => {
    const run = await inProcess(["audit", "/nonexistent/cdktf.out"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/\/nonexistent\/cdktf\.out: no such file or folder/);
  });

  it("exits 2 on HCL that does not parse", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "main.tf"), 'resource "aws_launch_template" "x" {\n  user_data = \n');
    const run = await inProcess(["audit", dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/main\.tf: HCL does not parse/);
  });

  const judgedWith = async (userData: string) => {
    const dir = tempDir();
    const file = join(dir, "cdk.tf.json");
    writeFileSync(file, JSON.stringify({ resource: { aws_launch_template: { t: { user_data: userData, metadata_options: { http_tokens: "optional" } } } } }));
    const started = Date.now();
    const run = await inProcess(["audit", "--format", "json", file]);
    return { run, report: JSON.parse(run.stdout), ms: Date.now() - started };
  };

  it("says unknown for base64 that is not", async () => {
    const { report } = await judgedWith("not base64 at all!");
    expect(report.resources[0].verdicts).toEqual({ bridge: "unknown", awsvpc: "unknown" });
    expect(report.resources[0].reasons.bridge[0]).toMatch(/not valid base64/);
  });

  it("says unknown for a truncated gzip", async () => {
    const gz = gzipSync(readFileSync(join(FIXTURES, "boothook-v4-only.txt")));
    const { report } = await judgedWith(gz.subarray(0, gz.length - 12).toString("base64"));
    expect(report.resources[0].verdicts).toEqual({ bridge: "unknown", awsvpc: "unknown" });
    expect(report.resources[0].reasons.bridge[0]).toMatch(/gzip stream is damaged/);
  });

  it("says unknown for 10 MB of user data, promptly", async () => {
    const big = Buffer.from(`#!/bin/bash\n${"echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n".repeat(200_000)}`).subarray(0, 10 * 1024 * 1024);
    const { report, ms } = await judgedWith(big.toString("base64"));
    expect(report.resources[0].verdicts).toEqual({ bridge: "unknown", awsvpc: "unknown" });
    expect(report.resources[0].reasons.awsvpc[0]).toMatch(/over EC2's limit of 16384/);
    expect(ms).toBeLessThan(10_000);
  });
});
