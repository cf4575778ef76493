/**
 * The emulated instance the judge boots in its head: a filter table per family, the files user
 * data writes, the iptables service, and Docker's start. Shell parts are interpreted over this
 * state (never executed); what the interpreter cannot follow is recorded per concern, so the judge
 * says `unknown` instead of guessing.
 */
import {
  cloneTable,
  emptyTable,
  Family,
  FilterTable,
  isBuiltin,
  makeRule,
  Rule,
  RuleSpec,
} from "./firewall";

/** What a piece of user data can affect. */
export type Concern = "v4" | "v6" | "ecs";
export const ALL_CONCERNS: readonly Concern[] = ["v4", "v6", "ecs"];

/** Where ecs-init reads the agent's settings. */
export const ECS_CONFIG = "/etc/ecs/ecs.config";
const RULES_FILE: Readonly<Record<Family, string>> = { v4: "/etc/sysconfig/iptables", v6: "/etc/sysconfig/ip6tables" };
/** The rules files iptables-services ships (RHEL and Amazon Linux): FORWARD ends in a REJECT. */
const PACKAGE_RULES: Readonly<Record<Family, string>> = {
  v4: [
    "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
    "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT", "-A INPUT -p icmp -j ACCEPT", "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT", "-A INPUT -j REJECT --reject-with icmp-host-prohibited",
    "-A FORWARD -j REJECT --reject-with icmp-host-prohibited", "COMMIT", "",
  ].join("\n"),
  v6: [
    "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
    "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT", "-A INPUT -p ipv6-icmp -j ACCEPT", "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -m state --state NEW -m udp -p udp --dport 546 -d fe80::/64 -j ACCEPT", "-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT",
    "-A INPUT -j REJECT --reject-with icmp6-adm-prohibited", "-A FORWARD -j REJECT --reject-with icmp6-adm-prohibited", "COMMIT", "",
  ].join("\n"),
};
const SERVICE: Readonly<Record<Family, string>> = { v4: "iptables", v6: "ip6tables" };

/** A piece of file content the audit cannot see. */
export interface Unseen {
  readonly unseen: string;
  /** A value Terraform splices inside a word: taken to stay on its line, though it could hold a newline. */
  readonly inWord?: true;
  /** The Terraform expression the piece stands for, when it is one: a script run later reads it as that reference. */
  readonly reference?: string;
}
/** File content: known text and unseen pieces in order, or a saved filter table. */
export type FileContent =
  | { readonly kind: "text"; readonly segments: ReadonlyArray<string | Unseen> }
  | { readonly kind: "saved"; readonly family: Family; readonly table: FilterTable; readonly origin: string };

/** The instance: its disk survives reboots; its firewall does not. */
export class InstanceState {
  readonly tables: Record<Family, FilterTable> = { v4: emptyTable(), v6: emptyTable() };
  readonly files = new Map<string, FileContent>();
  readonly installed = new Set<string>();
  readonly enabled = new Set<string>();
  /** Why each concern cannot be followed (first reason kept per source). */
  readonly unknowns = new Map<Concern, string[]>();
  /** Commands that touched a concern but failed, for the reasons. */
  readonly failures: string[] = [];
  dockerRunning = false;
  /** Whether IPv4 forwarding is on (`ip_forward`): off at power-on, turned on by Docker's first start. */
  ipForward = false;
  /** What runs before every start of the ECS agent (ecs-imds-guard's guard script, when installed). */
  beforeAgentStart: ((state: InstanceState) => void) | undefined;
  /** Files made executable (chmod +x, write_files permissions): rc.local runs only when it is. */
  readonly executable = new Set<string>();
  /** systemd's state: what `systemctl enable` linked, which units are active, the unit files loaded. */
  readonly systemd: SystemdState = { links: new Map(), active: new Map(), loaded: new Map(), started: new Set() };
  /** Which Amazon Linux the image is, when known: cron and rc.local differ between them. */
  image: "al2" | "al2023" | undefined;

  markUnknown(concerns: Iterable<Concern>, why: string): void {
    for (const concern of concerns) {
      const list = this.unknowns.get(concern) ?? [];
      if (!list.includes(why)) list.push(why);
      this.unknowns.set(concern, list);
    }
  }

  /** A reboot: the kernel's tables start empty; Docker is not running yet; no unit is active. */
  powerOn(): void {
    this.tables.v4 = emptyTable();
    this.tables.v6 = emptyTable();
    this.dockerRunning = false;
    this.ipForward = false;
    this.systemd.active.clear();
  }

