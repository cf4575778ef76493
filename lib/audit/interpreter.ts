/**
 * Follows shell text (as mvdan/sh parses it) over the emulated instance without running it.
 * Recognised: iptables and ip6tables (long and short options, -I/-A/-D/-C/-N/-F/-X/-P/-L),
 * iptables-restore and -save, the iptables service (systemctl, service), Docker restarts, package
 * installs, and the ways people write files (echo/printf/cat/tee with >, >>, pipes, heredocs and
 * here-strings, cp, mv, rm, simple sed -i); if, case, for, while/until round by round, functions,
 * subshells. A value known only at apply time is an unseen piece of its word; alone on a line it may
 * be any lines, and every concern is unknown from there. Anything else that mentions the firewall or
 * ecs.config marks that concern unknown.
 */
import { Family, FilterTable, cloneTable } from "./firewall";
import {
  applyIptables,
  Concern,
  ALL_CONCERNS,
  ECS_CONFIG,
  FileContent,
  InstanceState,
  knownText,
  restoreText,
  textWithReferences,
  Unseen,
} from "./instance";
import { parseShell, Redirect, Reference, ShellNode, Word, WordPiece } from "./shell";
import { UNKNOWN_END, UNKNOWN_START } from "./sources";
import { chmod, crontab, daemonReload, dockerAction, link, unitAction } from "./units";

/** How the concerns a text touches are found. */
const CONCERN_PATTERNS: ReadonlyArray<readonly [Concern, RegExp]> = [
  ["v4", /iptables|DOCKER-USER|169\.254\.169\.254|\bFORWARD\b|sysconfig\/iptables|(systemctl|service)\b.*\bdocker\b/i],
  ["v6", /ip6tables|fd00:ec2|DOCKER-USER|\bFORWARD\b|(systemctl|service)\b.*\bdocker\b/i],
  ["ecs", /ecs\.config|ECS_AWSVPC_BLOCK_IMDS|\/etc\/ecs\b/],
];

/**
 * iptables commands of the nat table that cannot change whether a container reaches IMDS: listing
 * it, or source NAT in POSTROUTING (a NAT instance's MASQUERADE), when they do not name IMDS.
 */
const NAT_WITHOUT_IMDS = /\b(?:sudo\s+)?(?:\S*\/)?ip6?tables(?:-legacy|-nft)?\s+-t\s+nat\s+(?:-[AI]\s+POSTROUTING\b|-[LS]\b|-n\s+-L\b|--list\b)[^\n;|&)]*/g;

/** The concerns a piece of text touches. */
export function concernsOf(text: string): Concern[] {
  const relevant = text.replace(NAT_WITHOUT_IMDS, (command) => (/169\.254\.169\.254|fd00:ec2/i.test(command) ? command : ""));
  return CONCERN_PATTERNS.filter(([, pattern]) => pattern.test(relevant)).map(([concern]) => concern);
}

type Output = ReadonlyArray<string | Unseen> | { readonly saved: FilterTable; readonly family: Family };
/** A command's exit status, or "unknown" when the audit cannot tell it. */
export type Status = number | "unknown";

interface Context {
  readonly state: InstanceState;
  readonly origin: string;
  readonly env: Map<string, string | undefined>;
  readonly functions: Map<string, ShellNode>;
  readonly positional: ReadonlyArray<string | undefined>;
  errexit: boolean;
  readonly depth: number;
  /** How many loops enclose the command (`break` outside a loop does nothing). */
  loops: number;
}

class Exit {
  constructor(readonly status: number) {}
}

/** `break N` / `continue N` leaving the loops they name. */
class LoopJump {
  constructor(
    readonly kind: "break" | "continue",
    public levels: number,
  ) {}
}

/** A loop that never ends: nothing after it runs. */
class Hang {
  constructor(readonly why: string) {}
}

const MAX_DEPTH = 8;
/** A loop still going after this many rounds in the model is taken as one that does not end. */
const MAX_ITERATIONS = 64;

// Every-boot parts run at each boot of the timeline: each text is parsed once.
const PARSED = new Map<string, ShellNode>();

function parsed(text: string): ShellNode {
  let tree = PARSED.get(text);
  if (!tree) {
    if (PARSED.size > 256) PARSED.clear();
    tree = parseShell(text);
    PARSED.set(text, tree);
  }
  return tree;
}

/** Runs a script's text over the state. `origin` names it in reasons. Returns its exit status. */
export function interpretScript(state: InstanceState, text: string, origin: string, options: { errexit?: boolean } = {}): Status {
  return runText(state, text, origin, options.errexit ?? false, new Map(), 0);
}

function runText(state: InstanceState, text: string, origin: string, errexit: boolean, env: Map<string, string | undefined>, depth: number): Status {
  const shebang = /^#!\s*(\S+)(.*)$/.exec(text.slice(0, text.indexOf("\n") >>> 0));
  let exitOnError = errexit;
  if (shebang) {
    const program = shebang[1];
    if (!/\/(ba|da|z|k)?sh$|\/env$/.test(program) || (/\/env$/.test(program) && !/\b(ba|da)?sh\b/.test(shebang[2]))) {
      const concerns = concernsOf(text);
      if (concerns.length > 0) state.markUnknown(concerns, `${origin} is run by ${shebang[1]}${shebang[2]}, not a shell the audit reads`);
      return "unknown";
    }
    if (/(^|\s)-[a-z]*e/.test(shebang[2])) exitOnError = true;
  }
  const tree = parsed(text);
  const context: Context = { state, origin, env, functions: new Map(), positional: [], errexit: exitOnError, depth, loops: 0 };
  try {
    return execute(tree, context);
  } catch (signal) {
    if (signal instanceof Exit) return signal.status;
    if (signal instanceof Hang && depth === 0) {
      state.markUnknown(ALL_CONCERNS, signal.why);
      return "unknown";
    }
    throw signal;
  }
}

