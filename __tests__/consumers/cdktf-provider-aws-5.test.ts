/**
 * A user's cdktf app on @cdktf/provider-aws 20.1.0, the release that pins hashicorp/aws 5.100.0, the
 * provider this machine's filesystem mirror holds: its synthesized stack passes `terraform validate`
 * with the real provider exactly as written (pin, backend and all), with no error and no warning.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { awsProviderRequirements, ProviderWorkspace } from "../support/aws-provider";
import { CONSUMERS, installConsumerApp, runAppFile, synthesizedStacks } from "../support/consumer-app";
import { describeWhen } from "../support/tools";

const NAME = "cdktf-provider-aws-5";
const PROGRAM = "every-construct.ts";

describeWhen(awsProviderRequirements())("a cdktf app on @cdktf/provider-aws 20.1.0 (hashicorp/aws 5.100.0)", () => {
  let workDir: string;
  let outdir: string;

  beforeAll(() => {
    const tarball = process.env.PACKED_TARBALL;
    if (!tarball) throw new Error("PACKED_TARBALL is not set: run the consumer tests through jest (its global setup packs)");
    workDir = mkdtempSync(join(tmpdir(), `ecs-imds-guard-${NAME}-`));
    // Node.js 22, the oldest supported: what this app proves is the provider, not the runtime.
    const nodes = process.env.CONSUMER_NODES;
    if (!nodes) throw new Error("CONSUMER_NODES is not set: run the consumer tests through jest (its global setup installs Node.js)");
    const app = installConsumerApp(NAME, tarball, workDir, JSON.parse(nodes)["22"]);
    copyFileSync(join(CONSUMERS, NAME, PROGRAM), join(app.dir, PROGRAM));
    outdir = join(workDir, "out");
    runAppFile(app, PROGRAM, outdir);
  }, 900_000);

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("installs the provider release that pins the mirror's hashicorp/aws", () => {
    const declared = JSON.parse(readFileSync(join(CONSUMERS, NAME, "package.json"), "utf8")).dependencies;
    expect(declared["@cdktf/provider-aws"]).toBe("20.1.0");
    const [stack] = Object.values(synthesizedStacks(outdir));
    expect(stack.terraform.required_providers.aws).toEqual({ source: "aws", version: "5.100.0" });
  });

  it("synthesizes every construct into a stack that passes terraform validate unmodified: no error, no warning", () => {
    const stacks = readdirSync(join(outdir, "stacks"));
    expect(stacks).toEqual(["every-construct"]);
    const written = synthesizedStacks(outdir)["every-construct"];
    expect(Object.keys(written.resource).sort()).toEqual(
      expect.arrayContaining(["aws_autoscaling_group", "aws_ecs_capacity_provider", "aws_iam_role", "aws_launch_template", "aws_security_group"]),
    );
    const workspace = new ProviderWorkspace({}, join(outdir, "stacks", "every-construct"));
    try {
      expect(workspace.validate()).toEqual([]);
    } finally {
      workspace.dispose();
    }
  }, 300_000);
});
