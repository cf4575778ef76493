/**
 * What cloud-init makes of the parts, as a boot program: which text runs on every boot before
 * Docker (boothooks, bootcmd), which files are written once, which scripts run once after Docker
 * (shell parts and runcmd in file-name order) or on every boot, and what could not be read.
 */
import { parse as parseYaml } from "yaml";
import { renderBoothook, renderRulesFile, IMDS_IPV4, IMDS_IPV6 } from "../user-data/boothook";
import { renderEcsConfigScript } from "../user-data/ecs-config";
import { Concern, ECS_CONFIG, InstanceState, knownText, Unseen, applyGuardDrop } from "./instance";
import { concernsOf, interpretScript } from "./interpreter";
import { hasMark, references, segmentsOf, wholly } from "./marks";
import { permissionsExecutable, planBoot, runBootPlan, runScriptFolders, startAgentService } from "./units";
import { CloudInitPart, decodeBase64, gunzipBounded } from "./user-data";

/** One piece of user data that runs, with a name for reasons. */
interface Runnable {
  readonly origin: string;
  readonly run: (state: InstanceState) => void;
}

/** The boot program of a cloud-init instance. */
export interface BootProgram {
  /** Every boot, in the init stage, before Docker starts. */
  readonly early: readonly Runnable[];
  /** Once per instance, in the init stage (write_files). */
  readonly onceEarly: readonly Runnable[];
  /** Every boot, in cloud-final (per-boot scripts). */
  readonly lateEveryBoot: readonly Runnable[];
  /** Once per instance, in cloud-final: packages, deferred files, then scripts in name order. */
  readonly onceLate: readonly Runnable[];
  /** What the audit read, for notes. */
  readonly notes: readonly string[];
  /** Concerns that cannot be followed and why (parts cloud-init handles that the audit cannot see). */
  readonly blind: ReadonlyArray<readonly [readonly Concern[], string]>;
  /** Shell parts and boothooks that never run, because cloud-init cannot execute them. */
  readonly dormant: readonly DormantPart[];
}

const ALL: readonly Concern[] = ["v4", "v6", "ecs"];
const SCRIPT_TYPES = new Set(["text/x-shellscript", "text/x-shellscript-per-instance", "text/x-shellscript-per-once"]);

/** What ecs-imds-guard's own boothook installs and applies, read back from its exact text. */
interface GuardBoothook {
  readonly bridge: boolean;
  readonly ipv6: boolean;
  readonly persistence: "boothook" | "iptables-services";
  readonly settings: ReadonlyArray<readonly [string, string]>;
}

const GUARD_SETTINGS = /IFS= read -r -d '' settings <<'ECS_IMDS_GUARD_SETTINGS'\n([\s\S]*?)\nECS_IMDS_GUARD_SETTINGS\n/;

/**
 * ecs-imds-guard's boothook, recognised only when the text is exactly what the renderer makes of
 * the settings it carries: an edited copy is read as any other shell text.
 */
function guardBoothook(text: string): GuardBoothook | undefined {
  const match = GUARD_SETTINGS.exec(text);
  if (!match) return undefined;
  const settings = match[1].split("\n").map((line): [string, string] => {
    const eq = line.indexOf("=");
    return [line.slice(0, eq), line.slice(eq + 1)];
  });
  if (settings.some(([key]) => !/^ECS_[A-Z0-9_]+$/.test(key))) return undefined;
  // The likely options first (one rendering for the usual template), then every other combination.
  const likely = { bridge: text.includes("169.254.169.254"), ipv6: text.includes("fd00:ec2::254"), iptablesServices: text.includes("iptables-services") };
  const combinations: Array<{ bridge: boolean; ipv6: boolean; persistence: "boothook" | "iptables-services" }> = [];
  for (const bridge of [likely.bridge, !likely.bridge]) {
    for (const ipv6 of [likely.ipv6, !likely.ipv6]) {
      for (const services of [likely.iptablesServices, !likely.iptablesServices]) {
        combinations.push({ bridge, ipv6, persistence: services ? "iptables-services" : "boothook" });
      }
    }
  }
  for (const { bridge, ipv6, persistence } of combinations) {
    if (renderBoothook({ bridge, ipv6Imds: ipv6, firewallPersistence: persistence, settings }) === text) return { bridge, ipv6, persistence, settings };
  }
  return undefined;
}

