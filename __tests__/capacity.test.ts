import { TerraformResource, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { TerraformDataSource } from "cdktf";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { EcsCapacityProvider } from "@cdktf/provider-aws/lib/ecs-capacity-provider";
import { EcsClusterCapacityProviders } from "@cdktf/provider-aws/lib/ecs-cluster-capacity-providers";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { EcsCapacity, EcsCapacityProps } from "../lib/ecs-capacity";
import { EcsInstanceRole } from "../lib/ecs-instance-role";
import { EcsInstanceSecurityGroup } from "../lib/ecs-instance-security-group";
import { ImdsGuardedCapacity, ImdsGuardedCapacityProps } from "../lib/imds-guarded-capacity";
import { ImdsGuardedLaunchTemplate } from "../lib/imds-guarded-launch-template";
import { unwrapInterpolation, withTerraform } from "./support/terraform";
import { parseHcl } from "./support/terraform-hcl";

type Json = { resource: Record<string, Record<string, Record<string, unknown>>> };
const resourcesOf = (json: Json, type: string) => Object.values(json.resource[type] ?? {});
/** The Terraform reference `${type.name.attribute}` of a resource or data source, as synth writes it. */
const ref = (element: TerraformResource | TerraformDataSource, attribute: string) => {
  const prefix = element instanceof TerraformDataSource ? "data." : "";
  return `\${${prefix}${element.terraformResourceType}.${TerraformStack.of(element).getLogicalId(element)}.${attribute}}`;
};

describe("EcsInstanceRole", () => {
  const synthesized = (ssm: boolean) =>
    JSON.parse(Testing.synthScope((scope) => new EcsInstanceRole(scope, "identity", { ssmManagedInstanceCore: ssm }))) as Json;

  it("is a role EC2 assumes, with the ECS agent's managed policy and an instance profile", () => {
    let identity!: EcsInstanceRole;
    const text = Testing.synthScope((scope) => {
      identity = new EcsInstanceRole(scope, "identity");
    });
    const partition = identity.node.findChild("partition") as TerraformDataSource;
    expect(text).toHaveResource(IamRole);
    expect(text).toHaveResourceWithProperties(IamInstanceProfile, { role: ref(identity.role, "name") });
    const json = JSON.parse(text) as Json;
    const [role] = resourcesOf(json, "aws_iam_role");
    // The policy is Terraform's jsonencode of the document, with the partition's DNS suffix in it.
    const dnsSuffix = unwrapInterpolation(ref(partition, "dns_suffix"));
    const policy = unwrapInterpolation(role.assume_role_policy as string);
    expect(policy).toContain(dnsSuffix);
    const [trust] = withTerraform({}, (workspace) => workspace.console([policy.split(dnsSuffix).join('"amazonaws.com"')]));
    expect(JSON.parse(trust as string)).toEqual({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
    expect(resourcesOf(json, "aws_iam_role_policy_attachment").map((a) => a.policy_arn)).toEqual([
      `arn:${ref(partition, "partition")}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role`,
    ]);
  });

  it("writes its trust policy in cdktf synth --hcl as HCL Terraform parses, the same expression as in the JSON", async () => {
    const stack = new TerraformStack(Testing.app(), "identity");
    new EcsInstanceRole(stack, "identity");
    const [role] = resourcesOf(JSON.parse(Testing.synth(stack)), "aws_iam_role");
    const hcl = await parseHcl(Testing.synthHcl(stack));
    const [written] = Object.values<any[]>(hcl.resource.aws_iam_role);
    expect(written[0].assume_role_policy).toBe(role.assume_role_policy);
  });

  it("attaches AmazonSSMManagedInstanceCore only when asked", () => {
    const policies = resourcesOf(synthesized(true), "aws_iam_role_policy_attachment").map((a) => String(a.policy_arn));
    expect(policies).toHaveLength(2);
    expect(policies[1]).toMatch(/:iam::aws:policy\/AmazonSSMManagedInstanceCore$/);
    expect(resourcesOf(synthesized(false), "aws_iam_role_policy_attachment")).toHaveLength(1);
  });

  it("refuses a name prefix IAM would reject", () => {
    expect(() => Testing.synthScope((scope) => new EcsInstanceRole(scope, "identity", { namePrefix: "has space" }))).toThrow(
      /namePrefix = "has space" is invalid: must be 1-38 of letters/,
    );
  });
});

describe("EcsInstanceSecurityGroup", () => {
  it("has no inbound rule and allows all outbound traffic", () => {
    const text = Testing.synthScope((scope) => new EcsInstanceSecurityGroup(scope, "sg", { vpcId: "vpc-0123456789abcdef0" }));
    expect(text).toHaveResourceWithProperties(SecurityGroup, { vpc_id: "vpc-0123456789abcdef0" });
    const json = JSON.parse(text) as Json;
    expect(json.resource.aws_vpc_security_group_ingress_rule).toBeUndefined();
    expect(resourcesOf(json, "aws_security_group")[0].ingress).toBeUndefined();
    expect(text).toHaveResourceWithProperties(VpcSecurityGroupEgressRule, { ip_protocol: "-1", cidr_ipv4: "0.0.0.0/0" });
    expect(text).toHaveResourceWithProperties(VpcSecurityGroupEgressRule, { ip_protocol: "-1", cidr_ipv6: "::/0" });
  });
});

describe("EcsCapacity", () => {
  let template!: ImdsGuardedLaunchTemplate;
  let capacity!: EcsCapacity;
  const build = (overrides: Partial<EcsCapacityProps> = {}) =>
    Testing.synthScope((scope) => {
      template = new ImdsGuardedLaunchTemplate(scope, "template", { clusterName: "prod" });
      capacity = new EcsCapacity(scope, "capacity", {
        clusterName: "prod",
        launchTemplateId: template.launchTemplateId,
        launchTemplateVersion: template.latestVersion,
        subnetIds: ["subnet-0123456789abcdef0"],
        ...overrides,
      });
    });

  it("runs an Auto Scaling group on the guarded template's latest version, refreshed on change", () => {
    const text = build({ minSize: 1, maxSize: 4 });
    expect(text).toHaveResourceWithProperties(AutoscalingGroup, {
      launch_template: {
        id: ref(template.launchTemplate, "id"),
        version: ref(template.launchTemplate, "latest_version"),
      },
      min_size: 1,
      max_size: 4,
      desired_capacity: 1,
      protect_from_scale_in: true,
      vpc_zone_identifier: ["subnet-0123456789abcdef0"],
      instance_refresh: { strategy: "Rolling", preferences: { min_healthy_percentage: 90 } },
    });
  });

  it("has a capacity provider with managed scaling and termination protection on that group, as the cluster's default", () => {
    const text = build();
    expect(text).toHaveResourceWithProperties(EcsCapacityProvider, {
      name: "imds-guarded-prod",
      auto_scaling_group_provider: {
        auto_scaling_group_arn: ref(capacity.autoScalingGroup, "arn"),
        managed_scaling: { status: "ENABLED", target_capacity: 100 },
        managed_termination_protection: "ENABLED",
      },
    });
    expect(text).toHaveResourceWithProperties(EcsClusterCapacityProviders, {
      cluster_name: "prod",
      capacity_providers: [ref(capacity.capacityProvider, "name")],
      default_capacity_provider_strategy: [{ capacity_provider: ref(capacity.capacityProvider, "name"), weight: 1, base: 0 }],
    });
  });

  it("writes its lifecycle in cdktf synth --hcl as Terraform reads it: the size precondition as a block, ignore_changes unquoted", async () => {
    const stack = new TerraformStack(Testing.app(), "sizes");
    const size = (name: string) => new TerraformVariable(stack, name, { type: "number" }).numberValue;
    template = new ImdsGuardedLaunchTemplate(stack, "template", { clusterName: "prod" });
    new EcsCapacity(stack, "capacity", {
      clusterName: "prod",
      launchTemplateId: template.launchTemplateId,
      launchTemplateVersion: template.latestVersion,
      subnetIds: ["subnet-0123456789abcdef0"],
      minSize: size("min_size"),
      maxSize: size("max_size"),
      desiredCapacity: size("desired_capacity"),
    });
    const [group] = resourcesOf(JSON.parse(Testing.synth(stack)), "aws_autoscaling_group") as any[];
    expect(group.lifecycle.precondition).toHaveLength(1);
    const hcl = await parseHcl(Testing.synthHcl(stack));
    const [written] = Object.values<any[]>(hcl.resource.aws_autoscaling_group);
    // A bare reference reads back as "${desired_capacity}"; the JSON has the same path as a string.
    expect(written[0].lifecycle).toEqual([
      { precondition: group.lifecycle.precondition, ignore_changes: group.lifecycle.ignore_changes.map((path: string) => `\${${path}}`) },
    ]);
  });

  it.each([
    [{ minSize: 3, maxSize: 2 }, /minSize = 3 is invalid: must not exceed maxSize \(2\)/],
    [{ maxSize: 0 }, /maxSize = 0 is invalid: must be at least 1/],
    [{ desiredCapacity: 9 }, /desiredCapacity = 9 is invalid: must be between minSize \(0\) and maxSize \(3\)/],
    [{ minSize: 1.5 }, /minSize = 1.5 is invalid: must be a whole number/],
    [{ targetCapacity: 0 }, /targetCapacity = 0 is invalid: must be a whole percentage from 1 to 100/],
    [{ capacityProviderName: "ecs-mine" }, /capacityProviderName = "ecs-mine" is invalid: .*not starting with aws, ecs or fargate/],
  ] as Array<[Partial<EcsCapacityProps>, RegExp]>)("refuses %j", (overrides, message) => {
    expect(() => build(overrides)).toThrow(message);
  });
});

describe("ImdsGuardedCapacity", () => {
  let guarded!: ImdsGuardedCapacity;
  const build = (props: Partial<ImdsGuardedCapacityProps> = {}) =>
    JSON.parse(
      Testing.synthScope((scope) => {
        guarded = new ImdsGuardedCapacity(scope, "fleet", {
          clusterName: "prod",
          subnetIds: ["subnet-0123456789abcdef0"],
          vpcId: "vpc-0123456789abcdef0",
          ...props,
        });
      }),
    ) as Json & { data?: Record<string, Record<string, Record<string, unknown>>> };

  it("joins the instances and the capacity provider to the same cluster from one name", () => {
    const json = build({ clusterName: "payments" });
    const [template] = resourcesOf(json, "aws_launch_template");
    const userData = Buffer.from(String(template.user_data), "base64").toString("utf8");
    expect(userData).toMatch(/^ECS_CLUSTER=payments$/m);
    expect(resourcesOf(json, "aws_ecs_cluster_capacity_providers")[0].cluster_name).toBe("payments");
    expect(resourcesOf(json, "aws_ecs_capacity_provider")[0].name).toBe("imds-guarded-payments");
    expect(resourcesOf(json, "aws_autoscaling_group")[0].launch_template).toEqual({
      id: ref(guarded.guardedLaunchTemplate.launchTemplate, "id"),
      version: ref(guarded.guardedLaunchTemplate.launchTemplate, "latest_version"),
    });
  });

  it("creates the instance role and security group when none are given, and wires them into the template", () => {
    const json = build({ ssmManagedInstanceCore: true });
    const [template] = resourcesOf(json, "aws_launch_template");
    expect(template.iam_instance_profile).toEqual({ name: ref(guarded.instanceRole!.instanceProfile, "name") });
    expect(template.vpc_security_group_ids).toEqual([ref(guarded.securityGroup!.securityGroup, "id")]);
    expect(resourcesOf(json, "aws_security_group")[0].vpc_id).toBe("vpc-0123456789abcdef0");
    expect(resourcesOf(json, "aws_iam_role_policy_attachment")).toHaveLength(2);
  });

  it("uses a given instance profile and security groups instead of creating them", () => {
    const json = build({ vpcId: undefined, iamInstanceProfile: "ecsInstanceRole", securityGroupIds: ["sg-0123456789abcdef0"] });
    expect(guarded.instanceRole).toBeUndefined();
    expect(guarded.securityGroup).toBeUndefined();
    expect(json.resource.aws_iam_role).toBeUndefined();
    expect(json.resource.aws_security_group).toBeUndefined();
    const [template] = resourcesOf(json, "aws_launch_template");
    expect(template.iam_instance_profile).toEqual({ name: "ecsInstanceRole" });
    expect(template.vpc_security_group_ids).toEqual(["sg-0123456789abcdef0"]);
  });

  it("passes every template option and every capacity option on", () => {
    const json = build({
      platform: "bottlerocket",
      networkModes: ["awsvpc"],
      architecture: "arm64",
      instanceType: "t4g.large",
      tags: { team: "platform" },
      minSize: 2,
      maxSize: 6,
      desiredCapacity: 3,
      targetCapacity: 80,
      minHealthyPercentage: 50,
      capacityProviderName: "payments-ec2",
      otherClusterCapacityProviders: ["FARGATE"],
    });
    const [template] = resourcesOf(json, "aws_launch_template");
    expect(template.instance_type).toBe("t4g.large");
    expect(Buffer.from(String(template.user_data), "base64").toString("utf8")).toContain("awsvpc-block-imds = true");
    expect(Object.values(json.data?.aws_ssm_parameter ?? {})[0].name).toBe("/aws/service/bottlerocket/aws-ecs-2/arm64/latest/image_id");
    const [group] = resourcesOf(json, "aws_autoscaling_group");
    expect(group).toMatchObject({ min_size: 2, max_size: 6, desired_capacity: 3, instance_refresh: { preferences: { min_healthy_percentage: 50 } } });
    expect(group.tag).toContainEqual({ key: "team", value: "platform", propagate_at_launch: true });
    expect(resourcesOf(json, "aws_ecs_capacity_provider")[0]).toMatchObject({
      name: "payments-ec2",
      auto_scaling_group_provider: { managed_scaling: { target_capacity: 80 } },
    });
    expect(resourcesOf(json, "aws_ecs_cluster_capacity_providers")[0].capacity_providers).toEqual([
      ref(guarded.capacity.capacityProvider, "name"),
      "FARGATE",
    ]);
    expect(resourcesOf(json, "aws_security_group")[0].tags).toEqual({ team: "platform" });
  });

  it.each([
    [{ vpcId: undefined }, /vpcId = undefined is invalid: is required to create the instances' security group, unless securityGroupIds is given/],
    [{ securityGroupIds: ["sg-0123456789abcdef0"] }, /vpcId = "vpc-0123456789abcdef0" is invalid: is only used to create a security group/],
    [{ iamInstanceProfile: "ecsInstanceRole", ssmManagedInstanceCore: true }, /ssmManagedInstanceCore = true is invalid: applies to the role created here/],
    [{ clusterName: "bad name" }, /clusterName = "bad name" is invalid/],
    [{ maxSize: 0 }, /maxSize = 0 is invalid: must be at least 1/],
  ] as Array<[Partial<ImdsGuardedCapacityProps>, RegExp]>)("refuses %j before creating anything", (props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});
