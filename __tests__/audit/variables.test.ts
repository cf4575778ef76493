/**
 * Root variable values for the static reader, taken as Terraform takes them: `TF_VAR_name`, then
 * `terraform.tfvars`, `terraform.tfvars.json`, `*.auto.tfvars(.json)`, then `--var` and
 * `--var-file` in the order given; a `--var` text is a string for a variable of primitive or no
 * type (converted to number or bool), an HCL expression for any other type. The reference is
 * Terraform itself: the same folder, arguments and environment planned by the real CLI (only
 * `terraform_data` and outputs: no provider, offline), its outputs compared with the reader's values.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runAudit } from "../../lib/audit";
import { ModuleLoader } from "../../lib/audit/read/modules";
import { rootVariableValues, VariableArgument } from "../../lib/audit/read/variables";

const FIXTURES = resolve(__dirname, "..", "fixtures", "audit");
jest.setTimeout(120_000);

const temp: string[] = [];
afterAll(() => temp.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const VARIABLES = `variable "cluster" {
  default = "default"
}
variable "hop" {
  type    = number
  default = 2
}
variable "block" {
  type    = bool
  default = false
}
variable "tags" {
  type    = map(string)
  default = {}
}
variable "order" {
  type    = string
  default = "default"
}
output "values" {
  value = { cluster = var.cluster, hop = var.hop, block = var.block, tags = var.tags, order = var.order }
}
`;

/** A root module folder with `files` beside the variables. */
function rootModule(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-vars-"));
  temp.push(dir);
  writeFileSync(join(dir, "main.tf"), VARIABLES);
  writeFileSync(join(dir, "empty.tfrc"), "");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

interface Given {
  readonly arguments: readonly VariableArgument[];
  readonly environment: Record<string, string>;
}

/** What Terraform plans for the folder with the same arguments and environment: the output, or its error. */
function terraformValues(dir: string, given: Given): { values?: Record<string, unknown>; error?: string } {
  const run = (args: readonly string[]) =>
    spawnSync("terraform", args, {
      cwd: dir,
      encoding: "utf8",
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: dir, TF_CLI_CONFIG_FILE: join(dir, "empty.tfrc"), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", ...given.environment },
    });
  const flags = given.arguments.map((argument) => (argument.flag === "--var" ? `-var=${argument.assignment}` : `-var-file=${argument.file}`));
  const plan = run(["plan", "-input=false", "-no-color", "-lock=false", "-out=plan.bin", ...flags]);
  if (plan.status !== 0) return { error: plan.stderr };
  return { values: JSON.parse(run(["show", "-json", "plan.bin"]).stdout).planned_values.outputs.values.value };
}

async function readerValues(dir: string, given: Given): Promise<Record<string, unknown>> {
  const config = await new ModuleLoader(dir).load(dir);
  const defaults = { cluster: "default", hop: 2, block: false, tags: {}, order: "default" };
  return { ...defaults, ...(await rootVariableValues(config, { variableArguments: given.arguments, environment: given.environment }, dir)) };
}

describe("root variable values, as Terraform takes them", () => {
  const files = {
    "terraform.tfvars": 'order = "terraform.tfvars"\ncluster = "from-tfvars"\n',
    "terraform.tfvars.json": JSON.stringify({ order: "terraform.tfvars.json" }),
    "b.auto.tfvars": 'order = "b.auto.tfvars"\n',
    "a.auto.tfvars.json": JSON.stringify({ order: "a.auto.tfvars.json", hop: "3" }),
  };

  it.each<[string, Record<string, string>, Given]>([
    ["TF_VAR_name alone: a string, converted to the declared number or bool; undeclared ones ignored", {}, {
      arguments: [],
      environment: { TF_VAR_hop: "5", TF_VAR_block: "1", TF_VAR_tags: '{ team = "ecs" }', TF_VAR_cluster: "[1]", TF_VAR_undeclared: "x" },
    }],
    ["TF_VAR_name below terraform.tfvars below terraform.tfvars.json below *.auto.tfvars in name order", files, {
      arguments: [],
      environment: { TF_VAR_order: "environment", TF_VAR_hop: "7" },
    }],
    ["--var and --var-file over every file, the last given winning", files, {
      arguments: [
        { flag: "--var", assignment: "order=first flag" },
        { flag: "--var-file", file: "given.tfvars" },
        { flag: "--var", assignment: "hop=1e3" },
      ],
      environment: { TF_VAR_order: "environment" },
    }],
    ["--var after --var-file for the same variable", { ...files, "given.tfvars": 'order = "given.tfvars"\nblock = true\n' }, {
      arguments: [
        { flag: "--var-file", file: "given.tfvars" },
        { flag: "--var", assignment: "order=last flag" },
        { flag: "--var", assignment: 'tags={ a = "b", "c d" = "e" }' },
        { flag: "--var", assignment: "cluster=" },
      ],
      environment: {},
    }],
  ])("%s: the values Terraform plans with", async (_, extraFiles, given) => {
    const dir = rootModule({ "given.tfvars": 'order = "given.tfvars"\n', ...extraFiles });
    const terraform = terraformValues(dir, given);
    expect(terraform.error).toBeUndefined();
    // --var-file is relative to the working directory, which is the folder for Terraform here.
    const inFolder = { ...given, arguments: given.arguments.map((a) => (a.flag === "--var-file" ? { ...a, file: join(dir, a.file) } : a)) };
    expect(await readerValues(dir, inFolder)).toEqual(terraform.values);
  });

  it.each<[string, Given, RegExp]>([
    ["a number that is not a number literal", { arguments: [{ flag: "--var", assignment: "hop=1+1" }], environment: {} }, /--var "hop=1\+1": variable "hop" is declared number, and "1\+1" is not a number/],
    ["a bool that is not true, false, 1 or 0", { arguments: [{ flag: "--var", assignment: "block=yes" }], environment: {} }, /--var "block=yes": variable "block" is declared bool, and "yes" is not a bool \("true", "false", "1" or "0"\)/],
    ["a map given as a reference", { arguments: [{ flag: "--var", assignment: "tags=local.tags" }], environment: {} }, /--var "tags=local\.tags": variable "tags" is declared map\(string\), so Terraform reads the value as an HCL expression of literal values, and "local\.tags" refers to local\.tags/],
    ["a map that does not parse", { arguments: [{ flag: "--var", assignment: "tags={ a = " }], environment: {} }, /--var "tags=\{ a = ": variable "tags" is declared map\(string\), so Terraform reads the value as an HCL expression, and "\{ a = " does not parse as one/],
    ["an undeclared variable", { arguments: [{ flag: "--var", assignment: "hops=1" }], environment: {} }, /--var "hops=1": the root module declares no variable "hops"/],
    ["a bad TF_VAR_ value", { arguments: [], environment: { TF_VAR_hop: "two" } }, /TF_VAR_hop="two": variable "hop" is declared number, and "two" is not a number/],
  ])("refuses %s, as Terraform does, naming the source, the value and the rule", async (_, given, message) => {
    const dir = rootModule();
    expect(terraformValues(dir, given).error).toMatch(/Error/);
    await expect(readerValues(dir, given)).rejects.toThrow(message);
  });
});

describe("the static audit with --var, --var-file and TF_VAR_name", () => {
  const pools = join(FIXTURES, "tf-pools");

  async function audit(args: readonly string[], environment: Record<string, string> = {}) {
    let stdout = "";
    let stderr = "";
    const code = await runAudit(["audit", "--format", "json", ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, environment);
    const resources = stdout ? (JSON.parse(stdout).resources as Array<{ address: string; verdicts: Record<string, string>; reasons: Record<string, string[]> }>) : [];
    return { code, stderr, verdicts: Object.fromEntries(resources.map((r) => [r.address, r.verdicts])), resources };
  }

  // The verdicts Terraform's own plan gives (`--evaluate terraform`, terraform-runner.test.ts).
  it("judges with the value --var gives, as the Terraform runner does", async () => {
    const run = await audit(["--var", "awsvpc_block=true", pools]);
    expect(run.stderr).toBe("");
    expect(run.verdicts).toMatchObject({
      'aws_launch_template.pool["web"]': { bridge: "closed", awsvpc: "closed" },
      'aws_launch_template.pool["batch"]': { bridge: "open", awsvpc: "closed" },
    });
  });

  it("judges with a --var-file, and a later --var overrides it", async () => {
    const fromFile = await audit(["--var-file", join(pools, "false.tfvars"), pools]);
    expect(fromFile.verdicts).toMatchObject({
      'aws_launch_template.pool["web"]': { bridge: "closed", awsvpc: "open" },
      'aws_launch_template.pool["batch"]': { bridge: "open", awsvpc: "open" },
    });
    expect(fromFile.resources.find((r) => r.address === 'aws_launch_template.pool["web"]')?.reasons.awsvpc.join(" ")).toMatch(/ECS_AWSVPC_BLOCK_IMDS=false/);
    const overridden = await audit(["--var-file", join(pools, "false.tfvars"), "--var", "awsvpc_block=true", pools]);
    expect(overridden.verdicts['aws_launch_template.pool["web"]']).toEqual({ bridge: "closed", awsvpc: "closed" });
  });

  it("reads TF_VAR_name from the environment, below --var", async () => {
    expect((await audit([pools], { TF_VAR_awsvpc_block: "true" })).verdicts['aws_launch_template.pool["web"]']).toEqual({ bridge: "closed", awsvpc: "closed" });
    expect((await audit(["--var", "awsvpc_block=false", pools], { TF_VAR_awsvpc_block: "true" })).verdicts['aws_launch_template.pool["web"]']).toEqual({ bridge: "closed", awsvpc: "open" });
    // Without a value the variable stays unknown, never guessed.
    expect((await audit([pools])).verdicts['aws_launch_template.pool["web"]']).toEqual({ bridge: "closed", awsvpc: "unknown" });
  });

  it.each([
    [["--var", "awsvpc_blok=true", pools], /--var "awsvpc_blok=true": the root module declares no variable "awsvpc_blok" \(Terraform refuses a -var for an undeclared variable\)/],
    [["--var-file", "/nonexistent/prod.tfvars", pools], /cannot read \/nonexistent\/prod\.tfvars: --var-file: no such file/],
    [["--var", "awsvpc_block", pools], /--var: "awsvpc_block" is not NAME=VALUE/],
  ])("exits 2 on %j, naming the flag, the value and the rule", async (args, message) => {
    const run = await audit(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});