function execute(node: ShellNode, context: Context, stdin?: Output): Status {
  switch (node.kind) {
    case "list": {
      let status: Status = 0;
      for (const item of node.items) {
        status = execute(item, context);
        failIfErrexit(status, context);
      }
      return status;
    }
    case "andor": {
      let status = executeGuarded(node.first, context);
      for (const [op, next] of node.rest) {
        if (status === "unknown") {
          opaque(context, textOf(next), `it runs only depending on a command whose result the audit cannot tell`);
          continue;
        }
        if ((op === "&&" && status === 0) || (op === "||" && status !== 0)) status = executeGuarded(next, context);
      }
      return status;
    }
    case "pipeline": {
      let input: Output | undefined = stdin;
      let status: Status = 0;
      for (const command of node.commands) {
        const result = runCommand(command, context, input);
        input = result.stdout;
        status = result.status;
      }
      if (node.negate) return status === "unknown" ? status : status === 0 ? 1 : 0;
      return status;
    }
    case "simple":
      return runCommand(node, context, stdin).status;
    case "if": {
      for (const [condition, body] of node.branches) {
        const status = executeGuarded(condition, context);
        if (status === "unknown") {
          opaque(context, textOf(node), "it branches on a test the audit cannot evaluate");
          return "unknown";
        }
        if (status === 0) return execute(body, context);
      }
      return node.otherwise ? execute(node.otherwise, context) : 0;
    }
    case "for": {
      const values = node.values === undefined ? [...context.positional] : node.values.flatMap((word) => expandWords(word, context));
      if (values.some((v) => v === undefined)) {
        opaque(context, textOf(node.body), "it loops over values the audit cannot see");
        return "unknown";
      }
      let status: Status = 0;
      for (const value of values) {
        context.env.set(node.variable, value);
        const round = loopRound(context, () => execute(node.body, context));
        if (round === "break") break;
        status = round;
      }
      return status;
    }
    case "loop":
      return runLoop(node, context);
    case "case":
      return runCase(node, context);
    case "function":
      context.functions.set(node.name, node.body);
      return 0;
    case "group": {
      const inner: Context = node.subshell ? { ...context, env: new Map(context.env) } : context;
      if (node.redirects.length > 0 && concernsOf(textOf(node.body)).length > 0) {
        opaque(context, textOf(node.body), "its output is redirected as a whole");
        return "unknown";
      }
      try {
        return execute(node.body, inner);
      } catch (signal) {
        if (signal instanceof Exit && node.subshell) return signal.status;
        throw signal;
      }
    }
    case "opaque":
      opaque(context, node.text, `the audit does not follow ${node.why}`);
      return "unknown";
  }
}

/** A command whose failure is tested (in an if, or before && / ||): errexit does not apply. */
function executeGuarded(node: ShellNode, context: Context): Status {
  const saved = context.errexit;
  context.errexit = false;
  try {
    return execute(node, context);
  } finally {
    context.errexit = saved;
  }
}

function failIfErrexit(status: Status, context: Context): void {
  if (context.errexit && typeof status === "number" && status !== 0) throw new Exit(status);
}

function opaque(context: Context, text: string, why: string): void {
  const concerns = concernsOf(text);
  if (concerns.length > 0) context.state.markUnknown(concerns, `${context.origin}: \`${oneLine(text)}\`: ${why}`);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*\\\n\s*/g, " ").replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}

function textOf(node: ShellNode): string {
  switch (node.kind) {
    case "simple":
      return node.text + node.redirects.map((r) => r.heredoc?.raw ?? "").join("");
    case "opaque":
      return node.text;
    case "list":
      return node.items.map(textOf).join("\n");
    case "andor":
      return [node.first, ...node.rest.map(([, n]) => n)].map(textOf).join(" ");
    case "pipeline":
      return node.commands.map(textOf).join(" | ");
    case "if":
      return node.branches.flatMap(([c, b]) => [textOf(c), textOf(b)]).join("\n") + (node.otherwise ? textOf(node.otherwise) : "");
    case "loop":
    case "case":
      return node.text;
    case "for":
    case "function":
    case "group":
      return textOf(node.body);
  }
}

/**
 * Expands a word to one string, or undefined when part of it is unknown. With `markReferences`, for
 * a word that is shell text for another shell (`sh -c '...'`, `su -c "..."`), Terraform's references
 * stay marked as references (U+E000 expression U+E001), so the inner parse reads them as values known
 * only at apply time, in a word or on lines of their own, and never as text.
 */
function expandWord(word: Word, context: Context, markReferences = false): string | undefined {
  let out = "";
  for (const piece of word.pieces) {
    if (piece.kind === "text") out += piece.value;
    else if (piece.kind === "param") {
      const value = paramValue(piece.name, context);
      if (value === undefined) return undefined;
      out += value;
    } else if (piece.kind === "reference" && markReferences) out += `${UNKNOWN_START}${piece.expression.replace(/[\ue000\ue001]/g, " ")}${UNKNOWN_END}`;
    else return undefined;
  }
  return out;
}

const SHELLS = new Set(["sh", "bash", "dash", "su"]);

/** The script text of `[wrappers] sh|bash|dash|su ... -c SCRIPT` when SCRIPT holds references, with them marked. */
function scriptWithReferences(node: ShellNode & { kind: "simple" }, args: ReadonlyArray<string | undefined>, context: Context): string | undefined {
  const name = args[0] === undefined ? undefined : basename(args[0]);
  if (name === undefined || !SHELLS.has(name)) return undefined;
  const dashC = args.indexOf("-c");
  if (dashC < 0 || args[dashC + 1] !== undefined) return undefined;
  // The -c argument is the word after the last "-c" word in the command.
  const at = node.words.map((w) => w.raw).lastIndexOf("-c");
  const word = at >= 0 ? node.words[at + 1] : undefined;
  if (word === undefined || referencesIn(word).length === 0) return undefined;
  return expandWord(word, context, true);
}

