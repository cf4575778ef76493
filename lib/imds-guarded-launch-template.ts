import { Annotations, DefaultTokenResolver, Fn, StringConcat, TerraformLocal, Token, Tokenization } from "cdktf";
import { Construct } from "constructs";
import { DataAwsSsmParameter } from "@cdktf/provider-aws/lib/data-aws-ssm-parameter";
import {
  LaunchTemplate,
  LaunchTemplateBlockDeviceMappings,
  LaunchTemplateIamInstanceProfile,
} from "@cdktf/provider-aws/lib/launch-template";
import {
  CLUSTER_NAME_PATTERN,
  renderUserData,
  RenderedUserData,
  USER_DATA_LIMIT_BYTES,
  UserDataOptions,
  UserDataValidationError,
} from "./user-data";
import { renderLifecycleForHcl } from "./hcl-lifecycle";
import { decodedSizeAtMost, userDataExpression } from "./terraform-user-data";

/** CPU architecture of the instances, which selects the AMI. */
export type Architecture = "x86_64" | "arm64";

/** Props of {@link ImdsGuardedLaunchTemplate}: the user data options plus the launch template's own fields. */
export interface ImdsGuardedLaunchTemplateProps extends UserDataOptions {
  /**
   * EC2 instance type, for example `t3.medium`.
   * @default none: the Auto Scaling group or the caller of RunInstances chooses
   */
  readonly instanceType?: string;
  /**
   * IAM instance profile of the instances: its name, or its ARN (`arn:...:instance-profile/...`).
   * A Terraform reference is passed as the name.
   * @default none
   */
  readonly iamInstanceProfile?: string;
  /**
   * VPC security group ids (`sg-...`).
   * @default none
   */
  readonly securityGroupIds?: readonly string[];
  /**
   * EC2 key pair name for SSH.
   * @default none
   */
  readonly keyName?: string;
  /**
   * Block device mappings, passed to the launch template unchanged.
   * @default the AMI's own
   */
  readonly blockDeviceMappings?: LaunchTemplateBlockDeviceMappings[];
  /**
   * Tags of the launch template, also applied to the instances and volumes it launches, next to
   * the `ecs-imds-guard:network-modes` tag.
   * @default {}
   */
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * CPU architecture, which selects the ECS-optimized AMI's SSM parameter.
   * @default "x86_64"
   */
  readonly architecture?: Architecture;
  /**
   * An explicit AMI (`ami-...` or `resolve:ssm:<parameter>`) instead of the ECS-optimized one.
   * It must match `platform`: the user data is written for that operating system.
   * @default the recommended ECS-optimized AMI of `platform` and `architecture`, read from SSM
   */
  readonly imageId?: string;
  /**
   * Prefix of the launch template's name; Terraform appends a unique suffix.
   * @default "ecs-imds-guard-"
   */
  readonly namePrefix?: string;
  /**
   * IMDSv2 PUT response hop limit. 1 keeps IMDSv2 tokens from reaching bridge-mode containers;
   * a higher value needs `allowRaisedHopLimit`.
   * @default 1
   */
  readonly httpPutResponseHopLimit?: number;
  /**
   * Explicit consent to a hop limit above 1, which lets bridge-mode containers obtain IMDSv2
   * tokens (on Bottlerocket the hop limit is their only barrier). Surfaces a warning.
   * @default false
   */
  readonly allowRaisedHopLimit?: boolean;
  /**
   * Whether instance tags are readable from IMDS (`instance_metadata_tags`).
   * @default false
   */
  readonly instanceMetadataTags?: boolean;
}

/** SSM parameters of the recommended ECS-optimized AMIs, per platform and architecture. */
export const ECS_AMI_PARAMETERS: Readonly<Record<NonNullable<UserDataOptions["platform"]>, Readonly<Record<Architecture, string>>>> = {
  al2023: {
    x86_64: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    arm64: "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
  },
  al2: {
    x86_64: "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
    arm64: "/aws/service/ecs/optimized-ami/amazon-linux-2/arm64/recommended/image_id",
  },
  bottlerocket: {
    x86_64: "/aws/service/bottlerocket/aws-ecs-2/x86_64/latest/image_id",
    arm64: "/aws/service/bottlerocket/aws-ecs-2/arm64/latest/image_id",
  },
};

