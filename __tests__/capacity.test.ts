import { TerraformResource, TerraformStack, Testing } from "cdktf";
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
import { ImdsGuardedLaunchTemplate } from "../lib/imds-guarded-launch-template";

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
    const trust = JSON.parse(role.assume_role_policy as string);
    expect(trust.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: `ec2.${ref(partition, "dns_suffix")}` }, Action: "sts:AssumeRole" },
    ]);
    expect(resourcesOf(json, "aws_iam_role_policy_attachment").map((a) => a.policy_arn)).toEqual([
      `arn:${ref(partition, "partition")}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role`,
    ]);
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