/** Expands a word with field splitting of a lone unquoted parameter and bash's brace expansion of a literal word. */
function expandWords(word: Word, context: Context): Array<string | undefined> {
  const only = word.pieces.length === 1 ? word.pieces[0] : undefined;
  if (only?.kind === "param" && !only.quoted) {
    if (only.name === "@" || only.name === "*") return [...context.positional];
    const value = paramValue(only.name, context);
    return value === undefined ? [undefined] : value.split(/[ \t\n]+/).filter((v) => v.length > 0);
  }
  if (only?.kind === "param" && only.quoted && only.name === "@") return [...context.positional];
  if (only?.kind === "text" && !only.quoted) return braceExpansion(only.value);
  return [expandWord(word, context)];
}

/** `{1..30}`, `{a,b}` with a prefix and suffix, as bash expands them (one brace group). */
function braceExpansion(text: string): string[] {
  const range = /^(.*?)\{(-?\d+)\.\.(-?\d+)\}(.*)$/s.exec(text);
  if (range) {
    const [from, to] = [Number(range[2]), Number(range[3])];
    if (Math.abs(to - from) > 10_000) return [text];
    const step = from <= to ? 1 : -1;
    const out: string[] = [];
    for (let i = from; i !== to + step; i += step) out.push(`${range[1]}${i}${range[4]}`);
    return out;
  }
  const list = /^(.*?)\{([^{}]*,[^{}]*)\}(.*)$/s.exec(text);
  if (list) return list[2].split(",").map((item) => `${list[1]}${item}${list[3]}`);
  return [text];
}

function paramValue(name: string, context: Context): string | undefined {
  if (/^\d$/.test(name)) return name === "0" ? "sh" : context.positional[Number(name) - 1];
  if (name === "#") return String(context.positional.length);
  if (!context.env.has(name)) return undefined;
  const value = context.env.get(name);
  // A value holding Terraform's references is read only through inlineReferences.
  return value?.includes(UNKNOWN_START) ? undefined : value;
}

/**
 * Parameters whose value was assigned from a word holding Terraform's references (`cluster="${x}"`)
 * are replaced by that value's pieces, so `$cluster` reads as the reference it holds: inside a word
 * it is that word only, as written directly.
 */
function inlineReferences(word: Word, context: Context): Word {
  if (!word.pieces.some((piece) => piece.kind === "param" && context.env.get(piece.name)?.includes(UNKNOWN_START))) return word;
  const pieces: WordPiece[] = [];
  for (const piece of word.pieces) {
    const value = piece.kind === "param" ? context.env.get(piece.name) : undefined;
    if (piece.kind !== "param" || value === undefined || !value.includes(UNKNOWN_START)) {
      pieces.push(piece);
      continue;
    }
    value.split(/(\ue000[^\ue001]*\ue001)/).forEach((part, index) => {
      if (index % 2 === 1) pieces.push({ kind: "reference", expression: part.slice(1, -1), wholeLine: false });
      else if (part !== "") pieces.push({ kind: "text", value: part, quoted: piece.quoted });
    });
  }
  return { ...word, pieces };
}

function inlineRedirect(redirect: Redirect, context: Context): Redirect {
  return { ...redirect, target: inlineReferences(redirect.target, context), ...(redirect.heredoc ? { heredoc: inlineReferences(redirect.heredoc, context) } : {}) };
}

/** The reference a command's name is made of, if any. */
function spliceOf(word: Word | undefined): Reference | undefined {
  const references = referencesIn(word);
  return references.find((r) => r.wholeLine) ?? references[0];
}

/** How a reference reads in a reason: `${var.extra_bootstrap}`. */
function shown(reference: Reference): string {
  return `\`\${${reference.expression}}\``;
}

/** The reason for a reference spliced in as whole lines. */
function wholeLineReason(reference: Reference, origin: string): string {
  return `${origin}: ${shown(reference)} is spliced in as whole lines, known only at apply time: it may flush DOCKER-USER or append ECS_AWSVPC_BLOCK_IMDS=false`;
}

function referencesIn(word: Word | undefined): Reference[] {
  return (word?.pieces ?? []).filter((piece): piece is Reference => piece.kind === "reference");
}

/** Runs one round of a loop body; `break` ends the loop, `continue` the round. */
function loopRound(context: Context, run: () => Status): Status | "break" {
  context.loops += 1;
  try {
    return run();
  } catch (signal) {
    if (!(signal instanceof LoopJump)) throw signal;
    if (signal.levels > 1) {
      signal.levels -= 1;
      throw signal;
    }
    return signal.kind === "break" ? "break" : 0;
  } finally {
    context.loops -= 1;
  }
}

/**
 * `while` and `until`, round by round over the model. A condition the audit cannot evaluate marks
 * what the loop touches unknown; a loop that waits for a chain only Docker creates, before Docker
 * runs, never ends.
 */
function runLoop(node: ShellNode & { kind: "loop" }, context: Context): Status {
  let status: Status = 0;
  for (let round = 0; round < MAX_ITERATIONS; round++) {
    const condition = executeGuarded(node.condition, context);
    if (condition === "unknown") {
      opaque(context, node.text, "it loops on a test the audit cannot evaluate");
      return "unknown";
    }
    if ((condition === 0) === node.until) return status;
    const result = loopRound(context, () => execute(node.body, context));
    if (result === "break") return 0;
    status = result;
  }
  const waited = /\b(DOCKER(?:-USER|-ISOLATION-STAGE-[12])?)\b/.exec(textOf(node.condition));
  if (waited && !context.state.dockerRunning) {
    throw new Hang(
      `${context.origin}: \`${oneLine(node.text)}\` waits for ${waited[1]}, which only Docker creates, but it runs before Docker starts (a boothook or bootcmd): ` +
        "the loop never ends by itself, so cloud-init waits on this part and nothing after it in the user data runs, nor the ECS agent, which starts after cloud-final",
    );
  }
  // What ends it may come from outside the model (another service, the network): what it touches is unknown.
  opaque(context, node.text, `it does not end in ${MAX_ITERATIONS} rounds over what the audit models`);
  return "unknown";
}

