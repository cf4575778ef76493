/**
 * Which resources of the real-world corpus (real-world.ts) the kernel proof boots
 * (e2e/audit-agrees.test.ts), chosen by rule rather than by hand, and why the others are not:
 * - the audit evaluated the user data fully: literal bytes, no reference marks, a bridge verdict;
 * - the firewall decides that verdict: it is the same with metadata options that let IMDSv1 in
 *   (a row closed only by hop limit 1 or IMDS off tells the firewall nothing; the proof's probe
 *   counts any answer from IMDS, a 401 included);
 * - the emulated instance executes every part: boothooks and shell scripts (cloud-config, part
 *   handlers and includes are cloud-init modules the harness does not run), and the services the
 *   parts start are ones it replays (iptables.service and ip6tables.service; Docker's start and
 *   restart, and the ECS agent's start, from scripts, which run once Docker runs).
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { decodeBase64, judge, LaunchDescription, MetadataOptions, Verdict } from "../../lib/audit";
import { FoundResource, readAuditPath, UNKNOWN_START } from "../../lib/audit/read";
import { splitUserData } from "../e2e/harness/user-data";
import { REAL_WORLD, REAL_WORLD_FIXTURES } from "./real-world";

/** Content types the emulated instance executes: boothooks at every boot, scripts once after Docker. */
export const EXECUTED_PART_TYPES: readonly string[] = ["text/cloud-boothook", "text/x-shellscript"];

/** One part as cloud-init's parser found it. */
export interface FoundPart {
  readonly contentType: string;
  readonly text: string;
}

/** One real-world resource with what the audit read for it. */
export interface RealWorldResource {
  readonly folder: string;
  readonly address: string;
  readonly found: FoundResource;
}

/** Every resource the audit reports on the real-world corpus, in corpus order. */
export async function realWorldResources(): Promise<RealWorldResource[]> {
  const resources: RealWorldResource[] = [];
  for (const realWorldCase of REAL_WORLD) {
    for (const found of await readAuditPath(join(REAL_WORLD_FIXTURES, realWorldCase.folder))) {
      resources.push({ folder: realWorldCase.folder, address: found.address, found });
    }
  }
  return resources;
}

/** The bytes EC2 hands cloud-init for a description's literal user data, or why there are none. */
export function literalUserData(description: LaunchDescription): Buffer | string {
  const input = description.userData;
  if (!input) return "it has no user data";
  if ("unknown" in input) return `its user data is only known at apply time (${input.unknown})`;
  if ("sha1" in input) return "its user data is only a hash";
  if ("text" in input) return Buffer.from(input.text, "utf8");
  if ("bytes" in input) return input.bytes;
  return decodeBase64(input.base64) ?? "its user data is not valid base64";
}

/** Metadata options under which only the firewall keeps a bridge container from IMDS. */
function imdsV1Allowed(description: LaunchDescription): MetadataOptions {
  const ipv6 = description.metadataOptions?.httpProtocolIpv6;
  return { httpEndpoint: "enabled", httpTokens: "optional", httpPutResponseHopLimit: 2, ...(ipv6 === undefined ? {} : { httpProtocolIpv6: ipv6 }) };
}

const bridgeVerdict = (description: LaunchDescription): Verdict => {
  const judged = judge(description, { networkModes: ["bridge"] }).modes.bridge;
  if (!judged) throw new Error("the judge gave no bridge verdict");
  return judged.verdict;
};

/**
 * Why the kernel cannot check this resource's bridge verdict, judged from what the audit read
 * (before the parts are split), or null when it can.
 */
export function whyNotBooted(found: FoundResource): string | null {
  if (found.unresolved) return `the audit could not read what it launches (${found.unresolved})`;
  const bytes = literalUserData(found.description);
  if (typeof bytes === "string") return bytes;
  // Marks sit in the decoded text; gzip is read by the harness, and no reader gzips marked text.
  if (bytes.includes(Buffer.from(UNKNOWN_START, "utf8"))) return "its user data holds a value known only at apply time";
  const verdict = bridgeVerdict(found.description);
  if (verdict === "unknown") return "its bridge verdict is unknown";
  const byFirewall = bridgeVerdict({ ...found.description, metadataOptions: imdsV1Allowed(found.description) });
  if (byFirewall !== verdict) return `its bridge verdict (${verdict}) rests on the metadata options: with IMDSv1 allowed it would be ${byFirewall}`;
  return null;
}

