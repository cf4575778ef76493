import { parseAllDocuments } from "yaml";
import { GO_SPACE } from "./ecs-init";
import { UserDataValidationError } from "./errors";
import {
  EXTRA_PART_CONTENT_TYPES,
  ExtraUserDataPart,
  FirewallPersistence,
  NetworkMode,
  Platform,
  RenderContext,
  UserDataOptions,
} from "./types";

export const PLATFORMS: readonly Platform[] = ["al2023", "al2", "bottlerocket"];
export const NETWORK_MODES: readonly NetworkMode[] = ["bridge", "awsvpc", "host"];
export const FIREWALL_PERSISTENCES: readonly FirewallPersistence[] = ["boothook", "iptables-services"];
export const DEFAULT_NETWORK_MODES: readonly NetworkMode[] = ["bridge", "awsvpc"];

/** ECS's rule for cluster names. */
export const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,255}$/;
/** The rule for ECS agent setting keys. */
export const ECS_SETTING_KEY_PATTERN = /^ECS_[A-Z0-9_]+$/;
// Characters cloud-init's clean_filename keeps as they are, so the name given is the file written.
const FILENAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
// The names cloud-init gives parts that have none (part-%03d): a part of yours could take the file
// of an unnamed archive entry.
const CLOUD_INIT_DEFAULT_NAME = /^part-\d{3,}$/;
// C0 controls and DEL: a newline would start a new ecs.config line, NUL truncates C strings.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const OUTER_GO_SPACE = new RegExp(`^[${GO_SPACE}]|[${GO_SPACE}]$`);
// A UTF-16 surrogate without its pair has no UTF-8 form; Buffer.from writes U+FFFD instead.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Options with every default filled in, checked against every rule. */
export interface ResolvedOptions {
  readonly clusterName: string;
  readonly clusterNameIsToken: boolean;
  readonly platform: Platform;
  readonly networkModes: readonly NetworkMode[];
  readonly ipv6Imds: boolean;
  readonly firewallPersistence: FirewallPersistence;
  readonly ecsSettings: ReadonlyArray<readonly [string, string]>;
  readonly extraParts: ReadonlyArray<Required<ExtraUserDataPart>>;
  readonly gzip: boolean;
}

