/**
 * What user data installs to run later, followed over the emulated instance: systemd units (their
 * Exec lines run at the moments systemd runs them: every boot, every start of Docker), Docker's
 * own settings (daemon.json, drop-ins, /etc/sysconfig/docker), rc.local and cron. What cannot be
 * followed marks the concerns it could change unknown, with the reason.
 *
 * systemd semantics used here (systemd.unit(5), systemd.service(5), 219 on Amazon Linux 2 and 252
 * on AL2023):
 * - `systemctl enable` links the unit into each `WantedBy=` / `RequiredBy=` target's `.wants` /
 *   `.requires` folder and reloads the manager; the boot already under way is not changed.
 * - Wants= and Requires= pull a unit in but do not order it: without After=docker.service a unit
 *   wanted by docker.service starts alongside Docker, racing its creation of DOCKER-USER.
 * - `systemctl restart docker` queues a start job for every unit docker.service wants or requires
 *   (a start job runs a unit that is inactive, such as a finished oneshot, and does nothing to an
 *   active one) and a try-restart for every active unit with Requires=, BindsTo= or PartOf=
 *   docker.service. A unit only ordered After=docker.service and wanted by multi-user.target is not
 *   touched.
 * - A oneshot without RemainAfterExit= is inactive once its commands end (ExecStop= then runs).
 */
import { containerReach, Family } from "./firewall";
import { ALL_CONCERNS, Concern, ECS_CONFIG, FileContent, InstanceState, knownText, Unseen } from "./instance";
import { concernsOf, interpretScript, Status } from "./interpreter";
import { parseShell, ShellNode, Word } from "./shell";
import { UNKNOWN_END, UNKNOWN_START } from "./sources";
import { hasMark, markedText, references, wholly } from "./marks";

/** Paths whose files this module reads; most user data writes none, and then nothing here runs. */
const INSTALLED = /^\/(etc\/systemd\/|run\/systemd\/|usr\/lib\/systemd\/|lib\/systemd\/|etc\/cron|var\/spool\/cron\/|etc\/rc\.|etc\/docker\/|etc\/sysconfig\/docker|var\/lib\/cloud\/scripts\/)/;

/** Whether the instance holds anything this module follows (files it reads, links, loaded units). */
function installsAnything(state: InstanceState): boolean {
  if (state.systemd.links.size > 0 || state.systemd.loaded.size > 0) return true;
  for (const [path, content] of state.files) if (INSTALLED.test(path) && content !== AL2_RC_LOCAL) return true;
  return false;
}

