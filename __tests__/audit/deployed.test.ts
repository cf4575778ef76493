/**
 * What is deployed, as the AWS CLI prints it: launch template versions (each version a row, the
 * default and the latest marked), launch configurations, and an instance's user data. Expected
 * verdicts say what an instance launched from each does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runAudit } from "../../lib/audit";

const DEPLOYED = resolve(__dirname, "..", "fixtures", "audit", "deployed");

async function audit(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

async function verdicts(file: string, modes = "bridge,awsvpc"): Promise<Record<string, unknown>> {
  const run = await audit(["--format", "json", "--network-modes", modes, join(DEPLOYED, file)]);
  expect(run.stderr).toBe("");
  return Object.fromEntries(JSON.parse(run.stdout).resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
}

describe("aws ec2 describe-launch-template-versions", () => {
  it("judges each version, naming the template, its id and version, default and latest marked", async () => {
    expect(await verdicts("describe-launch-template-versions.json")).toEqual({
      // AWS CDK 2.233's user data (ECS_CLUSTER only) with IMDSv2 required and hop limit 1: bridge containers get no token; awsvpc tasks reach IMDS.
      "ecs-pool (lt-0a1b2c3d4e5f60718) version 3 (latest)": { bridge: "closed", awsvpc: "open" },
      // AWS CDK 2.232's user data: a FORWARD rule at first boot (Docker's restart puts its ACCEPT above it) and ECS_AWSVPC_BLOCK_IMDS=true.
      "ecs-pool (lt-0a1b2c3d4e5f60718) version 2 (default)": { bridge: "fragile", awsvpc: "closed" },
      // The AWS CDK's opt-in path before 2.233: a DOCKER-USER rule saved by iptables-services and
      // reloaded at every boot, the awsvpc block, and hop limit 1.
      "ecs-docker-user (lt-0f9e8d7c6b5a49382) version 1 (default, latest)": { bridge: "closed", awsvpc: "closed" },
    });
  });

  it("locates SARIF results at each version's launch template data in the output", async () => {
    const file = join(DEPLOYED, "describe-launch-template-versions.json");
    const sarif = JSON.parse((await audit(["--format", "sarif", file])).stdout);
    const lines = readFileSync(file, "utf8").split("\n");
    const located = sarif.runs[0].results.map((r: { locations: Array<{ physicalLocation: { region: { startLine: number } }; logicalLocations: Array<{ fullyQualifiedName: string }> }> }) => [
      r.locations[0].logicalLocations[0].fullyQualifiedName,
      lines[r.locations[0].physicalLocation.region.startLine - 1].trim(),
    ]);
    expect(located).toEqual([
      ["ecs-pool (lt-0a1b2c3d4e5f60718) version 3 (latest)", '"LaunchTemplateData": {'],
      ["ecs-pool (lt-0a1b2c3d4e5f60718) version 2 (default)", '"LaunchTemplateData": {'],
    ]);
    expect(sarif.runs[0].results.map((r: { locations: Array<{ physicalLocation: { region: { startLine: number } } }> }) => r.locations[0].physicalLocation.region.startLine)).toEqual([
      lines.findIndex((line) => line.includes('"LaunchTemplateData"')) + 1,
      lines.findIndex((line, index) => index > lines.findIndex((l) => l.includes('"LaunchTemplateData"')) && line.includes('"LaunchTemplateData"')) + 1,
    ]);
  });
});

describe("aws autoscaling describe-launch-configurations", () => {
  it("judges each launch configuration with its metadata options", async () => {
    expect(await verdicts("describe-launch-configurations.json")).toEqual({
      // AWS CDK 2.232's user data with IMDSv1 allowed (HttpTokens optional).
      "EcsCapacity-ClusterStandardLaunchConfig47D30CC6-1X2Y3Z4W5V6U": { bridge: "fragile", awsvpc: "closed" },
      // No user data; IMDSv2 required but hop limit 2 lets a bridge container (one hop away) get a token.
      "legacy-no-user-data": { bridge: "open", awsvpc: "open" },
    });
  });
});

describe("aws ec2 describe-instance-attribute --attribute userData", () => {
  it("judges the user data, and says the metadata options are not in this output", async () => {
    const run = await audit(["--format", "json", join(DEPLOYED, "describe-instance-attribute-user-data.json")]);
    const [row] = JSON.parse(run.stdout).resources;
    expect(row.address).toBe("i-0123456789abcdef0");
    // The saved DOCKER-USER rule drops 169.254.169.254 on every boot, but not fd00:ec2::254: whether
    // the instance's IPv6 endpoint is on is not in this output.
    expect(row.verdicts).toEqual({ bridge: "unknown", awsvpc: "closed" });
    expect(row.reasons.bridge.join(" ")).toContain("aws ec2 describe-instances");
  });
});

describe("aws ec2 describe-instances with describe-instance-attribute", () => {
  it("joins an instance's metadata options to its user data: one row, judged whole", async () => {
    const run = await audit(["--format", "json", join(DEPLOYED, "describe-instances.json"), join(DEPLOYED, "describe-instance-attribute-user-data.json")]);
    const rows = JSON.parse(run.stdout).resources;
    expect(rows.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts])).toEqual([
      // No user data given for it: what it runs at boot is not known, and IMDSv1 is allowed.
      ["i-0fedcba9876543210", { bridge: "unknown", awsvpc: "unknown" }],
      // The saved DOCKER-USER rule (every boot) and the awsvpc block, with the IPv6 endpoint off and hop limit 1.
      ["i-0123456789abcdef0", { bridge: "closed", awsvpc: "closed" }],
    ]);
    expect(rows[0].reasons.bridge[0]).toContain("add the output of aws ec2 describe-instance-attribute --attribute userData");
  });
});

describe("outputs the audit does not read", () => {
  it("refuses a version without VersionNumber, naming the command whose output it expects", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-deployed-"));
    try {
      const file = join(dir, "versions.json");
      writeFileSync(file, JSON.stringify({ LaunchTemplateVersions: [{ LaunchTemplateId: "lt-1" }] }));
      const run = await audit([file]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("LaunchTemplateVersions[0] has no VersionNumber: not the output of aws ec2 describe-launch-template-versions");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
