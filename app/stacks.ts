import { App, Fn, LocalBackend, S3Backend, TerraformOutput, TerraformStack, TerraformVariable, TerraformVariableConfig } from "cdktf";
import { Construct } from "constructs";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { EcsCapacity } from "../lib/ecs-capacity";
import { EcsInstanceRole } from "../lib/ecs-instance-role";
import { ImdsGuardedCapacity } from "../lib/imds-guarded-capacity";
import { ImdsGuardedLaunchTemplate, INSTANCE_TYPE_PATTERN } from "../lib/imds-guarded-launch-template";
import { CLUSTER_NAME_PATTERN } from "../lib/user-data";
import { CAPACITY_STACK_NAME, DefaultStackConfig, STACK_NAME, StateBackendConfig } from "./config";

/**
 * The stack's state backend. cdktf's default local backend holds an absolute path of the machine
 * that runs synth; this one is relative, or S3.
 */
export function addStateBackend(stack: TerraformStack, stackName: string, backend: StateBackendConfig): void {
  if (backend.kind === "s3") {
    const s3 = new S3Backend(stack, {
      bucket: backend.bucket,
      key: `${backend.keyPrefix}${stackName}/terraform.tfstate`,
      region: backend.region,
      encrypt: true,
    });
    // S3-native state locking (Terraform 1.10+); cdktf 0.21 has no prop for it.
    s3.addOverride("use_lockfile", true);
  } else {
    new LocalBackend(stack, { path: `${backend.directory}/terraform.${stackName}.tfstate` });
  }
}

/** The default stack: the AWS provider, a state backend and one guarded launch template. */
export class ImdsGuardStack extends TerraformStack {
  /** The guarded launch template. */
  readonly guardedLaunchTemplate: ImdsGuardedLaunchTemplate;

  constructor(scope: Construct, id: string, config: DefaultStackConfig) {
    super(scope, id);
    new AwsProvider(this, "aws", { region: config.region });
    addStateBackend(this, id, config.backend);
    this.guardedLaunchTemplate = new ImdsGuardedLaunchTemplate(this, "guarded_launch_template", {
      clusterName: config.clusterName,
      platform: config.platform,
      architecture: config.architecture,
      networkModes: config.networkModes,
      ipv6Imds: config.ipv6Imds,
      firewallPersistence: config.firewallPersistence,
      instanceType: config.instanceType,
      iamInstanceProfile: config.iamInstanceProfile,
    });
  }
}

/**
 * A Terraform variable. cdktf's HCL renderer leaves out a default that is 0, false or "" (and the
 * variable would become required); the override writes it in the HCL as in the JSON.
 */
function variable(scope: Construct, id: string, config: TerraformVariableConfig): TerraformVariable {
  const declared = new TerraformVariable(scope, id, config);
  if (config.default !== undefined && !config.default) declared.addOverride("default", config.default);
  return declared;
}

/** A whole number of instances, checked by Terraform at plan time. */
function instanceCountValidation(name: string, min: number) {
  return {
    condition: `\${floor(var.${name}) == var.${name} && var.${name} >= ${min}}`,
    errorMessage: `ecs-imds-guard: ${name} must be a whole number of instances, ${min} or more.`,
  };
}

/**
 * The deployable stack: instances that join an ECS cluster from the guarded launch template. Values
 * a pipeline knows only at plan time are Terraform variables whose validation mirrors the synth-time
 * rules; the cluster name then reaches the user data as a Terraform expression.
 */
export class ImdsGuardCapacityStack extends TerraformStack {
  /** The guarded launch template. */
  readonly guardedLaunchTemplate: ImdsGuardedLaunchTemplate;
  /** Template, role, security group and capacity, from one cluster name. */
  readonly guardedCapacity: ImdsGuardedCapacity;
  /** The Auto Scaling group, capacity provider and cluster attachment. */
  readonly capacity: EcsCapacity;
  /** The instance role and profile, absent when an existing profile is configured. */
  readonly instanceRole?: EcsInstanceRole;
  /** The ECS cluster, absent when an existing cluster is used. */
  readonly cluster?: EcsCluster;

