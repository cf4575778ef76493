import { closest } from "fastest-levenshtein";
import { Architecture } from "../lib/imds-guarded-launch-template";
import {
  FIREWALL_PERSISTENCES,
  FirewallPersistence,
  NETWORK_MODES,
  NetworkMode,
  Platform,
  PLATFORMS,
  UserDataValidationError,
} from "../lib/user-data";

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

/** Every environment input of the app, with the configuration field it sets. */
export const ENVIRONMENT_INPUTS = {
  ECS_IMDS_GUARD_REGION: "region",
  ECS_IMDS_GUARD_CLUSTER_NAME: "clusterName",
  ECS_IMDS_GUARD_PLATFORM: "platform",
  ECS_IMDS_GUARD_ARCHITECTURE: "architecture",
  ECS_IMDS_GUARD_NETWORK_MODES: "networkModes",
  ECS_IMDS_GUARD_IPV6_IMDS: "ipv6Imds",
  ECS_IMDS_GUARD_FIREWALL_PERSISTENCE: "firewallPersistence",
  ECS_IMDS_GUARD_INSTANCE_TYPE: "instanceType",
  ECS_IMDS_GUARD_INSTANCE_PROFILE: "iamInstanceProfile",
  ECS_IMDS_GUARD_STATE_DIR: "backend",
  ECS_IMDS_GUARD_S3_BUCKET: "backend",
  ECS_IMDS_GUARD_S3_KEY_PREFIX: "backend",
  ECS_IMDS_GUARD_S3_REGION: "backend",
  ECS_IMDS_GUARD_CREATE_CLUSTER: "createCluster",
  ECS_IMDS_GUARD_SSM_MANAGED_INSTANCE_CORE: "ssmManagedInstanceCore",
} as const satisfies Record<string, keyof DefaultStackConfig>;

const INPUT_PREFIX = "ECS_IMDS_GUARD_";

/** Refuses an `ECS_IMDS_GUARD_*` variable the app does not read: a misspelled input must not be ignored. */
function refuseUnknownInputs(env: Readonly<Record<string, string | undefined>>): void {
  const known = Object.keys(ENVIRONMENT_INPUTS);
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith(INPUT_PREFIX) && !known.includes(name)) {
      throw new UserDataValidationError(
        name,
        env[name],
        `is not an input of this app; did you mean ${closest(name, known)}? (the inputs are listed in README.md, "Inputs of the default stack")`,
      );
    }
  }
}

/**
 * Restates an error of the library about a value that came from the environment in terms of that
 * variable: its name, its value as set, and the rule (with the field, when the rule is about one
 * element). Any other error is returned as it is.
 */
export function inEnvironmentTerms(error: unknown, env: Readonly<Record<string, string | undefined>>): unknown {
  if (!(error instanceof UserDataValidationError)) return error;
  const field = error.field.split(/[.[]/)[0];
  const variable = Object.keys(ENVIRONMENT_INPUTS).find(
    (name) => ENVIRONMENT_INPUTS[name as keyof typeof ENVIRONMENT_INPUTS] === field && env[name]?.trim(),
  );
  if (variable === undefined) return error;
  const element = error.field === field ? "" : `${error.field} = ${JSON.stringify(error.value)} `;
  return new UserDataValidationError(variable, env[variable]?.trim(), `${element}${error.rule}`);
}

/** Reads the stacks' configuration from `ECS_IMDS_GUARD_*` variables; unset ones keep their default. */
export function configFromEnvironment(env: Readonly<Record<string, string | undefined>>): DefaultStackConfig {
  refuseUnknownInputs(env);
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

