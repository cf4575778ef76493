/**
 * The judge: for one EC2 launch description and the network modes the user runs, whether
 * containers in each mode can reach IMDS. Pure; imports nothing from cdktf.
 */
import { parse as parseToml } from "smol-toml";
import { AmiIdentity, amiName, amiRegistration, describeAmi, identifyAmi } from "./ami";
import { cloneTable, containerReach, Family, FilterTable, IMDS_ADDRESS, Rule, Traversal } from "./firewall";
import { agentBoolean, readEcsConfig } from "../user-data/ecs-init";
import { Concern, ECS_CONFIG, InstanceState, knownText } from "./instance";
import { boot, bootProgram, BootProgram } from "./program";
import { hasMark, references } from "./marks";
import { idleUnitNotes, installAmiFiles, periodicJobs, restartDockerService } from "./units";
import {
  AuditNetworkMode,
  DEFAULT_AUDIT_NETWORK_MODES,
  isUnknown,
  Judgement,
  JudgeOptions,
  Known,
  LaunchDescription,
  MetadataOptions,
  ModeJudgement,
  Verdict,
} from "./types";
import { CloudInitPart, decodeBase64, EC2_USER_DATA_LIMIT, readUserDataBytes } from "./user-data";

/** What each mode's fix says. */
export const FIXES: Readonly<Record<AuditNetworkMode, string>> = {
  bridge:
    "Drop container traffic to 169.254.169.254 (and fd00:ec2::254 with IPv6) in DOCKER-USER from a cloud-boothook that runs on every boot " +
    '(ecs-imds-guard\'s ImdsGuardedLaunchTemplate or renderUserData writes one), and set metadata_options http_tokens = "required" with ' +
    "http_put_response_hop_limit = 1.",
  awsvpc:
    "Write ECS_AWSVPC_BLOCK_IMDS=true, unquoted and as the last copy of the key, to /etc/ecs/ecs.config in user data that runs before the " +
    "ECS agent starts (on Bottlerocket: settings.ecs.awsvpc-block-imds = true).",
  host:
    "Nothing on the network closes host mode: the ECS agent shares the namespace and needs IMDS. Keep untrusted tasks out of host mode, " +
    "set ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true so they use task roles, and give the instance role least privilege.",
};

const AWSVPC_KEY = "ECS_AWSVPC_BLOCK_IMDS";
/** ecs-init reads this first; /etc/ecs/ecs.config overrides it. */
const VAR_LIB_ECS_CONFIG = "/var/lib/ecs/ecs.config";

/** Judges one launch description for each network mode. */
export function judge(description: LaunchDescription, options: JudgeOptions = {}): Judgement {
  const modes = options.networkModes ?? DEFAULT_AUDIT_NETWORK_MODES;
  const key = cacheKey(description, modes);
  const cached = key !== undefined ? CACHE.get(key) : undefined;
  if (cached) return cached;
  const result = judgeUncached(description, modes);
  if (key !== undefined) {
    if (CACHE.size > 1000) CACHE.clear();
    CACHE.set(key, result);
  }
  return result;
}

// Fleets repeat the same template: the same description always gets the same judgement.
const CACHE = new Map<string, Judgement>();

function cacheKey(description: LaunchDescription, modes: readonly AuditNetworkMode[]): string | undefined {
  const userData = description.userData;
  if (userData && "bytes" in userData) return undefined;
  const data = userData === undefined ? "-" : "base64" in userData ? `b${userData.base64}` : "text" in userData ? `t${userData.text}` : JSON.stringify(userData);
  return `${description.resourceType}\0${modes.join(",")}\0${JSON.stringify(description.metadataOptions ?? null)}\0${JSON.stringify(description.imageId ?? null)}\0${description.imageSource ?? ""}\0${data}`;
}

interface Metadata {
  readonly endpointDisabled: boolean;
  /** Why bridge containers are closed by the metadata options, if they are. */
  readonly closesBridge?: string;
  /** Set when the closure rests on the AMI's defaults for options the template leaves unset. */
  readonly closedByDefault?: string;
  /** Why they are not, when they are not. */
  readonly bridgeOpening?: string;
  /** Set when a value the decision depends on is unknown. */
  readonly unknown?: string;
  readonly ipv6: boolean | "unknown";
}

/** What EC2 gives an option: the template's value, the AMI's default, or nothing the audit knows. */
interface Effective<T> {
  readonly value: T | undefined | "unknown";
  /** True when the value is the AMI's default for an option the template leaves unset. */
  readonly byDefault: boolean;
}

const UNKNOWN_AMI_DEFAULTS = "unset metadata options take the AMI's defaults, and the account's regional IMDS defaults may differ";
const ACCOUNT_DEFAULTS =
  "the account's regional IMDS defaults (ModifyInstanceMetadataDefaults, or an Organizations declarative policy) take precedence over the AMI's when set";