/** Where systemd reads unit files, the first found winning. */
const UNIT_DIRS = ["/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];
const DOCKER = "docker.service";
const AGENT = "ecs.service";
/** Targets the boot reaches (AMIs boot multi-user.target). */
const BOOT_TARGETS = ["multi-user.target", "default.target", "graphical.target", "basic.target", "sysinit.target", "network.target", "network-online.target", "timers.target"];
const EXEC_KEYS = ["ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecStopPost"] as const;
type ExecKey = (typeof EXEC_KEYS)[number];
/** Directives that decide when or whether the unit's commands run. */
const TIMING_KEYS = new Set([
  "After", "Before", "Wants", "Requires", "Requisite", "BindsTo", "PartOf", "Upholds", "WantedBy", "RequiredBy", "Also", "Type", "RemainAfterExit",
  "Environment", "EnvironmentFile", "DefaultDependencies", "Unit", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec", "OnCalendar",
]);
/** The section each directive read here belongs to: systemd ignores a key in another section. */
const SECTION_OF: Readonly<Record<string, string>> = {
  ...Object.fromEntries(["After", "Before", "Wants", "Requires", "Requisite", "BindsTo", "PartOf", "Upholds", "DefaultDependencies"].map((k) => [k, "Unit"])),
  ...Object.fromEntries(["Type", "RemainAfterExit", "Environment", "EnvironmentFile", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecStopPost"].map((k) => [k, "Service"])),
  ...Object.fromEntries(["WantedBy", "RequiredBy", "Also"].map((k) => [k, "Install"])),
  ...Object.fromEntries(["Unit", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec", "OnCalendar"].map((k) => [k, "Timer"])),
};
const DEPENDENCY_KEYS = new Set(["After", "Before", "Wants", "Requires", "Requisite", "BindsTo", "PartOf", "Upholds", "WantedBy", "RequiredBy", "Also"]);

/** One `Key=value` of a unit file, with the file it came from. */
interface Directive {
  readonly section: string;
  readonly key: string;
  readonly value: string;
  readonly file: string;
}

/** A unit as systemd loads it: its file and drop-ins merged. */
export interface Unit {
  readonly name: string;
  readonly files: readonly string[];
  readonly type: string;
  readonly remainAfterExit: boolean;
  readonly after: ReadonlySet<string>;
  readonly before: ReadonlySet<string>;
  /** Units it pulls in (Wants=, Requires=, BindsTo=). */
  readonly pulls: ReadonlySet<string>;
  /** Units whose stop or restart it follows (Requires=, BindsTo=, PartOf=). */
  readonly follows: ReadonlySet<string>;
  readonly wantedBy: readonly string[];
  readonly requiredBy: readonly string[];
  readonly environment: ReadonlyMap<string, string>;
  readonly exec: Readonly<Record<ExecKey, readonly string[]>>;
  /** What cannot be read, with the concerns it could change. */
  readonly unknown: ReadonlyArray<readonly [readonly Concern[], string]>;
  /** Why systemd refuses to load it, if it does. */
  readonly refused?: string;
}

/** Parses a unit file: sections, `Key=value` lines, `\` continuations, `#` and `;` comments. */
function parseUnitFile(text: string, file: string): { directives: Directive[]; wholeLines: string[] } {
  const directives: Directive[] = [];
  const wholeLines: string[] = [];
  let section = "";
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    // A trailing backslash joins the next line with a space; comment lines inside are skipped.
    while (line.endsWith("\\") && i + 1 < lines.length) {
      i += 1;
      const next = lines[i].trim();
      line = next.startsWith("#") || next.startsWith(";") ? line : `${line.slice(0, -1)} ${next}`;
    }
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      if (hasMark(header[1])) wholeLines.push(line);
      section = header[1];
      continue;
    }
    const directive = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(line);
    if (directive) directives.push({ section, key: directive[1], value: directive[2].trim(), file });
    else if (hasMark(line)) wholeLines.push(line);
    // Other lines systemd logs and ignores.
  }
  return { directives, wholeLines };
}

/** The unit files systemd reads for a name: the unit file and its drop-ins, from one source. */
function unitSources(state: InstanceState, name: string): { main?: [string, FileContent]; dropIns: Array<[string, FileContent]> } {
  const known = (files: ReadonlyMap<string, FileContent>) => UNIT_DIRS.some((dir) => files.has(`${dir}/${name}`) || [...files.keys()].some((p) => p.startsWith(`${dir}/${name}.d/`)));
  // A unit the manager has loaded keeps the files it read until daemon-reload; one it has not
  // loaded yet is read from disk when first referenced. Docker's and the agent's units are always loaded.
  const files = known(state.systemd.loaded) || name === DOCKER || name === AGENT ? state.systemd.loaded : state.files;
  let main: [string, FileContent] | undefined;
  for (const dir of UNIT_DIRS) {
    const content = files.get(`${dir}/${name}`);
    if (content !== undefined) {
      main = [`${dir}/${name}`, content];
      break;
    }
  }
  const byName = new Map<string, [string, FileContent]>();
  for (const dir of [...UNIT_DIRS].reverse()) {
    for (const [path, content] of files) {
      const rest = path.startsWith(`${dir}/${name}.d/`) ? path.slice(`${dir}/${name}.d/`.length) : undefined;
      if (rest !== undefined && rest.endsWith(".conf") && !rest.includes("/")) byName.set(rest, [path, content]);
    }
  }
  const dropIns = [...byName.keys()].sort().map((key) => byName.get(key) as [string, FileContent]);
  return { ...(main ? { main } : {}), dropIns };
}

/** Loads a unit, or undefined when no file of it exists. */
export function loadUnit(state: InstanceState, name: string): Unit | undefined {
  const { main, dropIns } = unitSources(state, name);
  if (!main && dropIns.length === 0) return undefined;
  const directives: Directive[] = [];
  const unknown: Array<[Concern[], string]> = [];
  const files: string[] = [];
  for (const [path, content] of main ? [main, ...dropIns] : dropIns) {
    files.push(path);
    const text = markedText(content);
    if (text === undefined) {
      unknown.push([[...ALL_CONCERNS], `${path} holds saved firewall rules, not a unit`]);
      continue;
    }
    const parsed = parseUnitFile(text, path);
    directives.push(...parsed.directives);
    for (const line of parsed.wholeLines) {
      // A value standing for whole lines can add any directive, ExecStart= included.
      unknown.push([[...ALL_CONCERNS], `${path} has a line known only at apply time (${references(line)}): it can add any directive to ${name}`]);
    }
  }
  const list = (key: string): string[] => {
    let values: string[] = [];
    for (const d of directives) {
      if (d.key !== key || d.section !== SECTION_OF[key]) continue;
      if (d.value === "") values = [];
      else values.push(...(DEPENDENCY_KEYS.has(key) ? d.value.split(/\s+/) : [d.value]));
    }
    return values;
  };
  const last = (key: string): string | undefined => directives.filter((d) => d.key === key && d.section === SECTION_OF[key]).pop()?.value;
  const exec = Object.fromEntries(EXEC_KEYS.map((key) => [key, list(key)])) as Record<ExecKey, string[]>;
  const execText = EXEC_KEYS.flatMap((key) => exec[key]).join("\n");
  for (const d of directives) {
    if (!hasMark(d.value) && !hasMark(d.key)) continue;
    if (TIMING_KEYS.has(d.key)) {
      // An environment value reaches the commands only through their $ expansions.
      const concerns = (d.key === "Environment" || d.key === "EnvironmentFile") && execText.includes("$") ? concernsOrAll(execText) : concernsOf(execText);
      if (concerns.length > 0) unknown.push([concerns, `${d.key}= in ${d.file} is known only at apply time (${references(d.value)}): when or how ${name} runs cannot be told`]);
    }
  }
  const environment = new Map<string, string>();
  for (const value of list("Environment")) {
    for (const word of splitCommand(value) ?? []) {
      const eq = word.indexOf("=");
      if (eq > 0) environment.set(word.slice(0, eq), word.slice(eq + 1));
    }
  }
  const type = last("Type") ?? (exec.ExecStart.length === 0 ? "oneshot" : "simple");
  const refused =
    type !== "oneshot" && exec.ExecStart.length > 1
      ? `${name} has more than one ExecStart= without Type=oneshot, which systemd refuses to load`
      : type !== "oneshot" && exec.ExecStart.length === 0 && main !== undefined
        ? `${name} has no ExecStart= and is not Type=oneshot, which systemd refuses to load`
        : undefined;
  const links = (keys: string[]) => new Set(keys.flatMap((key) => list(key)).map(unitName));
  return {
    name,
    files,
    type,
    remainAfterExit: /^(yes|true|on|1)$/i.test(last("RemainAfterExit") ?? ""),
    after: links(["After"]),
    before: links(["Before"]),
    pulls: links(["Wants", "Requires", "BindsTo"]),
    follows: links(["Requires", "BindsTo", "PartOf"]),
    wantedBy: list("WantedBy").map(unitName),
    requiredBy: list("RequiredBy").map(unitName),
    environment,
    exec,
    unknown,
    ...(refused ? { refused } : {}),
  };
}

function concernsOrAll(text: string): Concern[] {
  const concerns = concernsOf(text);
  return concerns.length > 0 ? concerns : [...ALL_CONCERNS];
}

/** A name as systemctl reads it: without a suffix it means a service. */
export function unitName(name: string): string {
  return /\.(service|socket|target|timer|path|mount|device|scope|slice|swap|automount)$/.test(name) ? name : `${name}.service`;
}

/**
 * systemd's splitting of a command line: white space separates words, double and single quotes
 * group, a backslash escapes. Undefined when quotes do not close.
 */
function splitCommand(value: string): string[] | undefined {
  const words: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (i < value.length && /\s/.test(value[i])) i++;
    if (i >= value.length) break;
    let word = "";
    while (i < value.length && !/\s/.test(value[i])) {
      const char = value[i];
      if (char === '"' || char === "'") {
        const end = findClosing(value, i + 1, char);
        if (end < 0) return undefined;
        word += value.slice(i + 1, end).replace(/\\(.)/g, "$1");
        i = end + 1;
      } else if (char === "\\" && i + 1 < value.length) {
        word += value[i + 1];
        i += 2;
      } else {
        word += char;
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

function findClosing(value: string, from: number, quote: string): number {
  for (let i = from; i < value.length; i++) {
    if (value[i] === "\\") i++;
    else if (value[i] === quote) return i;
  }
  return -1;
}

const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "eval", "env", "xargs", "nohup", "sudo", "timeout", "flock", "nice"]);

/** One Exec line as a shell command line, or what cannot be read in it. */
type ExecCommand =
  | { readonly command: string; readonly ignoreFailure: boolean }
  | { readonly unknown: readonly Concern[]; readonly why: string; readonly ignoreFailure: boolean }
  | { readonly skipped: string };

/** An Exec line: prefixes (`-` ignores failure, `@` sets argv[0], `+ ! !! :` privileges and expansion), quoting, variables. */
function execCommand(raw: string, unit: Unit, key: ExecKey, image: InstanceState["image"], written: ReadonlyMap<string, unknown>): ExecCommand {
  const prefix = /^[-@+!:]*/.exec(raw)?.[0] ?? "";
  const ignoreFailure = prefix.includes("-");
  const body = raw.slice(prefix.length).trim();
  const label = `${key}=${raw} of ${unit.name}`;
  if (hasMark(body)) {
    const words = splitCommand(body) ?? [body];
    const program = words[0] ?? "";
    // A value in the program's place, or given to a shell, can run anything.
    const any = wholly(body) || hasMark(program) || SHELLS.has(basename(program));
    return { unknown: any ? [...ALL_CONCERNS] : concernsOrAll(body), why: `${label} holds a value known only at apply time (${references(body)})`, ignoreFailure };
  }
  let words = splitCommand(body);
  if (words === undefined) return { skipped: `${label} has an unclosed quote; systemd ignores the line` };
  if (prefix.includes("@")) words = [words[0], ...words.slice(2)];
  if (words.length === 0) return { skipped: `${label} is empty` };
  const expanded: string[] = [];
  for (const word of words) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    const value = (name: string) => unit.environment.get(name);
    if (!prefix.includes(":") && whole) {
      const v = value(whole[1]);
      if (v === undefined) return { unknown: concernsOrAll(body), why: `${label} uses $${whole[1]}, which ${unit.name} does not set in Environment=`, ignoreFailure };
      expanded.push(...v.split(/\s+/).filter(Boolean));
      continue;
    }
    let missing: string | undefined;
    const replaced = prefix.includes(":") ? word : word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string) => value(name) ?? ((missing = name), m));
    if (missing !== undefined) return { unknown: concernsOrAll(body), why: `${label} uses \${${missing}}, which ${unit.name} does not set in Environment=`, ignoreFailure };
    const specifiers = replaced.replace(/%%/g, "").match(/%[a-zA-Z]/g);
    if (specifiers && specifiers.some((s) => !["%n", "%N", "%p"].includes(s))) {
      return { unknown: concernsOf(body), why: `${label} uses the specifier ${specifiers[0]}, which the audit does not expand`, ignoreFailure };
    }
    const stem = unit.name.replace(/\.[^.]+$/, "");
    expanded.push(replaced.replace(/%n/g, unit.name).replace(/%[Np]/g, stem).replace(/%%/g, "%"));
  }
  if (!expanded[0].startsWith("/")) {
    // systemd 219 (Amazon Linux 2) requires an absolute path and ignores the line; 239 and later
    // (AL2023) search a fixed PATH.
    if (image === "al2") return { skipped: `${label} names ${expanded[0]} without a path: systemd 219 on Amazon Linux 2 ignores the line` };
    if (image === undefined && concernsOf(body).length > 0) {
      return { unknown: concernsOf(body), why: `${label} names ${expanded[0]} without a path: systemd 239 and later (AL2023) run it, systemd 219 (Amazon Linux 2) ignores the line, and the image is not known here`, ignoreFailure };
    }
  }
  // A system program named by its path is read as the same command in a script is; a path the
  // user data wrote (or one elsewhere) is a script to follow, or one the audit cannot see.
  // (iptables keeps its path: the rule's text in reasons is the line as written.)
  if (/^\/(usr\/)?s?bin\/[^/]+$/.test(expanded[0]) && !written.has(expanded[0]) && !/^ip6?tables/.test(basename(expanded[0]))) expanded[0] = basename(expanded[0]);
  return { command: expanded.map(shellQuote).join(" "), ignoreFailure };
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Runs one kind of Exec line in order; false when a line fails without `-` (systemd stops there). */
function runExec(state: InstanceState, unit: Unit, key: ExecKey, why: string): boolean {
  const lines = unit.exec[key];
  for (let index = 0; index < lines.length; index++) {
    const parsed = execCommand(lines[index], unit, key, state.image, state.files);
    if ("skipped" in parsed) {
      if (concernsOf(lines[index]).length > 0) addNote(state, parsed.skipped);
      continue;
    }
    if ("unknown" in parsed) {
      state.markUnknown(parsed.unknown, parsed.why);
      continue;
    }
    const status: Status = interpretScript(state, parsed.command, `${key} of ${unit.name} (${why})`);
    if (parsed.ignoreFailure || status === 0) continue;
    const rest = [...lines.slice(index + 1), ...(key === "ExecStartPre" ? [...unit.exec.ExecStart, ...unit.exec.ExecStartPost] : key === "ExecStart" ? unit.exec.ExecStartPost : [])].join("\n");
    if (status === "unknown") {
      // Whether systemd goes on depends on a status the audit cannot tell.
      const concerns = concernsOf(rest);
      if (concerns.length > 0) state.markUnknown(concerns, `${unit.name}'s later commands run only if \`${lines[index]}\` succeeds, which the audit cannot tell`);
      continue;
    }
    if (rest && concernsOf(rest).length > 0) addNote(state, `\`${lines[index]}\` (${key} of ${unit.name}, ${why}) fails, so systemd stops starting ${unit.name} and runs none of its later commands`);
    return false;
  }
  return true;
}

/** A note for the reasons, once. */
function addNote(state: InstanceState, note: string): void {
  if (!state.failures.includes(note)) state.failures.push(note);
}

/** The concerns a unit's commands touch (all of them when it runs a script the audit cannot see is decided later). */
function unitConcerns(unit: Unit): Concern[] {
  return concernsOf(EXEC_KEYS.flatMap((key) => unit.exec[key]).join("\n"));
}

/** Starts a unit as a start job does: nothing when active; its pulled-in units first. */
export function startUnit(state: InstanceState, name: string, why: string, depth = 0): void {
  if (state.systemd.active.has(name) || depth > 8) return;
  if (name === DOCKER) {
    if (!state.dockerRunning) startDockerWithDependents(state, why);
    return;
  }
  const unit = loadUnit(state, name);
  if (unit === undefined) return;
  if (name.endsWith(".timer")) {
    // An active timer starts its service on schedule: see periodicJobs.
    state.systemd.active.set(name, "active");
    state.systemd.started.add(name);
    return;
  }
  for (const [concerns, reason] of unit.unknown) state.markUnknown(concerns, reason);
  if (unit.refused) {
    const touching = EXEC_KEYS.flatMap((key) => unit.exec[key]).find((line) => concernsOf(line).length > 0);
    if (touching) addNote(state, `${unit.refused}: its \`${touching}\` never runs`);
    return;
  }
  // Docker is started by the model at its own moment: pulling it in here would hide a race with it.
  for (const pulled of unit.pulls) if (pulled !== name && pulled !== DOCKER) startUnit(state, pulled, `pulled in by ${name}`, depth + 1);
  state.systemd.started.add(name);
  // While its commands run, a second start job for it merges with this one.
  state.systemd.active.set(name, "activating");
  const ran = runExec(state, unit, "ExecStartPre", why) && runExec(state, unit, "ExecStart", why) && runExec(state, unit, "ExecStartPost", why);
  state.systemd.active.delete(name);
  if (!ran) {
    runExec(state, unit, "ExecStopPost", `${why}, after its start failed`);
    return;
  }
  if (unit.remainAfterExit) state.systemd.active.set(name, "active");
  else if (unit.type === "oneshot") {
    // Its commands ended: systemd stops it at once, running ExecStop= and ExecStopPost=.
    runExec(state, unit, "ExecStop", `${why}, when its commands ended`);
    runExec(state, unit, "ExecStopPost", `${why}, when its commands ended`);
  } else state.systemd.active.set(name, "maybe");
}

/** Stops a unit: its ExecStop= and ExecStopPost= when it is active. */
export function stopUnit(state: InstanceState, name: string, why: string): void {
  const active = state.systemd.active.get(name);
  if (active === undefined || active === "activating") return;
  state.systemd.active.delete(name);
  const unit = loadUnit(state, name);
  if (unit === undefined) return;
  if (active === "maybe") {
    const concerns = concernsOf([...unit.exec.ExecStop, ...unit.exec.ExecStopPost].join("\n"));
    if (concerns.length > 0) state.markUnknown(concerns, `${name} is Type=${unit.type} without RemainAfterExit=: whether its process still runs, and so when ExecStop= runs, cannot be told`);
    return;
  }
  runExec(state, unit, "ExecStop", why);
  runExec(state, unit, "ExecStopPost", why);
}

/** The service a timer starts: Unit= or the timer's own name. */
function timerService(state: InstanceState, timer: Unit): string {
  const directive = loadTimerKey(state, timer.name, "Unit");
  return directive ? unitName(directive) : timer.name.replace(/\.timer$/, ".service");
}

/** A [Timer] directive's last value (timers are read with the same parser). */
function loadTimerKey(state: InstanceState, name: string, key: string): string | undefined {
  const { main, dropIns } = unitSources(state, name);
  let value: string | undefined;
  for (const [path, content] of main ? [main, ...dropIns] : dropIns) {
    for (const d of parseUnitFile(markedText(content) ?? "", path).directives) if (d.key === key && d.section === "Timer") value = d.value;
  }
  return value;
}

/** systemd time spans: "90", "30s", "5min", "1h 30min", "2m". */
function timeSpan(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const units: Record<string, number> = { "": 1, s: 1, sec: 1, second: 1, seconds: 1, m: 60, min: 60, minute: 60, minutes: 60, h: 3600, hr: 3600, hour: 3600, hours: 3600, d: 86400, day: 86400, days: 86400 };
  let total = 0;
  for (const part of value.trim().split(/\s+/)) {
    const match = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part);
    if (!match || units[match[2]] === undefined) return undefined;
    total += Number(match[1]) * units[match[2]];
  }
  return total;
}

/** OnCalendar= shorthands and `*:0/N` minute steps; undefined for what is not read. */
function calendarSpan(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const named: Record<string, number> = { minutely: 60, hourly: 3600, daily: 86400, weekly: 604800 };
  if (named[value] !== undefined) return named[value];
  const step = /^(?:\*-\*-\* )?\*:(?:0?0|\*)\/(\d+)(?::00)?$/.exec(value) ?? /^(?:\*-\*-\* )?\*:\*(?::00)?$/.exec(value);
  return step ? (step[1] ? Number(step[1]) * 60 : 60) : undefined;
}

/** Active timers whose service touches a concern, as periodic jobs; unreadable schedules are unknown. */
function timerJobs(state: InstanceState): PeriodicJob[] {
  const jobs: PeriodicJob[] = [];
  for (const name of knownUnits(state).filter((n) => n.endsWith(".timer") && state.systemd.active.has(n))) {
    const timer = loadUnit(state, name);
    if (timer === undefined) continue;
    const service = timerService(state, timer);
    const unit = loadUnit(state, service);
    const concerns = unit ? unitConcerns(unit) : [];
    if (unit === undefined || concerns.length === 0) continue;
    const period = [timeSpan(loadTimerKey(state, name, "OnUnitActiveSec")), timeSpan(loadTimerKey(state, name, "OnUnitInactiveSec")), calendarSpan(loadTimerKey(state, name, "OnCalendar"))].filter((v): v is number => v !== undefined);
    if (period.length === 0) {
      state.markUnknown(concerns, `${name} starts ${service} on a schedule the audit does not read`);
      continue;
    }
    const delay = timeSpan(loadTimerKey(state, name, "OnBootSec")) ?? timeSpan(loadTimerKey(state, name, "OnStartupSec")) ?? 0;
    jobs.push({ label: `${name} (starting ${service})`, seconds: Math.max(Math.min(...period), delay), run: (s) => startUnit(s, service, `started by ${name}`) });
  }
  return jobs;
}

/** `systemctl enable`: links from [Install], then a reload. False when the unit file is missing. */
export function enableUnit(state: InstanceState, name: string): boolean {
  const unit = loadUnitFromDisk(state, name);
  if (unit === undefined) return false;
  for (const [concerns, reason] of unit.unknown) state.markUnknown(concerns, reason);
  const targets = [...unit.wantedBy.map((t) => `${t}.wants`), ...unit.requiredBy.map((t) => `${t}.requires`)];
  const touching = EXEC_KEYS.flatMap((key) => unit.exec[key]).find((line) => concernsOf(line).length > 0);
  if (targets.length === 0 && touching) addNote(state, `${name} has no WantedBy= or RequiredBy= in [Install]: systemctl enable links it nowhere, so its \`${touching}\` does not run at boot`);
  for (const target of targets) {
    const set = state.systemd.links.get(target) ?? new Set<string>();
    set.add(name);
    state.systemd.links.set(target, set);
  }
  daemonReload(state);
  return true;
}

function loadUnitFromDisk(state: InstanceState, name: string): Unit | undefined {
  daemonReload(state);
  return loadUnit(state, name);
}

export function disableUnit(state: InstanceState, name: string): void {
  for (const set of state.systemd.links.values()) set.delete(name);
  daemonReload(state);
}

/** `systemctl daemon-reload`: the manager reads every unit file again. */
export function daemonReload(state: InstanceState): void {
  state.systemd.loaded.clear();
  for (const [path, content] of state.files) if (UNIT_DIRS.some((dir) => path.startsWith(`${dir}/`))) state.systemd.loaded.set(path, content);
}

/** Every unit name that has a file on disk or loaded. */
function knownUnits(state: InstanceState): string[] {
  const names = new Set<string>();
  for (const files of [state.files, state.systemd.loaded]) {
    for (const path of files.keys()) {
      for (const dir of UNIT_DIRS) {
        const rest = path.startsWith(`${dir}/`) ? path.slice(dir.length + 1) : undefined;
        const name = rest?.split("/")[0].replace(/\.d$/, "");
        if (name && /\.(service|timer)$/.test(name) && !name.includes("@")) names.add(name);
      }
    }
  }
  return [...names].sort();
}

/** Units docker.service pulls in: `docker.service.wants/.requires` links and its own Wants=/Requires=. */
function dockerDependents(state: InstanceState): string[] {
  const linked = ["docker.service.wants", "docker.service.requires"].flatMap((target) => [...(state.systemd.links.get(target) ?? [])]);
  const own = loadUnit(state, DOCKER);
  return [...new Set([...linked, ...(own ? [...own.pulls] : [])])].filter((name) => name !== DOCKER).sort();
}

/** Where a unit's start falls against Docker's. */
function orderAgainstDocker(unit: Unit): "before" | "after" | "race" {
  if (unit.after.has(DOCKER)) return "after";
  if (unit.before.has(DOCKER)) return "before";
  return "race";
}

/** Something that runs at a moment, placed against Docker's start. */
interface Job {
  readonly label: string;
  readonly order: "before" | "after" | "race";
  /** Whether it is ordered before ecs.service, so its ecs.config is in time for the agent. */
  readonly beforeAgent: boolean;
  readonly run: (state: InstanceState) => void;
}

/** What systemd will start at a boot, read when the boot begins. */
export interface BootPlan {
  readonly jobs: readonly Job[];
}

/**
 * The boot's plan, taken at power-on: units enabled for the boot targets or for docker.service,
 * rc.local when executable, cron's @reboot lines. Files written during this boot change the next
 * one, not this one.
 */
export function planBoot(state: InstanceState): BootPlan {
  if (!installsAnything(state)) return { jobs: [] };
  daemonReload(state);
  const jobs: Job[] = [];
  const seen = new Set<string>();
  const queue = [...BOOT_TARGETS.flatMap((t) => [`${t}.wants`, `${t}.requires`]).flatMap((t) => [...(state.systemd.links.get(t) ?? [])]), ...dockerDependents(state)];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.has(name) || name === DOCKER) continue;
    seen.add(name);
    const unit = loadUnit(state, name);
    if (unit === undefined) continue;
    if (name.endsWith(".timer")) {
      jobs.push({ label: name, order: "after", beforeAgent: true, run: (s) => startUnit(s, name, "at boot") });
      continue;
    }
    queue.push(...[...unit.pulls].filter((p) => p !== DOCKER));
    const by = [...unit.wantedBy, ...unit.requiredBy].filter((t) => state.systemd.links.get(`${t}.wants`)?.has(name) || state.systemd.links.get(`${t}.requires`)?.has(name));
    const why = `started at boot${by.length > 0 ? ` (enabled for ${by.join(", ")})` : ""}`;
    jobs.push({ label: name, order: orderAgainstDocker(unit), beforeAgent: unit.before.has("ecs.service"), run: (s) => startUnit(s, name, why) });
  }
  const rcLocal = rcLocalJob(state);
  if (rcLocal) jobs.push(rcLocal);
  jobs.push(...cronRebootJobs(state));
  return { jobs };
}