/** `case`: the first item whose pattern matches runs (`;&` falls through, `;;&` tests on). */
function runCase(node: ShellNode & { kind: "case" }, context: Context): Status {
  const subject = expandWord(node.word, context);
  if (subject === undefined) {
    opaque(context, node.text, "it branches on a value the audit cannot see");
    return "unknown";
  }
  let status: Status = 0;
  let falling = false;
  for (const item of node.items) {
    if (!falling) {
      const patterns = item.patterns.map((pattern) => expandWord(pattern, context));
      if (patterns.some((p) => p === undefined)) {
        opaque(context, node.text, "one of its patterns is a value the audit cannot see");
        return "unknown";
      }
      if (!patterns.some((p) => globMatch(p as string, subject))) continue;
    }
    status = execute(item.body, context);
    if (item.then === "stop") return status;
    falling = item.then === "fallthrough";
  }
  return status;
}

/** A shell glob (`*`, `?`, `[...]`) matched against a whole value. */
function globMatch(pattern: string, value: string): boolean {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else if (char === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) source += "\\[";
      else {
        source += `[${pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else if (char === "\\" && i + 1 < pattern.length) source += pattern[++i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    else source += char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "s").test(value);
}

interface CommandResult {
  readonly status: Status;
  readonly stdout?: Output;
}

const WRAPPERS = new Set(["sudo", "env", "command", "nohup", "time", "exec", "builtin"]);

function runCommand(written: ShellNode, context: Context, stdin: Output | undefined): CommandResult {
  if (written.kind !== "simple") return { status: execute(written, context, stdin) };
  const node = { ...written, words: written.words.map((word) => inlineReferences(word, context)), redirects: written.redirects.map((redirect) => inlineRedirect(redirect, context)) };
  const { state } = context;
  const spliced = spliceOf(node.words[0]);
  if (spliced) {
    state.markUnknown(ALL_CONCERNS, spliced.wholeLine ? wholeLineReason(spliced, context.origin) : `${context.origin}: \`${oneLine(node.text)}\` runs a command named by ${shown(spliced)}, known only at apply time`);
    return { status: "unknown", stdout: [{ unseen: `the output of ${shown(spliced)}` }] };
  }
  for (const [name, value] of node.assignments) {
    if (node.words.length === 0) context.env.set(name, expandWord(value, context) ?? expandWord(inlineReferences(value, context), context, true));
  }
  let args = node.words.flatMap((word) => expandWords(word, context));
  // Wrappers that run the rest as a command.
  while (args.length > 0 && args[0] !== undefined && WRAPPERS.has(basename(args[0]))) {
    const wrapper = basename(args[0]);
    args = args.slice(1);
    while (args.length > 0 && args[0] !== undefined && (args[0].startsWith("-") || (wrapper === "env" && /^[A-Za-z_][A-Za-z0-9_]*=/.test(args[0])))) {
      const flag = args[0];
      args = args.slice(wrapper === "sudo" && /^-[ugCDhprtT]$/.test(flag) ? 2 : 1);
    }
  }
  let input: Output | undefined = stdin;
  const outputs: Redirect[] = [];
  for (const redirect of node.redirects) {
    if (redirect.heredoc) {
      input = mergeText(wordSegments(redirect.heredoc, context));
    } else if (redirect.op === "<<<") {
      input = mergeText([...wordSegments(redirect.target, context), "\n"]);
    } else if (redirect.op === "<") {
      const path = expandWord(redirect.target, context);
      input = path === undefined ? [{ unseen: "input from an unknown file" }] : contentAsOutput(state.files.get(path), path);
    } else if (redirect.op !== "<&") outputs.push(redirect);
  }
  if (args.length === 0) return { status: 0 };
  let result: CommandResult;
  const script = scriptWithReferences(node, args, context);
  if (script !== undefined) {
    const dashC = args.indexOf("-c");
    result = runShell(basename(args[0] as string), [...(args.slice(1, dashC + 1) as string[]), script], node, context, input);
  } else if (args.some((a) => a === undefined)) {
    // echo and printf of values seen only at boot still write known text around them.
    const printer = args[0] === undefined ? undefined : basename(args[0]);
    // The words after the printer's own word (after any wrapper such as sudo).
    const at = node.words.findIndex((word) => word.raw === args[0]);
    const partial = (printer === "echo" || printer === "printf") && at >= 0 ? partialOutput(printer, node.words.slice(at + 1), context) : undefined;
    if (partial === undefined && (args[0] === undefined || concernsOf(node.text).length > 0)) {
      opaque(context, textOf(node), "part of it is only known when the instance runs it");
      return { status: "unknown", stdout: [{ unseen: node.text }] };
    }
    result = partial ?? builtin(args.map((a) => a ?? ""), node, context, input);
  } else {
    result = builtin(args as string[], node, context, input);
  }
  // Output redirections of the command's standard output.
  let stdout = result.stdout;
  for (const redirect of outputs) {
    if (redirect.fd !== undefined && redirect.fd !== 1) continue;
    if (redirect.op === ">&" || redirect.op === "<&") continue;
    const path = expandWord(redirect.target, context);
    if (path === "/dev/null") {
      stdout = undefined;
      continue;
    }
    const named = referencesIn(redirect.target)[0];
    if (named) {
      state.markUnknown(ALL_CONCERNS, `${context.origin}: \`${oneLine(node.text)}\` writes to a path known only at apply time (${shown(named)}): it may be ${ECS_CONFIG} or a rules file`);
      stdout = undefined;
      continue;
    }
    if (path === undefined) {
      opaque(context, textOf(node), "it writes to a file whose name the audit cannot see");
      stdout = undefined;
      continue;
    }
    writeFile(state, path, stdout ?? [], redirect.op === ">>" || redirect.op === "&>>");
    stdout = undefined;
  }
  return { status: result.status, ...(stdout !== undefined ? { stdout } : {}) };
}

