import { App, Testing } from "cdktf";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import { DataAwsSsmParameter } from "@cdktf/provider-aws/lib/data-aws-ssm-parameter";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { CAPACITY_STACK_NAME, configFromEnvironment, DEFAULT_CONFIG, DefaultStackConfig, ENVIRONMENT_INPUTS, ImdsGuardStack, STACK_NAME } from "../app";
import { renderUserData } from "../lib";

const PROJECT_ROOT = join(__dirname, "..");

function synthDefaultStack(config: DefaultStackConfig = DEFAULT_CONFIG) {
  const stack = new ImdsGuardStack(Testing.app(), STACK_NAME, config);
  const synthesized = Testing.synth(stack);
  return { stack, synthesized, json: JSON.parse(synthesized) };
}

/** Every string in a JSON value. */
function stringsOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value !== null && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => [k, ...stringsOf(v)]);
  return [];
}

/** PATH without the directories that hold a terraform binary (unless node lives there too). */
function pathWithoutTerraform(): string {
  return (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => !existsSync(join(dir, "terraform")) || existsSync(join(dir, "node")))
    .join(delimiter);
}

describe("the default stack", () => {
  it("has the AWS provider, a relative local backend and one guarded launch template", () => {
    const { synthesized, json } = synthDefaultStack();
    expect(synthesized).toHaveProviderWithProperties(AwsProvider, { region: "us-east-1" });
    expect(json.terraform.backend).toEqual({ local: { path: "../../../terraform.ecs-imds-guard.tfstate" } });
    expect(synthesized).toHaveDataSourceWithProperties(DataAwsSsmParameter, {
      name: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    });
    expect(synthesized).toHaveResourceWithProperties(LaunchTemplate, {
      instance_type: "t3.medium",
      update_default_version: true,
      metadata_options: {
        http_endpoint: "enabled",
        http_tokens: "required",
        http_put_response_hop_limit: 1,
        http_protocol_ipv6: "disabled",
        instance_metadata_tags: "disabled",
      },
    });
    const [template] = Object.values(json.resource.aws_launch_template) as any[];
    const expected = renderUserData({ clusterName: "default", platform: "al2023", networkModes: ["bridge", "awsvpc"] });
    expect(Buffer.from(template.user_data, "base64").toString("utf8")).toBe(expected.text);
  });

  it("holds no absolute path of the machine that synthesized it", () => {
    const app = new App({ outdir: mkdtempSync(join(tmpdir(), "ecs-imds-guard-")) });
    try {
      const stack = new ImdsGuardStack(app, STACK_NAME, DEFAULT_CONFIG);
      app.synth();
      const written = readFileSync(join(app.outdir, "stacks", STACK_NAME, "cdk.tf.json"), "utf8");
      for (const local of [PROJECT_ROOT, process.cwd(), homedir(), tmpdir(), app.outdir]) {
        expect(written).not.toContain(local);
      }
      // The only absolute-looking strings are the public SSM parameter names ("//" keys are comments).
      const absolute = stringsOf(JSON.parse(written)).filter((s) => isAbsolute(s) && s !== "//");
      expect(absolute).toEqual(["/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"]);
      expect(stack.guardedLaunchTemplate.userData.unresolved).toBe(false);
    } finally {
      rmSync(app.outdir, { recursive: true, force: true });
    }
  });

  it("keeps its state in S3 when a bucket is configured", () => {
    const config = configFromEnvironment({ ECS_IMDS_GUARD_S3_BUCKET: "team-state", ECS_IMDS_GUARD_REGION: "eu-west-1" });
    expect(synthDefaultStack(config).json.terraform.backend).toEqual({
      s3: { bucket: "team-state", key: "ecs-imds-guard/terraform.tfstate", region: "eu-west-1", encrypt: true, use_lockfile: true },
    });
  });

  it("matches the recorded JSON (change detector)", () => {
    expect(synthDefaultStack().synthesized).toMatchSnapshot();
  });
});