  /** An independent copy, to follow two orders of the same boot. */
  clone(): InstanceState {
    const copy = new InstanceState();
    copy.restore(this);
    return copy;
  }

  /** Takes over another state's contents (the order a race is followed in). */
  restore(from: InstanceState): void {
    this.tables.v4 = cloneTable(from.tables.v4);
    this.tables.v6 = cloneTable(from.tables.v6);
    replaceMap(this.files, from.files);
    replaceSet(this.installed, from.installed);
    replaceSet(this.enabled, from.enabled);
    replaceSet(this.executable, from.executable);
    this.unknowns.clear();
    for (const [concern, why] of from.unknowns) this.unknowns.set(concern, [...why]);
    this.failures.splice(0, this.failures.length, ...from.failures);
    this.dockerRunning = from.dockerRunning;
    this.ipForward = from.ipForward;
    this.beforeAgentStart = from.beforeAgentStart;
    this.image = from.image;
    this.systemd.links.clear();
    for (const [target, units] of from.systemd.links) this.systemd.links.set(target, new Set(units));
    replaceMap(this.systemd.active, from.systemd.active);
    replaceMap(this.systemd.loaded, from.systemd.loaded);
    replaceSet(this.systemd.started, from.systemd.started);
  }

  /** iptables.service at boot, before the network (and cloud-init) comes up. */
  startEnabledFirewallServices(): void {
    for (const family of ["v4", "v6"] as const) {
      if (this.enabled.has(SERVICE[family]) && this.installed.has("iptables-services")) this.restoreServiceFile(family, `${SERVICE[family]}.service at boot`);
    }
  }

  restoreServiceFile(family: Family, origin: string): boolean {
    // Installing iptables-services puts its default rules file in place: the service loads it
    // until the user data writes its own.
    const content = this.files.get(RULES_FILE[family]) ?? (this.installed.has("iptables-services") ? { kind: "text" as const, segments: [PACKAGE_RULES[family]] } : undefined);
    if (content === undefined) return true;
    if (content.kind === "saved") {
      const table = cloneTable(content.table);
      for (const [chain, rules] of table.chains) {
        table.chains.set(chain, rules.map((rule) => (rule.origin === "Docker" ? rule : { ...rule, origin: `${rule.origin}, saved to ${RULES_FILE[family]} and loaded by ${origin}` })));
      }
      this.tables[family] = table;
      return true;
    }
    const text = knownText(content);
    if (text === undefined) {
      this.tables[family] = { ...emptyTable(), unknown: `${RULES_FILE[family]} holds content the audit cannot see, loaded by ${origin}` };
      return true;
    }
    return restoreText(this, family, text, { flush: true, origin: `${RULES_FILE[family]} loaded by ${origin}` });
  }

  /**
   * dockerd's start or restart (Docker 20.10 to 27, as on ECS-optimized AMIs): its chains are
   * created if absent, its FORWARD rules removed and inserted again on top with the jump to
   * DOCKER-USER first, `-j RETURN` appended to DOCKER-USER when it has none, DOCKER-USER never
   * flushed. When it turns IPv4 forwarding on itself (its first start after power-on) it also sets
   * the FORWARD policy to DROP (seen with dockerd 20.10); a later start leaves the policy as it is.
   */
  startDocker(manages: Readonly<Record<Family, boolean>> = { v4: true, v6: true }): void {
    for (const family of ["v4", "v6"] as const) {
      const table = this.tables[family];
      // With "iptables": false in daemon.json Docker leaves the table as it is.
      if (table.unknown !== undefined || !manages[family]) continue;
      for (const chain of ["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"]) {
        if (!table.chains.has(chain)) table.chains.set(chain, []);
      }
      const docker = dockerRules(family);
      table.chains.set("FORWARD", [...docker.forward, ...(table.chains.get("FORWARD") ?? []).filter((rule) => !docker.forwardSpecs.has(rule.spec))]);
      table.chains.set("DOCKER-ISOLATION-STAGE-1", [...docker.isolation1]);
      table.chains.set("DOCKER-ISOLATION-STAGE-2", [...docker.isolation2]);
      table.chains.set("DOCKER", []);
      const user = table.chains.get("DOCKER-USER") ?? [];
      if (!user.some((rule) => rule.spec === docker.return.spec)) user.push(docker.return);
      table.chains.set("DOCKER-USER", user);
      if (family === "v4" && !this.ipForward) table.policies.set("FORWARD", "DROP");
    }
    this.ipForward = true;
    this.dockerRunning = true;
  }
}

