/**
 * The audit Aspect of `ecs-imds-guard/aws-cdk` in real AWS CDK apps: the app of
 * __tests__/audit/aws-cdk-apps on aws-cdk-lib 2.232.0 and 2.278.0, each installed from its own lock
 * file with the packed tarball added, as a team adds the package. aspect-app.js puts the Aspect on
 * the App (and its Stage) and prints what `cdk synth` reads from the cloud assembly: each stack's
 * messages. Its verdicts must be the ones `npx ecs-imds-guard audit cdk.out` gives for the same app.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(__dirname, "..", "..");
const APPS = join(ROOT, "__tests__", "audit", "aws-cdk-apps");

jest.setTimeout(600_000);

function run(cwd: string, command: string, args: readonly string[], env: Record<string, string> = {}) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 300_000, env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return result;
}

interface Message {
  readonly stack: string;
  readonly level: "info" | "warning" | "error";
  readonly id: string;
  readonly data: string;
}

interface Synthesized {
  readonly messages: Message[];
  readonly launchResources: Array<{ path: string; logicalId: string }>;
  readonly frameworkLoaded: boolean;
}

const workDir = mkdtempSync(join(tmpdir(), "ecs-imds-aws-cdk-aspect-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Installs the app of one aws-cdk-lib version from its lock file, then the packed tarball. */
function install(version: string): string {
  const tarball = process.env.PACKED_TARBALL;
  if (!tarball) throw new Error("PACKED_TARBALL is not set: run the consumer tests through jest (its global setup packs)");
  const appDir = join(workDir, version);
  mkdirSync(appDir);
  for (const file of ["package.json", "package-lock.json", "app.js", "aspect-app.js"]) cpSync(join(APPS, file === "package.json" || file === "package-lock.json" ? join(version, file) : file), join(appDir, file));
  for (const args of [["ci"], ["install", tarball]]) {
    const result = run(appDir, "npm", [...args, "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"]);
    if (result.status !== 0) throw new Error(`npm ${args[0]} in the aws-cdk-lib ${version} app failed:\n${result.stderr}`);
  }
  return appDir;
}