describe("configFromEnvironment", () => {
  it("keeps the embedded defaults when nothing is set", () => {
    expect(configFromEnvironment({})).toEqual(DEFAULT_CONFIG);
    expect(configFromEnvironment({ ECS_IMDS_GUARD_PLATFORM: " " })).toEqual(DEFAULT_CONFIG);
  });

  it("reads every input", () => {
    const config = configFromEnvironment({
      ECS_IMDS_GUARD_REGION: "eu-central-1",
      ECS_IMDS_GUARD_CLUSTER_NAME: "prod",
      ECS_IMDS_GUARD_PLATFORM: "al2",
      ECS_IMDS_GUARD_ARCHITECTURE: "arm64",
      ECS_IMDS_GUARD_NETWORK_MODES: "awsvpc, host",
      ECS_IMDS_GUARD_IPV6_IMDS: "true",
      ECS_IMDS_GUARD_FIREWALL_PERSISTENCE: "iptables-services",
      ECS_IMDS_GUARD_INSTANCE_PROFILE: "ecs-instance",
      ECS_IMDS_GUARD_STATE_DIR: "../state",
      ECS_IMDS_GUARD_CREATE_CLUSTER: "false",
      ECS_IMDS_GUARD_SSM_MANAGED_INSTANCE_CORE: "true",
    });
    expect(config).toEqual({
      region: "eu-central-1",
      clusterName: "prod",
      platform: "al2",
      architecture: "arm64",
      networkModes: ["awsvpc", "host"],
      ipv6Imds: true,
      firewallPersistence: "iptables-services",
      instanceType: "t4g.medium",
      iamInstanceProfile: "ecs-instance",
      backend: { kind: "local", directory: "../state" },
      createCluster: false,
      ssmManagedInstanceCore: true,
    });
    const { synthesized, json } = synthDefaultStack(config);
    expect(synthesized).toHaveDataSourceWithProperties(DataAwsSsmParameter, {
      name: "/aws/service/ecs/optimized-ami/amazon-linux-2/arm64/recommended/image_id",
    });
    const [template] = Object.values(json.resource.aws_launch_template) as any[];
    expect(template.iam_instance_profile).toEqual({ name: "ecs-instance" });
    expect(template.metadata_options.http_protocol_ipv6).toBe("enabled");
    expect(Buffer.from(template.user_data, "base64").toString("utf8")).toMatch(/^ECS_CLUSTER=prod$/m);
  });

  it.each([
    [{ ECS_IMDS_GUARD_REGION: "US East" }, 'ECS_IMDS_GUARD_REGION = "US East" is invalid: must be an AWS region name'],
    [{ ECS_IMDS_GUARD_PLATFORM: "windows" }, 'ECS_IMDS_GUARD_PLATFORM = "windows" is invalid: must be one of al2023, al2, bottlerocket'],
    [{ ECS_IMDS_GUARD_ARCHITECTURE: "amd64" }, 'ECS_IMDS_GUARD_ARCHITECTURE = "amd64" is invalid: must be one of x86_64, arm64'],
    [{ ECS_IMDS_GUARD_NETWORK_MODES: "bridge,nat" }, 'ECS_IMDS_GUARD_NETWORK_MODES = "bridge,nat" is invalid: must be a comma-separated list'],
    [{ ECS_IMDS_GUARD_IPV6_IMDS: "yes" }, 'ECS_IMDS_GUARD_IPV6_IMDS = "yes" is invalid: must be true or false'],
    [{ ECS_IMDS_GUARD_FIREWALL_PERSISTENCE: "nftables" }, 'ECS_IMDS_GUARD_FIREWALL_PERSISTENCE = "nftables" is invalid'],
    [{ ECS_IMDS_GUARD_S3_BUCKET: "Team_State" }, 'ECS_IMDS_GUARD_S3_BUCKET = "Team_State" is invalid: must be an S3 bucket name'],
    [{ ECS_IMDS_GUARD_S3_KEY_PREFIX: "k/" }, 'ECS_IMDS_GUARD_S3_KEY_PREFIX = "k/" is invalid: is only used with ECS_IMDS_GUARD_S3_BUCKET'],
    [{ ECS_IMDS_GUARD_S3_BUCKET: "b-b", ECS_IMDS_GUARD_S3_KEY_PREFIX: "/k" }, 'ECS_IMDS_GUARD_S3_KEY_PREFIX = "/k" is invalid: must be an object key prefix'],
    [{ ECS_IMDS_GUARD_STATE_DIR: "/var/state" }, 'ECS_IMDS_GUARD_STATE_DIR = "/var/state" is invalid: must be relative'],
    [{ ECS_IMDS_GUARD_CREATE_CLUSTER: "no" }, 'ECS_IMDS_GUARD_CREATE_CLUSTER = "no" is invalid: must be true or false'],
  ])("refuses %j", (env, message) => {
    expect(() => configFromEnvironment(env)).toThrow(`ecs-imds-guard: ${message}`);
  });

  it("lets the construct refuse a bad cluster name or mode list", () => {
    expect(() => synthDefaultStack(configFromEnvironment({ ECS_IMDS_GUARD_CLUSTER_NAME: "a/b" }))).toThrow(
      'clusterName = "a/b" is invalid',
    );
    expect(() => synthDefaultStack(configFromEnvironment({ ECS_IMDS_GUARD_NETWORK_MODES: "bridge,bridge" }))).toThrow(
      'networkModes[1] = "bridge" is invalid: is listed twice',
    );
  });
});