/** Runs a boot's plan: the units before Docker, Docker with its drop-ins, the units after it. */
export function runBootPlan(state: InstanceState, plan: BootPlan): void {
  runAround(state, plan.jobs, (s) => startDockerService(s, "at boot"));
}

/**
 * Runs jobs around Docker's start. Jobs not ordered against Docker race it: both orders are
 * followed, and the one in which container traffic passes is kept; when the two orders differ in
 * opposite ways, the concerns that differ are unknown.
 */
function runAround(state: InstanceState, jobs: readonly Job[], docker: (state: InstanceState) => void): void {
  const run = (s: InstanceState, raceFirst: boolean) => {
    const go = (job: Job) => runWatchingAgentConfig(s, job);
    jobs.filter((j) => j.order === "before").forEach(go);
    if (raceFirst) jobs.filter((j) => j.order === "race").forEach(go);
    docker(s);
    jobs.filter((j) => j.order === "after").forEach(go);
    if (!raceFirst) jobs.filter((j) => j.order === "race").forEach(go);
  };
  const racing = jobs.filter((j) => j.order === "race");
  if (racing.length === 0) {
    run(state, false);
    return;
  }
  const early = state.clone();
  DOCKER_DEPTH.set(early, DOCKER_DEPTH.get(state) ?? 0);
  run(early, true);
  run(state, false);
  settleRace(state, early, racing.map((j) => j.label));
}

