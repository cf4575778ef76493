/**
 * A model of the iptables filter table, enough to follow one packet: a bridge-mode container's
 * new TCP connection to IMDS port 80, entering FORWARD from docker0. Rules are kept with what they
 * do to that packet; `traverse` says whether it is dropped, accepted or cannot be told.
 */

/** IP family of a rule set: iptables (IPv4) or ip6tables (IPv6). */
export type Family = "v4" | "v6";

/** IMDS addresses per family. */
export const IMDS_ADDRESS: Readonly<Record<Family, string>> = { v4: "169.254.169.254", v6: "fd00:ec2::254" };
/** Docker's default bridge subnet, where bridge-mode containers live. */
const DOCKER_SUBNET: Readonly<Record<Family, string>> = { v4: "172.17.0.0/16", v6: "fd00::/8" };

/** What a rule does to the container's packet to IMDS. */
export type RuleEffect =
  | { readonly kind: "block" }
  | { readonly kind: "accept" }
  | { readonly kind: "return" }
  | { readonly kind: "jump"; readonly chain: string }
  | { readonly kind: "skip" }
  | { readonly kind: "unknown"; readonly why: string };

/** One rule: its canonical spec (for -C and -D), its effect, and where it came from. */
export interface Rule {
  readonly spec: string;
  /** What the rule does to the container's packet to IMDS. */
  readonly effect: RuleEffect;
  /** What it does to IMDS's answer on its way back to the container. */
  readonly replyEffect: RuleEffect;
  readonly origin: string;
  readonly text: string;
}

/** A rule from its parsed arguments, with its effect on both directions of the container's request. */
export function makeRule(spec: RuleSpec, family: Family, origin: string, text: string): Rule {
  return { spec: canonicalSpec(spec), effect: ruleEffect(spec, family), replyEffect: replyEffect(spec, family), origin, text };
}

/** The filter table of one family. */
export interface FilterTable {
  chains: Map<string, Rule[]>;
  policies: Map<string, string>;
  /** Set when something changed the table in a way the model cannot follow. */
  unknown?: string;
}

const BUILTIN = ["INPUT", "FORWARD", "OUTPUT"];

/** The table at power-on: built-in chains, empty, policy ACCEPT. */
export function emptyTable(): FilterTable {
  return { chains: new Map(BUILTIN.map((chain) => [chain, []])), policies: new Map(BUILTIN.map((chain) => [chain, "ACCEPT"])) };
}

export function cloneTable(table: FilterTable): FilterTable {
  return {
    chains: new Map([...table.chains].map(([name, rules]) => [name, [...rules]])),
    policies: new Map(table.policies),
    ...(table.unknown !== undefined ? { unknown: table.unknown } : {}),
  };
}

export function isBuiltin(chain: string): boolean {
  return BUILTIN.includes(chain);
}

/** Where the packet ends, and the rule that decided it. */
export type Traversal =
  | { readonly result: "blocked"; readonly rule: Rule; readonly chain: string }
  | {
      readonly result: "passed";
      readonly rule?: Rule;
      readonly chain: string;
      /** Each chain the packet entered, with the rule where it left it (accept, return, or a jump that decided); absent when it ran off the end. */
      readonly entered: ReadonlyMap<string, Rule | undefined>;
    }
  | { readonly result: "unknown"; readonly why: string };

/**
 * Whether a container's request reaches IMDS and its answer comes back: the request through
 * FORWARD, then the answer (a rule or policy that drops answers into docker0 blocks it as surely).
 * When both pass, the request's traversal: the rule that accepts the container's new connection
 * (in Docker's layout `-i docker0 ! -o docker0 -j ACCEPT`), not the rule that lets the answer back.
 */
export function containerReach(table: FilterTable): Traversal {
  const request = traverse(table, "request");
  if (request.result !== "passed") return request;
  const reply = traverse(table, "reply");
  return reply.result === "passed" ? request : reply;
}

/** Follows the container's packet to IMDS (or IMDS's answer to it) through FORWARD. */
export function traverse(table: FilterTable, direction: "request" | "reply" = "request"): Traversal {
  if (table.unknown !== undefined) return { result: "unknown", why: table.unknown };
  const entered = new Map<string, Rule | undefined>();
  const walk = (chain: string, depth: number): Traversal | undefined => {
    if (depth > 20) return { result: "unknown", why: "rules jump more than 20 chains deep" };
    entered.set(chain, undefined);
    for (const rule of table.chains.get(chain) ?? []) {
      const effect = direction === "request" ? rule.effect : rule.replyEffect;
      switch (effect.kind) {
        case "block":
          return { result: "blocked", rule, chain };
        case "accept":
          entered.set(chain, rule);
          return { result: "passed", rule, chain, entered };
        case "return":
          entered.set(chain, rule);
          return undefined;
        case "jump": {
          if (!table.chains.has(effect.chain)) continue;
          const inner = walk(effect.chain, depth + 1);
          if (inner) {
            entered.set(chain, rule);
            return inner;
          }
          continue;
        }
        case "unknown":
          return { result: "unknown", why: `${rule.text} (${rule.origin}): ${effect.why}` };
        case "skip":
          continue;
      }
    }
    return undefined;
  };
  const decided = walk("FORWARD", 0);
  if (decided) return decided;
  return table.policies.get("FORWARD") === "DROP"
    ? {
        result: "blocked",
        rule: { spec: "policy", effect: { kind: "block" }, replyEffect: { kind: "block" }, origin: "FORWARD policy", text: `FORWARD policy DROP${direction === "reply" ? " (IMDS's answer to the container)" : ""}` },
        chain: "FORWARD",
      }
    : { result: "passed", chain: "FORWARD", entered };
}

