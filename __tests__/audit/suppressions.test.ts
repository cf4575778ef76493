/**
 * Suppressions as CLI users write them: a `--suppressions` file and a comment above a resource in
 * HCL. A suppressed finding stays in every output with its reason and rule, and stops failing the
 * run; a stale suppression is reported; a bad one is refused naming the field, value and rule.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAudit } from "../../lib/audit";

jest.setTimeout(60_000);

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function audit(args: readonly string[], cwd: string): Promise<Run> {
  const before = process.cwd();
  process.chdir(cwd);
  try {
    let stdout = "";
    let stderr = "";
    const code = await runAudit(["audit", ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
  } finally {
    process.chdir(before);
  }
}

// Two templates written without the guard: IMDSv2 with hop limit 2 and no user data, so bridge and
// awsvpc are open on both.
const TWO_TEMPLATES = `
resource "aws_launch_template" "legacy" {
  image_id = "ami-0123456789abcdef0"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }
}

# Batch pool, retired next quarter.
# ecs-imds-guard:suppress rule=ecs-imds-awsvpc reason="Batch pool runs no awsvpc tasks (ticket OPS-12)"
resource "aws_launch_template" "batch" {
  image_id = "ami-0123456789abcdef0"
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }
}
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ecs-imds-suppress-"));
  writeFileSync(join(dir, "main.tf"), TWO_TEMPLATES);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function suppressionFile(suppressions: unknown[]): string {
  writeFileSync(join(dir, "suppressions.json"), JSON.stringify({ suppressions }));
  return "suppressions.json";
}

describe("suppressions in the CLI", () => {
  it("reports findings acknowledged by a file and an HCL comment with their reasons, and passes when nothing else is open", async () => {
    const file = suppressionFile([
      { resource: "aws_launch_template.legacy", reason: "Replaced by the guarded template in the next release" },
      { resource: "aws_launch_template.batch", rule: "ecs-imds-bridge", reason: "Batch containers are built in-house" },
    ]);
    const json = await audit(["--format", "json", "--suppressions", file, "."], dir);
    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: "" });
    const body = JSON.parse(json.stdout);
    expect(body.summary).toMatchObject({ open: 4, suppressed: 4 });
    expect(body.resources.map((r: any) => [r.address, r.rules, r.verdicts, r.suppressions])).toEqual([
      [
        "aws_launch_template.legacy",
        { bridge: "ecs-imds-bridge", awsvpc: "ecs-imds-awsvpc" },
        { bridge: "open", awsvpc: "open" },
        {
          bridge: { resource: "aws_launch_template.legacy", reason: "Replaced by the guarded template in the next release", source: file },
          awsvpc: { resource: "aws_launch_template.legacy", reason: "Replaced by the guarded template in the next release", source: file },
        },
      ],
      [
        "aws_launch_template.batch",
        { bridge: "ecs-imds-bridge", awsvpc: "ecs-imds-awsvpc" },
        { bridge: "open", awsvpc: "open" },
        {
          bridge: { resource: "aws_launch_template.batch", rule: "ecs-imds-bridge", reason: "Batch containers are built in-house", source: file },
          awsvpc: { rule: "ecs-imds-awsvpc", reason: "Batch pool runs no awsvpc tasks (ticket OPS-12)", source: "main.tf:11" },
        },
      ],
    ]);

    const table = await audit(["--suppressions", file, "."], dir);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("| aws_launch_template.batch (main.tf) | ecs-imds-awsvpc | open, suppressed | Suppressed (main.tf:11): Batch pool runs no awsvpc tasks (ticket OPS-12). no user data");
    expect(table.stdout).toContain("4 findings are suppressed, each with its reason");
  });

  it("hands suppressions to code scanning as SARIF suppressions with their justification", async () => {
    const file = suppressionFile([{ resource: "aws_launch_template.legacy", rule: "ecs-imds-bridge", reason: "Replaced by the guarded template in the next release" }]);
    const sarif = await audit(["--format", "sarif", "--suppressions", file, "."], dir);
    expect(sarif.code).toBe(1);
    const results = JSON.parse(sarif.stdout).runs[0].results;
    expect(results.map((r: any) => [r.ruleId, r.locations[0].logicalLocations[0].fullyQualifiedName, r.suppressions ?? []])).toEqual([
      ["ecs-imds-bridge", "aws_launch_template.legacy", [{ kind: "external", status: "accepted", justification: "Replaced by the guarded template in the next release", location: { physicalLocation: { artifactLocation: { uri: "suppressions.json" } } } }]],
      ["ecs-imds-awsvpc", "aws_launch_template.legacy", []],
      ["ecs-imds-bridge", "aws_launch_template.batch", []],
      ["ecs-imds-awsvpc", "aws_launch_template.batch", [{ kind: "inSource", status: "accepted", justification: "Batch pool runs no awsvpc tasks (ticket OPS-12)", location: { physicalLocation: { artifactLocation: { uri: "main.tf" } } } }]],
    ]);
  });

  it("fails on the findings no suppression covers", async () => {
    const run = await audit(["--format", "json", "."], dir);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).summary).toMatchObject({ open: 4, suppressed: 1 });
  });

  it("reports a suppression that matches no finding, and why, without failing for it", async () => {
    const file = suppressionFile([
      { resource: "aws_launch_template.gone", reason: "Template deleted last sprint" },
      { resource: "aws_launch_template.legacy", rule: "ecs-imds-host", reason: "Host tasks are trusted here" },
      { resource: "aws_launch_template.legacy", reason: "Replaced by the guarded template in the next release" },
      { resource: "aws_launch_template.batch", rule: "ecs-imds-bridge", reason: "Batch containers are built in-house" },
    ]);
    const run = await audit(["--format", "json", "--suppressions", file, "."], dir);
    expect(run.code).toBe(0);
    expect(run.stderr.trim().split("\n")).toEqual([
      "ecs-imds-guard: warning: suppression of aws_launch_template.gone (every rule) in suppressions.json matched no finding: no audited resource has the address aws_launch_template.gone",
      "ecs-imds-guard: warning: suppression of aws_launch_template.legacy (ecs-imds-host) in suppressions.json matched no finding: host mode is not judged (network modes: bridge, awsvpc)",
    ]);
    expect(JSON.parse(run.stdout).unmatchedSuppressions.map((u: any) => u.why)).toEqual([
      "no audited resource has the address aws_launch_template.gone",
      "host mode is not judged (network modes: bridge, awsvpc)",
    ]);
  });

  it.each([
    [[{ resource: "aws_launch_template.legacy" }], 'suppressions.json: suppressions[0].reason = undefined is invalid: a suppression needs a written reason of at least 10 characters'],
    [[{ resource: "aws_launch_template.legacy", rule: "bridge", reason: "Replaced next release" }], 'suppressions.json: suppressions[0].rule = "bridge" is invalid: must be one of ecs-imds-bridge, ecs-imds-awsvpc, ecs-imds-host'],
    [[{ rule: "ecs-imds-bridge", reason: "Replaced next release" }], "suppressions.json: suppressions[0].resource = undefined is invalid: must be the Terraform address"],
    [[{ resource: "aws_launch_template.legacy", mode: "bridge", reason: "Replaced next release" }], 'suppressions.json: suppressions[0].mode = "bridge" is invalid: a suppression has only the fields resource, rule, reason'],
  ])("refuses a bad suppression file with exit code 2: %j", async (suppressions, message) => {
    const run = await audit(["--suppressions", suppressionFile(suppressions), "."], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`ecs-imds-guard: ${message}`);
    expect(run.stdout).toBe("");
  });

  it("refuses a suppression comment without a reason, naming the file and line", async () => {
    writeFileSync(join(dir, "main.tf"), TWO_TEMPLATES.replace(' reason="Batch pool runs no awsvpc tasks (ticket OPS-12)"', ""));
    const run = await audit(["."], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("cannot read main.tf: line 11: reason = undefined is invalid: a suppression needs a written reason");
  });
});

describe("suppression comments in HCL", () => {
  it("refuses one that is not right above a resource block, naming the line", async () => {
    writeFileSync(join(dir, "main.tf"), `# ecs-imds-guard:suppress reason="Meant for the template below"\n\nresource "aws_launch_template" "legacy" {\n  image_id = "ami-0123456789abcdef0"\n}\n`);
    const run = await audit(["."], dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("cannot read main.tf: line 1: an ecs-imds-guard:suppress comment must be in the comment lines right above a resource block");
  });
});
