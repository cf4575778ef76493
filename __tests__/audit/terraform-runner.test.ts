/**
 * `ecs-imds-guard audit --evaluate terraform` with the real Terraform CLI, offline: the AWS provider
 * comes from the machine's filesystem mirror (/opt/tf-plugins) and is mocked by `terraform test`.
 * One evaluation (init, provider schema, test) takes 10 to 20 s here: each case runs once and
 * its answers are shared by the assertions.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { evaluateWithTerraform, runAudit } from "../../lib/audit";
import { UNKNOWN_END, UNKNOWN_START } from "../../lib/audit/sources";
import { useMirrorInThisProcess } from "../support/aws-provider";
import { imageSourcesFile, mockedValueProblem, moduleKeyOf, plannedLaunches, replaceVariableReferences, resourceTypeAndName, terraformVersionProblem, testFileText } from "../../lib/audit/terraform-plan";

const ROOT = resolve(__dirname, "..", "..");
const FIXTURES = join(ROOT, "__tests__", "fixtures", "audit");

jest.setTimeout(300_000);

const temp: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-tf-"));
  temp.push(dir);
  return dir;
}

// The CLI configuration FACTS.md gives for this machine's filesystem mirror, as a user would set it.
let restore: () => void;
beforeAll(() => {
  restore = useMirrorInThisProcess();
});
afterAll(() => {
  temp.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
  restore?.();
});

interface Report {
  readonly code: number;
  readonly stderr: string;
  readonly resources: ReadonlyArray<{ address: string; file: string; verdicts: Record<string, string>; reasons: Record<string, string[]> }>;
}

async function audit(args: readonly string[]): Promise<Report> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", "--format", "json", ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stderr, resources: stdout ? JSON.parse(stdout).resources : [] };
}

const verdicts = (report: Report) => Object.fromEntries(report.resources.map((r) => [r.address, r.verdicts]));
const reasons = (report: Report, address: string, mode: string) => (report.resources.find((r) => r.address === address)?.reasons[mode] ?? []).join(" ");

describe("the corpus's HCL, read by the audit and planned by Terraform", () => {
  it.each(["tam-ecs-ec2", "tam-ecs-ec2-hop2", "hcl-modules"])("%s: the same verdicts both ways", async (fixture) => {
    const path = join(FIXTURES, fixture);
    const [statically, planned] = [await audit([path]), await audit(["--evaluate", "terraform", path])];
    expect(planned.code).toBe(statically.code);
    expect(verdicts(planned)).toEqual(verdicts(statically));
    expect(Object.keys(verdicts(planned)).length).toBeGreaterThan(0);
    // Files relative to the working directory, module rows in the module's folder.
    for (const resource of planned.resources) expect(resource.file).toMatch(new RegExp(`^${relative(process.cwd(), path)}/(modules/ecs-capacity/)?main\\.tf$`));
  });

  it("hcl-templatefile: Terraform refuses the file() of a missing file, where the static reader says unknown for that one resource", async () => {
    const path = join(FIXTURES, "hcl-templatefile");
    const statically = await audit([path]);
    expect(verdicts(statically)["aws_instance.legacy"]).toEqual({ bridge: "unknown", awsvpc: "unknown" });
    const planned = await audit(["--evaluate", "terraform", "--var", "cluster_name=prod", path]);
    expect(planned.code).toBe(2);
    expect(planned.stderr).toMatch(/terraform test could not plan this root module: Invalid function argument: .*no file exists at "\.\/missing\.sh".*\(main\.tf:17\)/);
  });
});

describe("values the user gives, values nobody knows before apply", () => {
  const pools = join(FIXTURES, "tf-pools");
  let withoutValue: Report;
  beforeAll(async () => {
    withoutValue = await audit(["--evaluate", "terraform", pools]);
  });

  it("addresses for_each and count instances as Terraform does, in the file that declares them", () => {
    expect(withoutValue.resources.map((r) => [r.address, r.file])).toEqual([
      ["aws_instance.bastion[0]", relative(process.cwd(), join(pools, "main.tf"))],
      ['aws_launch_template.pool["batch"]', relative(process.cwd(), join(pools, "main.tf"))],
      ['aws_launch_template.pool["web"]', relative(process.cwd(), join(pools, "main.tf"))],
    ]);
  });

  it("leaves a variable without default and without --var unknown, naming it", () => {
    expect(verdicts(withoutValue)['aws_launch_template.pool["web"]']).toEqual({ bridge: "closed", awsvpc: "unknown" });
    expect(verdicts(withoutValue)['aws_launch_template.pool["batch"]']).toEqual({ bridge: "unknown", awsvpc: "unknown" });
    expect(reasons(withoutValue, 'aws_launch_template.pool["web"]', "awsvpc")).toMatch(/var\.awsvpc_block, given no value \(pass --var NAME=VALUE or --var-file FILE/);
  });

  it("judges with the value given by --var, and by --var-file", async () => {
    const given = await audit(["--evaluate", "terraform", "--var", "awsvpc_block=true", pools]);
    expect(verdicts(given)).toMatchObject({
      'aws_launch_template.pool["web"]': { bridge: "closed", awsvpc: "closed" },
      // Hop limit 2 lets a bridge container get a token; the user data installs no firewall rule.
      'aws_launch_template.pool["batch"]': { bridge: "open", awsvpc: "closed" },
    });
    const fromFile = await audit(["--evaluate", "terraform", "--var-file", join(pools, "false.tfvars"), pools]);
    expect(verdicts(fromFile)).toMatchObject({
      'aws_launch_template.pool["web"]': { bridge: "closed", awsvpc: "open" },
      'aws_launch_template.pool["batch"]': { bridge: "open", awsvpc: "open" },
    });
    expect(reasons(fromFile, 'aws_launch_template.pool["web"]', "awsvpc")).toMatch(/ECS_AWSVPC_BLOCK_IMDS=false/);
  });

  it("never reads a value the mock provider made up as text: the data source's value is a named unknown", async () => {
    const [bastion] = await evaluateWithTerraform(pools, { variables: ["awsvpc_block=true"] });
    expect(bastion.address).toBe("aws_instance.bastion[0]");
    const userData = bastion.description.userData as { text: string };
    // Only the configuration's own text and the mark remain: no made-up string of the mock.
    expect(userData.text).toBe(
      `#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n${UNKNOWN_START}data.aws_ssm_parameter.bootstrap.value, read from AWS when Terraform plans${UNKNOWN_END}\n`,
    );
    expect(bastion.description.imageId).toEqual({ unknown: "data.aws_ssm_parameter.ecs_ami.insecure_value, read from AWS when Terraform plans" });
    // Where the image comes from, as the static reader tells it: the AMI's IMDS defaults follow.
    expect(bastion.description.imageSource).toBe("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id");
  });
});

describe("configurations Terraform cannot plan here", () => {
  it("names a provider that is not installed and says to run terraform init (exit 2)", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "main.tf"),
      `data "cloudinit_config" "ecs" {
  part {
    content_type = "text/x-shellscript"
    content      = "#!/bin/bash\\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\\n"
  }
}

resource "aws_launch_template" "ecs" {
  user_data = data.cloudinit_config.ecs.rendered
}
`,
    );
    const run = await audit(["--evaluate", "terraform", dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/terraform init could not install provider hashicorp\/cloudinit, which this configuration needs .*run terraform init in /);
  });

  it.each([
    [["--evaluate", "plan", "x"], /--evaluate: "plan" is not one of static, terraform/],
    [["--evaluate", "terraform", "--var", "=1", "x"], /--var: "=1" is not NAME=VALUE/],
    [["--evaluate", "terraform", "--var", "cluster", "x"], /--var: "cluster" is not NAME=VALUE/],
    // Without --evaluate terraform the static reader takes --var by the same rule.
    [["--var", "=1", "x"], /--var: "=1" is not NAME=VALUE/],
    [["--evaluate", "terraform", "--var-file"], /--var-file needs a value/],
  ])("refuses %j with a message naming the flag and the rule", async (args, message) => {
    let stderr = "";
    const code = await runAudit(["audit", ...args], { stdout: () => undefined, stderr: (t) => (stderr += t) });
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });
});

describe("the test file and the reading of Terraform's plan", () => {
  it("refuses Terraform older than 1.9 and accepts later ones", () => {
    expect(terraformVersionProblem("1.8.5")).toMatch(/Terraform 1\.8\.5 is older than 1\.9\.0.*override_during/);
    expect(terraformVersionProblem("1.7.0")).toBeDefined();
    expect(terraformVersionProblem("1.9.0")).toBeUndefined();
    expect(terraformVersionProblem("1.11.4")).toBeUndefined();
    expect(terraformVersionProblem("2.0.0-alpha1")).toBeUndefined();
  });

  it("replaces references to unknown variables only, whole names only", () => {
    expect(replaceVariableReferences('a = "${var.name}-${var.name_suffix}" b = var.name c = var.name-x d = x.var.name', ["name"])).toBe(
      'a = "${local.ecs_imds_guard_unknown_name}-${var.name_suffix}" b = local.ecs_imds_guard_unknown_name c = var.name-x d = x.var.name',
    );
  });

  it("reads module keys and resource names from instance addresses", () => {
    expect(moduleKeyOf('module.a["x"].module.b.aws_instance.c[0]')).toBe("a.b");
    expect(moduleKeyOf("aws_instance.c")).toBe("");
    expect(resourceTypeAndName('module.a["x.y"].aws_launch_template.pool["web"]')).toEqual({ type: "aws_launch_template", name: "pool" });
  });

  it("mocks every AWS provider configuration, with data source marks escaped for HCL", () => {
    const text = testFileText({ awsAliases: ["east"], dataSourceAttributes: { aws_ssm_parameter: ["value"] }, unknownVariables: ["cluster"] });
    expect(text.match(/^mock_provider "aws" \{/gm)).toHaveLength(2);
    expect(text).toContain('  alias = "east"');
    expect(text).toContain(`mock_data "aws_ssm_parameter" {\n    defaults = { value = "${UNKNOWN_START}data.aws_ssm_parameter.value, read from AWS when Terraform plans${UNKNOWN_END}" }`);
    expect(text).toMatch(/variables \{\n {4}cluster = null\n/);
  });

  it("says why a plan fails where a function parsed a mocked data source's value, and what to do", () => {
    const diagnostic = (code: string, calledAs?: string) => ({
      severity: "error",
      summary: "Error in function call",
      snippet: { code, ...(calledAs ? { function_call: { called_as: calledAs } } : {}) },
    });
    expect(mockedValueProblem([diagnostic('  image_id = jsondecode(data.aws_ssm_parameter.ecs_optimized_ami.value)["image_id"]', "jsondecode")])).toMatch(
      /^jsondecode\(\) was given data\.aws_ssm_parameter\.ecs_optimized_ami\.value, which AWS would return .*audit it without --evaluate terraform/,
    );
    expect(mockedValueProblem([diagnostic('  user_data = file("${path.module}/missing.sh")', "file")])).toBeUndefined();
    expect(mockedValueProblem([diagnostic("  image_id = data.aws_ssm_parameter.x.value")])).toBeUndefined();
  });

  it("names each image data source of the root module in its marks, and records what it asked for", () => {
    const rootDataSources = [
      { type: "aws_ssm_parameter", name: "ecs", repeated: false },
      { type: "aws_ami", name: "al2", repeated: false },
      { type: "aws_ssm_parameter", name: "per_pool", repeated: true },
    ];
    const text = testFileText({ awsAliases: [], dataSourceAttributes: { aws_ssm_parameter: ["value"], aws_ami: ["id"] }, unknownVariables: [], rootDataSources });
    expect(text).toContain(`override_data {\n  target = data.aws_ssm_parameter.ecs\n  values = { value = "${UNKNOWN_START}data.aws_ssm_parameter.ecs.value, read from AWS when Terraform plans${UNKNOWN_END}" }\n}`);
    expect(text).toContain("target = data.aws_ami.al2\n");
    // Instances of a repeated data source are not one image: the type's mark stays.
    expect(text).not.toContain("data.aws_ssm_parameter.per_pool");
    const file = imageSourcesFile(rootDataSources);
    expect(file).toContain('"data.aws_ssm_parameter.ecs" = try(data.aws_ssm_parameter.ecs.name, null)');
    expect(file).toContain('"data.aws_ami.al2" = try([for f in data.aws_ami.al2.filter : tolist(f.values)[0] if f.name == "name"][0], null)');
    const mark = (what: string) => `${UNKNOWN_START}${what}, read from AWS when Terraform plans${UNKNOWN_END}`;
    const change = (address: string, type: string, after: Record<string, unknown>) => ({ address, mode: "managed", type, change: { actions: ["create"], after } });
    const [fromParameter, fromFilter, fromText] = plannedLaunches(
      [
        change("terraform_data.ecs_imds_guard_image_sources", "terraform_data", { input: { "data.aws_ssm_parameter.ecs": "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id", "data.aws_ami.al2": "amzn2-ami-ecs-hvm-*" } }),
        change("aws_instance.a", "aws_instance", { ami: mark("data.aws_ssm_parameter.ecs.value") }),
        change("aws_instance.b", "aws_instance", { ami: mark("data.aws_ami.al2.id") }),
        change("aws_instance.c", "aws_instance", { ami: `ami-${mark("data.aws_ssm_parameter.ecs.value")}` }),
      ],
      [],
    );
    expect(fromParameter.description.imageSource).toBe("/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id");
    expect(fromFilter.description.imageSource).toBe("amzn2-ami-ecs-hvm-*");
    expect(fromText.description.imageSource).toBeUndefined();
  });
});

describe("suppressions with --evaluate terraform", () => {
  it("reads the suppression comment above a resource the plan names, as the static reader does", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "main.tf"),
      `terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

# ecs-imds-guard:suppress reason="Legacy pool, drained before the next release"
resource "aws_launch_template" "legacy" {
  image_id = "ami-0123456789abcdef0"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }
}
`,
    );
    let stdout = "";
    const code = await runAudit(["audit", "--format", "json", "--evaluate", "terraform", dir], { stdout: (t) => (stdout += t), stderr: () => undefined });
    const [legacy] = JSON.parse(stdout).resources;
    expect({ code, verdicts: legacy.verdicts }).toEqual({ code: 0, verdicts: { bridge: "open", awsvpc: "open" } });
    expect(legacy.suppressions.bridge).toEqual({ reason: "Legacy pool, drained before the next release", source: `${relative(process.cwd(), join(dir, "main.tf"))}:7` });
  });
});