/** A job that changes ecs.config at boot without Before=ecs.service races the agent reading it. */
function runWatchingAgentConfig(state: InstanceState, job: Job): void {
  const before = JSON.stringify(state.files.get(ECS_CONFIG) ?? null);
  job.run(state);
  if (!job.beforeAgent && JSON.stringify(state.files.get(ECS_CONFIG) ?? null) !== before) {
    state.markUnknown(["ecs"], `${job.label} changes ${ECS_CONFIG} at boot without Before=ecs.service: whether the ECS agent reads it before or after cannot be told`);
  }
}

function settleRace(late: InstanceState, early: InstanceState, labels: readonly string[]): void {
  const who = labels.length === 1 ? `${labels[0]} is` : `${labels.join(", ")} are`;
  const differing: Family[] = [];
  let earlyWorse = 0;
  let lateWorse = 0;
  for (const family of ["v4", "v6"] as const) {
    const a = containerReach(early.tables[family]).result;
    const b = containerReach(late.tables[family]).result;
    if (a === b) continue;
    differing.push(family);
    if (a === "passed" && b === "blocked") earlyWorse++;
    else if (b === "passed" && a === "blocked") lateWorse++;
    else earlyWorse = lateWorse = Number.NaN;
  }
  if (differing.length === 0) return;
  const note = `${who} not ordered against docker.service (no After= or Before=): at boot it races Docker's start, and iptables/ip6tables rules meet a different table depending on which runs first`;
  if (earlyWorse === differing.length) {
    late.restore(early);
    addNote(late, `${note}; the audit follows the order in which the block is lost: before Docker`);
  } else if (lateWorse === differing.length) {
    addNote(late, `${note}; the audit follows the order in which the block is lost: after Docker`);
  } else late.markUnknown(differing, note);
}

/** Docker's start as systemd runs it: the drop-ins' ExecStartPre=, dockerd, their ExecStartPost=. */
function startDockerService(state: InstanceState, why: string): void {
  if (!installsAnything(state)) {
    state.startDocker();
    return;
  }
  const unit = loadUnit(state, DOCKER);
  const label = `docker.service's drop-ins (${why})`;
  if (unit) {
    for (const [concerns, reason] of unit.unknown) state.markUnknown(concerns, reason);
    if (!runExec(state, unit, "ExecStartPre", label)) return;
  }
  const settings = dockerFirewall(state, unit);
  if ("unknown" in settings) {
    state.markUnknown(["v4", "v6"], settings.unknown);
    state.startDocker();
  } else {
    const off = (["v4", "v6"] as const).filter((family) => !settings.manages[family]);
    if (off.length > 0) {
      const tools = off.map((family) => (family === "v4" ? "iptables" : "ip6tables")).join(" and ");
      const sources = [...new Set(off.map((family) => settings.source[family]))].join(", ");
      addNote(state, `dockerd starts with its ${tools} rules off (${sources}): it creates no DOCKER-USER chain and adds no rule to FORWARD, so container traffic takes the FORWARD policy (ACCEPT unless the user data sets DROP), and a rule meant for DOCKER-USER has no chain to go in`);
    }
    state.startDocker(settings.manages);
  }
  if (unit) runExec(state, unit, "ExecStartPost", label);
}

