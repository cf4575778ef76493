/**
 * What is deployed, as the AWS CLI prints it (`--output json`, the API's shapes): launch template
 * versions (`aws ec2 describe-launch-template-versions`), launch configurations (`aws autoscaling
 * describe-launch-configurations`) and an instance's user data (`aws ec2 describe-instance-attribute
 * --attribute userData`). Every value is what EC2 holds: nothing is known only later.
 */
import { isUnknown, Known, LaunchDescription, MetadataOptions } from "../types";
import { AuditInputError, FoundResource, readText } from "./found";

interface ApiMetadataOptions {
  readonly HttpTokens?: unknown;
  readonly HttpPutResponseHopLimit?: unknown;
  readonly HttpEndpoint?: unknown;
  readonly HttpProtocolIpv6?: unknown;
}

interface LaunchTemplateVersion {
  readonly LaunchTemplateId?: string;
  readonly LaunchTemplateName?: string;
  readonly VersionNumber?: number;
  readonly DefaultVersion?: boolean;
  readonly LaunchTemplateData?: { readonly UserData?: string; readonly MetadataOptions?: ApiMetadataOptions; readonly ImageId?: string };
}

interface LaunchConfiguration {
  readonly LaunchConfigurationName?: string;
  readonly UserData?: string;
  readonly MetadataOptions?: ApiMetadataOptions;
  readonly ImageId?: string;
}

/** Whether a JSON object is one of the AWS CLI outputs the audit reads. */
export function isDeployedOutput(document: Record<string, unknown>): boolean {
  return (
    Array.isArray(document.LaunchTemplateVersions) ||
    Array.isArray(document.LaunchConfigurations) ||
    Array.isArray(document.Reservations) ||
    (typeof document.InstanceId === "string" && "UserData" in document)
  );
}

const NO_USER_DATA_HERE = "describe-instances does not show user data: add the output of aws ec2 describe-instance-attribute --attribute userData for this instance";
const NO_OPTIONS_HERE = "describe-instance-attribute shows the user data only: add the output of aws ec2 describe-instances for the instance's metadata options";

/** One row per launch template version, launch configuration or instance in an AWS CLI output. */
export function readDeployed(file: string, document: Record<string, unknown>): FoundResource[] {
  const text = readText(file);
  if (Array.isArray(document.LaunchTemplateVersions)) return launchTemplateVersions(file, text, document.LaunchTemplateVersions as LaunchTemplateVersion[]);
  if (Array.isArray(document.LaunchConfigurations)) return launchConfigurations(file, text, document.LaunchConfigurations as LaunchConfiguration[]);
  if (Array.isArray(document.Reservations)) return instances(file, text, document.Reservations as Array<{ Instances?: Instance[] }>);
  return [instanceUserData(file, document)];
}

interface Instance {
  readonly InstanceId?: string;
  readonly ImageId?: string;
  readonly MetadataOptions?: ApiMetadataOptions;
}

/** `describe-instances`: each instance's metadata options and image, its user data unknown until joined. */
function instances(file: string, text: string, reservations: ReadonlyArray<{ Instances?: Instance[] }>): FoundResource[] {
  const lines = occurrenceLines(text, /"InstanceId"\s*:/g);
  let index = 0;
  return reservations.flatMap((reservation) =>
    (reservation.Instances ?? []).map((instance) => {
      if (typeof instance.InstanceId !== "string") throw new AuditInputError(file, "an instance without InstanceId: not the output of aws ec2 describe-instances");
      const line = lines[index++];
      return {
        address: instance.InstanceId,
        file,
        ...(line !== undefined ? { line } : {}),
        description: { ...described("instance", undefined, instance.MetadataOptions ?? {}, instance.ImageId), userData: { unknown: NO_USER_DATA_HERE } },
      };
    }),
  );
}

/**
 * An instance found in both `describe-instances` (metadata options, image) and
 * `describe-instance-attribute --attribute userData` (user data) is one row, the two joined.
 */
export function joinInstances(found: readonly FoundResource[]): FoundResource[] {
  const halves = new Map<string, { options?: FoundResource; userData?: FoundResource }>();
  for (const resource of found) {
    if (resource.description.resourceType !== "instance") continue;
    const half = halves.get(resource.address) ?? {};
    if (isUnknown(resource.description.userData) && resource.description.userData.unknown === NO_USER_DATA_HERE) half.options = resource;
    else half.userData = resource;
    halves.set(resource.address, half);
  }
  const out: FoundResource[] = [];
  for (const resource of found) {
    const half = resource.description.resourceType === "instance" ? halves.get(resource.address) : undefined;
    if (!half?.options || !half.userData) {
      out.push(resource);
      continue;
    }
    // The row stays where the user data was read, which is what the verdicts are mostly about.
    if (resource !== half.userData) continue;
    const { userData, ...rest } = half.options.description;
    void userData;
    out.push({ ...half.userData, description: { ...rest, ...(half.userData.description.userData ? { userData: half.userData.description.userData } : {}) } });
  }
  return out;
}

