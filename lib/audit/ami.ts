/**
 * What the image of a launch description tells about its IMDS defaults: which platform it is and
 * whether it is registered with `ImdsSupport: v2.0`, read from what the configuration names (an SSM
 * parameter, `resolve:ssm:`, an `aws_ami` name filter). Pure.
 */
import { isUnknown, Known } from "./types";

/** The platforms whose IMDS defaults the audit knows. */
export type AmiPlatform = "amazon-linux-2023" | "amazon-linux-2" | "amazon-linux" | "bottlerocket";

/**
 * `v2.0`: EC2 defaults unset options to IMDSv2 required with hop limit 2. `unset`: IMDSv1 allowed
 * (optional) with hop limit 1. `unknown`: the audit does not know how the AMI is registered.
 */
export type ImdsSupport = "v2.0" | "unset" | "unknown";

/** The image as far as the configuration names it. */
export interface AmiIdentity {
  readonly platform?: AmiPlatform;
  readonly imdsSupport: ImdsSupport;
  /** What the audit read it from, for reasons: `the SSM parameter /aws/service/...`. */
  readonly namedBy?: string;
}

/** A platform's display name and ImdsSupport, and how to recognise it in a parameter name or AMI name. */
interface KnownPlatform {
  readonly platform: AmiPlatform;
  readonly name: string;
  readonly imdsSupport: ImdsSupport;
  readonly pattern: RegExp;
}

// Order matters: "amazon-linux-2023" also starts with "amazon-linux-2".
const PLATFORMS: readonly KnownPlatform[] = [
  // AL2023 AMIs, the ECS-optimized ones among them, are registered with ImdsSupport v2.0.
  { platform: "amazon-linux-2023", name: "Amazon Linux 2023", imdsSupport: "v2.0", pattern: /amazon-linux-2023|\bal2023-ami/i },
  // Amazon Linux 2 AMIs (ECS-optimized and plain) are registered without ImdsSupport.
  { platform: "amazon-linux-2", name: "Amazon Linux 2", imdsSupport: "unset", pattern: /amazon-linux-2(\/|$)|\bamzn2-ami/i },
  // The Amazon Linux AMI (2018.03 and before, ECS-optimized "amzn-ami-*-amazon-ecs-optimized"): released
  // before ImdsSupport existed, registered without it.
  { platform: "amazon-linux", name: "Amazon Linux (2018.03)", imdsSupport: "unset", pattern: /\bamzn-ami-|\/amazon-linux(\/|$)|(^|[*-])amazon-ecs-optimized$/i },
  // How Bottlerocket AMIs are registered is not something the audit has checked: its defaults stay unknown.
  { platform: "bottlerocket", name: "Bottlerocket", imdsSupport: "unknown", pattern: /bottlerocket/i },
];

const RESOLVE_SSM = "resolve:ssm:";

/** The image named by `image_id` / `ami` and, when that is only known at apply time, where it comes from. */
export function identifyAmi(imageId: Known<string> | undefined, imageSource: string | undefined): AmiIdentity {
  const literal = typeof imageId === "string" && !isUnknown(imageId) ? imageId : undefined;
  const named = literal?.startsWith(RESOLVE_SSM)
    ? { text: literal.slice(RESOLVE_SSM.length), by: `image_id = "${literal}"` }
    : literal !== undefined && !/^ami-[0-9a-f]+$/i.test(literal)
      ? { text: literal, by: `image_id = "${literal}"` }
      : imageSource !== undefined
        ? { text: imageSource, by: imageSource.startsWith("/") ? `the SSM parameter ${imageSource}` : `the AMI name filter "${imageSource}"` }
        : undefined;
  if (named === undefined) return { imdsSupport: "unknown" };
  const known = PLATFORMS.find((candidate) => candidate.pattern.test(named.text));
  if (known === undefined) return { imdsSupport: "unknown" };
  return { platform: known.platform, imdsSupport: known.imdsSupport, namedBy: named.by };
}

/** `the Amazon Linux 2023 AMI (image_id = "resolve:ssm:...")`, or undefined when the platform is not known. */
export function amiName(ami: AmiIdentity): string | undefined {
  const known = PLATFORMS.find((candidate) => candidate.platform === ami.platform);
  return known === undefined ? undefined : `the ${known.name} AMI (${ami.namedBy})`;
}

/** How the AMI is registered, as a predicate: `is registered with ImdsSupport v2.0`. */
export function amiRegistration(ami: AmiIdentity): string {
  return ami.imdsSupport === "v2.0"
    ? "is registered with ImdsSupport v2.0"
    : ami.imdsSupport === "unset"
      ? "is registered without ImdsSupport v2.0"
      : "is registered in a way the audit does not know (ImdsSupport)";
}

/** One sentence for a judgement's notes, or undefined when the platform is not known. */
export function describeAmi(ami: AmiIdentity): string | undefined {
  const name = amiName(ami);
  return name === undefined ? undefined : `${name} ${amiRegistration(ami)}`;
}
