/** An ECS task network mode the audit judges. */
export type AuditNetworkMode = "bridge" | "awsvpc" | "host";

/** Every network mode, in report order. */
export const AUDIT_NETWORK_MODES: readonly AuditNetworkMode[] = ["bridge", "awsvpc", "host"];

/** The network modes judged when the user names none: the two that can be closed. */
export const DEFAULT_AUDIT_NETWORK_MODES: readonly AuditNetworkMode[] = ["bridge", "awsvpc"];

/**
 * What a container in one network mode can do with IMDS.
 * - `closed`: it cannot get the instance role's credentials, for a reason the judge names.
 * - `fragile`: blocked after the first boot, lost by a named ordinary event (Docker restart, reboot).
 * - `open`: it can, for a named reason.
 * - `unknown`: the judge cannot see enough to say; the reasons say what is missing.
 */
export type Verdict = "closed" | "fragile" | "open" | "unknown";

/** Verdicts from best to worst, the order `--fail-on` compares in. */
export const VERDICT_ORDER: readonly Verdict[] = ["closed", "unknown", "fragile", "open"];

/** A value the description could not know before `terraform apply` (an expression, a reference). */
export interface UnknownValue {
  readonly unknown: string;
}

/** A launch description's field: a literal, or why it is unknown. */
export type Known<T> = T | UnknownValue;

/** Whether a field is an unknown value. */
export function isUnknown<T>(value: Known<T> | undefined): value is UnknownValue {
  return typeof value === "object" && value !== null && "unknown" in (value as object);
}

/** `metadata_options` of a launch template, instance or launch configuration; absent fields are unset. */
export interface MetadataOptions {
  readonly httpEndpoint?: Known<string>;
  readonly httpTokens?: Known<string>;
  readonly httpPutResponseHopLimit?: Known<number>;
  readonly httpProtocolIpv6?: Known<string>;
}

/**
 * The user data of one launch description. `base64` is what `aws_launch_template.user_data` and
 * `user_data_base64` hold; `text` is what the instance gets from `aws_instance.user_data` (text
 * that the AWS provider takes for base64 comes as the `bytes` EC2 decodes from it).
 * `sha1` is what Terraform state and plans show for `aws_instance` / `aws_launch_configuration`
 * `user_data`: a hash, not the content.
 */
export type UserDataInput =
  | { readonly base64: string }
  | { readonly text: string }
  | { readonly bytes: Buffer }
  | { readonly sha1: string }
  | UnknownValue;

/** One EC2 launch description: what the judge reads. */
export interface LaunchDescription {
  /** `aws_launch_template`, `aws_instance` or `aws_launch_configuration`. */
  readonly resourceType: string;
  /** The user data, absent when the resource sets none. */
  readonly userData?: UserDataInput;
  /** `metadata_options`, absent when the resource has no such block. */
  readonly metadataOptions?: MetadataOptions;
  /** `image_id` / `ami`, used to recognise Bottlerocket. */
  readonly imageId?: Known<string>;
  /**
   * Where the AMI comes from when `imageId` itself is only known at apply time: the SSM parameter
   * name (`/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id`, also from
   * `resolve:ssm:` or an `aws_ssm_parameter` data source) or an `aws_ami` name filter, as written.
   */
  readonly imageSource?: string;
}

/** How the judge is asked. */
export interface JudgeOptions {
  /** Network modes to judge. @default ["bridge", "awsvpc"] */
  readonly networkModes?: readonly AuditNetworkMode[];
}

/** The judge's answer for one network mode. */
export interface ModeJudgement {
  readonly verdict: Verdict;
  /** Why, in the order the judge found it: each a sentence a user can check. */
  readonly reasons: readonly string[];
  /** What to change so the mode becomes closed (empty when closed). */
  readonly fix: string;
}

/** The judge's answer for one launch description. */
export interface Judgement {
  readonly modes: Readonly<Partial<Record<AuditNetworkMode, ModeJudgement>>>;
  /** Notes that hold for every mode (the parts found, account defaults, ...). */
  readonly notes: readonly string[];
}