/** Docker's start with the units it pulls in. */
function startDockerWithDependents(state: InstanceState, why: string): void {
  const jobs: Job[] = [];
  for (const name of dockerDependents(state)) {
    const unit = loadUnit(state, name);
    if (unit === undefined) continue;
    jobs.push({ label: name, order: orderAgainstDocker(unit), beforeAgent: true, run: (s) => startUnit(s, name, `started with docker.service (${why})`) });
  }
  runAround(state, jobs, (s) => startDockerService(s, why));
}

/**
 * `systemctl restart docker`: units bound to Docker (Requires=, BindsTo=, PartOf=) stop with it and
 * start again if they were active; units Docker wants start if they are inactive.
 */
export function restartDockerService(state: InstanceState, why: string): void {
  if (!installsAnything(state)) {
    state.startDocker();
    return;
  }
  const restarted: string[] = [];
  for (const name of knownUnits(state)) {
    const unit = loadUnit(state, name);
    if (!unit?.follows.has(DOCKER)) continue;
    const active = state.systemd.active.get(name);
    if (active === "maybe") {
      const concerns = unitConcerns(unit);
      if (concerns.length > 0) state.markUnknown(concerns, `${name} is Type=${unit.type} without RemainAfterExit=: whether it still runs when Docker restarts, and so whether systemd restarts it, cannot be told`);
      continue;
    }
    if (active === "active") {
      stopUnit(state, name, `stopped with docker.service (${why})`);
      restarted.push(name);
    }
  }
  const docker = loadUnit(state, DOCKER);
  if (docker) {
    runExec(state, docker, "ExecStop", `docker.service's drop-ins (${why})`);
    runExec(state, docker, "ExecStopPost", `docker.service's drop-ins (${why})`);
  }
  state.dockerRunning = false;
  const jobs: Job[] = [];
  for (const name of [...new Set([...restarted, ...dockerDependents(state)])]) {
    const unit = loadUnit(state, name);
    if (unit === undefined) continue;
    const active = state.systemd.active.get(name);
    if (active === "maybe") {
      const concerns = unitConcerns(unit);
      if (concerns.length > 0) state.markUnknown(concerns, `${name} is Type=${unit.type} without RemainAfterExit=: whether it still runs when Docker restarts, and so whether systemd starts it again, cannot be told`);
      continue;
    }
    const how = restarted.includes(name) ? `restarted with docker.service, to which it is bound, ${why}` : `started again by docker.service, which wants it, ${why}`;
    jobs.push({ label: name, order: orderAgainstDocker(unit), beforeAgent: true, run: (s) => startUnit(s, name, how) });
  }
  runAround(state, jobs, (s) => startDockerService(s, why));
}

/**
 * The ECS agent's start at the end of every boot (ecs.service is After=cloud-final.service): the
 * ExecStartPre= and ExecStartPost= of drop-ins the user data wrote run around the agent. Whether
 * ecs.service restarts with Docker depends on the AMI's unit, so they are not run again then.
 */
export function startAgentService(state: InstanceState): void {
  if (!installsAnything(state)) return;
  const unit = loadUnit(state, AGENT);
  if (unit === undefined) return;
  for (const [concerns, reason] of unit.unknown) state.markUnknown(concerns, reason);
  if (unit.exec.ExecStart.length > 0) {
    const concerns = concernsOf(unit.exec.ExecStart.join("\n"));
    state.markUnknown(concerns.length > 0 ? concerns : ["ecs"], `a drop-in replaces ecs.service's ExecStart= (${unit.files.join(", ")}), which the audit does not follow`);
  }
  if (runExec(state, unit, "ExecStartPre", "before the ECS agent starts")) runExec(state, unit, "ExecStartPost", "after the ECS agent starts");
}

/** How deep Docker restarts nest (a unit Docker starts that restarts Docker), per instance. */
const DOCKER_DEPTH = new WeakMap<InstanceState, number>();
const MAX_DOCKER_DEPTH = 3;

/** `systemctl <verb> docker` from user data. */
export function dockerAction(state: InstanceState, verb: string | undefined, origin: string): Status {
  const depth = DOCKER_DEPTH.get(state) ?? 0;
  if (depth >= MAX_DOCKER_DEPTH) {
    state.markUnknown(["v4", "v6"], `${origin} restarts Docker from a unit Docker itself starts: the loop is not followed`);
    return "unknown";
  }
  DOCKER_DEPTH.set(state, depth + 1);
  try {
    return dockerVerb(state, verb, origin);
  } finally {
    DOCKER_DEPTH.set(state, depth);
  }
}

function dockerVerb(state: InstanceState, verb: string | undefined, origin: string): Status {
  switch (verb) {
    case "restart":
    case "try-restart":
    case "reload-or-restart":
      if (state.dockerRunning) {
        noteRulesBuriedByRestart(state, origin);
        restartDockerService(state, `restarted by ${origin}`);
      }
      else startDockerWithDependents(state, `started by ${origin}`);
      return 0;
    case "start":
      if (!state.dockerRunning) startDockerWithDependents(state, `started by ${origin}`);
      return 0;
    case "stop":
      state.dockerRunning = false;
      return 0;
    case "enable":
    case "disable":
    default:
      return 0;
  }
}

/** A restart of Docker from the user data puts Docker's rules above the drops already on FORWARD: say so. */
function noteRulesBuriedByRestart(state: InstanceState, origin: string): void {
  for (const family of ["v4", "v6"] as const) {
    for (const rule of state.tables[family].chains.get("FORWARD") ?? []) {
      if (rule.origin !== "Docker" && rule.effect.kind === "block") addNote(state, `${origin} restarts Docker after \`${rule.text}\` (${rule.origin}) went on FORWARD: Docker's restart puts its own rules above it`);
    }
  }
}

/** `systemctl <verb> <unit>` for units other than Docker and the iptables services. */
export function unitAction(state: InstanceState, name: string, verb: string | undefined, origin: string, now: boolean): Status {
  const unit = unitName(name);
  switch (verb) {
    case "enable":
    case "reenable":
      if (!enableUnit(state, unit)) return 0;
      if (now) startUnit(state, unit, `started by ${origin}`);
      return 0;
    case "disable":
    case "mask":
      disableUnit(state, unit);
      if (now) stopUnit(state, unit, `stopped by ${origin}`);
      return 0;
    case "start":
    case "restart":
    case "reload-or-restart":
    case "try-restart": {
      // A unit the user data did not write is the AMI's (ecs, crond, ...): not followed here.
      if (loadUnit(state, unit) === undefined) return 0;
      if (verb !== "start") {
        if (verb === "try-restart" && !state.systemd.active.has(unit)) return 0;
        stopUnit(state, unit, `stopped by ${origin}`);
      }
      startUnit(state, unit, `started by ${origin}`);
      return 0;
    }
    case "stop":
      stopUnit(state, unit, `stopped by ${origin}`);
      return 0;
    default:
      return 0;
  }
}

/** Units written to disk with commands that touch a concern, never enabled nor started. */
export function idleUnitNotes(state: InstanceState): void {
  if (!installsAnything(state)) return;
  for (const name of knownUnits(state)) {
    if (state.systemd.started.has(name) || name === DOCKER) continue;
    if ([...state.systemd.links.values()].some((set) => set.has(name))) continue;
    const unit = loadUnit(state, name);
    const touching = unit ? EXEC_KEYS.flatMap((key) => unit.exec[key]).find((line) => concernsOf(line).length > 0) : undefined;
    if (unit && touching) addNote(state, `${unit.files[0]} is written, but nothing enables or starts ${name}: its \`${touching}\` never runs`);
  }
}

// ---------------------------------------------------------------------------------------------
// Docker's firewall settings

