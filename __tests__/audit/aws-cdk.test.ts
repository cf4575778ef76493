/**
 * Real AWS CDK apps: aws-cdk-lib from the npm registry, 2.232.0 (the last release whose ECS
 * capacity blocked IMDS) and 2.278.0, installed from each app's own lock file and synthesized with
 * `node app.js` (aws-cdk-apps/app.js: addCapacity on Amazon Linux 2 and on Bottlerocket, an
 * AsgCapacityProvider over a LaunchTemplate with requireImdsv2 and hop limit 1, a plain Instance, and
 * a Stage holding a NestedStack). Then `ecs-imds-guard audit cdk.out`, run in the app's folder as a
 * user runs it. Each expected verdict says what an instance launched from the resource does.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";

import { readAuditInputs } from "../../lib/audit";

const ROOT = resolve(__dirname, "..", "..");
const APPS = join(__dirname, "aws-cdk-apps");
const BIN = join(ROOT, "lib", "bin", "ecs-imds-guard.ts");

jest.setTimeout(600_000);

function run(cwd: string, command: string, args: readonly string[], env: Record<string, string> = {}, timeout = 300_000) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", timeout, env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return result;
}

/** The audit's executable, as `npx ecs-imds-guard` runs it, in `cwd`. */
function audit(cwd: string, args: readonly string[]) {
  return run(cwd, process.execPath, ["--require", join(ROOT, "tools", "swc-register.cjs"), BIN, "audit", ...args], {}, 60_000);
}