/** `node aspect-app.js` with the Aspect's options, writing cdk.out into `outdir`. */
function synth(appDir: string, outdir: string, env: { ASPECT_LEVEL?: string; SUPPRESS?: unknown; HARDEN_AFTER?: string } = {}): Synthesized {
  const result = run(appDir, process.execPath, ["aspect-app.js"], {
    CDK_OUTDIR: outdir,
    ...(env.ASPECT_LEVEL ? { ASPECT_LEVEL: env.ASPECT_LEVEL } : {}),
    ...(env.SUPPRESS ? { SUPPRESS: JSON.stringify(env.SUPPRESS) } : {}),
    ...(env.HARDEN_AFTER ? { HARDEN_AFTER: env.HARDEN_AFTER } : {}),
  });
  if (result.status !== 0) throw new Error(`node aspect-app.js failed:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

const FINDING = /^ecs-imds-guard audit \(ecs-imds-(\w+)\): (AWS::\S+) (\S+) \((\w+)\): (\w+) mode is (\w+)/;

/** Verdicts per logical id and mode, from the Aspect's messages: a mode not reported is closed. */
function aspectVerdicts(synthesized: Synthesized, levels: readonly string[]): Record<string, Record<string, string>> {
  const verdicts: Record<string, Record<string, string>> = Object.fromEntries(synthesized.launchResources.map(({ logicalId }) => [logicalId, { bridge: "closed", awsvpc: "closed" }]));
  for (const message of synthesized.messages.filter((m) => levels.includes(m.level))) {
    const match = FINDING.exec(message.data);
    if (!match) continue;
    const [, rule, , path, logicalId, mode, verdict] = match;
    expect({ rule, path: `/${path}` }).toEqual({ rule: mode, path: message.id });
    verdicts[logicalId][mode] = verdict;
  }
  return verdicts;
}

/** Verdicts per logical id and mode from `npx ecs-imds-guard audit --format json cdk.out`. */
function cliVerdicts(appDir: string, outdir: string): Record<string, Record<string, string>> {
  const result = run(appDir, "npx", ["--no-install", "ecs-imds-guard", "audit", "--format", "json", outdir]);
  expect(result.stderr).toBe("");
  const rows = JSON.parse(result.stdout).resources as Array<{ address: string; verdicts: Record<string, string> }>;
  return Object.fromEntries(rows.map((row) => [row.address.split("/").pop() as string, row.verdicts]));
}

describe("the audit Aspect in an AWS CDK app on aws-cdk-lib 2.278.0, after the CDK removed its IMDS block", () => {
  let appDir: string;
  let synthesized: Synthesized;
  beforeAll(() => {
    appDir = install("2.278");
    synthesized = synth(appDir, "cdk.out");
  });

  it("loads nothing of cdktf or CDK Terrain", () => {
    expect(synthesized.frameworkLoaded).toBe(false);
  });

  it("type-checks in a TypeScript app against aws-cdk-lib's Aspects, its priorities and the rule ids, declarations included", () => {
    writeFileSync(
      join(appDir, "check.ts"),
      [
        'import { App, Aspects, AspectPriority, Stack } from "aws-cdk-lib";',
        'import { ImdsAuditAspect, ImdsAuditAspectProps } from "ecs-imds-guard/aws-cdk";',
        "const app = new App();",
        'const props: ImdsAuditAspectProps = { level: "warning", networkModes: ["bridge"] };',
        "Aspects.of(app).add(new ImdsAuditAspect(props), { priority: AspectPriority.READONLY });",
        'ImdsAuditAspect.suppress(new Stack(app, "S"), [{ rule: "ecs-imds-awsvpc", reason: "no awsvpc tasks run here" }]);',
        'ImdsAuditAspect.suppress(app, [{ rule: "ecs-imds-none", reason: "a rule that does not exist" }]);',
      ].join("\n"),
    );
    // Node's types as a CDK app has them (cdk init installs @types/node); not skipLibCheck, so the
    // package's declarations are checked too.
    const compilerOptions = {
      strict: true, noEmit: true, module: "node16", moduleResolution: "node16", target: "es2022", lib: ["es2022", "esnext.disposable"],
      skipLibCheck: false, types: ["node"], typeRoots: [join(ROOT, "node_modules", "@types")],
    };
    writeFileSync(join(appDir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["check.ts"] }));
    const result = run(appDir, join(ROOT, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"]);
    // The one error: the rule id that does not exist.
    expect(result.stdout.trim().split("\n")).toEqual([expect.stringMatching(/^check\.ts\(7,\d+\): error TS2322: Type '"ecs-imds-none"' is not assignable/)]);
  });

  it("gives, on the App and its Stage, the verdicts `ecs-imds-guard audit cdk.out` gives for the synthesized app", () => {
    const fromAspect = aspectVerdicts(synthesized, ["error"]);
    expect(fromAspect).toEqual(cliVerdicts(appDir, "cdk.out"));
    // addCapacity is open in both modes now; the hardened launch template closes bridge mode only.
    expect(fromAspect.ClusterStandardLaunchConfig47D30CC6).toEqual({ bridge: "open", awsvpc: "open" });
    expect(fromAspect.HardenedC810E6FD).toEqual({ bridge: "closed", awsvpc: "open" });
    expect(Object.keys(fromAspect)).toHaveLength(6);
  });

  it("reports an open mode as an error naming the rule, the reason and the fix, in the manifest `cdk synth` fails on", () => {
    const standard = synthesized.messages.filter((m) => m.id === "/EcsCapacity/Cluster/Standard/LaunchConfig");
    expect(standard.map((m) => m.level)).toEqual(["error", "error"]);
    expect(standard[0].data).toMatch(/^ecs-imds-guard audit \(ecs-imds-bridge\): AWS::AutoScaling::LaunchConfiguration EcsCapacity\/Cluster\/Standard\/LaunchConfig \(ClusterStandardLaunchConfig47D30CC6\): bridge mode is open: .+IMDSv1 is allowed.+ Fix: .+DOCKER-USER/);
    // The CLI reads the same entries from the stack's metadata: in cdk.out/manifest.json, or in the
    // file it names (aws-cdk-lib 2.278 writes EcsCapacity.metadata.json).
    const { artifacts } = JSON.parse(readFileSync(join(appDir, "cdk.out", "manifest.json"), "utf8"));
    const metadata = artifacts.EcsCapacity.metadata ?? JSON.parse(readFileSync(join(appDir, "cdk.out", artifacts.EcsCapacity.additionalMetadataFile), "utf8"));
    const entries = metadata["/EcsCapacity/Cluster/Standard/LaunchConfig"] as Array<{ type: string; data: string }>;
    expect(entries.filter((entry) => entry.type === "aws:cdk:error").map((entry) => entry.data)).toEqual(standard.map((m) => m.data));
    expect(synthesized.messages.filter((m) => m.id === "/EcsCapacity/Hardened/Resource").map((m) => m.data.slice(0, 40))).toEqual(["ecs-imds-guard audit (ecs-imds-awsvpc): "]);
  });

  it("judges the template as synthesized: a change made by an aspect that runs after it counts", () => {
    const hardened = synth(appDir, "cdk.hardened.out", { HARDEN_AFTER: "1" });
    const fromAspect = aspectVerdicts(hardened, ["error"]);
    expect(fromAspect).toEqual(cliVerdicts(appDir, "cdk.hardened.out"));
    // IMDSv2 required with hop limit 1 on Amazon Linux 2 closes bridge mode; awsvpc stays open.
    expect(fromAspect.ClusterStandardLaunchConfig47D30CC6).toEqual({ bridge: "closed", awsvpc: "open" });
  });

  it("at level warning reports the same findings as warnings, and no error", () => {
    const warned = synth(appDir, "cdk.warn.out", { ASPECT_LEVEL: "warning" });
    expect(warned.messages.filter((m) => m.level === "error")).toEqual([]);
    expect(aspectVerdicts(warned, ["warning"])).toEqual(aspectVerdicts(synthesized, ["error"]));
  });

  it("reports a suppressed finding as info with its reason, and a suppression that matches nothing as a warning", () => {
    const suppressed = synth(appDir, "cdk.suppressed.out", {
      SUPPRESS: [
        { path: "EcsCapacity/Cluster/Bottlerocket", suppressions: [{ reason: "Bottlerocket hosts run only first-party tasks" }] },
        { path: "EcsCapacity/Hardened", suppressions: [{ rule: "ecs-imds-bridge", reason: "hop limit 1 was thought to be enough" }] },
      ],
    });
    const bottlerocket = suppressed.messages.filter((m) => m.id === "/EcsCapacity/Cluster/Bottlerocket/LaunchConfig");
    expect(bottlerocket.map((m) => m.level)).toEqual(["info", "info"]);
    expect(bottlerocket[0].data).toContain(
      "bridge mode is open, suppressed: Bottlerocket hosts run only first-party tasks (suppression of EcsCapacity/Cluster/Bottlerocket (every rule) in ImdsAuditAspect.suppress(EcsCapacity/Cluster/Bottlerocket))",
    );
    expect(suppressed.messages.filter((m) => m.id === "/EcsCapacity/Hardened")).toEqual([
      expect.objectContaining({
        level: "warning",
        data: "ecs-imds-guard audit: suppression of EcsCapacity/Hardened (ecs-imds-bridge) in ImdsAuditAspect.suppress(EcsCapacity/Hardened) matched no finding: nothing to acknowledge: bridge mode is closed",
      }),
    ]);
    // Everything else is still an error; the suppressed verdicts are unchanged.
    expect(aspectVerdicts(suppressed, ["error", "info"])).toEqual(aspectVerdicts(synthesized, ["error"]));
    expect(suppressed.messages.filter((m) => m.level === "error")).toHaveLength(synthesized.messages.filter((m) => m.level === "error").length - 2);
  });

  it("refuses a suppression without a reason when the app is built, naming the construct", () => {
    const result = run(appDir, process.execPath, ["aspect-app.js"], { CDK_OUTDIR: "cdk.bad.out", SUPPRESS: JSON.stringify([{ path: "EcsCapacity/Hardened", suppressions: [{ rule: "ecs-imds-bridge" }] }]) });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("ImdsAuditAspect.suppress(EcsCapacity/Hardened)[0]");
  });
});

describe("the audit Aspect in the same app on aws-cdk-lib 2.232.0, the last release with the IMDS block", () => {
  it("gives the verdicts `ecs-imds-guard audit cdk.out` gives: addCapacity fragile in bridge mode, awsvpc closed", () => {
    const appDir = install("2.232");
    const synthesized = synth(appDir, "cdk.out");
    const fromAspect = aspectVerdicts(synthesized, ["error"]);
    expect(fromAspect).toEqual(cliVerdicts(appDir, "cdk.out"));
    expect(fromAspect.ClusterStandardLaunchConfig47D30CC6).toEqual({ bridge: "fragile", awsvpc: "closed" });
    expect(fromAspect.HardenedC810E6FD).toEqual({ bridge: "closed", awsvpc: "closed" });
  });
});