  constructor(scope: Construct, id: string, config: DefaultStackConfig) {
    super(scope, id);
    new AwsProvider(this, "aws", { region: config.region });
    addStateBackend(this, id, config.backend);

    const clusterNameVariable = variable(this, "cluster_name", {
      type: "string",
      default: config.clusterName,
      description: "Name of the ECS cluster the instances join (created unless the stack was synthesized with ECS_IMDS_GUARD_CREATE_CLUSTER=false).",
      validation: [
        {
          condition: `\${can(regex("${CLUSTER_NAME_PATTERN.source}", var.cluster_name))}`,
          errorMessage: "ecs-imds-guard: cluster_name must be 1-255 letters, digits, hyphens and underscores (the ECS rule).",
        },
      ],
    });
    const vpcId = variable(this, "vpc_id", {
      type: "string",
      description: "VPC of the instances' security group.",
      validation: [
        {
          condition: '${can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))}',
          errorMessage: "ecs-imds-guard: vpc_id must be a VPC id, vpc-<8 or 17 hex digits>.",
        },
      ],
    });
    const subnetIds = variable(this, "subnet_ids", {
      type: "list(string)",
      description: "Subnets of the instances (private subnets need no package repository access with the default firewall persistence).",
      validation: [
        {
          condition: '${length(var.subnet_ids) > 0 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])}',
          errorMessage: "ecs-imds-guard: subnet_ids must list at least one subnet id, subnet-<8 or 17 hex digits>.",
        },
      ],
    });
    const instanceType = variable(this, "instance_type", {
      type: "string",
      default: config.instanceType,
      description: "EC2 instance type of the container instances.",
      validation: [
        {
          condition: `\${can(regex("${INSTANCE_TYPE_PATTERN.source.replace(/\\/g, "\\\\")}", var.instance_type))}`,
          errorMessage: "ecs-imds-guard: instance_type must be an EC2 instance type such as t3.medium.",
        },
      ],
    });
    const minSize = variable(this, "min_size", {
      type: "number",
      default: 0,
      description: "Smallest number of instances.",
      validation: [instanceCountValidation("min_size", 0)],
    });
    const maxSize = variable(this, "max_size", {
      type: "number",
      default: 3,
      description: "Largest number of instances.",
      validation: [instanceCountValidation("max_size", 1)],
    });
    const desiredCapacity = variable(this, "desired_capacity", {
      type: "number",
      default: 1,
      description: "Instances at creation; ECS managed scaling adjusts the number afterwards.",
      validation: [instanceCountValidation("desired_capacity", 0)],
    });

    let clusterName = clusterNameVariable.stringValue;
    if (config.createCluster) {
      const containerInsights = variable(this, "container_insights", {
        type: "bool",
        default: false,
        description: "Turn on CloudWatch Container Insights for the cluster.",
      });
      this.cluster = new EcsCluster(this, "cluster", {
        name: clusterNameVariable.stringValue,
        setting: [
          { name: "containerInsights", value: Fn.conditional(containerInsights.booleanValue, "enabled", "disabled") },
        ],
      });
      clusterName = this.cluster.name;
    }

    this.guardedCapacity = new ImdsGuardedCapacity(this, "guarded_capacity", {
      clusterName,
      platform: config.platform,
      architecture: config.architecture,
      networkModes: config.networkModes,
      ipv6Imds: config.ipv6Imds,
      firewallPersistence: config.firewallPersistence,
      instanceType: instanceType.stringValue,
      iamInstanceProfile: config.iamInstanceProfile,
      ssmManagedInstanceCore: config.iamInstanceProfile === undefined ? config.ssmManagedInstanceCore : undefined,
      vpcId: vpcId.stringValue,
      subnetIds: subnetIds.listValue,
      minSize: minSize.numberValue,
      maxSize: maxSize.numberValue,
      desiredCapacity: desiredCapacity.numberValue,
    });
    this.guardedLaunchTemplate = this.guardedCapacity.guardedLaunchTemplate;
    this.capacity = this.guardedCapacity.capacity;
    this.instanceRole = this.guardedCapacity.instanceRole;

    const outputs: Record<string, unknown> = {
      launch_template_id: this.guardedLaunchTemplate.launchTemplateId,
      launch_template_latest_version: this.guardedLaunchTemplate.latestVersion,
      autoscaling_group_name: this.capacity.autoScalingGroup.name,
      capacity_provider_name: this.capacity.capacityProvider.name,
      cluster_name: clusterName,
      ...(this.instanceRole ? { instance_role_arn: this.instanceRole.roleArn } : {}),
    };
    for (const [name, value] of Object.entries(outputs)) {
      // Outputs share their construct namespace with the variables (cluster_name is both).
      new TerraformOutput(this, `output_${name}`, { value }).overrideLogicalId(name);
    }
  }
}

/** Builds the app with both stacks from `config`; call `synth()` on the result to write cdktf.out/. */
export function buildApp(config: DefaultStackConfig, outdir?: string): App {
  const app = new App(outdir === undefined ? {} : { outdir });
  new ImdsGuardStack(app, STACK_NAME, config);
  new ImdsGuardCapacityStack(app, CAPACITY_STACK_NAME, config);
  return app;
}