/**
 * systemd as far as the audit follows it. `links` are the `<target>.wants` / `.requires` symlinks
 * `systemctl enable` made (target folder name to unit names); `active` says which units are active
 * now ("maybe" when a long-running service may have exited, "activating" while its start runs); `loaded` holds the unit files as the
 * manager read them at boot or at the last daemon-reload.
 */
export interface SystemdState {
  readonly links: Map<string, Set<string>>;
  readonly active: Map<string, "active" | "maybe" | "activating">;
  readonly loaded: Map<string, FileContent>;
  /** Every unit systemd started at some moment, to tell units written but never run. */
  readonly started: Set<string>;
}

function replaceMap<K, V>(into: Map<K, V>, from: ReadonlyMap<K, V>): void {
  into.clear();
  for (const [key, value] of from) into.set(key, value);
}

function replaceSet<T>(into: Set<T>, from: ReadonlySet<T>): void {
  into.clear();
  for (const value of from) into.add(value);
}

const DOCKER_FORWARD_RULES: ReadonlyArray<readonly string[]> = [
  ["-j", "DOCKER-USER"],
  ["-j", "DOCKER-ISOLATION-STAGE-1"],
  ["-o", "docker0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
  ["-o", "docker0", "-j", "DOCKER"],
  ["-i", "docker0", "!", "-o", "docker0", "-j", "ACCEPT"],
  ["-i", "docker0", "-o", "docker0", "-j", "ACCEPT"],
];

interface DockerRules {
  readonly forward: readonly Rule[];
  readonly forwardSpecs: ReadonlySet<string>;
  readonly isolation1: readonly Rule[];
  readonly isolation2: readonly Rule[];
  readonly return: Rule;
}
const DOCKER_RULES = new Map<Family, DockerRules>();

/** Docker's rules for one family, parsed once. */
function dockerRules(family: Family): DockerRules {
  let rules = DOCKER_RULES.get(family);
  if (!rules) {
    const forward = DOCKER_FORWARD_RULES.map((args) => dockerRule(args, family));
    rules = {
      forward,
      forwardSpecs: new Set(forward.map((rule) => rule.spec)),
      isolation1: [dockerRule(["-i", "docker0", "!", "-o", "docker0", "-j", "DOCKER-ISOLATION-STAGE-2"], family), dockerRule(["-j", "RETURN"], family)],
      isolation2: [dockerRule(["-o", "docker0", "-j", "DROP"], family), dockerRule(["-j", "RETURN"], family)],
      return: dockerRule(["-j", "RETURN"], family),
    };
    DOCKER_RULES.set(family, rules);
  }
  return rules;
}

function dockerRule(args: readonly string[], family: Family): Rule {
  const parsed = parseRuleArgs(args);
  if (typeof parsed === "string") throw new Error(parsed);
  return makeRule(parsed, family, "Docker", args.join(" "));
}

/** The known text of a file, or undefined when part of it is unseen. */
export function knownText(content: FileContent | undefined): string | undefined {
  if (content === undefined) return "";
  if (content.kind === "saved") return undefined;
  if (content.segments.some((s) => typeof s !== "string")) return undefined;
  return (content.segments as string[]).join("");
}

/**
 * The text of a file whose only unseen pieces are Terraform's references, with each reference a
 * mark (U+E000 expression U+E001): a script that runs the file reads them as references again.
 */
export function textWithReferences(content: FileContent | undefined): string | undefined {
  if (content === undefined || content.kind === "saved") return undefined;
  if (content.segments.some((s) => typeof s !== "string" && s.reference === undefined)) return undefined;
  return content.segments.map((s) => (typeof s === "string" ? s : `\ue000${(s as Unseen).reference}\ue001`)).join("");
}

/** Parses the match and target options of an iptables rule; a string says what is not understood. */
export function parseRuleArgs(args: readonly string[]): RuleSpec | string {
  const matches: Array<[string, string, boolean]> = [];
  let target: string | undefined;
  let goto = false;
  let negate = false;
  const aliases: Record<string, string> = {
    "--destination": "-d", "--dst": "-d", "--source": "-s", "--src": "-s", "--in-interface": "-i", "--out-interface": "-o",
    "--protocol": "-p", "--jump": "-j", "--goto": "-g", "--match": "-m", "--destination-port": "--dport", "--source-port": "--sport",
    "--destination-ports": "--dports",
  };
  for (let i = 0; i < args.length; i++) {
    const raw = args[i];
    if (raw === "!") {
      negate = true;
      continue;
    }
    const option = aliases[raw] ?? raw;
    const value = args[i + 1];
    const take = (): string | undefined => {
      i += 1;
      if (value === "!") {
        negate = true;
        i += 1;
        return args[i];
      }
      return value;
    };
    switch (option) {
      case "-j":
      case "-g": {
        const v = take();
        if (v === undefined) return `${raw} without a target`;
        target = v;
        goto = option === "-g";
        break;
      }
      case "--reject-with":
      case "--log-prefix":
      case "--log-level":
        i += 1;
        break;
      case "-m": {
        const v = take();
        if (v === undefined) return "-m without a module";
        if (!["tcp", "udp", "comment", "conntrack", "state", "multiport"].includes(v)) matches.push(["-m", v, negate]);
        break;
      }
      case "--comment": {
        // Part of the rule: -C and -D without the same comment do not match it.
        const v = take();
        if (v === undefined) return "--comment without a text";
        matches.push(["--comment", v, false]);
        break;
      }
      case "-d":
      case "-s":
      case "-i":
      case "-o":
      case "-p":
      case "--dport":
      case "--sport":
      case "--dports":
      case "--ctstate":
      case "--state": {
        const v = take();
        if (v === undefined) return `${raw} without a value`;
        if (option === "--sport") return `${raw} ${v} is not modelled`;
        matches.push([option, option === "-d" || option === "-s" ? normaliseAddress(v) : v, negate]);
        break;
      }
      default:
        return `the option ${raw} is not one the audit models`;
    }
    negate = false;
  }
  return { matches, ...(target !== undefined ? { target } : {}), goto };
}

function normaliseAddress(value: string): string {
  return value
    .split(",")
    .map((a) => (a.includes("/") ? a : a.includes(":") ? `${a}/128` : `${a}/32`))
    .join(",");
}

/** Applies one iptables invocation (arguments after the program name). Returns the exit status. */
export function applyIptables(state: InstanceState, family: Family, args: readonly string[], origin: string, text: string): number {
  let table = "filter";
  const rest: string[] = [];
  let command: { op: string; chain?: string; extra: string[] } | undefined;
  const commandOptions: Record<string, string> = {
    "-A": "A", "--append": "A", "-I": "I", "--insert": "I", "-D": "D", "--delete": "D", "-C": "C", "--check": "C",
    "-N": "N", "--new-chain": "N", "--new": "N", "-X": "X", "--delete-chain": "X", "-F": "F", "--flush": "F", "-P": "P",
    "--policy": "P", "-S": "S", "--list-rules": "S", "-L": "L", "--list": "L", "-Z": "Z", "--zero": "Z", "-E": "E", "--rename-chain": "E",
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-t" || arg === "--table") {
      table = args[++i] ?? "";
      continue;
    }
    if (arg === "-w" || arg === "--wait" || arg === "-W" || arg === "--wait-interval") {
      if (/^\d+(\.\d+)?$/.test(args[i + 1] ?? "")) i++;
      continue;
    }
    if (/^-w\d+$/.test(arg) || ["-v", "--verbose", "-n", "--numeric", "--line-numbers", "-x", "--exact", "-4", "-6", "--ipv4", "--ipv6"].includes(arg)) continue;
    // Bundled short flags like -nL or -vnL list or zero: harmless.
    if (/^-[nvxL]+$/.test(arg) && arg.includes("L")) {
      command = { op: "L", extra: [] };
      // -nL CHAIN lists that chain, and fails when it does not exist.
      if (args[i + 1] !== undefined && !args[i + 1].startsWith("-")) command.chain = args[++i];
      continue;
    }
    if (commandOptions[arg] !== undefined && command === undefined) {
      const op = commandOptions[arg];
      command = { op, extra: [] };
      const chain = args[i + 1];
      if (chain !== undefined && !chain.startsWith("-")) {
        command.chain = chain;
        i++;
      }
      if (op === "I" && /^\d+$/.test(args[i + 1] ?? "")) command.extra.push(args[++i]);
      if ((op === "D" || op === "P" || op === "E") && args[i + 1] !== undefined && !args[i + 1].startsWith("-")) command.extra.push(args[++i]);
      continue;
    }
    rest.push(arg);
  }
  if (!command) return 2;
  if (table !== "filter") {
    // The other tables are not modelled. A rule there that names IMDS (a DNAT or REDIRECT away from
    // it, a DROP in raw or mangle) could decide the container's packet: that is unknown, never open.
    if (!["S", "L"].includes(command.op) && /169\.254\.169\.254|fd00:ec2/i.test(rest.join(" "))) {
      state.markUnknown([family], `${origin}: \`${text}\` changes the ${table} table for IMDS, which the audit does not model`);
    }
    return 0;
  }
  const fw = state.tables[family];
  if (fw.unknown !== undefined && !["S", "L"].includes(command.op)) return 0;
  const chainName = command.chain;
  switch (command.op) {
    case "S":
    case "L":
      return chainName === undefined || fw.chains.has(chainName) ? 0 : 1;
    case "Z":
      return 0;
    case "N":
      if (chainName === undefined || fw.chains.has(chainName)) return 1;
      fw.chains.set(chainName, []);
      return 0;
    case "X": {
      // A chain goes only when empty and no rule jumps to it; without a name, every such chain.
      const referenced = (name: string) => [...fw.chains.values()].some((rules) => rules.some((r) => r.effect.kind === "jump" && r.effect.chain === name));
      if (chainName === undefined) {
        const userChains = [...fw.chains.keys()].filter((name) => !isBuiltin(name));
        if (userChains.some((name) => (fw.chains.get(name) ?? []).length > 0 || referenced(name))) return 1;
        for (const name of userChains) fw.chains.delete(name);
        return 0;
      }
      if (!fw.chains.has(chainName) || isBuiltin(chainName) || (fw.chains.get(chainName) ?? []).length > 0 || referenced(chainName)) return 1;
      fw.chains.delete(chainName);
      return 0;
    }
    case "F":
      if (chainName === undefined) {
        for (const name of fw.chains.keys()) fw.chains.set(name, []);
        return 0;
      }
      if (!fw.chains.has(chainName)) return 1;
      fw.chains.set(chainName, []);
      return 0;
    case "P":
      if (chainName === undefined || !isBuiltin(chainName)) return 1;
      fw.policies.set(chainName, command.extra[0] ?? "ACCEPT");
      return 0;
    case "E":
      return 0;
    default:
      break;
  }
  if (chainName === undefined) return 2;
  const rules = fw.chains.get(chainName);
  if (rules === undefined) {
    state.failures.push(`\`${text}\` (${origin}) fails: the chain ${chainName} does not exist at that moment`);
    return 1;
  }
  if (command.op === "D" && command.extra.length === 1 && /^\d+$/.test(command.extra[0]) && rest.length === 0) {
    const index = Number(command.extra[0]) - 1;
    if (index < 0 || index >= rules.length) return 1;
    rules.splice(index, 1);
    return 0;
  }
  const parsed = parseRuleArgs(rest);
  const rule: Rule =
    typeof parsed === "string"
      ? { spec: `unparsed:${rest.join(" ")}`, effect: { kind: "unknown", why: parsed }, replyEffect: { kind: "unknown", why: parsed }, origin, text }
      : makeRule(parsed, family, origin, text);
  // A jump to a chain that does not exist is refused (iptables cannot load the target).
  if (rule.effect.kind === "jump" && !fw.chains.has(rule.effect.chain) && command.op !== "C" && command.op !== "D") return 2;
  switch (command.op) {
    case "A":
      rules.push(rule);
      return refuseLoop(state, fw, rules, rule, text, origin);
    case "I": {
      const position = command.extra.length > 0 ? Number(command.extra[0]) : 1;
      if (position < 1 || position > rules.length + 1) return 1;
      rules.splice(position - 1, 0, rule);
      return refuseLoop(state, fw, rules, rule, text, origin);
    }
    case "C":
      return rules.some((r) => r.spec === rule.spec) ? 0 : 1;
    case "D": {
      const index = rules.findIndex((r) => r.spec === rule.spec);
      if (index < 0) return 1;
      rules.splice(index, 1);
      return 0;
    }
    default:
      return 2;
  }
}

