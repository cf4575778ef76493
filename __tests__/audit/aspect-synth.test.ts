/**
 * The exit code is the gate: with the audit Aspect on the App at level error, a real `cdktf synth`
 * (the CLI, which asks the app to write every stack despite error annotations) and a plain run of
 * the app command both exit non-zero; the CLI leaves cdk.tf.json written, the app command does not.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(__dirname, "..", "..");
const REGISTER = join(ROOT, "tools", "swc-register.cjs");

const APP = `
import { App, Aspects, TerraformStack } from "cdktf";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsAuditAspect } from ${JSON.stringify(join(ROOT, "lib"))};

const app = new App();
const stack = new TerraformStack(app, "legacy");
new AwsProvider(stack, "aws", { region: "eu-west-1" });
new LaunchTemplate(stack, "web", {
  imageId: "ami-0123456789abcdef0",
  metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 },
});
Aspects.of(app).add(new ImdsAuditAspect({ level: "error" }));
app.synth();
`;

jest.setTimeout(120_000);

describe("an app with the audit Aspect on the App at level error", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ecs-imds-aspect-synth-"));
    writeFileSync(join(dir, "main.ts"), APP);
    writeFileSync(join(dir, "cdktf.json"), JSON.stringify({ language: "typescript", app: `node --require ${REGISTER} main.ts`, output: "cdktf.out" }));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (command: string, args: string[]) =>
    spawnSync(command, args, {
      cwd: dir,
      encoding: "utf8",
      timeout: 100_000,
      killSignal: "SIGKILL",
      // The app file lives outside the repository: it finds cdktf and the provider through NODE_PATH.
      env: { ...process.env, NODE_PATH: join(ROOT, "node_modules"), CHECKPOINT_DISABLE: "1", CI: "1" },
    });

  it("fails `cdktf synth` with exit code 1, naming the rule and resource, though cdk.tf.json is written", () => {
    const result = run(process.execPath, [join(ROOT, "node_modules", "cdktf-cli", "bundle", "bin", "cdktf"), "synth"]);
    const output = result.stdout + result.stderr;
    expect({ status: result.status, named: output.includes("ecs-imds-guard audit (ecs-imds-bridge): aws_launch_template legacy/web: bridge mode is open") }).toEqual({ status: 1, named: true });
    expect(existsSync(join(dir, "cdktf.out", "stacks", "legacy", "cdk.tf.json"))).toBe(true);
  });

  it("fails the app command with exit code 1 and writes no cdk.tf.json", () => {
    const result = run(process.execPath, ["--require", REGISTER, "main.ts"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("[legacy/web] ecs-imds-guard audit (ecs-imds-bridge)");
    expect(existsSync(join(dir, "cdktf.out", "stacks", "legacy", "cdk.tf.json"))).toBe(false);
  });
});