/** The ecs.config keys the guard writes itself, with the only value a user may repeat. */
export function managedEcsSettings(
  clusterName: string,
  networkModes: readonly NetworkMode[],
): Array<[string, string]> {
  const settings: Array<[string, string]> = [
    ["ECS_CLUSTER", clusterName],
    ["ECS_ENABLE_TASK_IAM_ROLE", "true"],
  ];
  if (networkModes.includes("awsvpc")) settings.push(["ECS_AWSVPC_BLOCK_IMDS", "true"]);
  if (networkModes.includes("host")) settings.push(["ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "true"]);
  return settings;
}

const EXTENSION_BY_TYPE: Record<string, string> = {
  "text/x-shellscript": "sh",
  "text/cloud-boothook": "sh",
  "text/cloud-config": "yaml",
  "text/cloud-config-archive": "yaml",
  "text/part-handler": "py",
};

/** Fills defaults and checks every rule; throws UserDataValidationError on the first broken one. */
export function resolveOptions(options: UserDataOptions, context: RenderContext = {}): ResolvedOptions {
  const isUnresolved = context.isUnresolved ?? (() => false);
  if (options === null || typeof options !== "object") {
    throw new UserDataValidationError("options", options, "must be an object with at least clusterName");
  }
  // Only clusterName may wait for plan time; anything else must be known now to be checked now.
  const literal = (field: string, value: unknown): void => {
    if (typeof value === "string" && isUnresolved(value)) {
      throw new UserDataValidationError(
        field,
        value,
        "must be known at synth time; only clusterName may be a Terraform token (it is then checked at plan time)",
      );
    }
  };

  const platform = resolvePlatform(options.platform, literal);
  const networkModes = resolveNetworkModes(options.networkModes, literal);

  const clusterName = options.clusterName;
  if (typeof clusterName !== "string") {
    throw new UserDataValidationError("clusterName", clusterName, "is required and must be a string");
  }
  const clusterNameIsToken = isUnresolved(clusterName);
  if (!clusterNameIsToken && !CLUSTER_NAME_PATTERN.test(clusterName)) {
    throw new UserDataValidationError(
      "clusterName",
      clusterName,
      "must be 1-255 characters of letters, digits, hyphens (-) and underscores (_), the ECS cluster name rule",
    );
  }

  const ipv6Imds = resolveBoolean("ipv6Imds", options.ipv6Imds);
  const gzip = resolveBoolean("gzip", options.gzip);

  let firewallPersistence: FirewallPersistence = "boothook";
  if (options.firewallPersistence !== undefined) {
    literal("firewallPersistence", options.firewallPersistence);
    if (!FIREWALL_PERSISTENCES.includes(options.firewallPersistence)) {
      throw new UserDataValidationError(
        "firewallPersistence",
        options.firewallPersistence,
        `must be one of ${FIREWALL_PERSISTENCES.map((p) => `"${p}"`).join(", ")}`,
      );
    }
    if (platform === "bottlerocket") {
      throw new UserDataValidationError(
        "firewallPersistence",
        options.firewallPersistence,
        "applies to Amazon Linux only; Bottlerocket has no iptables hook in user data (leave it unset)",
      );
    }
    firewallPersistence = options.firewallPersistence;
  }

  const ecsSettings = resolveEcsSettings(options.ecsSettings, platform, networkModes, clusterNameIsToken, literal);
  const extraParts = resolveExtraParts(options.extraParts, platform, literal);

  if (platform === "bottlerocket" && gzip) {
    throw new UserDataValidationError(
      "gzip",
      gzip,
      "is supported on Amazon Linux (cloud-init) only; Bottlerocket reads plain TOML user data",
    );
  }

  return {
    clusterName,
    clusterNameIsToken,
    platform,
    networkModes,
    ipv6Imds,
    firewallPersistence,
    ecsSettings,
    extraParts,
    gzip,
  };
}

type LiteralCheck = (field: string, value: unknown) => void;

function resolvePlatform(value: unknown, literal: LiteralCheck): Platform {
  if (value === undefined) return "al2023";
  literal("platform", value);
  if (typeof value === "string" && /windows/i.test(value)) {
    throw new UserDataValidationError(
      "platform",
      value,
      "Windows is not supported: it has no iptables, so the bridge-mode block cannot be rendered. " +
        "On Windows container instances run Initialize-ECSAgent with -EnableTaskIAMRole and " +
        "-AwsvpcBlockIMDS $true in PowerShell user data, and keep IMDSv2 required with hop limit 1",
    );
  }
  if (!PLATFORMS.includes(value as Platform)) {
    throw new UserDataValidationError("platform", value, `must be one of ${PLATFORMS.map((p) => `"${p}"`).join(", ")}`);
  }
  return value as Platform;
}

function resolveNetworkModes(value: unknown, literal: LiteralCheck): readonly NetworkMode[] {
  if (value === undefined) return DEFAULT_NETWORK_MODES;
  if (!Array.isArray(value) || value.length === 0) {
    throw new UserDataValidationError(
      "networkModes",
      value,
      'must list at least one of "bridge", "awsvpc", "host" (the modes tasks on the instance will use)',
    );
  }
  const seen = new Set<NetworkMode>();
  value.forEach((mode, index) => {
    literal(`networkModes[${index}]`, mode);
    if (!NETWORK_MODES.includes(mode)) {
      throw new UserDataValidationError(
        `networkModes[${index}]`,
        mode,
        'must be one of "bridge", "awsvpc", "host"',
      );
    }
    if (seen.has(mode)) {
      throw new UserDataValidationError(`networkModes[${index}]`, mode, "is listed twice; list each mode once");
    }
    seen.add(mode);
  });
  return [...value] as NetworkMode[];
}

function resolveBoolean(field: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new UserDataValidationError(field, value, "must be true or false");
  return value;
}

function resolveEcsSettings(
  value: unknown,
  platform: Platform,
  networkModes: readonly NetworkMode[],
  clusterNameIsToken: boolean,
  literal: LiteralCheck,
): Array<[string, string]> {
  if (value === undefined) return [];
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UserDataValidationError("ecsSettings", value, "must be an object of ECS_* keys to string values");
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 0 && platform === "bottlerocket") {
    throw new UserDataValidationError(
      "ecsSettings",
      value,
      "applies to Amazon Linux only; Bottlerocket takes TOML settings ([settings.ecs]), not ecs.config keys",
    );
  }
  const managed = new Map(managedEcsSettings("<clusterName>", networkModes));
  const settings: Array<[string, string]> = [];
  for (const [key, setting] of entries) {
    const field = `ecsSettings.${key}`;
    literal(`ecsSettings key`, key);
    refuseLoneSurrogate("ecsSettings key", key);
    if (!ECS_SETTING_KEY_PATTERN.test(key)) {
      throw new UserDataValidationError("ecsSettings key", key, "must match ^ECS_[A-Z0-9_]+$");
    }
    if (typeof setting !== "string") {
      throw new UserDataValidationError(field, setting, "must be a string (ecs.config values are text)");
    }
    literal(field, setting);
    refuseLoneSurrogate(field, setting);
    if (CONTROL_CHARACTER.test(setting)) {
      throw new UserDataValidationError(
        field,
        setting,
        "must not contain newlines, NUL or other control characters (each ecs.config setting is one line)",
      );
    }
    if (OUTER_GO_SPACE.test(setting)) {
      throw new UserDataValidationError(
        field,
        setting,
        "must not start or end with whitespace: ecs-init and the agent trim values with Go's strings.TrimSpace " +
          "(Unicode White_Space, also U+0085, U+00A0, U+2000-U+200A, U+3000 and others), so the agent would read another value",
      );
    }
    if (clusterNameIsToken && !/^[\x00-\x7f]*$/.test(setting)) {
      // The ecs.config script then travels as base64 (see mime.ts), where Terraform cannot fill in the name.
      throw new UserDataValidationError(
        field,
        setting,
        "must be ASCII while clusterName is a Terraform reference: the script that writes ecs.config holds the name, " +
          "which Terraform fills in at plan time, and a non-ASCII script has to travel base64-encoded",
      );
    }
    if (/^["']/.test(setting)) {
      throw new UserDataValidationError(
        field,
        setting,
        "must not be quoted: ecs-init passes quotes through to the agent, which then ignores the setting",
      );
    }
    if (key === "ECS_CLUSTER") {
      throw new UserDataValidationError(field, setting, "is set from clusterName; set clusterName instead");
    }
    const managedValue = managed.get(key);
    if (managedValue !== undefined) {
      if (setting !== managedValue) {
        throw new UserDataValidationError(field, setting, guardRule(key, managedValue));
      }
      continue; // the guard writes it already; one copy only
    }
    settings.push([key, setting]);
  }
  return settings;
}

function guardRule(key: string, managedValue: string): string {
  const why: Record<string, string> = {
    ECS_AWSVPC_BLOCK_IMDS: "it keeps awsvpc tasks from IMDS while networkModes includes awsvpc",
    ECS_ENABLE_TASK_IAM_ROLE: "task IAM roles are how tasks get credentials without the instance role",
    ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST: "it lets host-mode tasks use task roles while networkModes includes host",
  };
  return `would undo the guard: must be ${managedValue} (${why[key]}), or be left out`;
}

function resolveExtraParts(
  value: unknown,
  platform: Platform,
  literal: LiteralCheck,
): Array<Required<ExtraUserDataPart>> {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new UserDataValidationError("extraParts", value, "must be a list of { contentType, content } parts");
  }
  if (value.length > 0 && platform === "bottlerocket") {
    throw new UserDataValidationError(
      "extraParts",
      `${value.length} part(s)`,
      "apply to Amazon Linux only; Bottlerocket user data is a single TOML document",
    );
  }
  const filenames = new Set<string>(GUARD_PART_FILENAMES);
  return value.map((part: unknown, index): Required<ExtraUserDataPart> => {
    const at = `extraParts[${index}]`;
    if (part === null || typeof part !== "object") {
      throw new UserDataValidationError(at, part, "must be an object { contentType, content, filename? }");
    }
    const { contentType, content, filename } = part as Record<string, unknown>;
    literal(`${at}.contentType`, contentType);
    if (!(EXTRA_PART_CONTENT_TYPES as readonly unknown[]).includes(contentType)) {
      throw new UserDataValidationError(
        `${at}.contentType`,
        contentType,
        `must be a cloud-init part type: ${EXTRA_PART_CONTENT_TYPES.join(", ")}`,
      );
    }
    if (typeof content !== "string") {
      throw new UserDataValidationError(`${at}.content`, content, "must be a string");
    }
    literal(`${at}.content`, content);
    refuseLoneSurrogate(`${at}.content`, content);
    if (content.includes("\u0000")) {
      throw new UserDataValidationError(`${at}.content`, content, "must not contain NUL bytes");
    }
    if ((contentType === "text/x-shellscript" || contentType === "text/cloud-boothook") && !content.startsWith("#!")) {
      throw new UserDataValidationError(
        `${at}.content`,
        content,
        `must start with an interpreter line such as #!/bin/bash: cloud-init executes ${contentType} parts directly`,
      );
    }
    const ext = EXTENSION_BY_TYPE[contentType as string] ?? "txt";
    const name = filename ?? `user-part-${index + 1}.${ext}`;
    literal(`${at}.filename`, name);
    claimFilename(`${at}.filename`, name, filenames);
    if (contentType === "text/cloud-config-archive") checkArchive(`${at}.content`, content, filenames);
    return { contentType: contentType as ExtraUserDataPart["contentType"], content, filename: name as string };
  });
}

/**
 * Checks a file name the way cloud-init's handlers will use it and records it in `taken`: the
 * shell-script and boothook handlers write each part to scripts/<name> or boothooks/<name>, and a
 * later part of the same name overwrites the earlier one.
 */
function claimFilename(field: string, name: unknown, taken: Set<string>): void {
  if (typeof name === "string") refuseLoneSurrogate(field, name);
  if (typeof name !== "string" || !FILENAME_PATTERN.test(name)) {
    throw new UserDataValidationError(field, name, "must be 1-64 characters of letters, digits, '.', '_' and '-'");
  }
  if (name === "." || name === "..") {
    throw new UserDataValidationError(
      field,
      name,
      "must name a file: cloud-init writes each part to scripts/ or boothooks/ under this name, and . and .. are directories",
    );
  }
  if (CLOUD_INIT_DEFAULT_NAME.test(name)) {
    throw new UserDataValidationError(
      field,
      name,
      "must not have the form part-<digits>: cloud-init gives parts without a name such names, and one of them would overwrite the other",
    );
  }
  if (taken.has(name)) {
    throw new UserDataValidationError(
      field,
      name,
      "is already used by another part or archive entry; names must be unique, since cloud-init writes the later one over the earlier",
    );
  }
  taken.add(name);
}

/** Keys of a cloud-config-archive entry that cloud-init reads without turning them into headers. */
const ARCHIVE_ENTRY_KEYS = ["content", "type", "filename"];
/** Types cloud-init handles inside an archive (it does not explode nested archives nor fetch includes there). */
const ARCHIVE_ENTRY_TYPES = ["text/x-shellscript", "text/cloud-config", "text/cloud-boothook", "text/part-handler"];

/**
 * Checks a text/cloud-config-archive part as cloud-init's _explode_archive will read it: each entry
 * becomes a part of its own, so entry file names join the part names and must be unique too. Shapes
 * cloud-init cannot take (a non-string content, a type without '/', a non-string header) make its
 * whole user data processing fail, the guard's parts included, so they are refused as well.
 */
function checkArchive(field: string, content: string, taken: Set<string>): void {
  // YAML 1.1, as PyYAML reads it: `yes` is a boolean there, `0755` a number.
  const documents = parseAllDocuments(content, { version: "1.1", uniqueKeys: true, prettyErrors: false });
  const documentList = [...documents];
  const problem = documentList.flatMap((document) => [...document.errors, ...document.warnings])[0];
  if (documentList.length !== 1 || problem !== undefined) {
    throw new UserDataValidationError(
      field,
      content,
      `must be one YAML document (a cloud-config-archive list)${problem ? `: ${problem.message.split("\n")[0]}` : ""}`,
    );
  }
  let entries: unknown;
  try {
    // No aliases: what an alias or merge key expands to is one more place for the two parsers to differ.
    entries = documentList[0].toJS({ maxAliasCount: 0 });
  } catch (error) {
    throw new UserDataValidationError(field, content, `must not use YAML aliases or merge keys: ${(error as Error).message}`);
  }
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new UserDataValidationError(field, entries, "must be a non-empty YAML list of entries, each a string or a map with content, type, filename");
  }
  entries.forEach((entry, index) => {
    const at = `${field}[${index}]`;
    if (typeof entry === "string") return; // cloud-init names it part-<n>, unique by construction
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new UserDataValidationError(at, entry, "must be a string or a map with content, type and filename");
    }
    const record = entry as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!ARCHIVE_ENTRY_KEYS.includes(key)) {
        throw new UserDataValidationError(
          `${at}.${key}`,
          record[key],
          `is not accepted: an archive entry may have only ${ARCHIVE_ENTRY_KEYS.join(", ")} (cloud-init turns other keys into headers and fails on non-string ones)`,
        );
      }
    }
    if (typeof record.content !== "string") {
      throw new UserDataValidationError(
        `${at}.content`,
        record.content,
        record.content === undefined
          ? "is required: an entry without content is an empty part"
          : "must be a string: cloud-init fails on the whole user data for a number or a list, and then runs no part at all",
      );
    }
    if (record.type !== undefined && !ARCHIVE_ENTRY_TYPES.includes(record.type as string)) {
      throw new UserDataValidationError(
        `${at}.type`,
        record.type,
        `must be one of ${ARCHIVE_ENTRY_TYPES.join(", ")} (cloud-init fails on a type without '/', and does not process archives or includes inside an archive)`,
      );
    }
    if ((record.type === "text/x-shellscript" || record.type === "text/cloud-boothook") && !record.content.startsWith("#!")) {
      throw new UserDataValidationError(
        `${at}.content`,
        record.content,
        `must start with an interpreter line such as #!/bin/bash: cloud-init executes ${record.type} parts directly`,
      );
    }
    if ("filename" in record) {
      if (typeof record.filename !== "string") {
        throw new UserDataValidationError(
          `${at}.filename`,
          record.filename,
          "must be a YAML string (quote it: YAML reads this one as another type, which cloud-init turns into some other name)",
        );
      }
      claimFilename(`${at}.filename`, record.filename, taken);
    }
  });
}

function refuseLoneSurrogate(field: string, value: string): void {
  if (LONE_SURROGATE.test(value)) {
    throw new UserDataValidationError(
      field,
      value,
      "must be valid Unicode: it holds a lone UTF-16 surrogate, which has no UTF-8 form and would arrive as U+FFFD",
    );
  }
}

/** File names of the parts the guard itself writes. */
export const BOOTHOOK_FILENAME = "ecs-imds-guard-boothook.sh";
export const ECS_CONFIG_FILENAME = "ecs-imds-guard-ecs-config.sh";
const GUARD_PART_FILENAMES = [BOOTHOOK_FILENAME, ECS_CONFIG_FILENAME];