/**
 * The kernel refuses a table in which a built-in chain reaches a loop of jumps (ELOOP); a loop
 * among chains no built-in chain reaches is loaded. Takes a just-added rule back out when it makes
 * such a loop reachable, as the failed command leaves the table.
 */
function refuseLoop(state: InstanceState, fw: FilterTable, rules: Rule[], rule: Rule, text: string, origin: string): number {
  if (rule.effect.kind !== "jump" || !loopReachable(fw)) return 0;
  rules.splice(rules.indexOf(rule), 1);
  state.failures.push(`\`${text}\` (${origin}) fails: the jump to ${rule.effect.chain} makes a loop of chains`);
  return 1;
}

/** Whether a loop of jumps can be reached from a built-in chain. */
function loopReachable(fw: FilterTable): boolean {
  const done = new Set<string>();
  const onPath = new Set<string>();
  const visit = (chain: string): boolean => {
    if (onPath.has(chain)) return true;
    if (done.has(chain)) return false;
    onPath.add(chain);
    const loops = (fw.chains.get(chain) ?? []).some((r) => r.effect.kind === "jump" && fw.chains.has(r.effect.chain) && visit(r.effect.chain));
    onPath.delete(chain);
    done.add(chain);
    return loops;
  };
  return [...fw.chains.keys()].filter(isBuiltin).some(visit);
}