/** The guard script's effect: the DROP first in DOCKER-USER, and its settings last in ecs.config. */
function applyGuard(state: InstanceState, guard: GuardBoothook, label: string): void {
  if (guard.bridge) {
    applyGuardDrop(state, "v4", IMDS_IPV4, label);
    if (guard.ipv6) applyGuardDrop(state, "v6", IMDS_IPV6, label);
  }
  const keys = new Set(guard.settings.map(([key]) => key));
  const existing = state.files.get(ECS_CONFIG);
  const kept: Array<string | Unseen> = [];
  if (existing?.kind === "text") {
    for (const segment of existing.segments) {
      if (typeof segment !== "string") kept.push(segment);
      else kept.push(segment.split(/(?<=\n)/).filter((line) => !keys.has(/^\s*([^=]*)=/.exec(line)?.[1] ?? "\0")).join(""));
    }
  }
  const lines = guard.settings.map(([key, value]) => `${key}=${value}\n`).join("");
  state.files.set(ECS_CONFIG, { kind: "text", segments: [...kept, lines] });
}

/** The runnable for one shell text, with the guard's own scripts recognised exactly. */
function shellRunnable(text: string, origin: string): Runnable {
  const guard = guardBoothook(text);
  if (guard) {
    const label = `${origin} (ecs-imds-guard's boothook${guard.persistence === "iptables-services" && guard.bridge ? ", iptables-services persistence" : ""})`;
    return {
      origin: label,
      run: (state) => {
        if (guard.bridge && guard.persistence === "iptables-services") {
          const families = [["iptables", IMDS_IPV4], ...(guard.ipv6 ? [["ip6tables", IMDS_IPV6]] : [])];
          const script = [
            "yum install -y iptables-services",
            ...families.map(([service, destination]) => `cat >/etc/sysconfig/${service} <<'RULES'\n${renderRulesFile(destination)}RULES`),
            ...families.map(([service]) => `systemctl enable ${service} && systemctl start ${service}`),
          ].join("\n");
          interpretScript(state, script, label);
        }
        applyGuard(state, guard, label);
        // ecs.service runs the installed guard script before every start of the agent.
        state.beforeAgentStart = (s) => applyGuard(s, guard, `${label}, run again by ecs.service before the agent starts`);
      },
    };
  }
  if (text === renderEcsConfigScript()) {
    const label = `${origin} (ecs-imds-guard's cloud-final script)`;
    return {
      origin: label,
      run: (state) => {
        // It runs the guard script the boothook installed, or fails closed without it.
        state.beforeAgentStart?.(state);
      },
    };
  }
  return { origin, run: (state) => interpretScript(state, text, origin) };
}

/**
 * Why cloud-init cannot run a part's text, or undefined when it can. cloud-init writes a shell part
 * or boothook with its line endings made LF (dos2unix, so a CRLF `#!` line runs) and executes the
 * file directly: the kernel needs `#!` as the file's first two bytes (exec format error otherwise;
 * checked with cloud-init 22.4.2's own part handler).
 */
function notExecutedWhy(text: string, origin: string): string | undefined {
  if (text.startsWith("#!")) return undefined;
  if (/^\s+#!/.test(text)) {
    return `${origin} starts with spaces before #! (an HCL <<EOF heredoc indented in the configuration keeps its indentation; <<-EOF strips it): cloud-init executes the file directly, the kernel finds no #! at its start (exec format error), so none of it runs`;
  }
  return `${origin} has no #! line: cloud-init executes the file directly and it fails (exec format error), so none of it runs`;
}