/** dockerd's iptables and ip6tables switches, from daemon.json, /etc/sysconfig/docker and the drop-ins' ExecStart=. */
function dockerFirewall(state: InstanceState, unit: Unit | undefined): { manages: Record<Family, boolean>; source: Record<Family, string> } | { unknown: string } {
  const manages: Record<Family, boolean | undefined> = { v4: undefined, v6: undefined };
  const source: Record<Family, string> = { v4: "", v6: "" };
  let configFile = "/etc/docker/daemon.json";
  const applyFlags = (words: readonly string[], from: string): string | undefined => {
    for (let i = 0; i < words.length; i++) {
      const flag = /^--(ip6?tables)(?:=(.*))?$/.exec(words[i]);
      if (flag) {
        const value = flag[2] ?? (/^(true|false)$/.test(words[i + 1] ?? "") ? words[++i] : "true");
        if (!/^(true|false|1|0)$/i.test(value)) return `${from} sets --${flag[1]}=${value}, which the audit cannot read`;
        const family: Family = flag[1] === "iptables" ? "v4" : "v6";
        manages[family] = /^(true|1)$/i.test(value);
        source[family] = `--${flag[1]}=${value} in ${from}`;
      }
      const config = /^--config-file(?:=(.*))?$/.exec(words[i]);
      if (config) configFile = config[1] ?? words[++i] ?? configFile;
    }
    return undefined;
  };
  // Amazon Linux's docker.service passes $OPTIONS from /etc/sysconfig/docker to dockerd.
  const sysconfig = state.files.get("/etc/sysconfig/docker");
  if (sysconfig !== undefined) {
    const text = knownText(sysconfig);
    if (text === undefined || hasMark(text)) {
      if (/iptables|OPTIONS/.test(markedText(sysconfig) ?? "")) return { unknown: "/etc/sysconfig/docker, whose OPTIONS reach dockerd, holds content the audit cannot see" };
    } else {
      const options = [...text.matchAll(/^\s*OPTIONS\s*=\s*(["']?)(.*)\1\s*$/gm)].pop()?.[2] ?? "";
      const problem = applyFlags(options.split(/\s+/), "/etc/sysconfig/docker OPTIONS");
      if (problem) return { unknown: problem };
    }
  }
  if (unit && unit.exec.ExecStart.length > 0) {
    const raw = unit.exec.ExecStart[unit.exec.ExecStart.length - 1];
    const words = hasMark(raw) ? undefined : splitCommand(raw.replace(/^[-@+!:]*/, ""));
    if (words === undefined || basename(words[0] ?? "") !== "dockerd") return { unknown: `a drop-in replaces docker.service's ExecStart= with \`${raw}\`, which the audit does not read as dockerd` };
    const problem = applyFlags(words, `docker.service's ExecStart= (${unit.files.join(", ")})`);
    if (problem) return { unknown: problem };
  }
  const content = state.files.get(configFile);
  if (content !== undefined) {
    const text = knownText(content);
    if (text === undefined || hasMark(text)) return { unknown: `${configFile} holds content the audit cannot see${text !== undefined ? ` (${references(text)})` : ""}; its "iptables" and "ip6tables" decide Docker's rules` };
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch (error) {
      return { unknown: `${configFile} is not valid JSON (${(error as Error).message}): dockerd refuses to start with it` };
    }
    if (config !== null && typeof config === "object") {
      const record = config as Record<string, unknown>;
      for (const [key, family] of [["iptables", "v4"], ["ip6tables", "v6"]] as const) {
        if (!(key in record)) continue;
        if (typeof record[key] !== "boolean") return { unknown: `${configFile} sets "${key}": ${JSON.stringify(record[key])}, not a boolean: dockerd refuses to start` };
        if (manages[family] !== undefined && manages[family] !== record[key]) return { unknown: `${configFile} and dockerd's flags both set ${key}: dockerd refuses to start` };
        manages[family] = record[key] as boolean;
        source[family] = `"${key}": ${String(record[key])} in ${configFile}`;
      }
    }
  }
  // "ip6tables" left unset follows "iptables" here: with iptables off nothing sets up Docker's
  // chains, and the audit does not count on rules it cannot see being made.
  const v4 = manages.v4 ?? true;
  const v6 = manages.v6 ?? v4;
  if (manages.v6 === undefined) source.v6 = source.v4;
  return { manages: { v4, v6 }, source };
}

// ---------------------------------------------------------------------------------------------
// rc.local

const RC_LOCAL = "/etc/rc.d/rc.local";
const RC_LOCAL_LINK = "/etc/rc.local";

/** Files the image ships that user data appends to: Amazon Linux 2's rc.local (mode 0644, so it does not run). */
export function installAmiFiles(state: InstanceState): void {
  if (state.image === "al2") state.files.set(RC_LOCAL, AL2_RC_LOCAL);
}

const AL2_RC_LOCAL: FileContent = { kind: "text", segments: ["#!/bin/bash\ntouch /var/lock/subsys/local\n"] };

/**
 * rc-local.service runs /etc/rc.d/rc.local at every boot when the file is executable (systemd's
 * rc-local generator checks at boot). On Amazon Linux 2, /etc/rc.local is a link to it; on AL2023
 * it is not there by default. It is After=network.target and not ordered against Docker.
 */
function rcLocalJob(state: InstanceState): Job | undefined {
  const written = state.files.has(RC_LOCAL_LINK) && state.image !== "al2" ? RC_LOCAL_LINK : state.files.has(RC_LOCAL) ? RC_LOCAL : state.files.has(RC_LOCAL_LINK) ? RC_LOCAL_LINK : undefined;
  if (written === undefined) return undefined;
  let text = markedText(state.files.get(written)) ?? "";
  if (state.image === "al2" && state.files.has(RC_LOCAL_LINK)) {
    // One file on Amazon Linux 2: what was written through the link follows the image's own lines.
    const viaLink = markedText(state.files.get(RC_LOCAL_LINK)) ?? "";
    text = viaLink.startsWith("#!") ? viaLink : `${text}${viaLink}`;
  }
  const concerns = concernsOrAll(text);
  if (!state.executable.has(RC_LOCAL) && !state.executable.has(RC_LOCAL_LINK)) {
    if (concernsOf(text).length > 0) addNote(state, `${written} is written but never made executable: rc-local.service runs it only when it is, so its iptables or ecs.config lines never run`);
    return undefined;
  }
  if (written === RC_LOCAL_LINK && state.image !== "al2") {
    const why = `${RC_LOCAL_LINK} runs at boot only where it links to ${RC_LOCAL} (Amazon Linux 2); ${state.image === "al2023" ? "AL2023 has no such link" : "the image is not known here"}`;
    if (state.image === "al2023") {
      if (concernsOf(text).length > 0) addNote(state, `${why}: its lines never run`);
      return undefined;
    }
    return { label: `${written} (rc-local.service)`, order: "race", beforeAgent: true, run: (s) => s.markUnknown(concernsOf(text), why) };
  }
  const label = `${written} (run by rc-local.service at boot)`;
  return {
    label: `${written} (rc-local.service)`,
    order: "race",
    // cloud-final.service is ordered after rc-local.service, and the agent after cloud-final.
    beforeAgent: true,
    run: (s) => {
      if (!text.startsWith("#!")) {
        // Amazon Linux 2's own rc.local starts with #!/bin/bash (lines appended to it run); a file
        // without #! fails to execute (exec format error).
        if (s.image === undefined) s.markUnknown(concernsOf(text), `${written} has no #! line of its own: on Amazon Linux 2 lines appended to its rc.local run, elsewhere the file fails to execute, and the image is not known here`);
        else if (concerns.length > 0) addNote(s, `${written} has no #! line: rc-local.service executes it directly and it fails (exec format error)`);
        return;
      }
      const firstLine = text.slice(0, text.indexOf("\n") >>> 0);
      if (hasMark(firstLine)) {
        s.markUnknown(concerns, `${written}'s #! line names an interpreter known only at apply time (${references(firstLine)})`);
        return;
      }
      interpretScript(s, text, label);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// cron

const CRON_SYSTEM_FILES = ["/etc/crontab"];
const CRON_DIRS = ["/etc/cron.d/"];
const CRON_SPOOLS = ["/var/spool/cron/", "/var/spool/cron/crontabs/"];
/** Where `crontab` installs root's table on Amazon Linux (cronie). */
export const ROOT_CRONTAB = "/var/spool/cron/root";

/** One cron line: when it runs (at boot, or the longest gap between runs in seconds) and its command. */
interface CronEntry {
  readonly file: string;
  readonly line: string;
  readonly schedule: "reboot" | number;
  readonly command: string;
}

/** Whether crond runs: Amazon Linux 2 ships cronie; AL2023 does not unless the user data installs it. */
function cronRuns(state: InstanceState): boolean | "unknown" {
  if (state.installed.has("cronie") || state.installed.has("cron")) return true;
  if (state.image === "al2") return true;
  if (state.image === "al2023") return false;
  return "unknown";
}

/** Every cron line on disk; unreadable tables mark what they could change. */
function cronEntries(state: InstanceState): CronEntry[] {
  const entries: CronEntry[] = [];
  for (const [path, content] of [...state.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const system = CRON_SYSTEM_FILES.includes(path) || CRON_DIRS.some((dir) => path.startsWith(dir) && !path.slice(dir.length).includes("/"));
    const user = CRON_SPOOLS.some((dir) => path.startsWith(dir) && path.slice(dir.length) !== "" && !path.slice(dir.length).includes("/"));
    if (!system && !user) continue;
    const text = markedText(content);
    if (text === undefined) continue;
    const lines = text.split("\n");
    // cron ignores a last line without its newline.
    const complete = text.endsWith("\n") ? lines.slice(0, -1) : lines.slice(0, -1);
    const unterminated = text.endsWith("\n") ? undefined : lines[lines.length - 1];
    if (unterminated && concernsOf(unterminated).length > 0) addNote(state, `the last line of ${path} has no newline, and cron ignores it: \`${unterminated}\` never runs`);
    for (const line of complete) {
      const trimmed = line.trim();
      if (trimmed === "" || trimmed.startsWith("#") || /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(trimmed)) continue;
      if (hasMark(trimmed)) {
        state.markUnknown(wholly(trimmed) ? [...ALL_CONCERNS] : concernsOrAll(trimmed), `the cron line \`${trimmed}\` in ${path} holds a value known only at apply time (${references(trimmed)})`);
        continue;
      }
      const entry = parseCronLine(trimmed, system);
      if (entry === undefined) continue;
      entries.push({ file: path, line: trimmed, ...entry });
    }
  }
  return entries;
}

const NICKNAMES: Readonly<Record<string, number>> = { "@hourly": 3600, "@daily": 86400, "@midnight": 86400, "@weekly": 604800, "@monthly": 2678400, "@yearly": 31536000, "@annually": 31536000 };

/** A cron line's schedule and command; system tables have a user field. */
function parseCronLine(line: string, system: boolean): { schedule: "reboot" | number; command: string } | undefined {
  const fields = line.split(/\s+/);
  let schedule: "reboot" | number;
  let rest: string[];
  if (fields[0].startsWith("@")) {
    if (fields[0] === "@reboot") schedule = "reboot";
    else if (NICKNAMES[fields[0]] !== undefined) schedule = NICKNAMES[fields[0]];
    else return undefined;
    rest = fields.slice(system ? 2 : 1);
  } else {
    if (fields.length < (system ? 7 : 6)) return undefined;
    schedule = longestGap(fields.slice(0, 5));
    rest = fields.slice(system ? 6 : 5);
  }
  // An unescaped % ends the command; what follows is its standard input.
  const joined = line.slice(line.indexOf(rest[0] ?? "\0"));
  const command = joined.replace(/(^|[^\\])%[\s\S]*$/, "$1").replace(/\\%/g, "%");
  return command.trim() === "" ? undefined : { schedule, command };
}

/** The longest time between two runs of a five-field schedule, in seconds (minute and hour fields read; other fields mean days). */
function longestGap(fields: readonly string[]): number {
  const [minute, hour, dom, month, dow] = fields;
  if (dom !== "*" || month !== "*" || dow !== "*") return 86400 * 31;
  const minutes = expandField(minute, 60);
  const hours = expandField(hour, 24);
  if (minutes === undefined || hours === undefined) return 86400;
  const times = hours.flatMap((h) => minutes.map((m) => h * 60 + m)).sort((a, b) => a - b);
  let gap = times[0] + 1440 - times[times.length - 1];
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
  return gap * 60;
}

function expandField(field: string, size: number): number[] | undefined {
  const values = new Set<number>();
  for (const part of field.split(",")) {
    const match = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    if (!match) return undefined;
    const start = match[1] === "*" ? 0 : Number(match[1]);
    const end = match[2] !== undefined ? Number(match[2]) : match[1] === "*" || match[3] !== undefined ? size - 1 : start;
    const step = Number(match[3] ?? 1);
    if (step < 1 || start >= size || end >= size) return undefined;
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return values.size > 0 ? [...values] : undefined;
}

/** cron's @reboot lines, run when crond starts at boot (it is not ordered against Docker nor the agent). */
function cronRebootJobs(state: InstanceState): Job[] {
  const entries = cronEntries(state).filter((e) => e.schedule === "reboot");
  return entries.flatMap((entry): Job[] => {
    const runs = cronRuns(state);
    const label = `the @reboot line of ${entry.file}`;
    const concerns = commandConcerns(state, entry.command);
    if (concerns.length === 0) return [];
    if (runs === false) {
      addNote(state, `${label} never runs (AL2023 has no cron unless the user data installs cronie), so the iptables or ecs.config changes of \`${entry.command}\` never happen`);
      return [];
    }
    if (runs === "unknown") {
      return [{ label, order: "race", beforeAgent: true, run: (s) => s.markUnknown(concerns, `${label} runs only where cron is installed: Amazon Linux 2 has cronie, AL2023 does not unless the user data installs it, and the image is not known here` + scriptValues(s, entry.command)) }];
    }
    return [{ label, order: "race", beforeAgent: false, run: (s) => void interpretScript(s, entry.command, `${label}, run by cron at boot`) }];
  });
}

/**
 * What a command line could change: what its text touches, and what the script it runs touches
 * (all concerns when that script is one the audit cannot see).
 */
function commandConcerns(state: InstanceState, command: string): Concern[] {
  const program = command.trim().split(/\s+/)[0] ?? "";
  const own = concernsOf(command);
  if (!program.startsWith("/") || /^\/(usr\/)?s?bin\//.test(program)) return own;
  return [...new Set([...own, ...scriptConcerns(state.files.get(program))])];
}

/**
 * What a script file could change when it runs. A value spliced inside an argument stays that
 * argument, as the interpreter reads it; one on a line of its own, in a command's place, given to
 * a shell or a wrapper, or naming a redirection's file may be any commands, and so may content the
 * audit cannot see.
 */
function scriptConcerns(content: FileContent | undefined): Concern[] {
  const script = markedText(content);
  if (content === undefined || content.kind === "saved" || script === undefined) return [...ALL_CONCERNS];
  if (!hasMark(script)) return concernsOf(script);
  const unseen = content.segments.some((s) => typeof s !== "string" && !s.inWord);
  return unseen || runsValues(parseShell(script)) ? [...ALL_CONCERNS] : concernsOf(script);
}

const RUNS_CODE = new Set([...SHELLS, "source", "."]);

/** Whether a value known only at apply time could be run as code by this shell tree. */
function runsValues(node: ShellNode): boolean {
  const holds = holdsValue;
  switch (node.kind) {
    case "simple": {
      const [program, ...args] = node.words;
      if (program === undefined) return node.redirects.some((r) => holds(r.target));
      if (program.pieces.some((p) => p.kind !== "text") || node.redirects.some((r) => holds(r.target))) return true;
      if (node.words.some((w) => w.pieces.some((p) => p.kind === "reference" && p.wholeLine))) return true;
      return RUNS_CODE.has(basename(program.raw)) && args.some(holds) && !commandStringKeepsValues(node.words);
    }
    case "pipeline":
      return node.commands.some(runsValues);
    case "andor":
      return runsValues(node.first) || node.rest.some(([, next]) => runsValues(next));
    case "list":
      return node.items.some(runsValues);
    case "if":
      return node.branches.some(([test, body]) => runsValues(test) || runsValues(body)) || (node.otherwise !== undefined && runsValues(node.otherwise));
    case "for":
    case "function":
      return runsValues(node.body);
    case "loop":
      return runsValues(node.condition) || runsValues(node.body);
    case "case":
      return node.items.some((item) => runsValues(item.body));
    case "group":
      return runsValues(node.body) || node.redirects.some((r) => holds(r.target));
    case "opaque":
      return true;
  }
}

/**
 * `sh -c 'TEXT'`, behind wrappers such as `sudo -u user -H`: TEXT is a script of its own, read the
 * same way, and the values it holds stay where they are when nothing else in the command holds one.
 */
function commandStringKeepsValues(words: readonly Word[]): boolean {
  const shell = words.findIndex((w) => SHELL_NAMES.has(basename(w.raw)));
  if (shell < 0 || words.slice(0, shell + 2).some(holdsValue) || words.slice(shell + 3).some(holdsValue)) return false;
  const flag = words[shell + 1]?.raw ?? "";
  const script = words[shell + 2];
  if (!/^-[a-z]*c$/.test(flag) || script === undefined) return false;
  const pieces = script.pieces.map((p) => (p.kind === "text" ? p.value : p.kind === "reference" ? `${UNKNOWN_START}${p.expression}${UNKNOWN_END}` : undefined));
  return pieces.every((p) => p !== undefined) && !runsValues(parseShell(pieces.join("")));
}

const SHELL_NAMES = new Set(["sh", "bash", "dash", "zsh", "ksh"]);
// A command substitution is shown with its references as `${expression}`.
const holdsValue = (word: Word) => word.pieces.some((p) => p.kind === "reference" || (p.kind === "command" && p.text.includes("${")));

/** For a reason: the values known only at apply time in the script a command line runs. */
function scriptValues(state: InstanceState, command: string): string {
  const program = command.trim().split(/\s+/)[0] ?? "";
  const script = markedText(state.files.get(program));
  return script !== undefined && hasMark(script) ? `; ${program} holds ${references(script)}, known only at apply time` : "";
}

/** A job that runs again and again: it heals what an event undid, after a gap. */
export interface PeriodicJob {
  readonly label: string;
  /** The longest time between two runs. */
  readonly seconds: number;
  readonly run: (state: InstanceState) => void;
}

/** Active timers and cron's periodic lines that touch a concern, as they stand on disk. */
export function periodicJobs(state: InstanceState): PeriodicJob[] {
  if (!installsAnything(state)) return [];
  const jobs: PeriodicJob[] = [...timerJobs(state), ...runPartsJobs(state)];
  for (const entry of cronEntries(state)) {
    if (entry.schedule === "reboot") continue;
    const seconds = entry.schedule;
    const concerns = commandConcerns(state, entry.command);
    if (concerns.length === 0) continue;
    const runs = cronRuns(state);
    const label = `the cron line \`${entry.line}\` in ${entry.file}`;
    if (runs === false) {
      addNote(state, `${label} never runs (AL2023 has no cron unless the user data installs cronie), so its iptables or ecs.config changes never happen`);
      continue;
    }
    if (runs === "unknown") {
      state.markUnknown(concerns, `${label} runs only where cron is installed: Amazon Linux 2 has cronie, AL2023 does not unless the user data installs it, and the image is not known here` + scriptValues(state, entry.command));
      continue;
    }
    jobs.push({ label, seconds, run: (s) => void interpretScript(s, entry.command, `${label}, run by cron`) });
  }
  return jobs;
}

const RUN_PARTS: ReadonlyArray<readonly [string, number]> = [["/etc/cron.hourly/", 3600], ["/etc/cron.daily/", 86400], ["/etc/cron.weekly/", 604800], ["/etc/cron.monthly/", 2678400]];

/** Executable scripts in /etc/cron.hourly and the like, which cron runs through run-parts. */
function runPartsJobs(state: InstanceState): PeriodicJob[] {
  const jobs: PeriodicJob[] = [];
  for (const [dir, seconds] of RUN_PARTS) {
    for (const path of [...state.files.keys()].filter((p) => p.startsWith(dir) && !p.slice(dir.length).includes("/")).sort()) {
      const concerns = commandConcerns(state, path);
      if (concerns.length === 0 || !state.executable.has(path)) continue;
      const runs = cronRuns(state);
      const label = `${path} (run by cron every ${seconds / 3600} h)`;
      if (runs === "unknown") state.markUnknown(concerns, `${path} runs only where cron is installed: Amazon Linux 2 has cronie, AL2023 does not unless the user data installs it, and the image is not known here` + scriptValues(state, path));
      else if (runs) jobs.push({ label, seconds, run: (s) => void interpretScript(s, markedText(s.files.get(path)) ?? "", label) });
    }
  }
  return jobs;
}

/**
 * cloud-init's per-boot and per-instance script folders: cloud-final runs their executable files in
 * name order (scripts_per_boot at every boot, scripts_per_instance at the first), before the user
 * data's own scripts.
 */
export function runScriptFolders(state: InstanceState, first: boolean): void {
  if (!installsAnything(state)) return;
  const folders = ["/var/lib/cloud/scripts/per-boot/", ...(first ? ["/var/lib/cloud/scripts/per-instance/", "/var/lib/cloud/scripts/per-once/"] : [])];
  for (const dir of folders) {
    for (const path of [...state.files.keys()].filter((p) => p.startsWith(dir) && !p.slice(dir.length).includes("/")).sort(compareNames)) {
      if (!state.executable.has(path)) {
        if (concernsOf(markedText(state.files.get(path)) ?? "").length > 0) addNote(state, `${path} is not executable: cloud-init skips it, so its iptables or ecs.config lines never run`);
        continue;
      }
      const text = markedText(state.files.get(path)) ?? "";
      const firstLine = text.slice(0, text.indexOf("\n") >>> 0);
      if (!text.startsWith("#!") || hasMark(firstLine)) {
        const concerns = concernsOrAll(text);
        if (hasMark(firstLine)) state.markUnknown(concerns, `${path}'s #! line holds a value known only at apply time (${references(firstLine)})`);
        else if (concernsOf(text).length > 0) addNote(state, `${path} has no #! line: cloud-init executes it directly and it fails (exec format error)`);
        continue;
      }
      interpretScript(state, text, `${path} (run by cloud-init ${dir.includes("per-boot") ? "at every boot" : "once"})`);
    }
  }
}

function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** `crontab`: installs root's table from a file or standard input, lists it (-l) or removes it (-r). */
export function crontab(state: InstanceState, args: readonly string[], stdin: ReadonlyArray<string | Unseen> | undefined, origin: string): { status: Status; stdout?: ReadonlyArray<string | Unseen> } {
  let path = ROOT_CRONTAB;
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-u") path = `/var/spool/cron/${args[++i] ?? "root"}`;
    else operands.push(args[i]);
  }
  if (operands.includes("-l")) {
    const content = state.files.get(path);
    return content === undefined || content.kind !== "text" ? { status: 1 } : { status: 0, stdout: content.segments };
  }
  if (operands.includes("-r")) {
    state.files.delete(path);
    return { status: 0 };
  }
  const file = operands.find((a) => a !== "-" && !a.startsWith("-"));
  if (file !== undefined) {
    const content = state.files.get(file);
    if (content === undefined) return { status: 1 };
    state.files.set(path, content);
    return { status: 0 };
  }
  if (stdin === undefined) {
    // What reaches crontab's input was not followed: the table could hold anything.
    state.files.set(path, { kind: "text", segments: [{ unseen: `the table piped into crontab by ${origin}` }, "\n"] });
    state.markUnknown(ALL_CONCERNS, `${origin}: the table piped into \`crontab\` is not one the audit could follow`);
    return { status: "unknown" };
  }
  state.files.set(path, { kind: "text", segments: stdin });
  return { status: 0 };
}

/** `ln -s UNIT .../<target>.wants/NAME`: the link `systemctl enable` would make, made by hand. */
export function link(state: InstanceState, args: readonly string[]): Status {
  const operands = args.filter((a) => !a.startsWith("-"));
  if (operands.length !== 2) return 0;
  const [from, to] = operands;
  const match = /^\/etc\/systemd\/system\/([^/]+\.(?:wants|requires))\/?([^/]*)$/.exec(to);
  if (match) {
    const set = state.systemd.links.get(match[1]) ?? new Set<string>();
    set.add(match[2] || basename(from));
    state.systemd.links.set(match[1], set);
    return 0;
  }
  // A link elsewhere is a copy as far as readers of the file go.
  const content = state.files.get(from);
  if (content !== undefined) state.files.set(to, content);
  if (state.executable.has(from)) state.executable.add(to);
  return 0;
}

/** `chmod`: records the files made executable (rc.local runs only then). */
export function chmod(state: InstanceState, args: readonly string[]): Status {
  const operands = args.filter((a) => !/^-[RfvHLP]+$/.test(a));
  const [mode, ...files] = operands;
  if (mode === undefined) return 1;
  const executable = /^[0-7]{3,4}$/.test(mode) ? /[1357]/.test(mode.slice(-3)) : /[+=][rwst]*x/.test(mode) ? true : /-[rwst]*x/.test(mode) ? false : undefined;
  for (const file of files) {
    if (executable === true) state.executable.add(file);
    else if (executable === false) state.executable.delete(file);
  }
  return 0;
}

/** write_files permissions: executable when any execute bit is set. */
export function permissionsExecutable(permissions: unknown): boolean {
  const text = typeof permissions === "number" ? permissions.toString(8) : String(permissions ?? "");
  return /^0?o?[0-7]{3,4}$/.test(text) && /[1357]/.test(text.slice(-3));
}