function contentAsOutput(content: FileContent | undefined, path: string): Output {
  if (content === undefined) return [{ unseen: `${path}, which the user data does not write` }];
  if (content.kind === "saved") return { saved: content.table, family: content.family };
  return content.segments;
}

function writeFile(state: InstanceState, path: string, output: Output, append: boolean): void {
  if ("saved" in output) {
    const saved = output as { saved: FilterTable; family: Family };
    state.files.set(path, { kind: "saved", family: saved.family, table: cloneTable(saved.saved), origin: path });
    return;
  }
  const segments = output as ReadonlyArray<string | Unseen>;
  const existing = state.files.get(path);
  if (append && existing !== undefined) {
    const before = existing.kind === "text" ? existing.segments : [{ unseen: `${path} as saved by iptables-save` }];
    state.files.set(path, { kind: "text", segments: mergeText([...before, ...segments]) });
  } else {
    state.files.set(path, { kind: "text", segments: mergeText(segments) });
  }
}

/** Adjacent known pieces joined, so a file appended to line by line stays one string. */
function mergeText(segments: ReadonlyArray<string | Unseen>): Array<string | Unseen> {
  const out: Array<string | Unseen> = [];
  for (const segment of segments) {
    const last = out[out.length - 1];
    if (typeof segment === "string" && typeof last === "string") out[out.length - 1] = last + segment;
    else out.push(segment);
  }
  return out;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function builtin(args: readonly string[], node: ShellNode & { kind: "simple" }, context: Context, stdin: Output | undefined): CommandResult {
  const { state, origin } = context;
  const name = basename(args[0]);
  const rest = args.slice(1);
  const ip = /^(ip6?tables)(-legacy|-nft)?(-restore|-save)?$/.exec(name);
  if (ip) {
    const family: Family = ip[1] === "ip6tables" ? "v6" : "v4";
    if (ip[3] === "-save") return { status: 0, stdout: { saved: cloneTable(state.tables[family]), family } };
    if (ip[3] === "-restore") {
      const noflush = rest.includes("-n") || rest.includes("--noflush");
      const file = rest.find((a) => !a.startsWith("-"));
      const content = file !== undefined ? contentAsOutput(state.files.get(file), file) : stdin;
      return { status: restoreOutput(state, family, content, { flush: !noflush, origin: `${origin}: ${oneLine(node.text)}` }) };
    }
    return { status: applyIptables(state, family, rest, origin, oneLine(node.text)) };
  }
  switch (name) {
    case "true":
    case ":":
      return { status: 0 };
    case "false":
      return { status: 1 };
    case "exit":
    case "return":
      throw new Exit(Number(rest[0] ?? 0) || 0);
    case "break":
    case "continue":
      // Outside a loop bash complains and goes on.
      if (context.loops === 0) return { status: 0 };
      throw new LoopJump(name, Math.min(context.loops, Math.max(1, Number(rest[0] ?? 1) || 1)));
    case "((":
      // Arithmetic is not computed: its status is unknown.
      return { status: "unknown" };
    case "set":
      for (let i = 0; i < rest.length; i++) {
        const flag = rest[i];
        if (/^-[a-z]*e/.test(flag)) context.errexit = true;
        if (/^\+[a-z]*e/.test(flag)) context.errexit = false;
        if ((flag === "-o" || flag === "+o") && rest[i + 1] === "errexit") context.errexit = flag === "-o";
      }
      return { status: 0 };
    case "export":
    case "local":
    case "readonly":
    case "declare":
    case "typeset":
      for (const arg of rest) {
        const eq = arg.indexOf("=");
        if (eq > 0) context.env.set(arg.slice(0, eq), arg.slice(eq + 1));
      }
      return { status: 0 };
    case "echo": {
      let newline = true;
      let escapes = false;
      let index = 0;
      while (index < rest.length && /^-[neE]+$/.test(rest[index])) {
        if (rest[index].includes("n")) newline = false;
        if (rest[index].includes("e")) escapes = true;
        index++;
      }
      let text = rest.slice(index).join(" ");
      if (escapes) text = text.replace(/\\n/g, "\n").replace(/\\t/g, "\t").replace(/\\\\/g, "\\");
      return { status: 0, stdout: [newline ? `${text}\n` : text] };
    }
    case "printf": {
      const formatted = printf(rest);
      return { status: 0, stdout: [formatted ?? { unseen: `printf ${rest.join(" ")}` }] };
    }
    case "cat": {
      const files = rest.filter((a) => !a.startsWith("-") || a === "-");
      if (files.length === 0) return { status: 0, stdout: stdin ?? [] };
      const out: Array<string | Unseen> = [];
      for (const file of files) {
        const content = file === "-" ? stdin : contentAsOutput(state.files.get(file), file);
        if (content === undefined) continue;
        if ("saved" in content) return { status: 0, stdout: content };
        out.push(...(content as ReadonlyArray<string | Unseen>));
      }
      return { status: 0, stdout: out };
    }
    case "tee": {
      const append = rest.some((a) => a === "-a" || a === "--append");
      for (const file of rest.filter((a) => !a.startsWith("-"))) {
        if (file !== "/dev/null") writeFile(state, file, stdin ?? [], append);
      }
      return { status: 0, stdout: stdin ?? [] };
    }
    case "touch":
      for (const file of rest.filter((a) => !a.startsWith("-"))) if (!state.files.has(file)) state.files.set(file, { kind: "text", segments: [] });
      return { status: 0 };
    case "rm":
      for (const file of rest.filter((a) => !a.startsWith("-"))) state.files.delete(file);
      return { status: 0 };
    case "cp":
    case "mv": {
      const paths = rest.filter((a) => !a.startsWith("-"));
      if (paths.length !== 2) {
        opaque(context, node.text, `${name} with ${paths.length} paths is not followed`);
        return { status: "unknown" };
      }
      const [from, to] = paths;
      const content = state.files.get(from);
      if (content === undefined) {
        if (concernsOf(`${from} ${to}`).length > 0) state.files.set(to, { kind: "text", segments: [{ unseen: `${from}, copied by ${origin}` }] });
        return { status: concernsOf(`${from} ${to}`).length > 0 ? "unknown" : 0 };
      }
      state.files.set(to, content);
      if (name === "mv") state.files.delete(from);
      return { status: 0 };
    }
    case "sed":
      return sedInPlace(rest, node, context);
    case "chmod":
      return { status: chmod(state, rest) };
    case "ln":
      return { status: link(state, rest) };
    case "crontab": {
      const input = stdin === undefined || "saved" in stdin ? undefined : (stdin as ReadonlyArray<string | Unseen>);
      return crontab(state, rest, input, `${origin}: ${oneLine(node.text)}`);
    }
    case "mkdir":
    case "chown":
    case "chgrp":
    case "sleep":
    case "logger":
    case "cd":
    case "umask":
    case "trap":
    case "sync":
    case "modprobe":
    case "hostnamectl":
    case "sysctl":
    case "shift":
    case "unset":
      return { status: 0 };
    case "yum":
    case "dnf":
    case "apt-get":
    case "apt":
    case "amazon-linux-extras": {
      const verb = rest.find((a) => !a.startsWith("-"));
      if (verb === "install") {
        for (const pkg of rest.filter((a) => !a.startsWith("-") && a !== "install")) state.installed.add(pkg);
      }
      return { status: 0 };
    }
    case "systemctl":
      return systemctl(rest, context);
    case "service":
      return service(rest, context);
    case "bash":
    case "sh":
    case "dash":
    case "su":
    case "source":
    case ".":
      return runShell(name, rest, node, context, stdin);
    case "curl":
    case "wget":
    case "aws":
    case "gsutil":
    case "scp":
    case "rsync": {
      // Downloads: whatever file they write is content the audit cannot see.
      const out = rest.findIndex((a) => ["-o", "-O", "--output", "--output-document"].includes(a));
      const target = name === "aws" ? rest.filter((a) => !a.startsWith("-"))[3] : out >= 0 ? rest[out + 1] : undefined;
      if (target !== undefined && target !== "-") state.files.set(target, { kind: "text", segments: [{ unseen: `${target}, downloaded by ${origin}` }] });
      return { status: 0, stdout: [{ unseen: `the output of ${name}` }] };
    }
    case "test":
    case "[":
    case "[[":
      return testCommand(rest, context, node);
    case "grep":
      return grep(rest, node, context, stdin);
    default:
      break;
  }
  const fn = context.functions.get(name);
  if (fn) {
    if (context.depth >= MAX_DEPTH) {
      opaque(context, node.text, "functions call each other too deeply");
      return { status: "unknown" };
    }
    const inner: Context = { ...context, positional: rest, depth: context.depth + 1 };
    try {
      return { status: execute(fn, inner) };
    } catch (signal) {
      if (signal instanceof Exit) return { status: signal.status };
      throw signal;
    }
  }
  if (args[0].includes("/")) return runShell("sh", [args[0], ...rest], node, context, stdin);
  const concerns = concernsOf(node.text + (stdin && !("saved" in stdin) ? stdin.filter((s): s is string => typeof s === "string").join("") : ""));
  if (concerns.length > 0) {
    state.markUnknown(concerns, `${origin}: \`${oneLine(node.text)}\` is not a command the audit follows`);
    return { status: "unknown" };
  }
  return { status: 0, stdout: [{ unseen: `the output of ${name}` }] };
}

function restoreOutput(state: InstanceState, family: Family, content: Output | undefined, options: { flush: boolean; origin: string }): Status {
  if (content === undefined) return 0;
  if ("saved" in content) {
    const saved = content as { saved: FilterTable };
    state.tables[family] = cloneTable(saved.saved);
    return 0;
  }
  const segments = content as ReadonlyArray<string | Unseen>;
  if (segments.some((s) => typeof s !== "string")) {
    state.tables[family] = { ...state.tables[family], unknown: `${options.origin} restores rules the audit cannot see` };
    return "unknown";
  }
  return restoreText(state, family, segments.join(""), options) ? 0 : 1;
}

function printf(args: readonly string[]): string | undefined {
  if (args.length === 0) return "";
  const [format, ...values] = args;
  let index = 0;
  let out = "";
  const unescape = (s: string) => s.replace(/\\n/g, "\n").replace(/\\t/g, "\t").replace(/\\\\/g, "\\");
  // printf reuses the format until every value is consumed.
  do {
    let unsupported = false;
    out += unescape(format).replace(/%([%sbd])/g, (_, conversion: string) => {
      if (conversion === "%") return "%";
      const value = values[index++] ?? "";
      if (conversion === "b") return unescape(value);
      if (conversion === "d") return String(Number(value) || 0);
      return value;
    });
    if (/%[^%sbd]/.test(format)) unsupported = true;
    if (unsupported) return undefined;
  } while (index < values.length && /%[sbd]/.test(format));
  return out;
}

function systemctl(args: readonly string[], context: Context): CommandResult {
  const words = args.filter((a) => !a.startsWith("-"));
  const now = args.includes("--now");
  const [verb, ...units] = words;
  if (verb === "daemon-reload") daemonReload(context.state);
  let status: Status = 0;
  for (const unit of units.map((u) => u.replace(/\.service$/, ""))) {
    const result = serviceAction(unit, verb, context, now);
    if (result !== 0) status = result;
  }
  return { status };
}

function service(args: readonly string[], context: Context): CommandResult {
  const [unit, verb] = args;
  if (unit === undefined || verb === undefined) return { status: 0 };
  return { status: serviceAction(unit, verb, context, false) };
}

function serviceAction(unit: string, verb: string | undefined, context: Context, now: boolean): Status {
  const { state, origin } = context;
  const family: Family | undefined = unit === "iptables" ? "v4" : unit === "ip6tables" ? "v6" : undefined;
  if (unit === "docker") return dockerAction(state, verb, origin);
  if (family === undefined) return unitAction(state, unit, verb, origin, now);
  if (!state.installed.has("iptables-services")) {
    state.failures.push(`${unit}.service ${verb} (${origin}) fails: ${unit}.service comes with the iptables-services package, which nothing installs`);
    return 1;
  }
  switch (verb) {
    case "enable":
      state.enabled.add(unit);
      if (now) state.restoreServiceFile(family, `${unit}.service, started by ${origin}`);
      return 0;
    case "disable":
      state.enabled.delete(unit);
      return 0;
    case "start":
    case "restart":
    case "reload":
      state.restoreServiceFile(family, `${unit}.service, started by ${origin}`);
      return 0;
    case "stop": {
      const table = state.tables[family];
      for (const name of [...table.chains.keys()]) table.chains.set(name, []);
      return 0;
    }
    case "save":
      state.files.set(`/etc/sysconfig/${unit}`, { kind: "saved", family, table: cloneTable(state.tables[family]), origin });
      return 0;
    default:
      return 0;
  }
}

function runShell(name: string, args: readonly string[], node: ShellNode & { kind: "simple" }, context: Context, stdin: Output | undefined): CommandResult {
  const { state } = context;
  if (context.depth >= MAX_DEPTH) {
    opaque(context, node.text, "scripts run each other too deeply");
    return { status: "unknown" };
  }
  const flags = args.filter((a) => a.startsWith("-"));
  const dashC = args.indexOf("-c");
  let text: string | undefined;
  let label: string;
  if (dashC >= 0) {
    text = args[dashC + 1];
    label = `${context.origin} (${name} -c)`;
  } else {
    // su's operands name a user, not a script: without -c it reads commands from its input.
    const file = name === "su" ? undefined : args.find((a) => !a.startsWith("-"));
    if (file === undefined) {
      if (stdin === undefined || "saved" in stdin) return { status: 0 };
      const segments = stdin as ReadonlyArray<string | Unseen>;
      if (segments.some((s) => typeof s !== "string")) {
        state.markUnknown(ALL_CONCERNS, `${context.origin}: \`${oneLine(node.text)}\` runs a script the audit cannot see (for example one downloaded at boot)`);
        return { status: "unknown" };
      }
      text = segments.join("");
      label = `${context.origin} (piped into ${name})`;
    } else {
      const content = state.files.get(file);
      text = knownText(content) ?? textWithReferences(content);
      if (content === undefined || text === undefined) {
        state.markUnknown(ALL_CONCERNS, `${context.origin}: \`${oneLine(node.text)}\` runs ${file}, which the audit cannot see`);
        return { status: "unknown" };
      }
      label = `${file} (run by ${context.origin})`;
    }
  }
  if (text === undefined) return { status: "unknown" };
  const env = name === "source" || name === "." ? context.env : new Map(context.env);
  return { status: runText(state, text, label, flags.some((f) => /^-[a-z]*e/.test(f)), env, context.depth + 1) };
}

function testCommand(args: readonly string[], context: Context, node: ShellNode & { kind: "simple" }): CommandResult {
  const operands = args.filter((a) => a !== "]" && a !== "]]");
  if (operands.length === 2 && ["-f", "-e", "-s"].includes(operands[0])) {
    // Files the user data has not written are taken as absent, as grep and cat take them here.
    const content = context.state.files.get(operands[1]);
    if (content === undefined) return { status: 1 };
    const text = knownText(content);
    if (operands[0] === "-s" && text === undefined) return { status: "unknown" };
    return { status: operands[0] === "-s" && text === "" ? 1 : 0 };
  }
  // String tests of test(1) and [ on known words ([[ matches patterns instead, and keeps its text).
  if (node.words[0]?.raw !== "[[") {
    if (operands.length === 3 && ["=", "==", "!="].includes(operands[1])) return { status: (operands[0] === operands[2]) === (operands[1] !== "!=") ? 0 : 1 };
    if (operands.length === 2 && (operands[0] === "-z" || operands[0] === "-n")) return { status: (operands[1] === "") === (operands[0] === "-z") ? 0 : 1 };
    if (operands.length === 1) return { status: operands[0] === "" ? 1 : 0 };
  }
  return { status: concernsOf(node.text).length > 0 ? "unknown" : 0 };
}

/** `sed -i` with one `/re/d` or `s/re/replacement/` expression, on a file whose text is known. */
function sedInPlace(args: readonly string[], node: ShellNode & { kind: "simple" }, context: Context): CommandResult {
  const { state } = context;
  const inPlace = args.some((a) => /^-[a-zA-Z]*i/.test(a) || a === "--in-place" || a.startsWith("-i"));
  const words = args.filter((a) => !a.startsWith("-"));
  if (!inPlace) return { status: 0, stdout: [{ unseen: "sed output" }] };
  const [expression, ...files] = args.includes("-e") ? [args[args.indexOf("-e") + 1], ...words.slice(1)] : words;
  const unknown = (): CommandResult => {
    for (const file of files) {
      if (state.files.has(file) || concernsOf(file).length > 0) {
        state.files.set(file, { kind: "text", segments: [{ unseen: `${file} after \`${oneLine(node.text)}\` (${context.origin})` }] });
      }
    }
    return { status: concernsOf(node.text).length > 0 ? "unknown" : 0 };
  };
  const edit = expression === undefined ? undefined : sedEdit(expression);
  if (!edit) return unknown();
  for (const file of files) {
    const text = knownText(state.files.get(file));
    if (text === undefined || !state.files.has(file)) return unknown();
    const lines = text.split("\n");
    const trailing = text.endsWith("\n");
    const edited = (trailing ? lines.slice(0, -1) : lines).flatMap((line) => edit(line));
    state.files.set(file, { kind: "text", segments: [trailing ? edited.map((line) => `${line}\n`).join("") : edited.join("\n")] });
  }
  return { status: 0 };
}

function sedEdit(expression: string): ((line: string) => string[]) | undefined {
  const deletion = /^\/((?:[^/\\]|\\.)*)\/d$/.exec(expression);
  if (deletion) {
    const pattern = basicRegExp(deletion[1]);
    return pattern ? (line) => (pattern.test(line) ? [] : [line]) : undefined;
  }
  const substitution = /^s\/((?:[^/\\]|\\.)*)\/((?:[^/\\&]|\\.)*)\/(g?)$/.exec(expression);
  if (substitution) {
    const pattern = basicRegExp(substitution[1], substitution[3] === "g");
    const replacement = substitution[2].replace(/\\(.)/g, "$1");
    return pattern ? (line) => [line.replace(pattern, () => replacement)] : undefined;
  }
  return undefined;
}

/** A POSIX basic regular expression of the simple kind (literals, ., *, ^, $, [..]) as a RegExp. */
function basicRegExp(source: string, global = false): RegExp | undefined {
  if (/\\[(){}|+?]|\\[0-9]/.test(source)) return undefined;
  const translated = source.replace(/[+?(){}|]/g, (c) => `\\${c}`).replace(/\[\[:space:\]\]/g, "\\s");
  try {
    return new RegExp(translated, global ? "g" : "");
  } catch {
    return undefined;
  }
}

/** grep over a file (or input) whose text is known: -q, -v, -x, -F, -E, -c; the status as grep's. */
function grep(args: readonly string[], node: ShellNode & { kind: "simple" }, context: Context, stdin: Output | undefined): CommandResult {
  const flags = new Set<string>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-e") operands.unshift(args[++i] ?? "");
    else if (/^-[a-zA-Z]+$/.test(arg)) for (const flag of arg.slice(1)) flags.add(flag);
    else if (arg.startsWith("--")) flags.add(arg);
    else operands.push(arg);
  }
  const unknown = (): CommandResult => ({ status: concernsOf(node.text).length > 0 ? "unknown" : 0, stdout: [{ unseen: "grep output" }] });
  const [pattern, ...files] = operands;
  if (pattern === undefined || [...flags].some((f) => !["q", "v", "x", "F", "E", "c", "s"].includes(f))) return unknown();
  let text: string | undefined;
  if (files.length === 0) {
    text = stdin === undefined ? "" : "saved" in stdin ? undefined : (stdin as ReadonlyArray<string | Unseen>).every((s) => typeof s === "string") ? (stdin as string[]).join("") : undefined;
  } else if (files.length === 1) {
    const content = context.state.files.get(files[0]);
    if (content === undefined) return { status: 2 };
    text = knownText(content);
  }
  if (text === undefined) return unknown();
  let test: (line: string) => boolean;
  if (flags.has("F")) test = flags.has("x") ? (line) => line === pattern : (line) => line.includes(pattern);
  else {
    const source = flags.has("E") ? pattern.replace(/\[\[:space:\]\]/g, "\\s") : undefined;
    const regex = source !== undefined ? safeRegExp(flags.has("x") ? `^(?:${source})$` : source) : basicRegExp(flags.has("x") ? `^${pattern}$` : pattern);
    if (!regex) return unknown();
    test = (line) => regex.test(line);
  }
  const lines = text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  const matching = lines.filter((line) => test(line) !== flags.has("v"));
  const output = flags.has("q") ? [] : flags.has("c") ? [`${matching.length}\n`] : [matching.map((l) => `${l}\n`).join("")];
  return { status: matching.length > 0 ? 0 : 1, stdout: output };
}