const workDir = mkdtempSync(join(tmpdir(), "ecs-imds-aws-cdk-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Installs the app of one aws-cdk-lib version from its lock file and synthesizes it into cdk.out. */
function synthesized(version: string): string {
  const appDir = join(workDir, version);
  mkdirSync(appDir);
  for (const file of ["package.json", "package-lock.json"]) cpSync(join(APPS, version, file), join(appDir, file));
  cpSync(join(APPS, "app.js"), join(appDir, "app.js"));
  const install = run(appDir, "npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"]);
  if (install.status !== 0) throw new Error(`npm ci in the aws-cdk-lib ${version} app failed:\n${install.stderr}`);
  const synth = run(appDir, process.execPath, ["app.js"], { CDK_OUTDIR: "cdk.out" });
  if (synth.status !== 0) throw new Error(`node app.js (aws-cdk-lib ${version}) failed:\n${synth.stderr}`);
  return appDir;
}

interface Row {
  readonly address: string;
  readonly file: string;
  readonly resourceType: string;
  readonly verdicts: Record<string, string>;
  readonly reasons: Record<string, string[]>;
}

function rows(stdout: string): Map<string, Row> {
  return new Map((JSON.parse(stdout).resources as Row[]).map((row) => [row.address, row]));
}

const NESTED = "PoolNestedStackPoolNestedStackResource7C297101/ClusterPoolLaunchConfigE54305AF";

describe("an AWS CDK app on aws-cdk-lib 2.232.0, the last release with the IMDS block", () => {
  let appDir: string;
  beforeAll(() => {
    appDir = synthesized("2.232");
  });

  it("audit cdk.out finds every launch resource, the stage's nested stack included, and exits 1", () => {
    const result = audit(appDir, ["--format", "json", "cdk.out"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(1);
    const found = rows(result.stdout);
    expect([...found.keys()].sort()).toEqual(
      [NESTED, "ClusterStandardLaunchConfig47D30CC6", "ClusterBottlerocketLaunchConfig1247EDC4", "HardenedC810E6FD", "Plain295EB121", "PlainLaunchTemplate77A20B30"].sort(),
    );
    expect(found.get(NESTED)?.file).toBe("cdk.out/assembly-Staging/StagingWorkersPoolCC1DF95F.nested.template.json");
    expect(found.get("Plain295EB121")?.resourceType).toBe("AWS::EC2::Instance");
  });

  it("gives the verdicts the instances would: the FORWARD rule is fragile, ECS_AWSVPC_BLOCK_IMDS=true closes awsvpc", () => {
    const found = rows(audit(appDir, ["--format", "json", "cdk.out"]).stdout);
    const verdicts = Object.fromEntries([...found].map(([address, row]) => [address, row.verdicts]));
    expect(verdicts).toEqual({
      // Amazon Linux 2: IMDSv1 allowed; the CDK's FORWARD rule drops container traffic after the first
      // boot, until Docker restarts and puts its ACCEPT above it; ECS_AWSVPC_BLOCK_IMDS=true in ecs.config.
      [NESTED]: { bridge: "fragile", awsvpc: "closed" },
      ClusterStandardLaunchConfig47D30CC6: { bridge: "fragile", awsvpc: "closed" },
      // Bottlerocket: the CDK writes only settings.ecs.cluster; no hop limit set, awsvpc-block-imds off.
      ClusterBottlerocketLaunchConfig1247EDC4: { bridge: "open", awsvpc: "open" },
      // IMDSv2 required with hop limit 1 on Amazon Linux 2023; the capacity provider added the CDK's block.
      HardenedC810E6FD: { bridge: "closed", awsvpc: "closed" },
      // requireImdsv2 sets tokens but no hop limit: Amazon Linux 2023 defaults it to 2, one hop is enough for a bridge container.
      Plain295EB121: { bridge: "open", awsvpc: "open" },
      PlainLaunchTemplate77A20B30: { bridge: "open", awsvpc: "open" },
    });
    expect(found.get("ClusterStandardLaunchConfig47D30CC6")?.reasons.bridge[0]).toContain("iptables --insert FORWARD 1 --in-interface docker+ --destination 169.254.169.254/32 --jump DROP");
    expect(found.get("ClusterBottlerocketLaunchConfig1247EDC4")?.reasons.awsvpc[0]).toContain("settings.ecs.awsvpc-block-imds is not set");
    expect(found.get("Plain295EB121")?.reasons.bridge.join(" ")).toContain("Amazon Linux 2023");
  });

  it("finds cdk.out from the app's folder, and prints the table", () => {
    const result = audit(appDir, ["."]);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain("| ClusterStandardLaunchConfig47D30CC6 (cdk.out/EcsCapacity.template.json) | ecs-imds-bridge | fragile |");
    expect(result.stdout).toContain("6 resources judged in 2 network modes (bridge, awsvpc): 12 verdicts, one per resource and mode.");
  });

  it("synthesizes exactly the cloud assembly committed for the README's table (templates, asset manifests, manifest artifacts)", () => {
    const fixture = join(ROOT, "__tests__", "fixtures", "audit", "aws-cdk-2.232.out");
    const files = (dir: string): string[] =>
      readdirSync(join(fixture, dir), { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)]));
    for (const file of files(".")) {
      const fresh = readFileSync(join(appDir, "cdk.out", file), "utf8");
      if (basename(file) !== "manifest.json") {
        expect({ file, text: readFileSync(join(fixture, file), "utf8") }).toEqual({ file, text: fresh });
        continue;
      }
      // The manifest keeps only the artifacts the audit reads; the rest holds this machine's paths.
      const kept = JSON.parse(readFileSync(join(fixture, file), "utf8")).artifacts;
      const synthesized = JSON.parse(fresh).artifacts;
      for (const [id, artifact] of Object.entries(kept)) {
        const { type, properties, displayName } = synthesized[id];
        expect({ file, id, artifact }).toEqual({ file, id, artifact: { type, properties, ...(displayName !== undefined ? { displayName } : {}) } });
      }
    }
  });

  it("synthesizes the user data the kernel suite boots for the AWS CDK before 2.233 (corpus cdk-2.232-forward.sh)", async () => {
    // The namespace suite boots cdk-2.232-forward.sh and finds the FORWARD rule lost on Docker's
    // restart: the same script, the cluster's Ref standing for the name the corpus gives it.
    const found = await readAuditInputs([join(appDir, "cdk.out")]);
    const userData = found.find((resource) => resource.address === "ClusterStandardLaunchConfig47D30CC6")?.description.userData;
    expect(userData).toBeDefined();
    const text = (userData as { text: string }).text.replace("\ue000Ref ClusterEB0386A7\ue001", "prod");
    expect(text.trimEnd()).toBe(readFileSync(join(ROOT, "__tests__", "fixtures", "audit", "cdk-2.232-forward.sh"), "utf8").trimEnd());
  });

  it("locates SARIF results at the resource in the synthesized template", () => {
    const sarif = JSON.parse(audit(appDir, ["--format", "sarif", "cdk.out"]).stdout);
    for (const result of sarif.runs[0].results) {
      const location = result.locations[0];
      const line = readFileSync(join(appDir, location.physicalLocation.artifactLocation.uri), "utf8").split("\n")[location.physicalLocation.region.startLine - 1];
      const logicalId = location.logicalLocations[0].fullyQualifiedName.split("/").pop();
      expect(line.trim()).toBe(`"${logicalId}": {`);
    }
  });
});

describe("the same AWS CDK app on aws-cdk-lib 2.278.0, after the block was removed", () => {
  let appDir: string;
  beforeAll(() => {
    appDir = synthesized("2.278");
  });

  it("synthesizes the user data of the corpus's AWS CDK 2.233 and later (cdk-2.233.sh)", async () => {
    const found = await readAuditInputs([join(appDir, "cdk.out")]);
    const userData = found.find((resource) => resource.address === "ClusterStandardLaunchConfig47D30CC6")?.description.userData as { text: string };
    expect(userData.text.replace("\ue000Ref ClusterEB0386A7\ue001", "prod").trimEnd()).toBe(readFileSync(join(ROOT, "__tests__", "fixtures", "audit", "cdk-2.233.sh"), "utf8").trimEnd());
  });

  it("gives the verdicts the instances would: only the hop limit is left, and nothing for awsvpc", () => {
    const result = audit(appDir, ["--format", "json", "cdk.out"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(1);
    const verdicts = Object.fromEntries([...rows(result.stdout)].map(([address, row]) => [address, row.verdicts]));
    expect(verdicts).toEqual({
      // Only ECS_CLUSTER in the user data now, on Amazon Linux 2 with IMDSv1 allowed.
      [NESTED]: { bridge: "open", awsvpc: "open" },
      ClusterStandardLaunchConfig47D30CC6: { bridge: "open", awsvpc: "open" },
      ClusterBottlerocketLaunchConfig1247EDC4: { bridge: "open", awsvpc: "open" },
      // Hop limit 1 still closes bridge mode; awsvpc tasks sit at the host's hop count.
      HardenedC810E6FD: { bridge: "closed", awsvpc: "open" },
      Plain295EB121: { bridge: "open", awsvpc: "open" },
      PlainLaunchTemplate77A20B30: { bridge: "open", awsvpc: "open" },
    });
  });
});