/** iptables-restore of a rules file's text. Only the filter table is followed. */
export function restoreText(state: InstanceState, family: Family, text: string, options: { flush: boolean; origin: string }): boolean {
  let inFilter = false;
  const fw = state.tables[family];
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      inFilter = line === "*filter";
      if (inFilter && options.flush) {
        for (const name of [...fw.chains.keys()]) {
          if (isBuiltin(name)) fw.chains.set(name, []);
          else fw.chains.delete(name);
        }
      }
      continue;
    }
    if (!inFilter) continue;
    if (line === "COMMIT") {
      inFilter = false;
      continue;
    }
    const chain = /^:(\S+)\s+(\S+)/.exec(line);
    if (chain) {
      // With --noflush an existing chain keeps its rules.
      if (!fw.chains.has(chain[1])) fw.chains.set(chain[1], []);
      if (isBuiltin(chain[1]) && chain[2] !== "-") fw.policies.set(chain[1], chain[2]);
      continue;
    }
    const words = splitRestoreLine(line);
    if (words === undefined) {
      fw.unknown = `the rules file line "${line}" (${options.origin}) cannot be read`;
      return false;
    }
    if (applyIptables(state, family, words, options.origin, line) !== 0) return false;
  }
  return true;
}

function splitRestoreLine(line: string): string[] | undefined {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const match of line.matchAll(pattern)) words.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2]);
  return words;
}