/** Matches and target of one rule, as parsed from iptables arguments. */
export interface RuleSpec {
  readonly matches: ReadonlyArray<readonly [string, string, boolean]>;
  readonly target?: string;
  readonly goto?: boolean;
}

/** The canonical text of a rule spec: equal for rules iptables -C and -D treat as equal. */
export function canonicalSpec(spec: RuleSpec): string {
  const matches = spec.matches.map(([option, value, negated]) => `${negated ? "! " : ""}${option} ${value}`).sort();
  return [...matches, `${spec.goto ? "-g" : "-j"} ${spec.target ?? ""}`].join(" ");
}

// Extension targets that let the packet go on (or belong to other tables); not chains.
const NON_TERMINATING_TARGETS = new Set([
  "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "NOTRACK", "CT", "AUDIT", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "ECN",
  "TCPMSS", "CHECKSUM", "SET", "SECMARK", "CONNSECMARK", "TEE", "IDLETIMER", "LED", "HMARK", "RATEEST", "MASQUERADE", "DNAT",
  "SNAT", "REDIRECT", "NETMAP", "CLUSTERIP",
]);

/** What a rule does to the container's packet to IMDS over `family`. */
export function ruleEffect(spec: RuleSpec, family: Family): RuleEffect {
  for (const [option, value, negated] of spec.matches) {
    switch (option) {
      case "-d":
      case "-s": {
        const addresses = value.split(",");
        const probe = option === "-d" ? IMDS_ADDRESS[family] : DOCKER_SUBNET[family];
        const covered = addresses.map((address) => (option === "-d" ? cidrContains(address, probe, family) : cidrCoversCidr(address, probe, family)));
        if (covered.some((c) => c === undefined)) return { kind: "unknown", why: `the address ${value} is not one the audit can read` };
        const matches = covered.some(Boolean) !== negated;
        if (!matches) return { kind: "skip" };
        break;
      }
      case "-i": {
        const container = /^docker(0|\+)$/.test(value);
        if (container === negated) return { kind: "skip" };
        break;
      }
      case "-o":
        if (/^docker(0|\+)$/.test(value) && !negated) return { kind: "skip" };
        if (!(/^docker(0|\+)$/.test(value) && negated)) return { kind: "unknown", why: `it matches only traffic leaving through ${value}, the audit cannot tell the instance's interface names` };
        break;
      case "-p":
        if (matchesTcp(value) === negated) return { kind: "skip" };
        break;
      case "--dport":
      case "--dports":
        if (coversPort80(value) === negated) return { kind: "skip" };
        break;
      case "--ctstate":
      case "--state": {
        const states = value.toUpperCase().split(",");
        if (states.includes("NEW") === negated) return { kind: "skip" };
        break;
      }
      case "-m":
      case "--comment":
        break;
      default:
        return { kind: "unknown", why: `it uses ${option} ${value}, which the audit does not model` };
    }
  }
  return targetEffect(spec);
}

/** What a rule's target does to a packet its matches catch. */
function targetEffect(spec: RuleSpec): RuleEffect {
  const target = spec.target;
  if (target === undefined) return { kind: "skip" };
  if (target === "DROP" || target === "REJECT") return { kind: "block" };
  if (target === "ACCEPT") return { kind: "accept" };
  if (target === "RETURN") return { kind: "return" };
  if (NON_TERMINATING_TARGETS.has(target)) return { kind: "skip" };
  if (target === "NFQUEUE" || target === "SYNPROXY" || target === "TPROXY") return { kind: "unknown", why: `its target ${target} hands the packet to something the audit cannot see` };
  if (/^[A-Z0-9_-]+$/i.test(target)) return { kind: "jump", chain: target };
  return { kind: "unknown", why: `its target ${target} is not one the audit models` };
}

// Linux's default ephemeral ports (net.ipv4.ip_local_port_range): the container's side of its request.
const EPHEMERAL_PORTS = [32768, 60999] as const;

/**
 * What a rule does to IMDS's answer to the container over `family`: from IMDS port 80, in through
 * the instance's uplink, out through docker0 to an ephemeral port of the container, an ESTABLISHED
 * connection.
 */