describe("main.ts as a program", () => {
  const run = (env: Record<string, string>, outdir: string) =>
    // The runner cdktf.json's app uses.
    spawnSync(process.execPath, ["--require", "./tools/swc-register.cjs", "main.ts"], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: "1" },
      encoding: "utf8",
      timeout: 60_000,
    });

  it("writes the stack, or on bad input only the error", () => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-"));
    try {
      const good = run({ ECS_IMDS_GUARD_CLUSTER_NAME: "prod" }, join(outdir, "good"));
      expect(good.status).toBe(0);
      const json = JSON.parse(readFileSync(join(outdir, "good", "stacks", STACK_NAME, "cdk.tf.json"), "utf8"));
      expect(Object.keys(json.resource.aws_launch_template)).toHaveLength(1);

      const bad = run({ ECS_IMDS_GUARD_PLATFORM: "windows" }, join(outdir, "bad"));
      expect(bad.status).toBe(1);
      expect(bad.stderr.trim()).toBe(
        'ecs-imds-guard: ECS_IMDS_GUARD_PLATFORM = "windows" is invalid: must be one of al2023, al2, bottlerocket',
      );
      const files = existsSync(join(outdir, "bad"))
        ? readdirSync(join(outdir, "bad"), { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
        : [];
      expect(files).toEqual([]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe("main.ts on bad environment inputs", () => {
  const synthWith = (env: Record<string, string>) => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-"));
    try {
      const result = spawnSync(process.execPath, ["--require", "./tools/swc-register.cjs", "main.ts"], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, ...env, CDKTF_OUTDIR: join(outdir, "out"), CHECKPOINT_DISABLE: "1" },
        encoding: "utf8",
        timeout: 60_000,
      });
      const written = existsSync(join(outdir, "out"))
        ? readdirSync(join(outdir, "out"), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())
        : [];
      return { status: result.status, stderr: result.stderr.trim(), filesWritten: written.length };
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  };

  it.each([
    [
      { ECS_IMDS_GUARD_CLUSTER_NAME: "bad name" },
      'ecs-imds-guard: ECS_IMDS_GUARD_CLUSTER_NAME = "bad name" is invalid: must be 1-255 characters of letters, digits, hyphens (-) and underscores (_), the ECS cluster name rule',
    ],
    [
      { ECS_IMDS_GUARD_INSTANCE_TYPE: "T3" },
      'ecs-imds-guard: ECS_IMDS_GUARD_INSTANCE_TYPE = "T3" is invalid: must be an EC2 instance type such as t3.medium (family.size, lower case)',
    ],
    [
      { ECS_IMDS_GUARD_INSTANCE_PROFILE: "a:b" },
      'ecs-imds-guard: ECS_IMDS_GUARD_INSTANCE_PROFILE = "a:b" is invalid: must be an instance profile name (1-128 of letters, digits, +=,.@_-) or an ARN arn:aws:iam::<account>:instance-profile/<name>',
    ],
    [
      { ECS_IMDS_GUARD_NETWORK_MODES: "bridge, bridge" },
      'ecs-imds-guard: ECS_IMDS_GUARD_NETWORK_MODES = "bridge, bridge" is invalid: networkModes[1] = "bridge" is listed twice; list each mode once',
    ],
    [
      { ECS_IMDS_GUARD_PLATFORM: "bottlerocket", ECS_IMDS_GUARD_FIREWALL_PERSISTENCE: "iptables-services" },
      'ecs-imds-guard: ECS_IMDS_GUARD_FIREWALL_PERSISTENCE = "iptables-services" is invalid: applies to Amazon Linux only; Bottlerocket has no iptables hook in user data (leave it unset)',
    ],
    [
      { ECS_IMDS_GUARD_CLUSTR_NAME: "prod" },
      'ecs-imds-guard: ECS_IMDS_GUARD_CLUSTR_NAME = "prod" is invalid: is not an input of this app; did you mean ECS_IMDS_GUARD_CLUSTER_NAME? (the inputs are listed in README.md, "Inputs of the default stack")',
    ],
    [
      { ECS_IMDS_GUARD_S3_BUCKETS: "state" },
      'ecs-imds-guard: ECS_IMDS_GUARD_S3_BUCKETS = "state" is invalid: is not an input of this app; did you mean ECS_IMDS_GUARD_S3_BUCKET? (the inputs are listed in README.md, "Inputs of the default stack")',
    ],
  ])("names the variable, its value and the rule for %j, and writes nothing", (env, message) => {
    expect(synthWith(env)).toEqual({ status: 1, stderr: message, filesWritten: 0 });
  });

  it("reads every variable of the README's table, and no other", () => {
    const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Inputs of the default stack"), readme.indexOf("## Errors you may meet"));
    const documented = [...section.matchAll(/^\| `(ECS_IMDS_GUARD_[A-Z0-9_]+)` \|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.keys(ENVIRONMENT_INPUTS).sort());
  });
});

describe("npm run synth", () => {
  const synth = (script: string, args: string[], env: NodeJS.ProcessEnv) =>
    spawnSync("npm", ["run", "--silent", script, "--", ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, PATH: pathWithoutTerraform(), CHECKPOINT_DISABLE: "1", CI: "true", ...env },
      encoding: "utf8",
      timeout: 120_000,
    });

  it("writes cdktf.out/stacks/ecs-imds-guard/cdk.tf.json with the guarded launch template, without terraform or the cdktf CLI, and says what it wrote", () => {
    const started = Date.now();
    const result = synth("synth", [], {});
    expect({ status: result.status, signal: result.signal, stdout: result.stdout }).toEqual({ status: 0, signal: null, stdout: "" });
    const file = join(PROJECT_ROOT, "cdktf.out", "stacks", STACK_NAME, "cdk.tf.json");
    expect(statSync(file).mtimeMs).toBeGreaterThanOrEqual(started - 1000);
    const json = JSON.parse(readFileSync(file, "utf8"));
    const [template] = Object.values(json.resource.aws_launch_template) as any[];
    expect(template.metadata_options).toEqual({
      http_endpoint: "enabled",
      http_tokens: "required",
      http_put_response_hop_limit: 1,
      http_protocol_ipv6: "disabled",
      instance_metadata_tags: "disabled",
    });
    expect(Buffer.from(template.user_data, "base64").toString("utf8")).toContain("DOCKER-USER");
    expect(result.stderr).toBe(
      ["Generated Terraform code for the stacks:", ...[STACK_NAME, CAPACITY_STACK_NAME].map((stack) => `  ${stack}: cdktf.out/stacks/${stack}/cdk.tf.json`), ""].join("\n"),
    );
  }, 120_000);

  it("writes what the cdktf CLI writes (synth:cli) and prints the warnings it prints", () => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-synth-"));
    const hostMode = { ECS_IMDS_GUARD_NETWORK_MODES: "bridge,awsvpc,host" };
    try {
      const fast = synth("synth", [], { ...hostMode, CDKTF_OUTDIR: join(outdir, "fast") });
      const cli = synth("synth:cli", ["--output", join(outdir, "cli")], hostMode);
      expect([fast.status, cli.status]).toEqual([0, 0]);
      // The cdktf CLI runs the same app command (cdktf.json's `app`).
      expect(JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")).scripts.synth).toBe(JSON.parse(readFileSync(join(PROJECT_ROOT, "cdktf.json"), "utf8")).app);
      for (const stack of [STACK_NAME, CAPACITY_STACK_NAME]) {
        expect(readFileSync(join(outdir, "fast", "stacks", stack, "cdk.tf.json"), "utf8")).toBe(readFileSync(join(outdir, "cli", "stacks", stack, "cdk.tf.json"), "utf8"));
      }
      // Host mode cannot be blocked: both say so, once per launch template, in the CLI's words.
      const warnings = fast.stderr.split("\n").filter((line) => line.startsWith("WARN ["));
      expect(warnings.map((line) => line.slice(0, line.indexOf("]:") + 1))).toEqual([
        "WARN [ecs-imds-guard/guarded_launch_template]",
        "WARN [ecs-imds-guard-capacity/guarded_capacity/launch_template]",
      ]);
      for (const warning of warnings) expect(cli.stdout).toContain(warning);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 240_000);
});
