import { App, Fn, LocalBackend, S3Backend, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { EcsCapacity } from "./lib/ecs-capacity";
import { EcsInstanceRole } from "./lib/ecs-instance-role";
import { EcsInstanceSecurityGroup } from "./lib/ecs-instance-security-group";
import { Architecture, ImdsGuardedLaunchTemplate, INSTANCE_TYPE_PATTERN } from "./lib/imds-guarded-launch-template";
import {
  CLUSTER_NAME_PATTERN,
  FIREWALL_PERSISTENCES,
  FirewallPersistence,
  NETWORK_MODES,
  NetworkMode,
  Platform,
  PLATFORMS,
  UserDataValidationError,
} from "./lib/user-data";

/** Name of the default stack, and of its folder under cdktf.out/stacks/. */
export const STACK_NAME = "ecs-imds-guard";
/** Name of the deployable stack with instances, capacity provider and plan-time variables. */
export const CAPACITY_STACK_NAME = "ecs-imds-guard-capacity";

/** Where the stacks keep their Terraform state; each stack has its own state file or object. */
export type StateBackendConfig =
  | {
      readonly kind: "local";
      /** Folder of the state files, relative to each stack's folder cdktf.out/stacks/<stack>/. */
      readonly directory: string;
    }
  | {
      readonly kind: "s3";
      /** Bucket holding the state. */
      readonly bucket: string;
      /** Prefix of the object keys; each stack's state is `<prefix><stack>/terraform.tfstate`. */
      readonly keyPrefix: string;
      /** Region of the bucket. */
      readonly region: string;
    };

/** Everything the two stacks of main.ts are built from. */
export interface DefaultStackConfig {
  /** AWS region of the provider. */
  readonly region: string;
  /** ECS cluster the instances join. */
  readonly clusterName: string;
  /** Operating system of the ECS-optimized AMI. */
  readonly platform: Platform;
  /** CPU architecture of the instances. */
  readonly architecture: Architecture;
  /** Network modes the instances run tasks in. */
  readonly networkModes: readonly NetworkMode[];
  /** Whether the IPv6 IMDS endpoint is enabled. */
  readonly ipv6Imds: boolean;
  /** How the bridge firewall rule survives reboots (Amazon Linux); the renderer's default when absent. */
  readonly firewallPersistence?: FirewallPersistence;
  /** EC2 instance type. */
  readonly instanceType: string;
  /** IAM instance profile name or ARN, if any. */
  readonly iamInstanceProfile?: string;
  /** Terraform state backend. */
  readonly backend: StateBackendConfig;
  /** Capacity stack: create the ECS cluster (true) or use an existing one of that name (false). */
  readonly createCluster: boolean;
  /** Capacity stack: also attach AmazonSSMManagedInstanceCore to the instance role. */
  readonly ssmManagedInstanceCore: boolean;
}

/**
 * The project root seen from cdktf.out/stacks/<stack>/, where cdktf would put the state files,
 * written relative so that the synthesized JSON holds no path of the machine that ran synth.
 */
export const DEFAULT_STATE_DIRECTORY = "../../..";

/** The embedded configuration, used for every input the environment does not set. */
export const DEFAULT_CONFIG: DefaultStackConfig = {
  region: "us-east-1",
  clusterName: "default",
  platform: "al2023",
  architecture: "x86_64",
  networkModes: ["bridge", "awsvpc"],
  ipv6Imds: false,
  instanceType: "t3.medium",
  backend: { kind: "local", directory: DEFAULT_STATE_DIRECTORY },
  createCluster: true,
  ssmManagedInstanceCore: false,
};

/** Default instance type per architecture when ECS_IMDS_GUARD_INSTANCE_TYPE is not set. */
const DEFAULT_INSTANCE_TYPES: Readonly<Record<Architecture, string>> = { x86_64: "t3.medium", arm64: "t4g.medium" };

const ARCHITECTURES: readonly Architecture[] = ["x86_64", "arm64"];
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
// S3 bucket naming rule (general purpose buckets).
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Reads the stacks' configuration from `ECS_IMDS_GUARD_*` variables; unset ones keep their default. */
export function configFromEnvironment(env: Readonly<Record<string, string | undefined>>): DefaultStackConfig {
  const get = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  const optionalOneOf = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
    const value = get(name);
    if (value !== undefined && !(allowed as readonly string[]).includes(value)) {
      throw new UserDataValidationError(name, value, `must be one of ${allowed.join(", ")}`);
    }
    return value as T | undefined;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T =>
    optionalOneOf(name, allowed) ?? fallback;

  const region = get("ECS_IMDS_GUARD_REGION") ?? DEFAULT_CONFIG.region;
  if (!REGION.test(region)) {
    throw new UserDataValidationError("ECS_IMDS_GUARD_REGION", region, "must be an AWS region name such as us-east-1");
  }
  const architecture = oneOf("ECS_IMDS_GUARD_ARCHITECTURE", ARCHITECTURES, DEFAULT_CONFIG.architecture);

  const flag = (name: string, fallback: boolean): boolean => {
    const text = get(name);
    if (text !== undefined && text !== "true" && text !== "false") {
      throw new UserDataValidationError(name, text, "must be true or false");
    }
    return text === undefined ? fallback : text === "true";
  };
  const ipv6Imds = flag("ECS_IMDS_GUARD_IPV6_IMDS", DEFAULT_CONFIG.ipv6Imds);

  const modesText = get("ECS_IMDS_GUARD_NETWORK_MODES");
  let networkModes = DEFAULT_CONFIG.networkModes;
  if (modesText !== undefined) {
    networkModes = modesText.split(",").map((mode) => {
      const trimmed = mode.trim();
      if (!(NETWORK_MODES as readonly string[]).includes(trimmed)) {
        throw new UserDataValidationError(
          "ECS_IMDS_GUARD_NETWORK_MODES",
          modesText,
          `must be a comma-separated list of ${NETWORK_MODES.join(", ")}; ${JSON.stringify(trimmed)} is not one`,
        );
      }
      return trimmed as NetworkMode;
    });
  }

  const bucket = get("ECS_IMDS_GUARD_S3_BUCKET");
  let backend: StateBackendConfig;
  if (bucket !== undefined) {
    if (!S3_BUCKET.test(bucket) || bucket.includes("..")) {
      throw new UserDataValidationError("ECS_IMDS_GUARD_S3_BUCKET", bucket, "must be an S3 bucket name: 3-63 of a-z, 0-9, '.', '-'");
    }
    const keyPrefix = get("ECS_IMDS_GUARD_S3_KEY_PREFIX") ?? "";
    if (keyPrefix.startsWith("/") || keyPrefix.length > 900) {
      throw new UserDataValidationError(
        "ECS_IMDS_GUARD_S3_KEY_PREFIX",
        keyPrefix,
        "must be an object key prefix of at most 900 characters, not starting with /",
      );
    }
    const bucketRegion = get("ECS_IMDS_GUARD_S3_REGION") ?? region;
    if (!REGION.test(bucketRegion)) {
      throw new UserDataValidationError("ECS_IMDS_GUARD_S3_REGION", bucketRegion, "must be an AWS region name such as us-east-1");
    }
    backend = { kind: "s3", bucket, keyPrefix, region: bucketRegion };
  } else {
    for (const name of ["ECS_IMDS_GUARD_S3_KEY_PREFIX", "ECS_IMDS_GUARD_S3_REGION"]) {
      if (get(name) !== undefined) {
        throw new UserDataValidationError(name, get(name), "is only used with ECS_IMDS_GUARD_S3_BUCKET, which is not set");
      }
    }
    const directory = get("ECS_IMDS_GUARD_STATE_DIR") ?? DEFAULT_STATE_DIRECTORY;
    if (isAbsolutePath(directory)) {
      throw new UserDataValidationError(
        "ECS_IMDS_GUARD_STATE_DIR",
        directory,
        "must be relative (to cdktf.out/stacks/<stack>/) so the generated JSON works on other machines",
      );
    }
    backend = { kind: "local", directory };
  }

  return {
    region,
    clusterName: get("ECS_IMDS_GUARD_CLUSTER_NAME") ?? DEFAULT_CONFIG.clusterName,
    platform: oneOf("ECS_IMDS_GUARD_PLATFORM", PLATFORMS, DEFAULT_CONFIG.platform),
    architecture,
    networkModes,
    ipv6Imds,
    firewallPersistence: optionalOneOf("ECS_IMDS_GUARD_FIREWALL_PERSISTENCE", FIREWALL_PERSISTENCES),
    instanceType: get("ECS_IMDS_GUARD_INSTANCE_TYPE") ?? DEFAULT_INSTANCE_TYPES[architecture],
    iamInstanceProfile: get("ECS_IMDS_GUARD_INSTANCE_PROFILE"),
    backend,
    createCluster: flag("ECS_IMDS_GUARD_CREATE_CLUSTER", DEFAULT_CONFIG.createCluster),
    ssmManagedInstanceCore: flag("ECS_IMDS_GUARD_SSM_MANAGED_INSTANCE_CORE", DEFAULT_CONFIG.ssmManagedInstanceCore),
  };
}

function isAbsolutePath(path: string): boolean {
  return path.startsWith("/") || path.startsWith("\\") || /^[A-Za-z]:/.test(path);
}

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

    const clusterNameVariable = new TerraformVariable(this, "cluster_name", {
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
    const vpcId = new TerraformVariable(this, "vpc_id", {
      type: "string",
      description: "VPC of the instances' security group.",
      validation: [
        {
          condition: '${can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))}',
          errorMessage: "ecs-imds-guard: vpc_id must be a VPC id, vpc-<8 or 17 hex digits>.",
        },
      ],
    });
    const subnetIds = new TerraformVariable(this, "subnet_ids", {
      type: "list(string)",
      description: "Subnets of the instances (private subnets need no package repository access with the default firewall persistence).",
      validation: [
        {
          condition: '${length(var.subnet_ids) > 0 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])}',
          errorMessage: "ecs-imds-guard: subnet_ids must list at least one subnet id, subnet-<8 or 17 hex digits>.",
        },
      ],
    });
    const instanceType = new TerraformVariable(this, "instance_type", {
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
    const minSize = new TerraformVariable(this, "min_size", {
      type: "number",
      default: 0,
      description: "Smallest number of instances.",
      validation: [instanceCountValidation("min_size", 0)],
    });
    const maxSize = new TerraformVariable(this, "max_size", {
      type: "number",
      default: 3,
      description: "Largest number of instances.",
      validation: [instanceCountValidation("max_size", 1)],
    });
    const desiredCapacity = new TerraformVariable(this, "desired_capacity", {
      type: "number",
      default: 1,
      description: "Instances at creation; ECS managed scaling adjusts the number afterwards.",
      validation: [instanceCountValidation("desired_capacity", 0)],
    });

    let clusterName = clusterNameVariable.stringValue;
    if (config.createCluster) {
      const containerInsights = new TerraformVariable(this, "container_insights", {
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

    let instanceProfile = config.iamInstanceProfile;
    if (instanceProfile === undefined) {
      this.instanceRole = new EcsInstanceRole(this, "instance_role", {
        ssmManagedInstanceCore: config.ssmManagedInstanceCore,
      });
      instanceProfile = this.instanceRole.instanceProfileName;
    }
    const securityGroup = new EcsInstanceSecurityGroup(this, "instance_security_group", { vpcId: vpcId.stringValue });

    this.guardedLaunchTemplate = new ImdsGuardedLaunchTemplate(this, "guarded_launch_template", {
      clusterName,
      platform: config.platform,
      architecture: config.architecture,
      networkModes: config.networkModes,
      ipv6Imds: config.ipv6Imds,
      firewallPersistence: config.firewallPersistence,
      instanceType: instanceType.stringValue,
      iamInstanceProfile: instanceProfile,
      securityGroupIds: [securityGroup.securityGroupId],
    });
    this.capacity = new EcsCapacity(this, "capacity", {
      clusterName,
      launchTemplateId: this.guardedLaunchTemplate.launchTemplateId,
      launchTemplateVersion: this.guardedLaunchTemplate.latestVersion,
      subnetIds: subnetIds.listValue,
      minSize: minSize.numberValue,
      maxSize: maxSize.numberValue,
      desiredCapacity: desiredCapacity.numberValue,
    });

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

if (require.main === module) {
  try {
    buildApp(configFromEnvironment(process.env)).synth();
  } catch (error) {
    if (error instanceof UserDataValidationError) {
      // The message names the input, its value and the rule; a stack trace adds nothing.
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