export function replyEffect(spec: RuleSpec, family: Family): RuleEffect {
  for (const [option, value, negated] of spec.matches) {
    switch (option) {
      case "-d":
      case "-s": {
        const covered = value
          .split(",")
          .map((address) =>
            option === "-s" ? cidrContains(address, IMDS_ADDRESS[family], family) : cidrCoversCidr(address, DOCKER_SUBNET[family], family),
          );
        if (covered.some((c) => c === undefined)) return { kind: "unknown", why: `the address ${value} is not one the audit can read` };
        if (covered.some(Boolean) === negated) return { kind: "skip" };
        break;
      }
      case "-i":
        if (/^docker(0|\+)$/.test(value)) {
          if (!negated) return { kind: "skip" };
          break;
        }
        return { kind: "unknown", why: `it matches traffic arriving through ${value}, the audit cannot tell the instance's interface names` };
      case "-o":
        if (/^docker(0|\+)$/.test(value) === negated) return { kind: "skip" };
        break;
      case "-p":
        if (matchesTcp(value) === negated) return { kind: "skip" };
        break;
      case "--sport":
      case "--sports":
        if (coversPort80(value) === negated) return { kind: "skip" };
        break;
      case "--dport":
      case "--dports": {
        const [low, high] = EPHEMERAL_PORTS;
        const ranges = portRanges(value);
        const all = ranges.some(([from, to]) => from <= low && high <= to);
        const some = ranges.some(([from, to]) => from <= high && low <= to);
        if (!some) {
          if (!negated) return { kind: "skip" };
          break;
        }
        if (all) {
          if (negated) return { kind: "skip" };
          break;
        }
        return { kind: "unknown", why: `it matches some of the container's ephemeral ports (${value}), the audit cannot tell which one a request uses` };
      }
      case "--ctstate":
      case "--state": {
        const states = value.toUpperCase().split(",");
        if (states.includes("ESTABLISHED") === negated) return { kind: "skip" };
        break;
      }
      case "-m":
      case "--comment":
        break;
      default:
        return { kind: "unknown", why: `it uses ${option} ${value}, which the audit does not model` };
    }
  }
  return targetEffect(spec);
}

/** Whether a -p value takes in TCP, the protocol of IMDS requests and answers. */
function matchesTcp(protocol: string): boolean {
  return ["tcp", "6", "all", "0"].includes(protocol.toLowerCase());
}

/** Whether a --dport/--sport value takes in port 80, IMDS's side of the connection. */
function coversPort80(value: string): boolean {
  return portRanges(value).some(([low, high]) => low <= 80 && 80 <= high);
}

/** Port ranges of a --dport/--sport value (`80`, `1024:65535`, `80,443`). */
function portRanges(value: string): Array<[number, number]> {
  return value.split(",").map((range) => {
    const [low, high] = range.split(":").map(Number);
    return [low, high ?? low];
  });
}

/** Whether `cidr` contains `address`; undefined when either is unreadable. */
export function cidrContains(cidr: string, address: string, family: Family): boolean | undefined {
  const range = parseCidr(cidr, family);
  const point = parseAddress(address, family);
  if (!range || point === undefined) return undefined;
  return (point & range.mask) === range.base;
}

function cidrCoversCidr(outer: string, inner: string, family: Family): boolean | undefined {
  const a = parseCidr(outer, family);
  const b = parseCidr(inner, family);
  if (!a || !b) return undefined;
  return a.bits <= b.bits && (b.base & a.mask) === a.base;
}

const WIDTH: Readonly<Record<Family, number>> = { v4: 32, v6: 128 };

function parseCidr(text: string, family: Family): { base: bigint; mask: bigint; bits: number } | undefined {
  const [address, bitsText, extra] = text.split("/");
  if (extra !== undefined) return undefined;
  const width = WIDTH[family];
  let bits = width;
  if (bitsText !== undefined) {
    if (/^\d+$/.test(bitsText)) bits = Number(bitsText);
    else if (family === "v4") {
      const netmask = parseAddress(bitsText, "v4");
      if (netmask === undefined) return undefined;
      bits = netmask.toString(2).replace(/0+$/, "").length;
      if (netmask === 0n) bits = 0;
    } else return undefined;
  }
  if (bits > width) return undefined;
  const value = parseAddress(address, family);
  if (value === undefined) return undefined;
  const all = (1n << BigInt(width)) - 1n;
  const mask = bits === 0 ? 0n : (all << BigInt(width - bits)) & all;
  return { base: value & mask, mask, bits };
}

function parseAddress(text: string, family: Family): bigint | undefined {
  if (family === "v4") {
    const octets = text.split(".");
    if (octets.length !== 4 || octets.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255)) return undefined;
    return octets.reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  }
  if (!/^[0-9a-fA-F:]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}