/** Ensures the module's own boothook effect: chain, jump, one DROP first. Used for the guard's exact text. */
export function applyGuardDrop(state: InstanceState, family: Family, destination: string, origin: string): void {
  const table = state.tables[family];
  if (table.unknown !== undefined) return;
  const { jump, drop } = guardRules(family, destination);
  if (!table.chains.has("DOCKER-USER")) table.chains.set("DOCKER-USER", []);
  const forward = table.chains.get("FORWARD") as Rule[];
  if (!forward.some((rule) => rule.spec === jump.spec)) forward.unshift({ ...jump, origin });
  const user = (table.chains.get("DOCKER-USER") as Rule[]).filter((rule) => rule.spec !== drop.spec);
  table.chains.set("DOCKER-USER", [{ ...drop, origin }, ...user]);
}

const GUARD_RULES = new Map<string, { jump: Rule; drop: Rule }>();

/** The guard's jump and DROP rules for a family and destination, parsed once. */
function guardRules(family: Family, destination: string): { jump: Rule; drop: Rule } {
  const key = `${family} ${destination}`;
  let rules = GUARD_RULES.get(key);
  if (!rules) {
    const tool = family === "v4" ? "iptables" : "ip6tables";
    const rule = (args: string[]): Rule => {
      const parsed = parseRuleArgs(args) as RuleSpec;
      return makeRule(parsed, family, "", `${tool} -I ${args.join(" ")}`);
    };
    rules = { jump: { ...rule(["-j", "DOCKER-USER"]), text: `${tool} -I FORWARD 1 -j DOCKER-USER` }, drop: { ...rule(["-d", destination, "-j", "DROP"]), text: `${tool} -I DOCKER-USER 1 -d ${destination} -j DROP` } };
    GUARD_RULES.set(key, rules);
  }
  return rules;
}

