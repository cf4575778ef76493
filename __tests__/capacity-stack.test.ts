import { Testing } from "cdktf";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { EcsCapacityProvider } from "@cdktf/provider-aws/lib/ecs-capacity-provider";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { EcsClusterCapacityProviders } from "@cdktf/provider-aws/lib/ecs-cluster-capacity-providers";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { buildApp, CAPACITY_STACK_NAME, DEFAULT_CONFIG, DefaultStackConfig, ImdsGuardCapacityStack } from "../app";
import { renderUserData } from "../lib";
import { parseWithCloudInit } from "./support/cloud-init";
import { evaluateHcl, parseHclExpression, plannedUserData, unwrapInterpolation } from "./support/hcl";

const PROJECT_ROOT = join(__dirname, "..");

function synthCapacityStack(config: DefaultStackConfig = DEFAULT_CONFIG) {
  const stack = new ImdsGuardCapacityStack(Testing.app(), CAPACITY_STACK_NAME, config);
  const synthesized = Testing.synth(stack);
  return { stack, synthesized, json: JSON.parse(synthesized) };
}

/** `${type.logical_id.attribute}` of the only resource of a type in the JSON. */
function refOf(json: any, type: string, attribute: string): string {
  const ids = Object.keys(json.resource[type] ?? {});
  expect(ids).toHaveLength(1);
  return `\${${type}.${ids[0]}.${attribute}}`;
}

describe("the capacity stack", () => {
  const { synthesized, json } = synthCapacityStack();

  it("wires cluster, identity, security group, guarded template, Auto Scaling group and capacity provider", () => {
    expect(synthesized).toHaveProviderWithProperties(AwsProvider, { region: "us-east-1" });
    expect(json.terraform.backend).toEqual({ local: { path: "../../../terraform.ecs-imds-guard-capacity.tfstate" } });
    expect(synthesized).toHaveResourceWithProperties(EcsCluster, { name: "${var.cluster_name}" });
    expect(synthesized).toHaveResourceWithProperties(IamRolePolicyAttachment, {
      role: refOf(json, "aws_iam_role", "name"),
      policy_arn: expect.stringMatching(/:iam::aws:policy\/service-role\/AmazonEC2ContainerServiceforEC2Role$/),
    });
    expect(synthesized).toHaveResourceWithProperties(IamInstanceProfile, { role: refOf(json, "aws_iam_role", "name") });
    expect(synthesized).toHaveResourceWithProperties(SecurityGroup, { vpc_id: "${var.vpc_id}" });
    expect(synthesized).toHaveResourceWithProperties(LaunchTemplate, {
      instance_type: "${var.instance_type}",
      iam_instance_profile: { name: refOf(json, "aws_iam_instance_profile", "name") },
      vpc_security_group_ids: [refOf(json, "aws_security_group", "id")],
      metadata_options: expect.objectContaining({ http_tokens: "required", http_put_response_hop_limit: 1 }),
    });
    expect(synthesized).toHaveResourceWithProperties(AutoscalingGroup, {
      launch_template: { id: refOf(json, "aws_launch_template", "id"), version: refOf(json, "aws_launch_template", "latest_version") },
      vpc_zone_identifier: "${var.subnet_ids}",
      min_size: "${var.min_size}",
      max_size: "${var.max_size}",
      protect_from_scale_in: true,
    });
    expect(synthesized).toHaveResourceWithProperties(EcsCapacityProvider, {
      auto_scaling_group_provider: expect.objectContaining({
        auto_scaling_group_arn: refOf(json, "aws_autoscaling_group", "arn"),
        managed_termination_protection: "ENABLED",
      }),
    });
    expect(synthesized).toHaveResourceWithProperties(EcsClusterCapacityProviders, {
      cluster_name: refOf(json, "aws_ecs_cluster", "name"),
      capacity_providers: [refOf(json, "aws_ecs_capacity_provider", "name")],
    });
  });

  it("declares its plan-time inputs as variables with validation blocks", () => {
    const validated = Object.entries(json.variable as Record<string, any>)
      .filter(([, variable]) => (variable.validation ?? []).length > 0)
      .map(([name]) => name)
      .sort();
    expect(validated).toEqual(["cluster_name", "desired_capacity", "instance_type", "max_size", "min_size", "subnet_ids", "vpc_id"]);
    expect(json.variable.vpc_id.default).toBeUndefined();
    expect(json.variable.subnet_ids.default).toBeUndefined();
    expect(json.variable.cluster_name.default).toBe("default");
  });

  it("validates the cluster name at plan time by the synth-time rule", async () => {
    const condition = await parseHclExpression(unwrapInterpolation(json.variable.cluster_name.validation[0].condition));
    for (const [name, valid] of [["prod_1-a", true], ["a".repeat(255), true], ["", false], ["a b", false], ["a".repeat(256), false], ["x\ny", false]] as const) {
      expect([name, evaluateHcl(condition, { "var.cluster_name": name })]).toEqual([name, valid]);
    }
  });

  it("orders the sizes at plan time with a precondition on the Auto Scaling group", () => {
    const [group] = Object.values(json.resource.aws_autoscaling_group) as any[];
    expect(group.lifecycle.precondition).toEqual([
      expect.objectContaining({ condition: "${((var.min_size <= var.desired_capacity) && (var.desired_capacity <= var.max_size))}" }),
    ]);
  });

  it("has the outputs a pipeline wires next", () => {
    expect(Object.keys(json.output).sort()).toEqual([
      "autoscaling_group_name",
      "capacity_provider_name",
      "cluster_name",
      "instance_role_arn",
      "launch_template_id",
      "launch_template_latest_version",
    ]);
    expect(json.output.launch_template_id.value).toBe(refOf(json, "aws_launch_template", "id"));
  });

  it("carries the cluster name into the user data as a Terraform expression that renders like the literal", async () => {
    const [template] = Object.values(json.resource.aws_launch_template) as any[];
    const localName = /^\$\{local\.(\w+)\}$/.exec(template.user_data)![1];
    const expression = await parseHclExpression(unwrapInterpolation(json.locals[localName]));
    expect(expression.meta.name).toBe("base64encode");
    const planned = plannedUserData(expression, "aws_ecs_cluster.cluster.name", "team-a");
    const [parts] = parseWithCloudInit([planned]);
    const literal = renderUserData({ clusterName: "team-a" });
    expect(parts.map((p) => p.contentType)).toEqual(literal.parts.map((p) => p.contentType));
    expect(parts[1].payload).toBe(literal.parts[1].content);
  });

  it("uses an existing cluster and instance profile when configured", () => {
    const { json: existing } = synthCapacityStack({ ...DEFAULT_CONFIG, createCluster: false, iamInstanceProfile: "ecs-instances" });
    expect(existing.resource.aws_ecs_cluster).toBeUndefined();
    expect(existing.resource.aws_iam_role).toBeUndefined();
    expect(existing.output.instance_role_arn).toBeUndefined();
    const [template] = Object.values(existing.resource.aws_launch_template) as any[];
    expect(template.iam_instance_profile).toEqual({ name: "ecs-instances" });
    expect(JSON.stringify(existing.locals)).toContain("var.cluster_name");
    const [attachment] = Object.values(existing.resource.aws_ecs_cluster_capacity_providers) as any[];
    expect(attachment.cluster_name).toBe("${var.cluster_name}");
  });
});

