import { App, LocalBackend, S3Backend, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { Architecture, ImdsGuardedLaunchTemplate } from "./lib/imds-guarded-launch-template";
import { FirewallPersistence, NetworkMode, Platform, UserDataValidationError } from "./lib/user-data";

/** Name of the default stack, and of its folder under cdktf.out/stacks/. */
export const STACK_NAME = "ecs-imds-guard";

/** Where the default stack keeps its Terraform state. */
export type StateBackendConfig =
  | {
      readonly kind: "local";
      /** State file path relative to the stack's folder cdktf.out/stacks/ecs-imds-guard/. */
      readonly path: string;
    }
  | {
      readonly kind: "s3";
      /** Bucket holding the state. */
      readonly bucket: string;
      /** Object key of the state. */
      readonly key: string;
      /** Region of the bucket. */
      readonly region: string;
    };

/** Everything the default stack is built from. */
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
}

/**
 * The state file next to cdktf.json, where cdktf would put it, but written relative to the stack's
 * folder so that the synthesized JSON holds no path of the machine that ran synth.
 */
export const DEFAULT_LOCAL_STATE_PATH = `../../../terraform.${STACK_NAME}.tfstate`;
export const DEFAULT_S3_KEY = `${STACK_NAME}/terraform.tfstate`;

/** The embedded configuration, used for every input the environment does not set. */
export const DEFAULT_CONFIG: DefaultStackConfig = {
  region: "us-east-1",
  clusterName: "default",
  platform: "al2023",
  architecture: "x86_64",
  networkModes: ["bridge", "awsvpc"],
  ipv6Imds: false,
  instanceType: "t3.medium",
  backend: { kind: "local", path: DEFAULT_LOCAL_STATE_PATH },
};

/** Default instance type per architecture when ECS_IMDS_GUARD_INSTANCE_TYPE is not set. */
const DEFAULT_INSTANCE_TYPES: Readonly<Record<Architecture, string>> = { x86_64: "t3.medium", arm64: "t4g.medium" };

const PLATFORMS: readonly Platform[] = ["al2023", "al2", "bottlerocket"];
const ARCHITECTURES: readonly Architecture[] = ["x86_64", "arm64"];
const NETWORK_MODES: readonly NetworkMode[] = ["bridge", "awsvpc", "host"];
const FIREWALL_PERSISTENCES: readonly FirewallPersistence[] = ["boothook", "iptables-services"];
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
// S3 bucket naming rule (general purpose buckets).
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Reads the default stack's configuration from `ECS_IMDS_GUARD_*` variables; unset ones keep their default. */
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

  const ipv6Text = get("ECS_IMDS_GUARD_IPV6_IMDS");
  if (ipv6Text !== undefined && ipv6Text !== "true" && ipv6Text !== "false") {
    throw new UserDataValidationError("ECS_IMDS_GUARD_IPV6_IMDS", ipv6Text, "must be true or false");
  }

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
    const key = get("ECS_IMDS_GUARD_S3_KEY") ?? DEFAULT_S3_KEY;
    if (key.startsWith("/") || key.length > 1024) {
      throw new UserDataValidationError("ECS_IMDS_GUARD_S3_KEY", key, "must be an object key of at most 1024 characters, not starting with /");
    }
    const bucketRegion = get("ECS_IMDS_GUARD_S3_REGION") ?? region;
    if (!REGION.test(bucketRegion)) {
      throw new UserDataValidationError("ECS_IMDS_GUARD_S3_REGION", bucketRegion, "must be an AWS region name such as us-east-1");
    }
    backend = { kind: "s3", bucket, key, region: bucketRegion };
  } else {
    for (const name of ["ECS_IMDS_GUARD_S3_KEY", "ECS_IMDS_GUARD_S3_REGION"]) {
      if (get(name) !== undefined) {
        throw new UserDataValidationError(name, get(name), "is only used with ECS_IMDS_GUARD_S3_BUCKET, which is not set");
      }
    }
    const path = get("ECS_IMDS_GUARD_STATE_PATH") ?? DEFAULT_LOCAL_STATE_PATH;
    if (isAbsolutePath(path)) {
      throw new UserDataValidationError(
        "ECS_IMDS_GUARD_STATE_PATH",
        path,
        "must be relative (to cdktf.out/stacks/ecs-imds-guard/) so the generated JSON works on other machines",
      );
    }
    backend = { kind: "local", path };
  }

  return {
    region,
    clusterName: get("ECS_IMDS_GUARD_CLUSTER_NAME") ?? DEFAULT_CONFIG.clusterName,
    platform: oneOf("ECS_IMDS_GUARD_PLATFORM", PLATFORMS, DEFAULT_CONFIG.platform),
    architecture,
    networkModes,
    ipv6Imds: ipv6Text === "true",
    firewallPersistence: optionalOneOf("ECS_IMDS_GUARD_FIREWALL_PERSISTENCE", FIREWALL_PERSISTENCES),
    instanceType: get("ECS_IMDS_GUARD_INSTANCE_TYPE") ?? DEFAULT_INSTANCE_TYPES[architecture],
    iamInstanceProfile: get("ECS_IMDS_GUARD_INSTANCE_PROFILE"),
    backend,
  };
}

function isAbsolutePath(path: string): boolean {
  return path.startsWith("/") || path.startsWith("\\") || /^[A-Za-z]:/.test(path);
}

/** The default stack: the AWS provider, a state backend and one guarded launch template. */
export class ImdsGuardStack extends TerraformStack {
  /** The guarded launch template. */
  readonly guardedLaunchTemplate: ImdsGuardedLaunchTemplate;

  constructor(scope: Construct, id: string, config: DefaultStackConfig) {
    super(scope, id);
    new AwsProvider(this, "aws", { region: config.region });
    if (config.backend.kind === "s3") {
      const backend = new S3Backend(this, {
        bucket: config.backend.bucket,
        key: config.backend.key,
        region: config.backend.region,
        encrypt: true,
      });
      // S3-native state locking (Terraform 1.10+); cdktf 0.21 has no prop for it.
      backend.addOverride("use_lockfile", true);
    } else {
      // An explicit path: cdktf's default is an absolute path of the machine that runs synth.
      new LocalBackend(this, { path: config.backend.path });
    }
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

/** Builds the app with the default stack from `config`; call `synth()` on the result to write cdktf.out/. */
export function buildApp(config: DefaultStackConfig, outdir?: string): App {
  const app = new App(outdir === undefined ? {} : { outdir });
  new ImdsGuardStack(app, STACK_NAME, config);
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
