/** The ECS-optimized operating systems the guard renders user data for. */
export type Platform = "al2023" | "al2" | "bottlerocket";

/** ECS task network modes that an instance may run. */
export type NetworkMode = "bridge" | "awsvpc" | "host";

/**
 * How the bridge-mode firewall rule is kept across reboots on Amazon Linux.
 * - `boothook`: the cloud-boothook re-applies the rule into `DOCKER-USER` on every boot with the
 *   `iptables` the ECS AMI already ships. No package download, works in private subnets, and never
 *   flushes Docker's own rules.
 * - `iptables-services`: the recipe of the AWS knowledge-center article: install
 *   `iptables-services`, write `/etc/sysconfig/iptables`, enable and start `iptables.service`.
 *   Needs package repository access at boot. Loading the saved rules while Docker runs removes
 *   Docker's jump to `DOCKER-USER`; the guard's drop-in for `iptables.service` puts it back.
 */
export type FirewallPersistence = "boothook" | "iptables-services";

/** cloud-init part types accepted for extra user parts. */
export const EXTRA_PART_CONTENT_TYPES = [
  "text/x-shellscript",
  "text/cloud-config",
  "text/cloud-boothook",
  "text/cloud-config-archive",
  "text/x-include-url",
  "text/x-include-once-url",
  "text/part-handler",
] as const;

/** A cloud-init part type accepted for extra user parts. */
export type ExtraPartContentType = (typeof EXTRA_PART_CONTENT_TYPES)[number];

/** A user-supplied part appended to the multipart document after the guard's own parts. */
export interface ExtraUserDataPart {
  /** The cloud-init content type of the part, for example `text/x-shellscript`. */
  readonly contentType: ExtraPartContentType;
  /** The body of the part, exactly as cloud-init should see it. */
  readonly content: string;
  /**
   * The file name cloud-init gives the part: 1-64 of letters, digits, `.`, `_`, `-`, not `.`, `..`
   * or `part-<digits>`, used by no other part or cloud-config-archive entry.
   * @default `user-part-<n>.<ext>` where n is the 1-based position among the extra parts
   */
  readonly filename?: string;
}

/** Everything the renderer needs to know about an ECS container instance. */
export interface UserDataOptions {
  /**
   * Name of the ECS cluster the instance joins (`ECS_CLUSTER`). 1-255 letters, digits, `-`, `_`.
   * May be a Terraform token (see `RenderContext.isUnresolved`); it is then checked at plan time.
   */
  readonly clusterName: string;
  /**
   * Operating system of the ECS-optimized AMI. Windows is refused: it has no iptables.
   * @default "al2023"
   */
  readonly platform?: Platform;
  /**
   * Network modes the instance will run tasks in. `bridge` gets the `DOCKER-USER` drop rule,
   * `awsvpc` gets `ECS_AWSVPC_BLOCK_IMDS=true`, `host` cannot be blocked and yields a warning.
   * @default ["bridge", "awsvpc"]
   */
  readonly networkModes?: readonly NetworkMode[];
  /**
   * Whether the IMDS IPv6 endpoint (`fd00:ec2::254`) is enabled on the instance
   * (`http_protocol_ipv6`). When true, bridge containers are also dropped on their way to it.
   * @default false
   */
  readonly ipv6Imds?: boolean;
  /**
   * How the bridge-mode firewall rule survives reboots (Amazon Linux only).
   * @default "boothook"
   */
  readonly firewallPersistence?: FirewallPersistence;
  /**
   * Extra ECS agent settings written to `/etc/ecs/ecs.config`, keys matching `^ECS_[A-Z0-9_]+$`.
   * Keys the guard manages (`ECS_CLUSTER`, `ECS_ENABLE_TASK_IAM_ROLE`, and
   * `ECS_AWSVPC_BLOCK_IMDS` when awsvpc is guarded) are refused unless they repeat the managed
   * value.
   * @default {}
   */
  readonly ecsSettings?: Readonly<Record<string, string>>;
  /**
   * Extra cloud-init parts appended, in order, after the guard's parts.
   * @default []
   */
  readonly extraParts?: readonly ExtraUserDataPart[];
  /**
   * Compress the document with gzip (cloud-init accepts it). The 16384-byte EC2 limit then applies
   * to the compressed size. Test on your AMI before relying on it.
   * @default false
   */
  readonly gzip?: boolean;
}

/** Hooks the caller provides; the renderer itself knows nothing of cdktf. */
export interface RenderContext {
  /**
   * Tells whether a string is an unresolved Terraform token. Only `clusterName` may be one: it
   * then flows into the text unchanged and must be validated at plan time by the caller.
   * @default () => false
   */
  readonly isUnresolved?: (value: string) => boolean;
}

/** One part of the rendered document. */
export interface RenderedPart {
  /** MIME content type of the part, for example `text/cloud-boothook`. */
  readonly contentType: string;
  /** File name cloud-init gives the part. */
  readonly filename: string;
  /** Body of the part. */
  readonly content: string;
}

/** A condition the user must know about that is not an error. */
export interface GuardWarning {
  /** Stable identifier of the warning. */
  readonly code: "host-network-mode" | "al2-end-of-support" | "bottlerocket-bridge-mode";
  /** What it means and what to do. */
  readonly message: string;
}

/** The user data of one ECS container instance. */
export interface RenderedUserData {
  /** `mime` (Amazon Linux, multipart for cloud-init) or `toml` (Bottlerocket settings). */
  readonly format: "mime" | "toml";
  /** The document, uncompressed. May contain unresolved tokens (see `unresolved`). */
  readonly text: string;
  /** UTF-8 byte length of `text`. */
  readonly byteLength: number;
  /** The parts of the document, in order (one `application/toml` part for Bottlerocket). */
  readonly parts: readonly RenderedPart[];
  /** The MIME boundary (mime only). */
  readonly boundary?: string;
  /** `/etc/ecs/ecs.config` settings written by the guard, in file order (Amazon Linux only). */
  readonly ecsConfig: ReadonlyArray<readonly [string, string]>;
  /** Rules files written by the `iptables-services` persistence (`/etc/sysconfig/ip(6)tables`). */
  readonly iptablesRulesFiles?: { readonly ipv4: string; readonly ipv6?: string };
  /** Whether `gzip` was requested. */
  readonly gzip: boolean;
  /** Whether `text` holds unresolved tokens; then `payload` and `base64` are absent. */
  readonly unresolved: boolean;
  /** The bytes EC2 receives before base64: `text` as UTF-8, or gzip of it. */
  readonly payload?: Buffer;
  /** `payload` in base64, the value of a launch template's `user_data`. */
  readonly base64?: string;
  /** Conditions to surface to the user (host mode, AL2 end of support, ...). */
  readonly warnings: readonly GuardWarning[];
}

/**
 * User data without unresolved tokens, as `renderUserData` returns it when called without a
 * `RenderContext`: its bytes and their base64 are always there.
 */
export interface ResolvedUserData extends RenderedUserData {
  readonly unresolved: false;
  readonly payload: Buffer;
  readonly base64: string;
}