export const DEFAULT_NAME_PREFIX = "ecs-imds-guard-";
/** Tag key, on the template, its instances and volumes, listing the network modes configured. */
export const NETWORK_MODES_TAG = "ecs-imds-guard:network-modes";
/** Highest hop limit EC2 accepts. */
const MAX_HOP_LIMIT = 64;
/** Terraform appends 26 characters to name_prefix; launch template names stop at 128. */
const MAX_NAME_PREFIX_LENGTH = 102;
/** The ECS cluster name rule; its source is valid RE2, so Terraform checks the same rule at plan time. */
const CLUSTER_NAME_REGEX = CLUSTER_NAME_PATTERN.source;

/** EC2 instance type names (family.size); valid RE2 too. */
export const INSTANCE_TYPE_PATTERN = /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8,17}$/;
const AMI_ID = /^(ami-[0-9a-f]{8,17}|resolve:ssm:[A-Za-z0-9_./:-]+)$/;
const NAME_PREFIX = /^[A-Za-z0-9().\/_-]+$/;
const INSTANCE_PROFILE_NAME = /^[\w+=,.@-]{1,128}$/;
const INSTANCE_PROFILE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:instance-profile\/[\w+=,.@\/-]{1,512}$/;
const KEY_NAME = /^[\x20-\x7e]{1,255}$/;

/**
 * An `aws_launch_template` for Amazon ECS container instances whose user data and metadata
 * options keep containers from reaching the instance metadata service (IMDS).
 */
export class ImdsGuardedLaunchTemplate extends Construct {
  /** The launch template resource. */
  readonly launchTemplate: LaunchTemplate;
  /** The launch template's id. */
  readonly launchTemplateId: string;
  /** The launch template's latest version (the default version too: `update_default_version`). */
  readonly latestVersion: number;
  /** The rendered user data: text, parts, ecs.config settings and warnings. */
  readonly userData: RenderedUserData;
  /** The user data document, uncompressed; holds a Terraform reference when `clusterName` is one. */
  readonly userDataText: string;
  /** The value of `user_data`: literal base64, or a Terraform expression when `clusterName` is a reference. */
  readonly userDataBase64: string;
  /** The SSM parameter the AMI comes from, absent when `imageId` is given. */
  readonly amiParameter?: DataAwsSsmParameter;