describe("both stacks as files", () => {
  it("hold no absolute path of the machine that synthesized them", () => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-"));
    try {
      buildApp(DEFAULT_CONFIG, outdir).synth();
      const written = readFileSync(join(outdir, "stacks", CAPACITY_STACK_NAME, "cdk.tf.json"), "utf8");
      for (const local of [PROJECT_ROOT, process.cwd(), homedir(), tmpdir(), outdir]) expect(written).not.toContain(local);
      const strings: string[] = [];
      JSON.parse(written, (_key, value) => (typeof value === "string" && strings.push(value), value));
      expect(strings.filter((s) => isAbsolute(s) && s !== "//")).toEqual([
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
      ]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it("cdktf synth --hcl writes HCL for both stacks with the guarded launch template", () => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-hcl-"));
    try {
      const result = spawnSync("npx", ["cdktf", "synth", "--hcl", "--output", outdir], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, CHECKPOINT_DISABLE: "1", CI: "true" },
        encoding: "utf8",
        timeout: 120_000,
      });
      expect({ status: result.status, signal: result.signal }).toEqual({ status: 0, signal: null });
      const capacity = readFileSync(join(outdir, "stacks", CAPACITY_STACK_NAME, "cdk.tf"), "utf8");
      expect(capacity).toMatch(/^resource "aws_launch_template" "guarded_launch_template_\w+" \{$/m);
      expect(capacity).toMatch(/^variable "subnet_ids" \{$/m);
      expect(capacity).toContain("http_put_response_hop_limit = 1");
      const standalone = readFileSync(join(outdir, "stacks", "ecs-imds-guard", "cdk.tf"), "utf8");
      expect(standalone).toMatch(/^resource "aws_launch_template" "guarded_launch_template_\w+" \{$/m);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 150_000);
});
