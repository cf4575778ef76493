/**
 * count and for_each over known values give one row per instance, judged with its own each/count
 * values and addressed as Terraform addresses it; user data that is wholly a reference is unknown.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readAuditInputs, runAudit } from "../../lib/audit";
import { TerraformWorkspace } from "../support/terraform";
import { describeWhen, hasProgram } from "../support/tools";

const ROOT = resolve(__dirname, "..", "..");
const FIXTURES = join(ROOT, "__tests__", "fixtures", "audit");

jest.setTimeout(120_000);

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
}

async function rows(folder: string): Promise<Record<string, Row>> {
  const report = JSON.parse((await audit(["--format", "json", "--network-modes", "bridge,awsvpc,host", join(FIXTURES, folder)])).stdout);
  return Object.fromEntries(report.resources.map((row: Row) => [row.address, row]));
}

describe("for_each and count over known values", () => {
  it("gives one row per instance, each judged with its own each.value and count.index", async () => {
    const byAddress = await rows("hcl-instances");
    const verdicts = Object.fromEntries(Object.entries(byAddress).map(([address, row]) => [address, { bridge: row.verdicts.bridge, awsvpc: row.verdicts.awsvpc }]));
    expect(verdicts).toEqual({
      'aws_launch_template.pool["batch"]': { bridge: "open", awsvpc: "open" },
      'aws_launch_template.pool["web"]': { bridge: "closed", awsvpc: "closed" },
      "aws_instance.node[0]": { bridge: "closed", awsvpc: "closed" },
      "aws_instance.node[1]": { bridge: "closed", awsvpc: "open" },
    });
    // each.value.block_awsvpc reached the script: batch wrote false, which the agent reads as false.
    expect(byAddress['aws_launch_template.pool["batch"]'].reasons.awsvpc[0]).toMatch(/sets ECS_AWSVPC_BLOCK_IMDS=false, which the agent reads as false/);
    expect(byAddress["aws_instance.node[1]"].reasons.awsvpc[0]).toMatch(/does not set ECS_AWSVPC_BLOCK_IMDS/);
    for (const row of Object.values(byAddress)) expect(row.file).toBe("__tests__/fixtures/audit/hcl-instances/main.tf");
  });

  it("names each instance in the table and in SARIF", async () => {
    const table = (await audit(["--network-modes", "awsvpc", join(FIXTURES, "hcl-instances")])).stdout;
    expect(table).toContain('| aws_launch_template.pool["batch"] (__tests__/fixtures/audit/hcl-instances/main.tf) | ecs-imds-awsvpc | open |');
    expect(table).toContain("| aws_instance.node[1] (__tests__/fixtures/audit/hcl-instances/main.tf) | ecs-imds-awsvpc | open |");
    const sarif = JSON.parse((await audit(["--format", "sarif", join(FIXTURES, "hcl-instances")])).stdout);
    const names = sarif.runs[0].results.map((result: { locations: Array<{ logicalLocations: Array<{ fullyQualifiedName: string }> }> }) => result.locations[0].logicalLocations[0].fullyQualifiedName);
    expect(new Set(names)).toEqual(new Set(['aws_launch_template.pool["batch"]', "aws_instance.node[1]"]));
  });

  describeWhen({ terraform: hasProgram("terraform") })("against Terraform", () => {
    it("addresses the instances as terraform plan does", async () => {
      // The fixture's count and for_each, each on a terraform_data resource of its own, planned offline.
      const text = readFileSync(join(FIXTURES, "hcl-instances", "main.tf"), "utf8");
      const blocks = text.match(/^(variable|locals|resource) [^\n]*\{\n[\s\S]*?^\}\n/gm) ?? [];
      const mirrored = blocks.map((block) => {
        const header = /^resource "([^"]+)" "([^"]+)"/.exec(block);
        if (!header) return block;
        const repeat = /^\s+(for_each|count)\s*=.*$/m.exec(block)?.[0] ?? "";
        return `resource "terraform_data" "${header[1]}__${header[2]}" {\n${repeat}\n}\n`;
      });
      const workspace = new TerraformWorkspace({});
      writeFileSync(join(workspace.dir, "mirror.tf"), mirrored.join("\n"));
      const plan = workspace.run(["plan", "-input=false", "-lock=false", "-out=plan.bin", "-no-color"]);
      expect(plan.stderr).toBe("");
      const shown = JSON.parse(workspace.run(["show", "-json", "plan.bin"]).stdout);
      workspace.dispose();
      const planned = (shown.planned_values.root_module.resources as Array<{ address: string }>).map((resource) =>
        resource.address.replace(/^terraform_data\.([a-z_]+?)__([a-z_]+)/, "$1.$2"),
      );
      expect(Object.keys(await rows("hcl-instances")).sort()).toEqual(planned.sort());
    });
  });
});

describe("user data that is wholly a reference", () => {
  it("is unknown, naming the reference, on every resource type, unless the metadata options close the mode", async () => {
    const byAddress = await rows("hcl-references");
    expect(byAddress["aws_instance.raw"].verdicts).toMatchObject({ bridge: "unknown", awsvpc: "unknown" });
    expect(byAddress["aws_instance.raw"].reasons.awsvpc[0]).toBe(
      "the user data is only known at apply time (var.user_data, a variable without a default: give it (-var, -var-file) or audit a saved plan)",
    );
    // base64encode(var.user_data): still the whole user data; hop limit 1 closes bridge on its own.
    expect(byAddress["aws_launch_template.encoded"].verdicts).toMatchObject({ bridge: "closed", awsvpc: "unknown" });
    expect(byAddress["aws_launch_template.encoded"].reasons.awsvpc[0]).toMatch(/\(var\.user_data, a variable without a default/);
    expect(byAddress["aws_launch_template.fetched"].verdicts).toMatchObject({ bridge: "unknown", awsvpc: "unknown" });
    expect(byAddress["aws_launch_template.fetched"].reasons.bridge[0]).toBe("the user data is only known at apply time (data.aws_s3_object.boot.body)");
  });

  it("is no user data when the variable defaults to null, as Terraform evaluates it", async () => {
    const row = (await rows("hcl-references"))["aws_launch_configuration.nothing"];
    expect(row.verdicts).toMatchObject({ bridge: "open", awsvpc: "open" });
    expect(row.reasons.awsvpc[0]).toMatch(/^no user data/);
  });

  it("gives one unknown row, every mode, for a for_each known only at apply time", async () => {
    const row = (await rows("hcl-references"))["aws_launch_template.per_name"];
    expect(row.verdicts).toEqual({ bridge: "unknown", awsvpc: "unknown", host: "unknown" });
    expect(row.reasons.host[0]).toBe("aws_launch_template.per_name: for_each = var.pool_names is known only at apply time: the audit cannot tell which instances exist");
  });

  it("says a count Terraform itself refuses is an error there too, and which values to give", async () => {
    // A shape of public modules: count = var.enabled ? 1 : 0 with enabled defaulting to null.
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-count-"));
    try {
      writeFileSync(
        join(dir, "main.tf"),
        'variable "enabled" {\n  type    = bool\n  default = null\n}\n\nresource "aws_launch_template" "default" {\n  count     = var.enabled ? 1 : 0\n  user_data = base64encode("#!/bin/bash\\n")\n}\n',
      );
      const run = JSON.parse((await audit(["--format", "json", dir])).stdout);
      expect(run.resources.map((r: Row) => [r.address, r.verdicts])).toEqual([["aws_launch_template.default", { bridge: "unknown", awsvpc: "unknown" }]]);
      expect(run.resources[0].reasons.bridge[0]).toBe(
        "aws_launch_template.default: count = var.enabled ? 1 : 0 is an error in Terraform too (condition: a null where a bool is required): its plan stops there; give the values it needs (--var, --var-file)",
      );
      const given = JSON.parse((await audit(["--format", "json", "--var", "enabled=true", dir])).stdout);
      expect(given.resources.map((r: Row) => r.address)).toEqual(["aws_launch_template.default[0]"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the launch resources and module calls that have no instance when nothing else is found", async () => {
    // A reusable module audited on its own: its launch template exists only when the caller asks.
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-empty-"));
    try {
      mkdirSync(join(dir, "asg"));
      writeFileSync(join(dir, "asg", "main.tf"), 'resource "aws_launch_template" "default" {\n  user_data = base64encode("#!/bin/bash\\n")\n}\n');
      writeFileSync(
        join(dir, "main.tf"),
        'variable "create" {\n  default = false\n}\n\nvariable "pools" {\n  type    = map(any)\n  default = {}\n}\n\nresource "aws_launch_template" "this" {\n  count = var.create ? 1 : 0\n}\n\nmodule "asg" {\n  source   = "./asg"\n  for_each = var.pools\n}\n',
      );
      const run = await audit([dir]);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe(
        "ecs-imds-guard: no launch resource has an instance with these inputs: give the values that create them (--var, --var-file) or audit a configuration that calls this module:\n" +
          "  aws_launch_template.this: count = var.create ? 1 : 0 gives no instance\n" +
          "  module.asg: for_each = var.pools gives no instance of the module, which declares aws_launch_template.default\n",
      );
      const given = JSON.parse((await audit(["--format", "json", "--var", "create=true", "--var", 'pools={"web":{}}', dir])).stdout);
      expect(given.resources.map((r: Row) => r.address)).toEqual(["aws_launch_template.this[0]", 'module.asg["web"].aws_launch_template.default']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads a -var value when the caller gives one, never a guess", async () => {
    const [raw] = (await readAuditInputs([join(FIXTURES, "hcl-references")], { variables: { user_data: "#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n" } })).filter(
      (resource) => resource.address === "aws_instance.raw",
    );
    expect(raw.description.userData).toEqual({ text: "#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n" });
  });
});

describe("Terraform JSON", () => {
  it("expands for_each and count and reads wholly-reference user data the same way as HCL", async () => {
    const byAddress = await rows("json-instances");
    const verdicts = Object.fromEntries(Object.entries(byAddress).map(([address, row]) => [address, { bridge: row.verdicts.bridge, awsvpc: row.verdicts.awsvpc }]));
    expect(verdicts).toEqual({
      'aws_launch_template.pool["batch"]': { bridge: "open", awsvpc: "closed" },
      'aws_launch_template.pool["web"]': { bridge: "closed", awsvpc: "closed" },
      "aws_launch_template.given": { bridge: "unknown", awsvpc: "unknown" },
      "aws_instance.node[0]": { bridge: "unknown", awsvpc: "unknown" },
      "aws_instance.node[1]": { bridge: "unknown", awsvpc: "unknown" },
      "aws_launch_configuration.nothing": { bridge: "open", awsvpc: "open" },
    });
    expect(byAddress["aws_instance.node[1]"].reasons.awsvpc[0]).toMatch(/^the user data is only known at apply time \(var\.user_data, a variable without a default/);
    expect(byAddress["aws_launch_configuration.nothing"].reasons.awsvpc[0]).toMatch(/^no user data/);
  });
});

describe("variable values Terraform loads by itself", () => {
  it("reads terraform.tfvars, then *.auto.tfvars, and judges with their values", async () => {
    const row = (await rows("hcl-tfvars"))["aws_launch_template.ecs"];
    expect(row.verdicts).toMatchObject({ bridge: "closed", awsvpc: "closed" });
    expect(row.reasons.bridge[0]).toMatch(/with hop limit 1/);
  });

  describeWhen({ terraform: hasProgram("terraform") })("against Terraform", () => {
    it("gives the variables the values terraform console gives them in that folder", async () => {
      const folder = join(FIXTURES, "hcl-tfvars");
      const workspace = new TerraformWorkspace({});
      try {
        const variables = readFileSync(join(folder, "main.tf"), "utf8").match(/^variable [^\n]*\{\n[\s\S]*?^\}\n/gm) ?? [];
        writeFileSync(join(workspace.dir, "variables.tf"), variables.join("\n"));
        for (const name of ["terraform.tfvars", "ecs.auto.tfvars"]) copyFileSync(join(folder, name), join(workspace.dir, name));
        const [hopLimit, userData] = workspace.console(["var.hop_limit", "var.user_data"]);
        const [found] = await readAuditInputs([folder]);
        expect(found.description.metadataOptions?.httpPutResponseHopLimit).toBe(hopLimit);
        expect(found.description.userData).toEqual({ text: userData });
      } finally {
        workspace.dispose();
      }
    });
  });
});