/**
 * The metadata options as EC2 applies them: set values as written, unset ones from the AMI's
 * defaults when the image tells which (ImdsSupport v2.0: IMDSv2 required, hop limit 2; otherwise
 * IMDSv1 allowed, hop limit 1). The account's regional defaults come before the AMI's, but no
 * template, plan or configuration holds them: the judge says what the AMI default gives and that
 * account defaults may differ. Where only they could change the outcome (an Amazon Linux 2 AMI with
 * IMDSv2 required and no hop limit, say), the verdict is the AMI default's, closed included, with
 * that dependency named as a reason: an `unknown` there would make every template with an unset
 * option unknown, whatever its AMI, and hide the difference the AMI makes; the account setting is
 * one per region that a reviewer can check, and setting the option in the template removes it.
 */
function readMetadata(options: MetadataOptions | undefined, ami: AmiIdentity): Metadata {
  const value = <T>(field: Known<T> | undefined): T | undefined | "unknown" => (isUnknown(field) ? "unknown" : field);
  const endpoint = value(options?.httpEndpoint);
  const ipv6Value = value(options?.httpProtocolIpv6);
  const ipv6 = ipv6Value === "unknown" ? "unknown" : ipv6Value === "enabled";
  if (endpoint === "disabled") return { endpointDisabled: true, ipv6 };
  const withDefault = <T>(set: T | undefined | "unknown", v2: T, other: T): Effective<T> =>
    set !== undefined || ami.imdsSupport === "unknown" ? { value: set, byDefault: false } : { value: ami.imdsSupport === "v2.0" ? v2 : other, byDefault: true };
  const tokens = withDefault<string>(value(options?.httpTokens), "required", "optional");
  const hop = withDefault<number>(value(options?.httpPutResponseHopLimit), 2, 1);
  const amiText = describeAmi(ami);
  const unsetFields = [tokens.byDefault ? "http_tokens" : undefined, hop.byDefault ? "http_put_response_hop_limit" : undefined].filter(Boolean).join(" and ");
  // Each field known only at apply, with what it waits for when the reader said.
  const unknownField = (name: string, field: Known<unknown> | undefined) => (isUnknown(field) ? (field.unknown ? `${name} (${field.unknown})` : name) : undefined);
  const unknownFields = [
    unknownField("http_endpoint", options?.httpEndpoint),
    tokens.value === "unknown" ? unknownField("http_tokens", options?.httpTokens) : undefined,
    hop.value === "unknown" ? unknownField("http_put_response_hop_limit", options?.httpPutResponseHopLimit) : undefined,
  ].filter(Boolean);
  if (tokens.value === "required" && hop.value === 1) {
    const closesBridge = `IMDSv2 is required (${tokens.byDefault ? "http_tokens unset: the AMI's default" : 'http_tokens = "required"'}) with hop limit 1${hop.byDefault ? " (http_put_response_hop_limit unset: the AMI's default)" : ""}: the token response dies one hop out, before it reaches a bridge container`;
    if (!tokens.byDefault && !hop.byDefault) return { endpointDisabled: false, ipv6, closesBridge };
    return {
      endpointDisabled: false,
      ipv6,
      closesBridge,
      closedByDefault: `this rests on the defaults of ${amiName(ami)}, which ${amiRegistration(ami)}, for ${unsetFields}, left unset: ${ACCOUNT_DEFAULTS}; set ${[tokens.byDefault ? 'http_tokens = "required"' : undefined, hop.byDefault ? "http_put_response_hop_limit = 1" : undefined].filter(Boolean).join(" and ")} in the template to be sure`,
    };
  }
  const accountMayDiffer = "account defaults may differ";
  let bridgeOpening: string;
  const imdsV1 = tokens.value !== "required" && tokens.value !== "unknown";
  if (imdsV1) {
    bridgeOpening =
      tokens.value === undefined
        ? `http_tokens is unset, so IMDSv1 may be allowed (${UNKNOWN_AMI_DEFAULTS}): a plain GET needs no token and no hop limit applies`
        : tokens.byDefault
          ? `http_tokens is unset and ${amiText}: EC2 defaults it to optional, so IMDSv1 is allowed (${accountMayDiffer}): a plain GET needs no token and no hop limit applies`
          : `IMDSv1 is allowed (http_tokens = "${tokens.value}"): a plain GET needs no token and no hop limit applies`;
  } else if (hop.value === undefined) {
    bridgeOpening = `http_put_response_hop_limit is unset: AMIs registered with ImdsSupport v2.0 (Amazon Linux 2023 among them) default to 2, which lets a bridge container (one hop away) get a token (${UNKNOWN_AMI_DEFAULTS})`;
  } else if (hop.value === "unknown") {
    const hopUnknown = options?.httpPutResponseHopLimit;
    bridgeOpening = `the hop limit is only known at apply time${isUnknown(hopUnknown) && hopUnknown.unknown ? ` (${hopUnknown.unknown})` : ""}`;
  } else if (hop.byDefault) {
    bridgeOpening = `${unsetFields} ${tokens.byDefault ? "are" : "is"} unset and ${amiText}: EC2 defaults ${tokens.byDefault ? "them to IMDSv2 required with hop limit 2" : "the hop limit to 2"}, which lets a bridge container (one hop away) get a token (${accountMayDiffer})`;
  } else {
    bridgeOpening = `the hop limit is ${hop.value}${tokens.byDefault ? ` (IMDSv2 required by the AMI's default: ${amiText})` : ""}, which lets a bridge container (one hop away) get an IMDSv2 token`;
  }
  return {
    endpointDisabled: false,
    ipv6,
    bridgeOpening,
    ...(unknownFields.length > 0 && !imdsV1 ? { unknown: `${unknownFields.join(", ")} only known at apply time${whyUnknown(options)}` } : {}),
  };
}

/** Why the metadata options' unknown fields are unknown, as the reader said it (each reason once). */
function whyUnknown(options: MetadataOptions | undefined): string {
  const fields = [options?.httpEndpoint, options?.httpTokens, options?.httpPutResponseHopLimit];
  const reasons = [...new Set(fields.filter(isUnknown).map((field) => field.unknown))];
  return reasons.length > 0 ? ` (${reasons.join("; ")})` : "";
}

/** The user data seen as a boot program, Bottlerocket settings, or not at all. */
type Reading =
  | { readonly kind: "none" }
  | { readonly kind: "unreadable"; readonly reason: string }
  | { readonly kind: "bottlerocket"; readonly awsvpcBlock: unknown; readonly awsvpcUnknown?: string; readonly notes: readonly string[] }
  | { readonly kind: "cloud-init"; readonly program: BootProgram; readonly parts: readonly CloudInitPart[]; readonly notes: readonly string[] };

function readDescriptionUserData(description: LaunchDescription, bottlerocketImage: boolean): Reading {
  const input = description.userData;
  if (input === undefined) return { kind: "none" };
  if (isUnknown(input)) {
    // A configuration Terraform refuses (an undeclared reference, a cycle) has no user data at all.
    const refused = /Terraform refuses/.test(input.unknown);
    return { kind: "unreadable", reason: refused ? `Terraform cannot evaluate the user data: ${input.unknown}` : `the user data is only known at apply time (${input.unknown})` };
  }
  if ("sha1" in input) return { kind: "unreadable", reason: "only a SHA-1 hash of the user data is recorded here (Terraform stores user_data of this resource type hashed); audit the configuration instead" };
  let bytes: Buffer;
  if ("base64" in input) {
    const decoded = decodeBase64(input.base64.trim());
    if (decoded === undefined) return { kind: "unreadable", reason: "user_data is not valid base64, which EC2 requires for a launch template: EC2 would refuse it" };
    bytes = decoded;
  } else if ("text" in input) bytes = Buffer.from(input.text, "utf8");
  else bytes = input.bytes;
  if (bytes.length === 0) return { kind: "none" };
  if (bytes.length > EC2_USER_DATA_LIMIT) {
    return { kind: "unreadable", reason: `the user data is ${bytes.length} bytes, over EC2's limit of ${EC2_USER_DATA_LIMIT}: EC2 refuses to launch with it` };
  }
  const read = readUserDataBytes(bytes);
  if (read.kind === "unreadable") return { kind: "unreadable", reason: read.reason };
  const single = read.parts.length === 1 && read.parts[0].contentType === "text/x-not-multipart" ? read.parts[0].payload : undefined;
  if (single !== undefined || bottlerocketImage) {
    const source = single ?? read.text;
    const toml = tryToml(source);
    if (toml !== undefined && typeof toml.settings === "object" && toml.settings !== null) {
      const ecs = (toml.settings as Record<string, unknown>).ecs as Record<string, unknown> | undefined;
      const block = ecs?.["awsvpc-block-imds"];
      const markedKeys = markedKeyPaths(toml.settings, "settings");
      const awsvpcUnknown =
        typeof block === "string" && hasMark(block)
          ? `Bottlerocket settings.ecs.awsvpc-block-imds is known only at apply time (${references(block)})`
          : markedKeys.length > 0
            ? `Bottlerocket settings have a key known only at apply time (${markedKeys.join(", ")}): it could be settings.ecs.awsvpc-block-imds`
            : undefined;
      return { kind: "bottlerocket", awsvpcBlock: block, ...(awsvpcUnknown ? { awsvpcUnknown } : {}), notes: [...read.notes, "user data is Bottlerocket TOML settings"] };
    }
    if (toml === undefined && hasMark(source) && /^\s*(\[settings|settings\.)/m.test(source)) {
      return { kind: "unreadable", reason: `the Bottlerocket settings hold a value known only at apply time outside any value (${references(source)}): which settings they set cannot be told` };
    }
    if (bottlerocketImage) return { kind: "unreadable", reason: "the image is Bottlerocket, but the user data is not TOML settings it can read" };
  }
  return { kind: "cloud-init", program: bootProgram(read.parts), parts: read.parts, notes: read.notes };
}

/**
 * TOML settings. A value known only at apply time standing as a whole value (`key = <mark>`) is
 * read as a string holding the mark; anywhere else that breaks the syntax, it is undefined.
 */
function tryToml(text: string): Record<string, unknown> | undefined {
  for (const candidate of hasMark(text) ? [text, text.replace(/^(\s*[^=\n#]+=\s*)(\ue000[^\ue001\n]*\ue001)(\s*(#.*)?)$/gm, (_, head: string, value: string, tail: string) => `${head}${JSON.stringify(value)}${tail}`)] : [text]) {
    try {
      return parseToml(candidate) as Record<string, unknown>;
    } catch {
      // the next candidate
    }
  }
  return undefined;
}

/** Key paths of a TOML table that hold a mark (a quoted key known only at apply time). */
function markedKeyPaths(value: unknown, path: string): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) =>
    hasMark(key) ? [`${path}.${references(key)}`] : markedKeyPaths(inner, `${path}.${key}`),
  );
}

/** The three moments a verdict is about. */
const MOMENTS = ["after the first boot", "after a Docker restart", "after a reboot"] as const;

interface Timeline {
  readonly firewall: Record<Family, Traversal[]>;
  /** The filter table at each moment the packet passed, for saying why no rule stopped it. */
  readonly passedTables: Record<Family, Array<FilterTable | undefined>>;
  /** Per moment, the traversal once periodic jobs (cron) have run again, and the longest wait for them. */
  readonly healed: Record<Family, Array<Healed | undefined>>;
  readonly ecs: Array<{ readonly value?: string; readonly unknown?: string; readonly text?: string }>;
  readonly state: InstanceState;
}

interface Healed {
  readonly traversal: Traversal;
  readonly seconds: number;
  readonly by: string;
}

function runTimeline(program: BootProgram, image: InstanceState["image"]): Timeline {
  const state = new InstanceState();
  state.image = image;
  installAmiFiles(state);
  for (const [concerns, why] of program.blind) state.markUnknown(concerns, why);
  const firewall: Record<Family, Traversal[]> = { v4: [], v6: [] };
  const passedTables: Timeline["passedTables"] = { v4: [], v6: [] };
  const healed: Record<Family, Array<Healed | undefined>> = { v4: [], v6: [] };
  const ecs: Timeline["ecs"] = [];
  const record = (withEcs: boolean) => {
    for (const family of ["v4", "v6"] as const) {
      const reach = containerReach(state.tables[family]);
      firewall[family].push(reach);
      passedTables[family].push(reach.result === "passed" ? cloneTable(state.tables[family]) : undefined);
    }
    if (withEcs) ecs.push(readEcs(state));
    // Time passes before the next event: periodic jobs run, each at least once.
    const jobs = periodicJobs(state);
    for (const job of jobs) job.run(state);
    for (const family of ["v4", "v6"] as const) {
      healed[family].push(jobs.length > 0 ? { traversal: containerReach(state.tables[family]), seconds: Math.max(...jobs.map((j) => j.seconds)), by: jobs.map((j) => j.label).join(", ") } : undefined);
    }
  };
  boot(program, state, true);
  record(true);
  restartDockerService(state, "when Docker restarts");
  record(false);
  boot(program, state, false);
  record(true);
  idleUnitNotes(state);
  return { firewall, passedTables, healed, ecs, state };
}

/** Which Amazon Linux the image is, when the configuration names it: cron and rc.local differ. */
function amazonLinux(ami: AmiIdentity): InstanceState["image"] {
  return ami.platform === "amazon-linux-2" ? "al2" : ami.platform === "amazon-linux-2023" ? "al2023" : undefined;
}

/** ECS_AWSVPC_BLOCK_IMDS as ecs-init hands it to the agent: /var/lib/ecs/ecs.config, overridden by /etc/ecs/ecs.config. */
function readEcs(state: InstanceState): { value?: string; unknown?: string; text?: string } {
  const etc = readEcsFile(state, ECS_CONFIG);
  if (etc.unknown !== undefined || etc.value !== undefined) return etc;
  const varLib = readEcsFile(state, VAR_LIB_ECS_CONFIG);
  return varLib.unknown !== undefined || varLib.value !== undefined ? varLib : etc;
}

function readEcsFile(state: InstanceState, path: string): { value?: string; unknown?: string; text?: string } {
  const content = state.files.get(path);
  if (content === undefined) return {};
  if (content.kind === "saved") return { unknown: `${path} holds saved firewall rules` };
  const checked = (value: string | undefined, text: string) => {
    if (value !== undefined && value.includes("\ue000")) return { unknown: `${AWSVPC_KEY} is set from a value known only at apply time` };
    return value === undefined ? { text } : { value, text };
  };
  const lastUnseen = content.segments.map((s) => typeof s !== "string" && !s.inWord).lastIndexOf(true);
  const lastInWord = content.segments.map((s) => typeof s !== "string" && s.inWord === true).lastIndexOf(true);
  if (lastUnseen < 0 && lastInWord >= 0) {
    // Values spliced inside words are read as staying on their lines, so the other lines stay readable;
    // but a value could hold a newline and a line of its own: "true" never rests on a line before one.
    const visible = content.segments.map((s) => (typeof s === "string" ? s : "\ue000")).join("");
    const value = readEcsConfig(visible).get(AWSVPC_KEY);
    if (value === undefined || !agentBoolean(value)) return checked(value, visible);
    const tail = content.segments.slice(lastInWord + 1).join("");
    const fresh = tail.includes("\n") ? tail.slice(tail.indexOf("\n") + 1) : "";
    if (readEcsConfig(fresh).get(AWSVPC_KEY) !== undefined) return checked(readEcsConfig(fresh).get(AWSVPC_KEY), fresh);
    const unseen = content.segments[lastInWord] as { unseen: string };
    return { unknown: `${path} sets ${AWSVPC_KEY}=${value}, but a later line holds ${unseen.unseen}, which could end the line and set ${AWSVPC_KEY} again` };
  }
  if (lastUnseen >= 0) {
    // The last copy wins: whole lines written after the last unseen piece decide, if they set the key.
    const tail = content.segments.slice(lastUnseen + 1).join("");
    const fresh = tail.includes("\n") ? tail.slice(tail.indexOf("\n") + 1) : "";
    const value = readEcsConfig(fresh).get(AWSVPC_KEY);
    if (value !== undefined) return checked(value, fresh);
    const unseen = content.segments[lastUnseen] as { unseen: string };
    return { unknown: `${path} holds content the audit cannot see (${unseen.unseen})` };
  }
  const text = knownText(content) ?? "";
  return checked(readEcsConfig(text).get(AWSVPC_KEY), text);
}

function judgeUncached(description: LaunchDescription, modes: readonly AuditNetworkMode[]): Judgement {
  const ami = identifyAmi(description.imageId, description.imageSource);
  const bottlerocketImage = ami.platform === "bottlerocket";
  const reading = readDescriptionUserData(description, bottlerocketImage);
  const metadata = readMetadata(description.metadataOptions, ami);
  const amiText = describeAmi(ami);
  const notes: string[] = amiText !== undefined ? [amiText] : [];
  if (reading.kind === "cloud-init" || reading.kind === "bottlerocket") notes.push(...reading.notes);
  if (reading.kind === "cloud-init") notes.push(...reading.program.notes);
  const timeline = reading.kind === "cloud-init" ? runTimeline(reading.program, amazonLinux(ami)) : undefined;
  if (timeline) notes.push(...timeline.state.failures);
  const result: Partial<Record<AuditNetworkMode, ModeJudgement>> = {};
  for (const mode of modes) {
    result[mode] = judgeMode(mode, { description, reading, metadata, timeline });
  }
  if (reading.kind === "cloud-init") nameDormantParts(result, reading, { description, metadata, modes, image: amazonLinux(ami) });
  return { modes: result, notes };
}

/** At most this many parts that never run are each judged as if they ran. */
const MAX_DORMANT_PARTS = 8;

/**
 * A part cloud-init cannot execute (no `#!`, or spaces before it) is a mistake in
 * the user data, not a choice: in each mode whose verdict it would have changed had it run, the
 * reason names it first, with what the verdict would have been.
 */
function nameDormantParts(
  result: Partial<Record<AuditNetworkMode, ModeJudgement>>,
  reading: Reading & { kind: "cloud-init" },
  context: { description: LaunchDescription; metadata: Metadata; modes: readonly AuditNetworkMode[]; image: InstanceState["image"] },
): void {
  for (const part of reading.program.dormant.slice(0, MAX_DORMANT_PARTS)) {
    const program = bootProgram(reading.parts, { asIfExecuted: new Set([part.index]) });
    const ran: Reading = { ...reading, program };
    const timeline = runTimeline(program, context.image);
    for (const mode of context.modes) {
      const actual = result[mode] as ModeJudgement;
      const had = judgeMode(mode, { description: context.description, reading: ran, metadata: context.metadata, timeline });
      if (had.verdict === actual.verdict) continue;
      result[mode] = { ...actual, reasons: [`${part.why}; had it run, ${mode} mode would be ${had.verdict}`, ...actual.reasons] };
    }
  }
}

interface Inputs {
  readonly description: LaunchDescription;
  readonly reading: Reading;
  readonly metadata: Metadata;
  readonly timeline: Timeline | undefined;
}

function verdict(v: Verdict, reasons: string[], mode: AuditNetworkMode): ModeJudgement {
  return { verdict: v, reasons, fix: v === "closed" ? "" : v === "unknown" ? `${unknownFix()} ${FIXES[mode]}` : FIXES[mode] };
}

function unknownFix(): string {
  return "Make the user data and metadata options literal where the audit runs (or audit a saved plan), so it can read what the instance runs.";
}

function judgeMode(mode: AuditNetworkMode, inputs: Inputs): ModeJudgement {
  const { metadata } = inputs;
  if (metadata.endpointDisabled) {
    return verdict("closed", ['the metadata endpoint is disabled (http_endpoint = "disabled"): nothing on the instance reaches IMDS, the ECS agent included'], mode);
  }
  if (mode === "host") {
    return verdict("open", ["host-mode tasks share the instance's network namespace with the ECS agent, which needs IMDS: no firewall rule or hop limit can keep them out"], mode);
  }
  return mode === "bridge" ? judgeBridge(inputs) : judgeAwsvpc(inputs);
}

function judgeBridge(inputs: Inputs): ModeJudgement {
  const { metadata, reading, timeline } = inputs;
  if (metadata.closesBridge) {
    const also =
      reading.kind === "cloud-init" && metadata.ipv6 !== "unknown"
        ? (metadata.ipv6 ? (["v4", "v6"] as const) : (["v4"] as const)).map((family) => familyVerdict(family, timeline as Timeline)).filter((v) => v.verdict === "closed")
        : [];
    return verdict("closed", [metadata.closesBridge, ...(metadata.closedByDefault ? [metadata.closedByDefault] : []), ...also.flatMap((v) => v.reasons.map((r) => `also: ${r}`))], "bridge");
  }
  const opening = metadata.bridgeOpening ?? "";
  const families: Family[] = metadata.ipv6 === true ? ["v4", "v6"] : ["v4"];
  const extra: string[] = metadata.ipv6 === "unknown" ? ["whether the IPv6 endpoint is on is only known at apply time"] : [];
  if (reading.kind === "none") {
    return verdict(metadata.unknown ? "unknown" : "open", [`no user data, so no firewall rule; ${opening}`, ...(metadata.unknown ? [metadata.unknown] : [])], "bridge");
  }
  if (reading.kind === "unreadable") return verdict("unknown", [reading.reason, `and the metadata options do not close bridge mode on their own: ${opening}`], "bridge");
  if (reading.kind === "bottlerocket") {
    return verdict(metadata.unknown ? "unknown" : "open", [`Bottlerocket user data has no firewall hook for bridge mode, and ${opening}`], "bridge");
  }
  const perFamily = families.map((family) => familyVerdict(family, timeline as Timeline));
  const order: Verdict[] = ["open", "fragile", "unknown", "closed"];
  let worst = perFamily.reduce((acc, v) => (order.indexOf(v.verdict) < order.indexOf(acc.verdict) ? v : acc), perFamily[0]);
  if (metadata.ipv6 === "unknown" && worst.verdict === "closed") worst = { verdict: "unknown", reasons: [...worst.reasons, ...extra] };
  // The worst family first: the first reason is the one a table shows.
  const reasons = [...perFamily].sort((a, b) => order.indexOf(a.verdict) - order.indexOf(b.verdict)).flatMap((v) => v.reasons);
  if (worst.verdict !== "closed") reasons.push(`the metadata options do not close it either: ${opening}`);
  if (metadata.unknown && worst.verdict !== "closed") return verdict("unknown", [...reasons, metadata.unknown], "bridge");
  return verdict(worst.verdict, reasons, "bridge");
}

function familyVerdict(family: Family, timeline: Timeline): { verdict: Verdict; reasons: string[] } {
  const address = IMDS_ADDRESS[family];
  const concern: Concern = family;
  const unknowns = timeline.state.unknowns.get(concern) ?? [];
  const moments = timeline.firewall[family];
  const first = moments[0];
  const describeBlock = (t: Traversal & { result: "blocked" }) =>
    `${t.rule.text} in ${t.chain}, from ${t.rule.origin}`;
  // What the audit cannot follow could add or remove the rule: the visible state decides nothing.
  if (unknowns.length > 0) {
    const visible = first.result === "passed" ? `without it, container traffic to ${address} would pass` : first.result === "blocked" ? `without it, container traffic to ${address} would be dropped` : "";
    return { verdict: "unknown", reasons: [...unknowns.map((u) => `not followed: ${u}`), ...(visible ? [visible] : [])] };
  }
  // A periodic job (cron) that drops the traffic again only after a wait leaves a window open: a
  // task that starts in it reads the credentials in milliseconds. A careful operator does not
  // accept that as closed; it is fragile, with the window named.
  const gap = (index: number): string | undefined => {
    const moment = moments[index];
    const heal = timeline.healed[family][index];
    if (moment.result !== "passed" || heal?.traversal.result !== "blocked") return undefined;
    const accepted = moment.rule ? `"${moment.rule.text}" (${moment.rule.origin}) accepts it` : "no rule drops it";
    return `${MOMENTS[index]} container traffic to ${address} passes for up to ${duration(heal.seconds)} (${accepted}), until ${heal.by} runs again and puts back ${heal.traversal.rule.text} in ${heal.traversal.chain}`;
  };
  const gaps = [0, 1, 2].map(gap);
  if (first.result === "passed" && gaps[0] === undefined) {
    return { verdict: "open", reasons: [`${MOMENTS[0]}, container traffic to ${address} passes: ${passedWhy(first, family, timeline, 0)}`] };
  }
  if (first.result === "unknown") return { verdict: "unknown", reasons: [`${MOMENTS[0]}: ${first.why}`] };
  const firstBlock = first.result === "blocked" ? first : (timeline.healed[family][0]?.traversal as Traversal & { result: "blocked" });
  const lost: string[] = gaps[0] ? [gaps[0]] : [];
  for (const index of [1, 2]) {
    const moment = moments[index];
    if (moment.result === "unknown") return { verdict: "unknown", reasons: [`${MOMENTS[index]}: ${moment.why}`] };
    if (gaps[index]) lost.push(gaps[index] as string);
    else if (moment.result === "passed") lost.push(`${MOMENTS[index]} it passes: ${lostWhy(index, firstBlock, moment, family, timeline)}`);
  }
  if (lost.length > 0) {
    return { verdict: "fragile", reasons: [...(first.result === "blocked" ? [`${MOMENTS[0]} container traffic to ${address} is dropped by ${describeBlock(first)}`] : []), ...lost] };
  }
  return {
    verdict: "closed",
    reasons: [
      `container traffic to ${address} is dropped by ${describeBlock(firstBlock)}; it holds after a Docker restart (${restartHold(firstBlock, moments[1] as Traversal & { result: "blocked" })}) and after a reboot (re-applied by ${(moments[2] as Traversal & { result: "blocked" }).rule.origin})`,
      ...(moments[2].result === "blocked" && /iptables\.service|sysconfig/.test(moments[2].rule.origin)
        ? ["note: restarting iptables.service while Docker runs flushes Docker's jump to DOCKER-USER until Docker restarts"]
        : []),
    ],
  };
}

/** Why the drop is still there after Docker restarts. */
function restartHold(first: Traversal & { result: "blocked" }, afterRestart: Traversal & { result: "blocked" }): string {
  if (afterRestart.rule.origin !== first.rule.origin) return `re-applied by ${afterRestart.rule.origin}`;
  return afterRestart.chain === "DOCKER-USER" ? "Docker never flushes DOCKER-USER" : `Docker puts no rule above it in ${afterRestart.chain}`;
}

function duration(seconds: number): string {
  return seconds % 3600 === 0 && seconds >= 3600 ? `${seconds / 3600} h` : seconds % 60 === 0 && seconds >= 60 ? `${seconds / 60} min` : `${seconds} s`;
}

function passedWhy(t: Traversal & { result: "passed" }, family: Family, timeline: Timeline, moment: number): string {
  const failures = [...new Set(timeline.state.failures.filter((f) => (family === "v4" ? /iptables/ : /ip6tables/).test(f)))];
  const table = timeline.passedTables[family][moment] as FilterTable;
  const accepted = t.rule?.origin === "Docker" ? `Docker's rule "${t.rule.text}" in ${t.chain} accepts its new connection` : t.rule ? `"${t.rule.text}" (${t.rule.origin}) in ${t.chain} accepts its new connection` : `no rule drops it and the ${t.chain} policy is ACCEPT`;
  const user = [...table.chains].flatMap(([chain, rules]) =>
    rules.filter((r) => r.effect.kind === "block").map((r) => `"${r.text}" (${r.origin}) ${whyNotMet(chain, rules, r, t)}`),
  );
  return [accepted, ...user, ...failures].join("; ");
}

/** Why a rule that would drop the container's packet never sees it, in the packet's own path. */
function whyNotMet(chain: string, rules: readonly Rule[], rule: Rule, t: Traversal & { result: "passed" }): string {
  if (chain === "INPUT") return "is in INPUT, which sees only traffic addressed to the instance itself: a container's traffic to IMDS is forwarded (FORWARD)";
  if (chain === "OUTPUT") return "is in OUTPUT, which sees only traffic the instance itself sends: a container's traffic to IMDS is forwarded (FORWARD)";
  if (!t.entered.has(chain)) return `is in ${chain}, which the packet never enters: no rule on its way jumps there`;
  const left = t.entered.get(chain);
  if (left === undefined || rules.indexOf(left) > rules.indexOf(rule)) return `is in ${chain}, which the packet leaves before it`;
  const how = left.effect.kind === "accept" ? "accepts it" : left.effect.kind === "return" ? "sends it back to the calling chain" : "sends it on";
  return `sits in ${chain} below "${left.text}" (${left.origin}), which ${how} before it gets there`;
}

function lostWhy(index: number, first: Traversal & { result: "blocked" }, moment: Traversal & { result: "passed" }, family: Family, timeline: Timeline): string {
  if (index === 1) {
    if (first.rule.spec === "policy") {
      return `Docker re-inserts its own rules in FORWARD when it restarts, the one that lets IMDS's answers back to containers among them (${passedWhy(moment, family, timeline, index)})`;
    }
    return first.chain === "FORWARD"
      ? `the rule sits on FORWARD, and Docker re-inserts its own rules above it when it restarts (${moment.rule ? `"${moment.rule.text}" accepts first` : "nothing drops it"})`
      : `Docker's restart leaves nothing that drops it (${passedWhy(moment, family, timeline, index)})`;
  }
  if (timeline.state.failures.some((f) => f.includes("races Docker's start"))) return `at boot the rule is not re-applied in time (${passedWhy(moment, family, timeline, index)})`;
  return `the rule was added once, at first boot (${first.rule.origin}), and nothing re-applies it when the instance boots again (${passedWhy(moment, family, timeline, index)})`;
}

function judgeAwsvpc(inputs: Inputs): ModeJudgement {
  const { reading, timeline, description } = inputs;
  const ipv6Note = description.metadataOptions?.httpProtocolIpv6 === "enabled" ? ["note: the agent's blackhole route covers 169.254.169.254 only, not the IPv6 endpoint"] : [];
  switch (reading.kind) {
    case "none":
      return verdict("open", [`no user data, so nothing sets ${AWSVPC_KEY}; the agent's default is false`], "awsvpc");
    case "unreadable":
      return verdict("unknown", [reading.reason], "awsvpc");
    case "bottlerocket": {
      const value = reading.awsvpcBlock;
      if (reading.awsvpcUnknown) return verdict("unknown", [reading.awsvpcUnknown], "awsvpc");
      if (value === true) return verdict("closed", ["Bottlerocket settings.ecs.awsvpc-block-imds = true: the agent blackholes IMDS in each task's namespace", ...ipv6Note], "awsvpc");
      return verdict("open", [value === undefined ? "Bottlerocket settings.ecs.awsvpc-block-imds is not set; the default is false" : `Bottlerocket settings.ecs.awsvpc-block-imds = ${JSON.stringify(value)}, not the boolean true`], "awsvpc");
    }
    case "cloud-init":
      break;
  }
  const line = timeline as Timeline;
  const unknowns = line.state.unknowns.get("ecs") ?? [];
  const [first, afterReboot] = line.ecs;
  const describe = (reading: { value?: string; text?: string }): string => {
    if (reading.value === undefined) return `${ECS_CONFIG} does not set ${AWSVPC_KEY}; the agent's default is false`;
    const lines = (reading.text ?? "").split("\n").filter((l) => l.trim().startsWith(`${AWSVPC_KEY}=`));
    const overridden = lines.length > 1 ? ` (the last of ${lines.length} ${AWSVPC_KEY} lines wins)` : "";
    if (/^["'].*["']$/.test(reading.value.trim())) {
      return `${ECS_CONFIG} sets ${AWSVPC_KEY}=${reading.value}${overridden}: ecs-init keeps the quotes, so the agent reads ${reading.value}, which is not a boolean, and leaves it off`;
    }
    return agentBoolean(reading.value)
      ? `${ECS_CONFIG} sets ${AWSVPC_KEY}=${reading.value}${overridden}, which the agent reads as true`
      : `${ECS_CONFIG} sets ${AWSVPC_KEY}=${reading.value}${overridden}, which the agent reads as false`;
  };
  if (unknowns.length > 0) return verdict("unknown", [...unknowns.map((u) => `not followed: ${u}`), ...(first.unknown ? [first.unknown] : [])], "awsvpc");
  if (first.unknown) return verdict("unknown", [first.unknown], "awsvpc");
  if (!agentBoolean(first.value)) return verdict("open", [`${MOMENTS[0]}: ${describe(first)}`], "awsvpc");
  if (afterReboot.unknown) return verdict("unknown", [afterReboot.unknown], "awsvpc");
  if (!agentBoolean(afterReboot.value)) return verdict("fragile", [`${MOMENTS[0]}: ${describe(first)}`, `${MOMENTS[2]}: ${describe(afterReboot)}`], "awsvpc");
  return verdict("closed", [`${describe(first)}: the agent blackholes IMDS in each task's namespace (${ECS_CONFIG} is on disk, read again at every start)`, ...ipv6Note], "awsvpc");
}