/** The text inside a payload that is itself base64 of a script, cloud-config or MIME document; undefined otherwise. */
function encodedAgain(payload: string): string | undefined {
  const compact = payload.replace(/\s+/g, "");
  if (compact.length < 8 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  const text = Buffer.from(compact, "base64").toString("utf8");
  return /^(#!|#cloud-|#include|content-type:|mime-version:)/i.test(text) ? text : undefined;
}

/** cloud-init's dos2unix, applied to shell parts and boothooks before they are written. */
const dos2unix = (text: string) => text.replace(/\r\n/g, "\n");

/** A part cloud-init writes but cannot execute: where it is and why it does not run. */
export interface DormantPart {
  /** Its index among the parts, for bootProgram's `asIfExecuted`. */
  readonly index: number;
  readonly why: string;
}

/** How to build the program. */
export interface BootProgramOptions {
  /**
   * Indexes of parts that cannot be executed, to run as if they could (their text from its `#!`):
   * what the instance would do had they run.
   */
  readonly asIfExecuted?: ReadonlySet<number>;
}

/**
 * The concerns a script could change whatever runs it: those its text touches; all of them when it
 * holds values known only at apply time or runs other files.
 */
function scriptConcerns(text: string): Concern[] {
  const body = text.slice(text.indexOf("\n") + 1);
  if (hasMark(body) || /(^|\n)\s*(\/|\.\s|source\s|(ba|da)?sh\s)|https?:\/\//.test(body)) return [...ALL];
  return concernsOf(text);
}

/** Builds the boot program from cloud-init's parts. */
export function bootProgram(parts: readonly CloudInitPart[], options: BootProgramOptions = {}): BootProgram {
  const early: Runnable[] = [];
  const onceEarly: Runnable[] = [];
  const lateEveryBoot: Runnable[] = [];
  const scripts = new Map<string, Runnable>();
  const packages: string[] = [];
  const deferred: Runnable[] = [];
  const notes: string[] = [];
  const blind: Array<[Concern[], string]> = [];
  const cloudConfigKeys = new Set<string>();
  const dormant: DormantPart[] = [];
  parts.forEach((part, index) => {
    const origin = `part ${index + 1} (${part.contentType}${part.filename ? ` "${part.filename}"` : ""})`;
    // A part that is wholly a value known only at apply time can hold anything its type runs.
    const body = part.payload.replace(/^\s*#cloud-(config|boothook)[^\n]*\n/, "");
    if (wholly(body)) {
      blind.push([[...ALL], `${origin} is wholly a value known only at apply time (${references(body)}): it can hold anything a ${part.contentType} part runs`]);
      return;
    }
    const marked = part.markedHeaders ?? [];
    const typing = marked.find((m) => m.header !== "content-disposition");
    if (typing) {
      // The type or transfer encoding decides whether and how the part runs: it could run its text
      // as a script, or (encoded) anything at all.
      const concerns = typing.header === "content-transfer-encoding" ? [...ALL] : scriptConcerns(part.payload);
      if (concerns.length > 0) blind.push([concerns, `${origin}: its ${typing.header} header holds a value known only at apply time (${typing.references}): what cloud-init does with the part cannot be told`]);
      return;
    }
    const naming = marked.find((m) => m.header === "content-disposition");
    if (naming && SCRIPT_TYPES.has(part.contentType)) {
      // Scripts run in sorted file-name order, and a name can replace another part's file.
      const concerns = [...new Set(parts.filter((p) => SCRIPT_TYPES.has(p.contentType)).flatMap((p) => scriptConcerns(p.payload)))];
      if (concerns.length > 0) blind.push([concerns, `${origin}: its file name is known only at apply time (${naming.references}): the order cloud-init runs the scripts in, by name, cannot be told`]);
    }
    /** The text to run, or undefined when cloud-init cannot execute it (noted, and kept as dormant). */
    const runnableText = (written: string): string | undefined => {
      const text = dos2unix(written);
      const firstLine = text.slice(0, text.indexOf("\n") >>> 0);
      if (text.startsWith("#!") && hasMark(firstLine)) {
        const concerns = scriptConcerns(text);
        if (concerns.length > 0) blind.push([concerns, `${origin}'s #! line holds a value known only at apply time (${references(firstLine)}): which interpreter runs the part, with which options, cannot be told`]);
        return undefined;
      }
      const why = notExecutedWhy(text, origin);
      if (why === undefined) return text;
      if (options.asIfExecuted?.has(index)) return text.replace(/^\s+(?=#!)/, "");
      // A part that touches nothing the audit judges changes no outcome: not worth a note.
      if (concernsOf(text).length > 0) {
        notes.push(why);
        dormant.push({ index, why });
      }
      return undefined;
    };
    switch (part.contentType) {
      case "text/cloud-boothook": {
        // The boot hook handler strips its #cloud-boothook prefix and leading whitespace.
        const text = runnableText(dos2unix(part.payload).replace(/^#cloud-boothook/, "").replace(/^\s+/, ""));
        if (text !== undefined) early.push(shellRunnable(text, origin));
        break;
      }
      case "text/x-shellscript":
      case "text/x-shellscript-per-instance":
      case "text/x-shellscript-per-once": {
        const text = runnableText(part.payload);
        if (text !== undefined) scripts.set(part.filename, shellRunnable(text, origin));
        break;
      }
      case "text/x-shellscript-per-boot": {
        const text = runnableText(part.payload);
        if (text !== undefined) lateEveryBoot.push(shellRunnable(text, origin));
        break;
      }
      case "text/cloud-config": {
        let config: unknown;
        try {
          config = parseYaml(part.payload, { maxAliasCount: 100, prettyErrors: false });
        } catch (error) {
          blind.push([
            [...ALL],
            hasMark(part.payload)
              ? `${origin} is not valid YAML with the values known only at apply time in place (${references(part.payload)}): they decide its structure`
              : `${origin} is not valid YAML (${(error as Error).message.split("\n")[0]}): cloud-init would skip it`,
          ]);
          break;
        }
        if (config === null || typeof config !== "object" || Array.isArray(config)) {
          if (concernsOf(part.payload).length > 0) blind.push([[...ALL], `${origin} is not a YAML mapping`]);
          break;
        }
        const record = config as Record<string, unknown>;
        for (const [key, value] of Object.entries(record)) {
          // A key, or the modules and merge settings, decide what else cloud-init does with the part.
          if (hasMark(key)) blind.push([[...ALL], `${origin} has a key known only at apply time (${references(key)}): it could be runcmd, write_files or any module`]);
          else if (/^(cloud_(init|config|final)_modules|merge_how|merge_type)$/.test(key) && hasMark(JSON.stringify(value))) {
            blind.push([[...ALL], `${origin} ${key} holds a value known only at apply time (${references(JSON.stringify(value))}): which modules run cannot be told`]);
          }
        }
        for (const key of ["bootcmd", "runcmd", "write_files", "packages"]) {
          if (key in record && cloudConfigKeys.has(key)) blind.push([[...ALL], `${origin} sets ${key} again; how cloud-init merges the parts is not followed`]);
          if (key in record) cloudConfigKeys.add(key);
        }
        const bootcmd = commandList(record.bootcmd, `${origin} bootcmd`, blind);
        if (bootcmd !== undefined) early.push(shellRunnable(bootcmd, `${origin} bootcmd`));
        const runcmd = commandList(record.runcmd, `${origin} runcmd`, blind);
        if (runcmd !== undefined) scripts.set("runcmd", shellRunnable(runcmd, `${origin} runcmd`));
        if (Array.isArray(record.packages)) {
          for (const entry of record.packages) {
            const name = String(Array.isArray(entry) ? entry[0] : entry);
            // A package known only at apply time could be iptables-services or cronie.
            if (hasMark(name)) blind.push([["v4", "v6"], `${origin} packages holds a name known only at apply time (${references(name)}): it could install iptables-services or cronie`]);
            else packages.push(name);
          }
        }
        if (Array.isArray(record.write_files)) {
          for (const entry of record.write_files) {
            const file = writeFileRunnable(entry, origin, blind);
            if (file) (file.deferred ? deferred : onceEarly).push(file.runnable);
          }
        }
        break;
      }
      case "text/x-include-url":
      case "text/x-include-once-url":
        blind.push([[...ALL], `${origin} makes cloud-init download more user data at boot (${firstLine(part.payload)}), which the audit cannot see`]);
        break;
      case "text/part-handler":
      case "text/cloud-config-archive":
      case "text/cloud-config-jsonp":
      case "text/jinja2":
        blind.push([[...ALL], `${origin} is a ${part.contentType} part, which the audit does not read`]);
        break;
      default: {
        const decoded = encodedAgain(part.payload);
        if (decoded !== undefined && concernsOf(decoded).length > 0) {
          if (options.asIfExecuted?.has(index)) {
            if (decoded.startsWith("#!")) scripts.set(part.filename, shellRunnable(decoded, origin));
            break;
          }
          const why = `${origin} is base64 text, the user data encoded twice (base64encode() of text that is already base64, or base64 where the argument takes plain text): cloud-init does not decode it, so none of it runs`;
          notes.push(why);
          dormant.push({ index, why });
        } else if (concernsOf(part.payload).length > 0) notes.push(`${origin} is not a type cloud-init runs; it is ignored`);
        break;
      }
    }
  });
  const onceLate: Runnable[] = [];
  if (packages.length > 0) {
    onceLate.push({ origin: "cloud-config packages", run: (state) => packages.forEach((p) => state.installed.add(p)) });
  }
  onceLate.push(...deferred);
  // cloud-final's scripts_per_once, scripts_per_boot and scripts_per_instance, before scripts_user.
  onceLate.push({ origin: "cloud-init's script folders", run: (state) => runScriptFolders(state, true) });
  // scripts_user runs the instance's scripts folder in sorted file-name order; a later part with
  // the same file name replaced the earlier file.
  for (const name of [...scripts.keys()].sort(compareBytes)) onceLate.push(scripts.get(name) as Runnable);
  return { early, onceEarly, lateEveryBoot, onceLate, notes, blind, dormant };
}

function compareBytes(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

function firstLine(text: string): string {
  return text.split("\n").find((line) => line.trim() && !line.startsWith("#include"))?.trim() ?? text.split("\n")[0];
}

/** cloud-init's shellify: a string runs as a line; a list is quoted word by word. */
function commandList(value: unknown, origin: string, blind: Array<[Concern[], string]>): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    blind.push([[...ALL], hasMark(String(value)) ? `${origin} is known only at apply time (${references(String(value))}): it can run anything` : `${origin} is not a list`]);
    return undefined;
  }
  const lines: string[] = [];
  value.forEach((entry, index) => {
    const words = Array.isArray(entry) ? entry.map(String) : undefined;
    const text = words ? words.join(" ") : String(entry);
    // An entry that is wholly a value known only at apply time, or whose program is one, can run
    // anything; a value inside an entry is one word the shell reads as unknown.
    if (wholly(text) || (words !== undefined && hasMark(words[0] ?? ""))) {
      blind.push([[...ALL], `${origin} entry ${index + 1} is known only at apply time (${references(text)}): it can run anything`]);
      return;
    }
    lines.push(words ? words.map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(" ") : text);
  });
  return `#!/bin/sh\n${lines.join("\n")}\n`;
}

function writeFileRunnable(entry: unknown, origin: string, blind: Array<[Concern[], string]>): { runnable: Runnable; deferred: boolean } | undefined {
  if (entry === null || typeof entry !== "object") return undefined;
  const record = entry as Record<string, unknown>;
  const path = typeof record.path === "string" ? record.path : undefined;
  if (path === undefined) return undefined;
  const raw = record.content === undefined || record.content === null ? "" : String(record.content);
  if (hasMark(path)) {
    // The file could be ecs.config, a unit, a crontab or the saved rules.
    blind.push([[...ALL], `${origin} write_files path "${path}" is known only at apply time (${references(path)}): the file it writes could be any`]);
    return undefined;
  }
  const label = `${origin} write_files ${path}`;
  const encodingValue = String(record.encoding ?? "text");
  const encoding = encodingValue.toLowerCase();
  let content: Array<string | Unseen>;
  if (hasMark(encodingValue)) content = [{ unseen: `${path}'s content, whose encoding is known only at apply time (${references(encodingValue)})` }];
  else if (hasMark(raw) && !["text", "text/plain"].includes(encoding)) content = [{ unseen: `${path}'s ${encoding} content, which holds values known only at apply time (${references(raw)})` }];
  else if (["b64", "base64"].includes(encoding)) {
    const bytes = decodeBase64(raw.replace(/\s+/g, ""));
    content = [bytes ? bytes.toString("utf8") : { unseen: `${path} (bad base64 in ${origin})` }];
  } else if (["gz", "gzip", "gz+b64", "gz+base64", "gzip+b64", "gzip+base64"].includes(encoding)) {
    const bytes = encoding.includes("b") ? decodeBase64(raw.replace(/\s+/g, "")) : Buffer.from(raw, "latin1");
    const unzipped = bytes ? gunzipBounded(bytes) : "bad base64";
    content = [typeof unzipped === "string" ? { unseen: `${path} (${unzipped})` } : unzipped.toString("utf8")];
  } else if (!["text", "text/plain"].includes(encoding)) {
    blind.push([concernsOf(path), `${origin} write_files ${path} uses encoding ${encoding}`]);
    content = [{ unseen: path }];
  } else content = segmentsOf(raw); // A value inside the text is an unseen piece where it stands.
  const fileConcerns = concernsOf(`${path}\n${raw}`).length > 0 || !/^\/etc\/(systemd|cron|rc\.|docker|sysconfig|ecs)|^\/var\/spool\/cron/.test(path) ? concernsOf(`${path}\n${raw}`) : [...ALL];
  for (const key of ["defer", "permissions"]) {
    // When it is written, or whether it may run (rc.local), is known only at apply time.
    if (hasMark(JSON.stringify(record[key] ?? "")) && fileConcerns.length > 0) blind.push([fileConcerns, `${label}: ${key} is known only at apply time (${references(JSON.stringify(record[key]))})`]);
  }
  const appendUnknown = hasMark(JSON.stringify(record.append ?? ""));
  const append = record.append === true;
  const executable = permissionsExecutable(record.permissions);
  return {
    deferred: record.defer === true,
    runnable: {
      origin: label,
      run: (state) => {
        const existing = state.files.get(path);
        const before: ReadonlyArray<string | Unseen> = appendUnknown
          ? [{ unseen: `whether ${label} appends (${references(JSON.stringify(record.append))})` }]
          : append && existing
            ? existing.kind === "text"
              ? existing.segments
              : [{ unseen: path }]
            : [];
        state.files.set(path, { kind: "text", segments: [...before, ...content] });
        if (executable) state.executable.add(path);
        else state.executable.delete(path);
      },
    },
  };
}

/** Boots the instance: every-boot parts, then (first boot only) once-per-instance parts. */
export function boot(program: BootProgram, state: InstanceState, first: boolean): void {
  state.powerOn();
  // systemd reads its units, links, rc.local and crontabs as the boot begins.
  const plan = planBoot(state);
  state.startEnabledFirewallServices();
  for (const step of program.early) step.run(state);
  if (first) for (const step of program.onceEarly) step.run(state);
  runBootPlan(state, plan);
  for (const step of program.lateEveryBoot) step.run(state);
  // At the first boot the script folders run inside onceLate, after deferred files.
  if (!first) runScriptFolders(state, false);
  if (first) for (const step of program.onceLate) step.run(state);
  // ecs.service starts after cloud-final.
  state.beforeAgentStart?.(state);
  startAgentService(state);
}

export { knownText };