  constructor(scope: Construct, id: string, props: ImdsGuardedLaunchTemplateProps) {
    super(scope, id);
    const hopLimit = validateHopLimit(this, props);
    validateLaunchTemplateFields(props);

    this.userData = renderUserData(
      {
        clusterName: props.clusterName,
        platform: props.platform,
        networkModes: props.networkModes,
        ipv6Imds: props.ipv6Imds,
        firewallPersistence: props.firewallPersistence,
        ecsSettings: props.ecsSettings,
        extraParts: props.extraParts,
        gzip: props.gzip,
      },
      { isUnresolved: (value) => Token.isUnresolved(value) },
    );
    this.userDataText = this.userData.text;
    for (const warning of this.userData.warnings) {
      Annotations.of(this).addWarning(`ecs-imds-guard (${warning.code}): ${warning.message}`);
    }
    if (hopLimit > 1) {
      Annotations.of(this).addWarning(
        `ecs-imds-guard (raised-hop-limit): httpPutResponseHopLimit = ${hopLimit} lets IMDSv2 token responses travel ` +
          `${hopLimit} hops, so containers in bridge mode (one hop away) can obtain tokens; only the firewall ` +
          "rule in the user data stops them now (and nothing does on Bottlerocket). Keep 1 unless a workload needs IMDS.",
      );
    }

    const preconditions: Array<{ condition: unknown; errorMessage: string }> = [];
    if (this.userData.unresolved) {
      // Terraform fills in the cluster name and encodes; the synth-time checks move to plan time.
      const userDataLocal = new TerraformLocal(
        this,
        "user_data",
        userDataExpression(this.userData.text, props.clusterName, this.userData.gzip),
      );
      this.userDataBase64 = userDataLocal.asString;
      preconditions.push(
        {
          condition: Fn.can(Fn.regex(CLUSTER_NAME_REGEX, props.clusterName)),
          errorMessage:
            "ecs-imds-guard: clusterName is invalid: an ECS cluster name is 1-255 letters, digits, '-' and '_'.",
        },
        {
          condition: decodedSizeAtMost(this.userDataBase64, USER_DATA_LIMIT_BYTES),
          errorMessage:
            `ecs-imds-guard: the user data is larger than ${USER_DATA_LIMIT_BYTES} bytes, the EC2 limit (before base64): ` +
            "shorten clusterName, ecsSettings or extraParts, or set gzip.",
        },
      );
    } else {
      this.userDataBase64 = this.userData.base64 as string;
    }

    const platform = props.platform ?? "al2023";
    const architecture = props.architecture ?? "x86_64";
    let imageId = props.imageId;
    if (imageId === undefined) {
      this.amiParameter = new DataAwsSsmParameter(this, "ami", { name: ECS_AMI_PARAMETERS[platform][architecture] });
      // The AMI id is public; `value` would be marked sensitive and hide it from plans.
      imageId = this.amiParameter.insecureValue;
    }

    // Operators can see on each instance and volume which network modes it was set up for.
    const resourceTags = {
      [NETWORK_MODES_TAG]: (props.networkModes ?? ["bridge", "awsvpc"]).join("+"),
      ...(props.tags ?? {}),
    };
    this.launchTemplate = new LaunchTemplate(this, "launch_template", {
      namePrefix: props.namePrefix ?? DEFAULT_NAME_PREFIX,
      description: `ECS container instances (${platform}) with containers kept away from the instance metadata service`,
      imageId,
      instanceType: props.instanceType,
      keyName: props.keyName,
      iamInstanceProfile: instanceProfile(props.iamInstanceProfile),
      vpcSecurityGroupIds: props.securityGroupIds ? [...props.securityGroupIds] : undefined,
      blockDeviceMappings: props.blockDeviceMappings,
      userData: this.userDataBase64,
      updateDefaultVersion: true,
      metadataOptions: {
        httpEndpoint: "enabled",
        httpTokens: "required",
        // Set even at 1: AMIs marked ImdsSupport v2.0 (AL2023 among them) otherwise default to 2.
        httpPutResponseHopLimit: hopLimit,
        httpProtocolIpv6: props.ipv6Imds ? "enabled" : "disabled",
        instanceMetadataTags: props.instanceMetadataTags ? "enabled" : "disabled",
      },
      tagSpecifications: [
        { resourceType: "instance", tags: resourceTags },
        { resourceType: "volume", tags: resourceTags },
      ],
      tags: resourceTags,
      lifecycle: preconditions.length > 0 ? { precondition: preconditions } : undefined,
    });
    renderLifecycleForHcl(this.launchTemplate);
    this.launchTemplateId = this.launchTemplate.id;
    this.latestVersion = this.launchTemplate.latestVersion;
  }
}

/** Checks the hop limit and its opt-out; returns the limit to set. */
function validateHopLimit(scope: Construct, props: ImdsGuardedLaunchTemplateProps): number {
  const hopLimit = props.httpPutResponseHopLimit ?? 1;
  if (Token.isUnresolved(hopLimit)) {
    // A number token reads as a huge negative number; show the reference Terraform would see.
    throw new UserDataValidationError(
      "httpPutResponseHopLimit",
      referenceText(scope, hopLimit),
      "must be known at synth time: a Terraform reference is not allowed here, because the hop limit is part of the guard and is checked at synth time",
    );
  }
  if (!Number.isInteger(hopLimit) || hopLimit < 1 || hopLimit > MAX_HOP_LIMIT) {
    throw new UserDataValidationError(
      "httpPutResponseHopLimit",
      hopLimit,
      `must be an integer from 1 to ${MAX_HOP_LIMIT}`,
    );
  }
  if (hopLimit > 1 && props.allowRaisedHopLimit !== true) {
    throw new UserDataValidationError(
      "httpPutResponseHopLimit",
      hopLimit,
      "a hop limit above 1 lets bridge-mode containers obtain IMDSv2 tokens; set allowRaisedHopLimit: true to accept that",
    );
  }
  return hopLimit;
}