/** Units whose start and stop the emulated instance replays (iptables-services' units). */
const REPLAYED_UNITS = new Set(["iptables", "ip6tables"]);
const REPLAYED_VERBS = new Set(["enable", "start", "restart", "reload", "stop"]);
/**
 * Units a script may start or restart: Docker is running when scripts run (cloud-final comes after
 * it), and the stand-in replays its restart; the ECS agent's start changes no firewall rule. In a
 * boothook, before Docker, a start would differ from the harness's own start of Docker after it.
 */
const SCRIPT_UNITS = new Set(["docker", "ecs"]);
const SCRIPT_VERBS = new Set(["enable", "start", "restart"]);
/** systemctl verbs that change no unit. */
const NEUTRAL_VERBS = new Set(["daemon-reload", "is-active", "is-enabled", "status", "show", "cat", "list-units", "list-unit-files"]);

/**
 * Why the emulated instance does not replay a systemctl or service command (its words after the
 * command name), or null when it does. `inScript`: run by a shell script, after Docker started.
 */
export function unreplayedServiceCommand(command: "systemctl" | "service", words: readonly string[], inScript: boolean): string | null {
  const plain = words.filter((word) => !word.startsWith("-"));
  // `service <unit> <action>` is systemctl's `<action> <unit>` on Amazon Linux.
  const [verb, ...units] = command === "service" ? [plain[1] ?? "", plain[0] ?? ""] : plain;
  if (NEUTRAL_VERBS.has(verb)) return null;
  const names = units.map((unit) => unit.replace(/\.service$/, ""));
  if (names.length > 0 && REPLAYED_VERBS.has(verb) && names.every((name) => REPLAYED_UNITS.has(name))) return null;
  if (inScript && names.length > 0 && SCRIPT_VERBS.has(verb) && names.every((name) => SCRIPT_UNITS.has(name))) return null;
  return `the harness does not replay ${verb} of ${names.join(", ") || "nothing"}`;
}

// A systemctl or service command in shell text, up to the end of its simple command.
const SERVICE_COMMAND = /(?:^|[\s;&|(`/])(systemctl|service)[ \t]+([^\n;&|)`#]*)/g;

/** Why the emulated instance cannot execute these parts as cloud-init would, or null when it can. */
export function whyPartsNotExecuted(parts: readonly FoundPart[]): string | null {
  for (const [index, part] of parts.entries()) {
    const name = `part ${index + 1} (${part.contentType})`;
    if (!EXECUTED_PART_TYPES.includes(part.contentType)) return `${name} is not a boothook or shell script: the harness does not run cloud-init's other modules`;
    for (const match of part.text.matchAll(SERVICE_COMMAND)) {
      const command = match[1] as "systemctl" | "service";
      const why = unreplayedServiceCommand(command, match[2].trim().split(/\s+/), part.contentType === "text/x-shellscript");
      if (why) return `${name} runs "${command} ${match[2].trim()}": ${why}`;
    }
  }
  return null;
}

/** Stand-in call log lines (`systemctl ...`) the emulated instance did not replay. */
export function unreplayedCalls(calls: readonly string[]): string[] {
  return calls.filter((call) => {
    const [command, ...words] = call.split(" ");
    // Scripts and boothooks alike: Docker's start in a boothook would also show up here.
    return command === "systemctl" && unreplayedServiceCommand("systemctl", words, true) !== null;
  });
}

/** A resource the proof boots, with the bytes it boots. */
export interface BootedResource extends RealWorldResource {
  readonly userData: Buffer;
}

/** The rows the proof boots, and why each other row is not booted (keyed "folder: address"). */
export interface KernelSelection {
  readonly booted: readonly BootedResource[];
  readonly notBooted: Readonly<Record<string, string>>;
}

/** Applies the rules to the whole real-world corpus, splitting user data with cloud-init's parser. */
export async function selectForKernel(): Promise<KernelSelection> {
  const booted: BootedResource[] = [];
  const notBooted: Record<string, string> = {};
  for (const resource of await realWorldResources()) {
    const row = `${resource.folder}: ${resource.address}`;
    const why = whyNotBooted(resource.found);
    if (why) {
      notBooted[row] = why;
      continue;
    }
    const userData = literalUserData(resource.found.description) as Buffer;
    const split = await splitUserData(userData);
    try {
      const parts = split.parts.map((part) => ({ contentType: part.contentType, text: part.path ? readFileSync(part.path, "utf8") : "" }));
      const partsWhy = whyPartsNotExecuted(parts);
      if (partsWhy) notBooted[row] = partsWhy;
      else booted.push({ ...resource, userData });
    } finally {
      rmSync(split.directory, { recursive: true, force: true });
    }
  }
  return { booted, notBooted };
}