function safeRegExp(source: string): RegExp | undefined {
  try {
    return new RegExp(source);
  } catch {
    return undefined;
  }
}

/** A word as known text and unseen pieces (a command substitution, an unset variable). */
function wordSegments(word: Word, context: Context): Array<string | Unseen> {
  const out: Array<string | Unseen> = [];
  for (const piece of word.pieces) {
    const value = piece.kind === "text" ? piece.value : piece.kind === "param" ? paramValue(piece.name, context) : undefined;
    if (value !== undefined) out.push(value);
    else if (piece.kind === "reference") out.push({ unseen: unseenPiece(piece), reference: piece.expression, ...(!piece.wholeLine ? { inWord: true as const } : {}) });
    else out.push({ unseen: unseenPiece(piece) });
  }
  return out;
}

function unseenPiece(piece: WordPiece): string {
  switch (piece.kind) {
    case "reference":
      return `${shown(piece)}, known only at apply time`;
    case "command":
      return `the output of ${piece.text}`;
    case "param":
      return `$${piece.name}`;
    case "text":
      return piece.value;
  }
}

/** `echo WORDS` (no options) or `printf '%s...' WORDS` whose words are partly unseen. */
function partialOutput(command: "echo" | "printf", words: readonly Word[], context: Context): CommandResult | undefined {
  const segments = words.map((word) => wordSegments(word, context));
  if (command === "echo") {
    if (words.some((word) => /^-[neE]+$/.test(word.raw))) return undefined;
    const out: Array<string | Unseen> = [];
    segments.forEach((word, index) => out.push(...(index > 0 ? [" "] : []), ...word));
    return { status: 0, stdout: [...out, "\n"] };
  }
  const [format, ...values] = segments;
  if (format === undefined || format.some((s) => typeof s !== "string")) return undefined;
  const text = (format as string[]).join("");
  if (/%[^%s]/.test(text.replace(/%%/g, ""))) return undefined;
  const pieces = text.replace(/\\n/g, "\n").replace(/\\t/g, "\t").split(/(%%|%s)/);
  const out: Array<string | Unseen> = [];
  let index = 0;
  do {
    for (const piece of pieces) {
      if (piece === "%%") out.push("%");
      else if (piece === "%s") out.push(...(values[index++] ?? []));
      else if (piece) out.push(piece);
    }
  } while (index < values.length && pieces.includes("%s"));
  return { status: 0, stdout: out };
}