/** The Terraform expression a token stands for, such as `${var.hop_limit}`, for an error message. */
function referenceText(scope: Construct, token: unknown): string {
  try {
    return String(Tokenization.resolve(token, { scope, resolver: new DefaultTokenResolver(new StringConcat()) }));
  } catch {
    return "a Terraform reference";
  }
}

/** Checks the literal launch template fields; Terraform references are left to the AWS API. */
function validateLaunchTemplateFields(props: ImdsGuardedLaunchTemplateProps): void {
  const literal = (value: string | undefined): value is string => value !== undefined && !Token.isUnresolved(value);
  if (literal(props.instanceType) && !INSTANCE_TYPE_PATTERN.test(props.instanceType)) {
    throw new UserDataValidationError("instanceType", props.instanceType, "must be an EC2 instance type such as t3.medium (family.size, lower case)");
  }
  if (
    literal(props.iamInstanceProfile) &&
    !INSTANCE_PROFILE_NAME.test(props.iamInstanceProfile) &&
    !INSTANCE_PROFILE_ARN.test(props.iamInstanceProfile)
  ) {
    throw new UserDataValidationError(
      "iamInstanceProfile",
      props.iamInstanceProfile,
      "must be an instance profile name (1-128 of letters, digits, +=,.@_-) or an ARN arn:aws:iam::<account>:instance-profile/<name>",
    );
  }
  (props.securityGroupIds ?? []).forEach((groupId, index) => {
    if (literal(groupId) && !SECURITY_GROUP_ID.test(groupId)) {
      throw new UserDataValidationError(`securityGroupIds[${index}]`, groupId, "must be a security group id sg-<8 or 17 hex digits>");
    }
  });
  if (literal(props.keyName) && !KEY_NAME.test(props.keyName)) {
    throw new UserDataValidationError("keyName", props.keyName, "must be 1-255 printable ASCII characters");
  }
  if (literal(props.imageId) && !AMI_ID.test(props.imageId)) {
    throw new UserDataValidationError("imageId", props.imageId, "must be an AMI id ami-<hex> or resolve:ssm:<parameter name>");
  }
  if (props.architecture !== undefined && props.architecture !== "x86_64" && props.architecture !== "arm64") {
    throw new UserDataValidationError("architecture", props.architecture, 'must be "x86_64" or "arm64"');
  }
  const namePrefix = props.namePrefix;
  if (literal(namePrefix) && (namePrefix.length > MAX_NAME_PREFIX_LENGTH || !NAME_PREFIX.test(namePrefix))) {
    throw new UserDataValidationError(
      "namePrefix",
      namePrefix,
      `must be 1-${MAX_NAME_PREFIX_LENGTH} of letters, digits, ( ) . / _ - (Terraform appends 26 characters; names stop at 128)`,
    );
  }
  for (const [key, value] of Object.entries(props.tags ?? {})) {
    if (Token.isUnresolved(key)) continue;
    if (key.length < 1 || key.length > 128 || key.toLowerCase().startsWith("aws:")) {
      throw new UserDataValidationError(`tags`, key, "a tag key is 1-128 characters and may not start with aws:");
    }
    if (literal(value) && value.length > 256) {
      throw new UserDataValidationError(`tags.${key}`, value, "a tag value is at most 256 characters");
    }
  }
}

/** An instance profile given by ARN goes to `arn`, anything else (names, references) to `name`. */
function instanceProfile(profile: string | undefined): LaunchTemplateIamInstanceProfile | undefined {
  if (profile === undefined) return undefined;
  if (!Token.isUnresolved(profile) && profile.startsWith("arn:")) return { arn: profile };
  return { name: profile };
}