function launchTemplateVersions(file: string, text: string, versions: readonly LaunchTemplateVersion[]): FoundResource[] {
  // The latest version of each template among those listed (the CLI lists what it was asked for).
  const latest = new Map<string, number>();
  for (const version of versions) {
    const id = version.LaunchTemplateId ?? version.LaunchTemplateName ?? "";
    latest.set(id, Math.max(latest.get(id) ?? -Infinity, Number(version.VersionNumber)));
  }
  const lines = occurrenceLines(text, /"LaunchTemplateData"\s*:/g);
  return versions.map((version, index) => {
    if (typeof version !== "object" || version === null || version.VersionNumber === undefined) {
      throw new AuditInputError(file, `LaunchTemplateVersions[${index}] has no VersionNumber: not the output of aws ec2 describe-launch-template-versions`);
    }
    const id = version.LaunchTemplateId ?? version.LaunchTemplateName ?? "";
    const marks = [version.DefaultVersion === true ? "default" : undefined, latest.get(id) === Number(version.VersionNumber) ? "latest" : undefined].filter(Boolean);
    const name = version.LaunchTemplateName !== undefined && version.LaunchTemplateId !== undefined ? `${version.LaunchTemplateName} (${version.LaunchTemplateId})` : id;
    const data = version.LaunchTemplateData ?? {};
    return {
      address: `${name} version ${version.VersionNumber}${marks.length > 0 ? ` (${marks.join(", ")})` : ""}`,
      file,
      ...(lines[index] !== undefined ? { line: lines[index] } : {}),
      description: described("launch template version", data.UserData, data.MetadataOptions, data.ImageId),
    };
  });
}

function launchConfigurations(file: string, text: string, configurations: readonly LaunchConfiguration[]): FoundResource[] {
  const lines = occurrenceLines(text, /"LaunchConfigurationName"\s*:/g);
  return configurations.map((configuration, index) => {
    if (typeof configuration !== "object" || configuration === null || typeof configuration.LaunchConfigurationName !== "string") {
      throw new AuditInputError(file, `LaunchConfigurations[${index}] has no LaunchConfigurationName: not the output of aws autoscaling describe-launch-configurations`);
    }
    return {
      address: configuration.LaunchConfigurationName,
      file,
      ...(lines[index] !== undefined ? { line: lines[index] } : {}),
      description: described("launch configuration", configuration.UserData, configuration.MetadataOptions, configuration.ImageId),
    };
  });
}

/**
 * `describe-instance-attribute --attribute userData` shows the user data only: the instance's
 * metadata options and image are elsewhere (`aws ec2 describe-instances`), so they are unknown here.
 */
function instanceUserData(file: string, document: Record<string, unknown>): FoundResource {
  const value = (document.UserData as { Value?: unknown } | undefined)?.Value;
  if (value !== undefined && typeof value !== "string") throw new AuditInputError(file, "UserData.Value is not text: not the output of aws ec2 describe-instance-attribute --attribute userData");
  const unknown = { unknown: NO_OPTIONS_HERE };
  return {
    address: String(document.InstanceId),
    file,
    description: {
      resourceType: "instance",
      ...(value ? { userData: { base64: value } } : {}),
      metadataOptions: { httpEndpoint: unknown, httpTokens: unknown, httpPutResponseHopLimit: unknown, httpProtocolIpv6: unknown },
      imageId: { unknown: "describe-instance-attribute does not show the instance's image" },
    },
  };
}

/** The API returns user data base64-encoded, and metadata options as the launch request set them. */
function described(resourceType: string, userData: unknown, options: ApiMetadataOptions | undefined, imageId: unknown): LaunchDescription {
  return {
    resourceType,
    ...(typeof userData === "string" && userData !== "" ? { userData: { base64: userData } } : {}),
    ...(options ? { metadataOptions: metadataOptions(options) } : {}),
    ...(typeof imageId === "string" ? { imageId } : {}),
  };
}

function metadataOptions(options: ApiMetadataOptions): MetadataOptions {
  const text = (value: unknown): Known<string> | undefined => (typeof value === "string" ? value : undefined);
  const hop = typeof options.HttpPutResponseHopLimit === "number" ? options.HttpPutResponseHopLimit : undefined;
  return {
    ...(text(options.HttpEndpoint) !== undefined ? { httpEndpoint: text(options.HttpEndpoint) } : {}),
    ...(text(options.HttpTokens) !== undefined ? { httpTokens: text(options.HttpTokens) } : {}),
    ...(hop !== undefined ? { httpPutResponseHopLimit: hop } : {}),
    ...(text(options.HttpProtocolIpv6) !== undefined ? { httpProtocolIpv6: text(options.HttpProtocolIpv6) } : {}),
  };
}

/** The line of each match, in order. */
function occurrenceLines(text: string, pattern: RegExp): number[] {
  return [...text.matchAll(pattern)].map((match) => text.slice(0, match.index).split("\n").length);
}
