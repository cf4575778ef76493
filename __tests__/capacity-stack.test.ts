import { TerraformStack, Testing } from "cdktf";
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
import { EcsCapacity, ImdsGuardedLaunchTemplate, renderUserData } from "../lib";
import { parseWithCloudInit } from "./support/cloud-init";
import { CLUSTER_NAME_CANDIDATES } from "./support/cluster-names";
import { parseHcl } from "./support/terraform-hcl";
import { offlineConfiguration, TERRAFORM, TerraformPlan, TerraformWorkspace } from "./support/terraform";
import { describeWhen, hasCloudInit, hasProgram } from "./support/tools";

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

  it("keeps every variable's default in cdktf synth --hcl, 0 and false included", async () => {
    const hcl = await parseHcl(Testing.synthHcl(synthCapacityStack().stack));
    const defaults = (variables: Record<string, any>, read: (declaration: any) => any) =>
      Object.fromEntries(Object.entries(variables).map(([name, declaration]) => [name, read(declaration)?.default]));
    expect(defaults(hcl.variable, ([declaration]) => declaration)).toEqual(defaults(json.variable, (declaration) => declaration));
    expect(json.variable.min_size.default).toBe(0);
    expect(json.variable.container_insights.default).toBe(false);
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

/** The user data with its MIME boundary replaced: chosen from the parts' text, it differs between a reference and its value. */
function withoutBoundary(bytes: Buffer, boundary: string | undefined): string {
  expect(boundary).toMatch(/^==ECS-IMDS-GUARD-[0-9a-f]{24}==$/);
  return bytes.toString("utf8").split(boundary as string).join("<boundary>");
}

describeWhen({ terraform: hasProgram(TERRAFORM), "cloud-init": hasCloudInit() })("the capacity stack planned by Terraform", () => {
  // The stack's own variables, locals and preconditions, planned for real; provider resources are
  // replaced by terraform_data (offline: no provider can be downloaded here).
  const { stack, json } = synthCapacityStack();
  const localName = /^\$\{local\.(\w+)\}$/.exec((Object.values(json.resource.aws_launch_template)[0] as any).user_data)![1];
  const required = { vpc_id: "vpc-0123456789abcdef0", subnet_ids: ["subnet-0123456789abcdef0"] };
  let workspace: TerraformWorkspace;
  beforeAll(() => {
    workspace = new TerraformWorkspace(offlineConfiguration(json));
  });
  afterAll(() => workspace?.dispose());

  /** The variables and messages a failed plan names. */
  const refusal = (plan: TerraformPlan) =>
    plan.diagnostics.map((d) => ({ summary: d.summary, variables: d.values.map((v) => v.traversal), message: d.detail.split("\n")[0] }));

  it("fills in the cluster name and encodes user data byte for byte as the renderer does for that name", () => {
    const names = ["team-a", "default", "A_9-z".repeat(51)];
    const planned = names.map((name) => workspace.plan({ ...required, cluster_name: name }));
    const documents = planned.map((plan, index) => {
      expect([names[index], plan.diagnostics]).toEqual([names[index], []]);
      return Buffer.from(plan.outputs[localName] as string, "base64");
    });
    const parsed = parseWithCloudInit(documents);
    names.forEach((name, index) => {
      const literal = renderUserData({ clusterName: name, networkModes: DEFAULT_CONFIG.networkModes, platform: DEFAULT_CONFIG.platform });
      expect(withoutBoundary(documents[index], stack.guardedLaunchTemplate.userData.boundary)).toBe(
        withoutBoundary(literal.payload!, literal.boundary),
      );
      expect(parsed[index]).toEqual(literal.parts.map((p) => ({ contentType: p.contentType, filename: p.filename, payload: p.content })));
    });
  });

  it("refuses at plan time the cluster names synth refuses, with the stack's message", () => {
    for (const name of CLUSTER_NAME_CANDIDATES) {
      let synthAccepts = true;
      try {
        new ImdsGuardedLaunchTemplate(new TerraformStack(Testing.app(), "literal"), "guard", { clusterName: name });
      } catch {
        synthAccepts = false;
      }
      const plan = workspace.plan({ ...required, cluster_name: name });
      expect([name, plan.ok]).toEqual([name, synthAccepts]);
      if (!synthAccepts) {
        expect([name, refusal(plan)]).toEqual([
          name,
          [{ summary: "Invalid value for variable", variables: ["var.cluster_name"], message: expect.stringMatching(/^ecs-imds-guard: cluster_name must be 1-255/) }],
        ]);
      }
    }
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["a VPC id", { vpc_id: "vpc-123" }, "var.vpc_id"],
    ["a VPC id with a newline", { vpc_id: "vpc-0123456789abcdef0\n" }, "var.vpc_id"],
    ["no subnet", { subnet_ids: [] }, "var.subnet_ids"],
    ["a subnet id", { subnet_ids: ["subnet-0123456789abcdef0", "subnet-$(reboot)"] }, "var.subnet_ids"],
    ["an instance type", { instance_type: "t3 medium" }, "var.instance_type"],
    ["an instance type in capitals", { instance_type: "T3.medium" }, "var.instance_type"],
    ["an empty instance type", { instance_type: "" }, "var.instance_type"],
    ["a fractional minimum", { min_size: 1.5 }, "var.min_size"],
    ["a negative minimum", { min_size: -1 }, "var.min_size"],
    ["a maximum of 0", { max_size: 0 }, "var.max_size"],
    ["a fractional desired capacity", { desired_capacity: 0.5 }, "var.desired_capacity"],
  ])("refuses %s at plan time, as synth would", (_what, values, variable) => {
    const plan = workspace.plan({ ...required, ...values });
    expect(plan.ok).toBe(false);
    expect(refusal(plan)).toEqual([
      { summary: "Invalid value for variable", variables: [variable], message: expect.stringMatching(/^ecs-imds-guard: /) },
    ]);
    // The construct refuses the same value when it is a literal.
    const [name, value] = Object.entries(values)[0];
    const scope = new TerraformStack(Testing.app(), "literal");
    const literalProps: Record<string, () => unknown> = {
      instance_type: () => new ImdsGuardedLaunchTemplate(scope, "guard", { clusterName: "c", instanceType: value as string }),
      min_size: () => new EcsCapacity(scope, "capacity", { ...capacityProps, minSize: value as number }),
      max_size: () => new EcsCapacity(scope, "capacity", { ...capacityProps, minSize: 0, maxSize: value as number }),
      desired_capacity: () => new EcsCapacity(scope, "capacity", { ...capacityProps, desiredCapacity: value as number }),
    };
    if (literalProps[name]) expect(literalProps[name]).toThrow(/ecs-imds-guard: /);
  });

  it("accepts good sizes and refuses a desired capacity outside min..max with the Auto Scaling group's precondition", () => {
    expect(workspace.plan({ ...required, min_size: 2, desired_capacity: 2, max_size: 2 }).diagnostics).toEqual([]);
    const plan = workspace.plan({ ...required, min_size: 2, desired_capacity: 1, max_size: 3 });
    expect(refusal(plan)).toEqual([
      { summary: "Resource precondition failed", variables: expect.arrayContaining(["var.min_size", "var.desired_capacity"]), message: expect.stringMatching(/^ecs-imds-guard: /) },
    ]);
  });
});

/** Literal inputs of EcsCapacity, to compare its synth-time checks with the stack's plan-time ones. */
const capacityProps = {
  clusterName: "c",
  launchTemplateId: "lt-0123456789abcdef0",
  launchTemplateVersion: 1,
  subnetIds: ["subnet-0123456789abcdef0"],
  minSize: 0,
  maxSize: 3,
};

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
});
