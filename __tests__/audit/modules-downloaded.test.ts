/**
 * Modules: inputs evaluated in the caller, outputs read by the caller, registry modules followed
 * where terraform init downloaded them, and a row of its own for a module that is not there.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runAudit } from "../../lib/audit";
import { refusedSource } from "../../lib/audit/read/modules";
import { describeWhen, hasProgram } from "../support/tools";

const ROOT = resolve(__dirname, "..", "..");
const FIXTURES = join(ROOT, "__tests__", "fixtures", "audit");

jest.setTimeout(60_000);

async function audit(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

interface Row {
  address: string;
  file: string;
  verdicts: Record<string, string>;
  reasons: Record<string, string[]>;
  fixes: Record<string, string>;
}

describe("modules downloaded by terraform init", () => {
  let byAddress: Record<string, Row>;
  beforeAll(async () => {
    const report = JSON.parse((await audit(["--format", "json", "--network-modes", "bridge,awsvpc,host", join(FIXTURES, "modules-downloaded")])).stdout);
    byAddress = Object.fromEntries(report.resources.map((row: Row) => [row.address, row]));
  });

  it("follows .terraform/modules/modules.json, nested keys included, one module instance per for_each key", () => {
    const verdicts = Object.fromEntries(Object.entries(byAddress).map(([address, row]) => [address, { bridge: row.verdicts.bridge, awsvpc: row.verdicts.awsvpc }]));
    expect(verdicts).toEqual({
      "aws_instance.bastion": { bridge: "closed", awsvpc: "closed" },
      'module.asg["a"].aws_launch_template.this[0]': { bridge: "closed", awsvpc: "closed" },
      'module.asg["a"].module.warm_pool.aws_launch_template.warm': { bridge: "open", awsvpc: "closed" },
      'module.asg["b"].aws_launch_template.this[0]': { bridge: "open", awsvpc: "closed" },
      'module.asg["b"].module.warm_pool.aws_launch_template.warm': { bridge: "open", awsvpc: "closed" },
      "module.gpu": { bridge: "unknown", awsvpc: "unknown" },
    });
  });

  it("evaluates inputs in the caller (each.value, a module output) and names files relative to the working directory", () => {
    // hop_limit = each.value.hop_limit: pool a has 1, pool b keeps 2.
    expect(byAddress['module.asg["a"].aws_launch_template.this[0]'].reasons.bridge[0]).toMatch(/hop limit 1/);
    // user_data = base64encode(module.bootstrap.user_data): the local module's output, its input a template of a local.
    expect(byAddress['module.asg["b"].aws_launch_template.this[0]'].reasons.awsvpc[0]).toMatch(/sets ECS_AWSVPC_BLOCK_IMDS=true/);
    expect(byAddress['module.asg["b"].aws_launch_template.this[0]'].file).toBe("__tests__/fixtures/audit/modules-downloaded/.terraform/modules/asg/main.tf");
    expect(byAddress['module.asg["a"].module.warm_pool.aws_launch_template.warm'].file).toBe("__tests__/fixtures/audit/modules-downloaded/.terraform/modules/asg.warm_pool/main.tf");
    expect(byAddress["aws_instance.bastion"].file).toBe("__tests__/fixtures/audit/modules-downloaded/main.tf");
  });

  it("gives a module that is not downloaded a row of its own, unknown in every mode, naming its source and what to do", () => {
    const row = byAddress["module.gpu"];
    expect(row.verdicts).toEqual({ bridge: "unknown", awsvpc: "unknown", host: "unknown" });
    expect(row.file).toBe("__tests__/fixtures/audit/modules-downloaded/main.tf");
    expect(row.reasons.host).toEqual([
      "module.gpu comes from git::https://example.com/platform/ecs-gpu-capacity.git?ref=v1.2.0, which is not downloaded here: run terraform init in __tests__/fixtures/audit/modules-downloaded so .terraform/modules holds it, or audit a saved plan (terraform show -json)",
    ]);
    expect(row.fixes.bridge).toMatch(/terraform init/);
  });

  it("locates the module call's row in SARIF on its module block", async () => {
    const log = JSON.parse((await audit(["--format", "sarif", join(FIXTURES, "modules-downloaded")])).stdout);
    const result = log.runs[0].results.find((r: { locations: Array<{ logicalLocations: Array<{ fullyQualifiedName: string }> }> }) => r.locations[0].logicalLocations[0].fullyQualifiedName === "module.gpu");
    const lines = readFileSync(join(FIXTURES, "modules-downloaded", "main.tf"), "utf8").split("\n");
    expect(lines[result.locations[0].physicalLocation.region.startLine - 1]).toBe('module "gpu" {');
    expect(result.level).toBe("note");
  });
});

describe("a folder whose only launch resources are in a module that is not downloaded", () => {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-modules-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("never ends as nothing found: the call is a row, unknown, and --fail-on unknown fails", async () => {
    writeFileSync(join(dir, "main.tf"), 'module "asg" {\n  source  = "terraform-aws-modules/autoscaling/aws"\n  version = "7.7.0"\n  name    = "ecs"\n}\n');
    const run = await audit(["--fail-on", "unknown", dir]);
    expect(run.stderr).not.toMatch(/no aws_launch_template/);
    expect(run.stdout).toMatch(/\| module\.asg \(\S+main\.tf\) \| ecs-imds-bridge \| unknown \| module\.asg comes from terraform-aws-modules\/autoscaling\/aws version 7\.7\.0, which is not downloaded here: run terraform init/);
    expect(run.code).toBe(1);
  });
});

describeWhen({ terraform: hasProgram("terraform") })("module sources Terraform refuses", () => {
  const SOURCES = [
    "modules/ec2_instances",
    "x",
    "a/b/c/d",
    "./modules/ec2_instances",
    "../shared",
    "terraform-aws-modules/autoscaling/aws",
    "terraform-aws-modules/autoscaling/aws//modules/x",
    "app.terraform.io/example-org/cluster/aws",
    "git::https://example.com/modules.git?ref=v1",
    "github.com/example/modules",
    "git@github.com:example/modules.git",
    "s3::https://s3.amazonaws.com/bucket/modules.zip",
  ];

  it("refuses exactly what terraform validate calls an invalid module source address, and says so", async () => {
    // terraform validate reads every source address without installing anything: no network.
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-source-"));
    try {
      const refusedByTerraform = SOURCES.map((source) => {
        writeFileSync(join(dir, "main.tf"), `module "m" {\n  source = ${JSON.stringify(source)}\n}\n`);
        const run = spawnSync("terraform", ["validate", "-no-color"], { cwd: dir, encoding: "utf8", env: { ...process.env, TF_CLI_CONFIG_FILE: "/dev/null", CHECKPOINT_DISABLE: "1" }, timeout: 60_000 });
        return `${run.stdout}${run.stderr}`.includes("Invalid module source address");
      });
      expect(SOURCES.map(refusedSource)).toEqual(refusedByTerraform);
      expect(refusedByTerraform.filter(Boolean)).toHaveLength(3);

      // The audit's row for such a call names the source and the fix.
      mkdirSync(join(dir, "modules", "ec2_instances"), { recursive: true });
      writeFileSync(join(dir, "main.tf"), 'module "ec2_instances" {\n  source = "modules/ec2_instances"\n}\n');
      const row = JSON.parse((await audit(["--format", "json", "--network-modes", "awsvpc", dir])).stdout).resources[0] as Row;
      expect(row.address).toBe("module.ec2_instances");
      expect(row.verdicts).toEqual({ awsvpc: "unknown" });
      expect(row.reasons.awsvpc[0]).toBe(
        'module.ec2_instances has source "modules/ec2_instances", which Terraform 0.12 and later refuse (a path relative to the module starts with ./ or ../; a registry address has three parts); for the folder modules/ec2_instances next to it, write ./modules/ec2_instances',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
