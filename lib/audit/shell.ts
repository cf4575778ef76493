/**
 * Shell text as mvdan/sh (the parser behind shfmt) reads it, turned into the small tree the
 * interpreter follows. The parser is `mvdan-sh`, mvdan/sh compiled to JavaScript: synchronous,
 * with the whole syntax tree (`sh-syntax`, its WASM build, hands back only statement positions).
 * Nothing is executed. Values Terraform knows only at apply time (U+E000 expression U+E001) are
 * swapped for placeholders before parsing and come back as `reference` pieces, never as text.
 */
import { UNKNOWN_END, UNKNOWN_START } from "./sources";

/** A piece of a word: literal text, a parameter expansion, a command substitution, or a reference. */
export type WordPiece =
  | { readonly kind: "text"; readonly value: string; readonly quoted: boolean }
  | { readonly kind: "param"; readonly name: string; readonly quoted: boolean }
  | { readonly kind: "command"; readonly text: string }
  | Reference;

/** A value known only at apply time, spliced in by Terraform. */
export interface Reference {
  readonly kind: "reference";
  /** The expression Terraform substitutes, for reasons (`var.extra_bootstrap`). */
  readonly expression: string;
  /** It stood alone on its line(s): it may be any number of whole lines of script. */
  readonly wholeLine: boolean;
}

/** A shell word before expansion. */
export interface Word {
  readonly pieces: readonly WordPiece[];
  /** The source text of the word, references shown as `${expression}`. */
  readonly raw: string;
}

export type RedirectOp = ">" | ">>" | "<" | "<<" | "<<-" | "<<<" | ">&" | "<&" | "&>" | "&>>" | ">|" | "<>";

/** A redirection of a command. */
export interface Redirect {
  readonly op: RedirectOp;
  readonly fd?: number;
  readonly target: Word;
  /** For `<<` and `<<-`: the body as the shell reads it (expansions only with an unquoted delimiter, tabs stripped for `<<-`). */
  readonly heredoc?: Word;
}

export interface CaseItem {
  readonly patterns: readonly Word[];
  readonly body: ShellNode;
  /** `;;` stops, `;&` runs the next body, `;;&` tests the next patterns. */
  readonly then: "stop" | "fallthrough" | "test";
}

export type ShellNode =
  | { readonly kind: "simple"; readonly words: readonly Word[]; readonly assignments: ReadonlyArray<readonly [string, Word]>; readonly redirects: readonly Redirect[]; readonly text: string }
  | { readonly kind: "pipeline"; readonly negate: boolean; readonly commands: readonly ShellNode[] }
  | { readonly kind: "andor"; readonly first: ShellNode; readonly rest: ReadonlyArray<readonly ["&&" | "||", ShellNode]> }
  | { readonly kind: "list"; readonly items: readonly ShellNode[] }
  | { readonly kind: "if"; readonly branches: ReadonlyArray<readonly [ShellNode, ShellNode]>; readonly otherwise?: ShellNode }
  | { readonly kind: "for"; readonly variable: string; readonly values: readonly Word[] | undefined; readonly body: ShellNode }
  | { readonly kind: "loop"; readonly until: boolean; readonly condition: ShellNode; readonly body: ShellNode; readonly text: string }
  | { readonly kind: "case"; readonly word: Word; readonly items: readonly CaseItem[]; readonly text: string }
  | { readonly kind: "function"; readonly name: string; readonly body: ShellNode }
  | { readonly kind: "group"; readonly body: ShellNode; readonly subshell: boolean; readonly redirects: readonly Redirect[] }
  | { readonly kind: "opaque"; readonly text: string; readonly why: string };

/* The parts of mvdan/sh's tree read here (Go structs seen through GopherJS). */
interface GoPos {
  Offset(): number;
}
interface GoNode {
  Pos(): GoPos;
  End(): GoPos;
  [field: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}
interface MvdanSyntax {
  NewParser(...options: unknown[]): { Parse(src: string, name: string): { __internal_object__: GoNode } };
  KeepComments(keep: boolean): unknown;
  Variant(variant: unknown): unknown;
  LangBash: unknown;
}

interface Parser {
  readonly parse: (src: string) => GoNode;
  /** Operator codes of this build, read from parsing samples (GopherJS hands Go's enums as numbers). */
  readonly redirectOps: ReadonlyMap<number, RedirectOp>;
  readonly binaryOps: ReadonlyMap<number, "&&" | "||" | "|" | "|&">;
  readonly caseOps: ReadonlyMap<number, CaseItem["then"]>;
}

let parser: Parser | undefined;

/** Loads mvdan/sh once per process (measured here: about 0.27 s, then 0.1 to 4 ms a script). */
function loadParser(): Parser {
  if (parser) return parser;
  const syntax = (require("mvdan-sh") as { syntax: MvdanSyntax }).syntax;
  const goParser = syntax.NewParser(syntax.KeepComments(false), syntax.Variant(syntax.LangBash));
  // The Go values behind the JavaScript wrappers: a wrapper is rebuilt by reflection at every field read (measured: 20,000 lines walked in 2.5 s through wrappers, 0.11 s directly).
  const parse = (src: string) => goParser.Parse(src, "").__internal_object__;
  const redirectOps = new Map<number, RedirectOp>();
  for (const op of [">", ">>", "<", "<<", "<<-", "<<<", ">&", "<&", "&>", "&>>", ">|", "<>"] as const) {
    const sample = parse(`x ${op} y${op === "<<" || op === "<<-" ? "\ny" : ""}\n`);
    redirectOps.set(list(list(sample.Stmts)[0].Redirs)[0].Op, op);
  }
  const binaryOps = new Map<number, "&&" | "||" | "|" | "|&">();
  for (const op of ["&&", "||", "|", "|&"] as const) binaryOps.set(list(parse(`a ${op} b`).Stmts)[0].Cmd.Op, op);
  const caseItems = list(list(parse("case x in a) ;; b) ;& c) ;;& esac").Stmts)[0].Cmd.Items);
  const caseOps = new Map<number, CaseItem["then"]>([
    [caseItems[0].Op, "stop"],
    [caseItems[1].Op, "fallthrough"],
    [caseItems[2].Op, "test"],
  ]);
  parser = { parse, redirectOps, binaryOps, caseOps };
  return parser;
}

/** Where references were in the text before parsing. */
interface Splice {
  readonly placeholder: RegExp;
  readonly references: readonly Reference[];
}

const NO_REFERENCES: Splice = { placeholder: /(?!)/g, references: [] };
const MARK = new RegExp(`${UNKNOWN_START}([^${UNKNOWN_END}]*)${UNKNOWN_END}`, "g");
const WHOLE_LINE = new RegExp(`^[ \\t]*(?:${UNKNOWN_START}[^${UNKNOWN_END}]*${UNKNOWN_END}[ \\t]*)+$`);

/**
 * Replaces each reference by a placeholder the parser reads as a plain word (`@@tag<n>@@`, with a
 * tag absent from the text), so the shell syntax around it is read as it is.
 */
function spliceReferences(text: string): { text: string; splice: Splice } {
  if (!text.includes(UNKNOWN_START)) return { text, splice: NO_REFERENCES };
  let tag = "ecsimdsguardref";
  while (text.includes(tag)) tag += "x";
  const references: Reference[] = [];
  const lines = text.split("\n").map((line) => {
    const wholeLine = WHOLE_LINE.test(line);
    return line.replace(MARK, (_, expression: string) => {
      references.push({ kind: "reference", expression, wholeLine });
      return `@@${tag}${references.length - 1}@@`;
    });
  });
  return { text: lines.join("\n"), splice: { placeholder: new RegExp(`@@${tag}(\\d+)@@`, "g"), references } };
}

/** Parses shell text. Never throws: text the parser rejects comes back as `opaque`. */
export function parseShell(source: string): ShellNode {
  const { text, splice } = spliceReferences(source);
  if (splice.references.length === 0) {
    const segments = topLevelSegments(text);
    if (segments !== undefined) {
      const trees = segments.map(parseSegment);
      if (trees.every((tree): tree is ShellNode => tree !== undefined)) {
        const items = trees.flatMap((tree) => (tree.kind === "list" ? tree.items : [tree]));
        return items.length === 1 ? items[0] : { kind: "list", items };
      }
    }
  }
  const tree = parseText(text, splice);
  return typeof tree === "string" ? { kind: "opaque", text: source, why: `shell the parser rejects (${tree})` } : tree;
}

/** The tree of a text, or the parser's message. */
function parseText(text: string, splice: Splice): ShellNode | string {
  let file: GoNode;
  try {
    file = loadParser().parse(text);
  } catch (error) {
    const message = typeof (error as GoNode).Error === "function" ? String((error as GoNode).Error()) : String(error);
    return message.replace(/^:/, "line ");
  }
  return new Converter(text, splice).statements(list(file.Stmts));
}

// Fleets repeat scripts that differ in a line or two (a cluster name): top-level pieces parse once.
// Measured here: mvdan/sh compiled to JavaScript takes about 0.5 ms for a five-line script.
const SEGMENTS = new Map<string, ShellNode | undefined>();

function parseSegment(segment: string): ShellNode | undefined {
  if (SEGMENTS.has(segment)) return SEGMENTS.get(segment);
  if (SEGMENTS.size > 4096) SEGMENTS.clear();
  const tree = plainSegment(segment) ?? parseText(segment, NO_REFERENCES);
  const result = typeof tree === "string" ? undefined : tree;
  SEGMENTS.set(segment, result);
  return result;
}

/** The tree mvdan/sh gives a text, with no shortcut: the reference the shortcuts are tested against. */
export function parseShellFully(source: string): ShellNode {
  const { text, splice } = spliceReferences(source);
  const tree = parseText(text, splice);
  return typeof tree === "string" ? { kind: "opaque", text: source, why: `shell the parser rejects (${tree})` } : tree;
}

// Most lines of user data are plain commands (`echo ECS_CLUSTER=prod >> /etc/ecs/ecs.config`), and
// the line that differs between the templates of a fleet is usually one of them: such a line gets
// the tree mvdan/sh gives it without loading or running the parser (about 0.3 ms a line compiled
// to JavaScript, 0.2 s to load). A property test holds the two trees equal.
const COMMENT_OR_BLANK = /^[ \t]*(?:#.*)?$/;
/** A word of unquoted plain characters, '...' and "..." without expansions or escapes. */
const PLAIN_WORD = /^(?:[A-Za-z0-9_./:,%+@=-]|'[\x20-\x26\x28-\x7e\t]*'|"[\x20\x21\x23\x25-\x5b\x5d-\x5f\x61-\x7e\t]*")+$/;
const PLAIN_PART = /[A-Za-z0-9_./:,%+@=-]+|'([^']*)'|"([^"]*)"/g;
/** Words mvdan/sh reads as more than a command name in first place. */
const RESERVED = new Set(["if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "in", "function", "select", "time", "coproc", "declare", "local", "export", "readonly", "typeset", "nameref", "let"]);

interface Token {
  readonly text: string;
  readonly start: number;
}

/**
 * The tree of a segment of comments and one line of plain commands with `>` / `>>` redirections,
 * joined by `|`, `&&`, `||` and `;` (written apart from the words, `;` also right after one), or one
 * plain command with a heredoc whose delimiter is quoted (its body is literal text); undefined for
 * anything else.
 */
export function plainSegment(segment: string): ShellNode | undefined {
  const lines = segment.split("\n");
  const at = lines.findIndex((line) => !COMMENT_OR_BLANK.test(line));
  if (at < 0) return { kind: "list", items: [] };
  const line = lines[at];
  const rest = lines.slice(at + 1);
  // Tokens: words, operators and redirections, each preceded by blanks (a `>` right after a word could be `2>`).
  const tokens: Token[] = [];
  for (const match of line.matchAll(/[ \t]*([^ \t]+)/g)) {
    const text = match[1];
    const start = (match.index as number) + match[0].length - text.length;
    if (text.length > 1 && text.endsWith(";")) tokens.push({ text: text.slice(0, -1), start }, { text: ";", start: start + text.length - 1 });
    else tokens.push({ text, start });
  }
  const statements: ShellNode[] = [];
  let andOr: { first: ShellNode; rest: Array<["&&" | "||", ShellNode]> } | undefined;
  let pending: "&&" | "||" | undefined;
  let pipe: ShellNode[] = [];
  let command: Token[] = [];
  let heredoc: PlainCommand["heredoc"];
  const endCommand = (): boolean => {
    const plain = plainCommand(command, line);
    command = [];
    if (plain === undefined || (plain.heredoc && heredoc)) return false;
    // A later command of the line must not forget the heredoc an earlier one opened.
    if (plain.heredoc) heredoc = plain.heredoc;
    pipe.push(plain.node);
    return true;
  };
  const endPipeline = (): boolean => {
    if (!endCommand()) return false;
    const pipeline: ShellNode = pipe.length === 1 ? pipe[0] : { kind: "pipeline", negate: false, commands: pipe };
    pipe = [];
    if (andOr === undefined) andOr = { first: pipeline, rest: [] };
    else andOr.rest.push([pending as "&&" | "||", pipeline]);
    return true;
  };
  const endStatement = (): boolean => {
    if (!endPipeline()) return false;
    const done = andOr as { first: ShellNode; rest: Array<["&&" | "||", ShellNode]> };
    statements.push(done.rest.length === 0 ? done.first : { kind: "andor", first: done.first, rest: done.rest });
    andOr = undefined;
    return true;
  };
  for (let i = 0; i < tokens.length; i++) {
    const text = tokens[i].text;
    if (text === "|") {
      if (!endCommand()) return undefined;
    } else if (text === "&&" || text === "||") {
      if (!endPipeline()) return undefined;
      pending = text;
    } else if (text === ";") {
      if (!endStatement()) return undefined;
    } else command.push(tokens[i]);
  }
  if ((command.length > 0 || pipe.length > 0 || andOr !== undefined) && !endStatement()) return undefined;
  if (statements.length === 0) return undefined;
  if (heredoc) {
    if (statements.length !== 1 || statements[0].kind !== "simple") return undefined;
    // The body runs to the delimiter, which ends the segment; with a quoted delimiter nothing in it is expanded.
    const close = rest.indexOf(heredoc.delimiter);
    if (close !== rest.length - 1 || rest.some((bodyLine) => bodyLine.includes("\r"))) return undefined;
    const body = rest.slice(0, close).map((bodyLine) => `${bodyLine}\n`).join("");
    if (body !== "") {
      const simple = statements[0];
      const redirects = [...simple.redirects];
      const { op, target } = redirects[heredoc.index];
      redirects[heredoc.index] = { op, target, heredoc: { pieces: [{ kind: "text", value: body, quoted: true }], raw: `${body}${heredoc.delimiter}` } };
      return { ...simple, redirects };
    }
  } else if (!rest.every((restLine) => COMMENT_OR_BLANK.test(restLine))) return undefined;
  return statements.length === 1 ? statements[0] : { kind: "list", items: statements };
}

interface PlainCommand {
  readonly node: ShellNode & { kind: "simple" };
  readonly heredoc?: { readonly index: number; readonly delimiter: string };
}

/** One plain command from its tokens: words, then `>`/`>>` redirections and at most one quoted heredoc. */
function plainCommand(tokens: readonly Token[], line: string): PlainCommand | undefined {
  const words: Word[] = [];
  const redirects: Redirect[] = [];
  let heredoc: PlainCommand["heredoc"];
  let end = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const redirect = /^(>>?|<<(?![<-]))(.*)$/.exec(token.text);
    if (redirect) {
      if (words.length === 0) return undefined;
      const target = redirect[2] !== "" ? { text: redirect[2], start: token.start + redirect[1].length } : tokens[++i];
      if (target === undefined) return undefined;
      end = target.start + target.text.length;
      if (redirect[1] === "<<") {
        const delimiter = /^'(\w+)'$|^"(\w+)"$/.exec(target.text);
        if (!delimiter || heredoc) return undefined;
        heredoc = { index: redirects.length, delimiter: delimiter[1] ?? delimiter[2] };
        redirects.push({ op: "<<", target: { pieces: [{ kind: "text", value: heredoc.delimiter, quoted: true }], raw: target.text } });
        continue;
      }
      if (!PLAIN_WORD.test(target.text)) return undefined;
      redirects.push({ op: redirect[1] as ">" | ">>", target: plainWordOf(target.text) });
      continue;
    }
    if (!PLAIN_WORD.test(token.text)) return undefined;
    if (words.length === 0 && (token.text.includes("=") || !/^[A-Za-z0-9_./:,%+@-]+$/.test(token.text) || RESERVED.has(token.text))) return undefined;
    if (redirects.length > 0) return undefined;
    words.push(plainWordOf(token.text));
    end = token.start + token.text.length;
  }
  if (words.length === 0) return undefined;
  const node: ShellNode & { kind: "simple" } = { kind: "simple", words, assignments: [], redirects, text: line.slice(tokens[0].start, end) };
  return heredoc ? { node, heredoc } : { node };
}

/** A plain word's pieces as the converter makes them from mvdan/sh's parts. */
function plainWordOf(raw: string): Word {
  const pieces: WordPiece[] = [];
  for (const part of raw.matchAll(PLAIN_PART)) {
    if (part[1] !== undefined) pieces.push({ kind: "text", value: part[1], quoted: true });
    else if (part[2] !== undefined) {
      if (part[2] !== "") pieces.push({ kind: "text", value: part[2], quoted: true });
    } else pieces.push({ kind: "text", value: part[0], quoted: false });
  }
  return { pieces, raw };
}

/** The characters that end a word for the count of open compound commands (white space and operators). */
const WORD_ENDS = new Set([..." \t\n\r\v\f;&|()<>", "\u00a0", "\u1680", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", ...Array.from({ length: 11 }, (_, i) => String.fromCharCode(0x2000 + i))]);
const OPENERS = new Set(["if", "case", "for", "while", "until", "select", "{"]);
const CLOSERS = new Set(["fi", "esac", "done", "}"]);

/**
 * The text cut at line ends where nothing is open (no quote, parenthesis, compound command,
 * heredoc body or line continuation), so each piece is whole top-level commands; undefined when the
 * count goes wrong. A wrong cut makes a piece fail to parse (mvdan/sh refuses an unclosed heredoc,
 * quote or compound), and the whole text is parsed instead.
 */
function topLevelSegments(text: string): string[] | undefined {
  const lines = text.split("\n");
  const segments: string[] = [];
  let current: string[] = [];
  let quote: string | undefined;
  let parens = 0;
  let depth = 0;
  const heredocs: Array<{ delimiter: string; strip: boolean }> = [];
  for (const line of lines) {
    current.push(line);
    if (heredocs.length > 0) {
      const ending = heredocs[0];
      if ((ending.strip ? line.replace(/^\t+/, "") : line) === ending.delimiter) heredocs.shift();
    } else {
      let word = "";
      const endWord = () => {
        if (OPENERS.has(word)) depth++;
        else if (CLOSERS.has(word)) depth--;
        word = "";
      };
      for (let i = 0; i < line.length; i++) {
        const char = line[i];
        if (quote === "'") {
          if (char === "'") quote = undefined;
          continue;
        }
        if (char === "\\") {
          i++;
          word += "x";
          continue;
        }
        if (quote !== undefined) {
          if (char === quote) quote = undefined;
          continue;
        }
        if (char === "'" || char === '"' || char === "`") {
          quote = char;
          word += "x";
          continue;
        }
        if (char === "#" && word === "") break;
        if (char === "<" && line[i + 1] === "<" && line[i + 2] !== "<") {
          const heredoc = /^<<(-?)\s*(['"]?)([A-Za-z0-9_.-]+)\2/.exec(line.slice(i));
          if (!heredoc) return undefined;
          heredocs.push({ delimiter: heredoc[3], strip: heredoc[1] === "-" });
          i += heredoc[0].length - 1;
          continue;
        }
        if (char === "(") parens++;
        else if (char === ")") parens--;
        if (WORD_ENDS.has(char)) endWord();
        else word += char;
      }
      endWord();
      if (depth < 0) return undefined;
    }
    // A line ending in an odd number of backslashes goes on: mvdan/sh parses the cut piece without error.
    const continued = /(^|[^\\])(\\\\)*\\$/.test(line);
    if (quote === undefined && parens === 0 && depth === 0 && heredocs.length === 0 && !continued) {
      segments.push(current.join("\n"));
      current = [];
    }
  }
  if (current.length > 0) segments.push(current.join("\n"));
  return segments;
}

/** Shows references as `${expression}` in text meant for reasons. */
function displayText(text: string, splice: Splice): string {
  return text.replace(splice.placeholder, (_, index: string) => `\${${splice.references[Number(index)].expression}}`);
}

class Converter {
  private readonly bytes: Buffer;
  private readonly p = loadParser();

  constructor(
    source: string,
    private readonly splice: Splice,
  ) {
    // mvdan/sh counts offsets in UTF-8 bytes.
    this.bytes = Buffer.from(source, "utf8");
  }

  statements(stmts: readonly GoNode[]): ShellNode {
    const items = stmts.map((stmt) => this.statement(stmt));
    return items.length === 1 ? items[0] : { kind: "list", items };
  }

  private source(node: GoNode): string {
    const text = this.bytes.subarray(node.Pos().Offset(), node.End().Offset()).toString("utf8");
    return this.splice.references.length > 0 ? displayText(text, this.splice) : text;
  }

  /** A simple command's text up to its last word or redirection target: heredoc bodies are not part of it. */
  private commandLine(stmt: GoNode): string {
    let end = stmt.Cmd.End().Offset();
    for (const r of list(stmt.Redirs)) end = Math.max(end, r.Word.End().Offset());
    const text = this.bytes.subarray(stmt.Pos().Offset(), end).toString("utf8");
    return this.splice.references.length > 0 ? displayText(text, this.splice) : text;
  }

  private statement(stmt: GoNode): ShellNode {
    // Each field read converts a Go value to JavaScript again: read each once.
    const redirects: Redirect[] = list(stmt.Redirs).map((r: GoNode) => this.redirect(r));
    const cmd = present(stmt.Cmd) ? stmt.Cmd : undefined;
    const type = cmd ? typeOf(cmd) : undefined;
    let node: ShellNode;
    if (!cmd) node = { kind: "simple", words: [], assignments: [], redirects, text: this.source(stmt) };
    else if (type === "CallExpr" || type === "DeclClause") node = this.simple(cmd, type, redirects, this.commandLine(stmt));
    else {
      node = this.command(cmd);
      // Redirections of a compound command to /dev/null or between descriptors change nothing here.
      const kept = redirects.filter((r) => r.op !== ">&" && r.op !== "<&" && r.target.raw !== "/dev/null");
      if (kept.length > 0) node = { kind: "group", body: node, subshell: false, redirects: kept };
    }
    return stmt.Negated ? { kind: "pipeline", negate: true, commands: [node] } : node;
  }

  private stmts(slice: GoNode): ShellNode {
    return this.statements(list(slice));
  }

  private command(cmd: GoNode): ShellNode {
    const type = typeOf(cmd);
    switch (type) {
      case "BinaryCmd": {
        const op = this.p.binaryOps.get(cmd.Op);
        const left = this.statement(cmd.X);
        const right = this.statement(cmd.Y);
        if (op === "|" || op === "|&") {
          const commands = left.kind === "pipeline" && !left.negate ? [...left.commands, right] : [left, right];
          return { kind: "pipeline", negate: false, commands };
        }
        const operator = op === "||" ? "||" : "&&";
        if (left.kind === "andor") return { kind: "andor", first: left.first, rest: [...left.rest, [operator, right]] };
        return { kind: "andor", first: left, rest: [[operator, right]] };
      }
      case "IfClause":
        return this.ifClause(cmd);
      case "WhileClause":
        return { kind: "loop", until: Boolean(cmd.Until), condition: this.stmts(cmd.Cond), body: this.stmts(cmd.Do), text: this.source(cmd) };
      case "ForClause": {
        const loop = cmd.Loop;
        if (typeOf(loop) !== "WordIter") return { kind: "opaque", text: this.source(cmd), why: "a C-style for loop" };
        const values = loop.InPos.IsValid() ? list(loop.Items).map((w: GoNode) => this.word(w)) : undefined;
        return { kind: "for", variable: goText(loop.Name.Value), values, body: this.stmts(cmd.Do) };
      }
      case "CaseClause":
        return {
          kind: "case",
          word: this.word(cmd.Word),
          items: list(cmd.Items).map((item: GoNode) => ({
            patterns: list(item.Patterns).map((w: GoNode) => this.word(w)),
            body: this.stmts(item.Stmts),
            then: this.p.caseOps.get(item.Op) ?? "stop",
          })),
          text: this.source(cmd),
        };
      case "Block":
        return { kind: "group", body: this.stmts(cmd.Stmts), subshell: false, redirects: [] };
      case "Subshell":
        return { kind: "group", body: this.stmts(cmd.Stmts), subshell: true, redirects: [] };
      case "FuncDecl":
        return { kind: "function", name: goText(cmd.Name.Value), body: this.statement(cmd.Body) };
      case "TimeClause":
        return present(cmd.Stmt) ? this.statement(cmd.Stmt) : { kind: "simple", words: [], assignments: [], redirects: [], text: "time" };
      case "TestClause":
        return this.testClause(cmd);
      case "ArithmCmd":
      case "LetClause":
        return { kind: "simple", words: [plainWord("(("), plainWord(this.source(cmd))], assignments: [], redirects: [], text: this.source(cmd) };
      default:
        return { kind: "opaque", text: this.source(cmd), why: `a ${type}` };
    }
  }

  private ifClause(cmd: GoNode): ShellNode {
    const branches: Array<[ShellNode, ShellNode]> = [];
    let otherwise: ShellNode | undefined;
    for (let clause: GoNode | null = cmd; clause; clause = present(clause.Else) ? clause.Else : null) {
      if (list(clause.Cond).length === 0) {
        otherwise = this.stmts(clause.Then);
        break;
      }
      branches.push([this.stmts(clause.Cond), this.stmts(clause.Then)]);
    }
    return { kind: "if", branches, ...(otherwise ? { otherwise } : {}) };
  }

  /** `[[ -f FILE ]]` as the test command reads it; other tests keep their text. */
  private testClause(cmd: GoNode): ShellNode {
    const text = this.source(cmd);
    const expression = cmd.X;
    if (typeOf(expression) === "UnaryTest" && typeOf(expression.X) === "Word") {
      const operator = this.bytes.subarray(expression.OpPos.Offset(), expression.X.Pos().Offset()).toString("utf8").trim();
      return { kind: "simple", words: [plainWord("[["), plainWord(operator), this.word(expression.X), plainWord("]]")], assignments: [], redirects: [], text };
    }
    return { kind: "simple", words: [plainWord("[["), plainWord(text)], assignments: [], redirects: [], text };
  }

  private simple(cmd: GoNode, type: string, redirects: Redirect[], text: string): ShellNode {
    if (type === "DeclClause") {
      // export/local/declare/readonly/typeset NAME=value: words as the builtin sees them.
      const words: Word[] = [plainWord(goText(cmd.Variant.Value))];
      for (const assign of list(cmd.Args) as GoNode[]) {
        if (assign.Naked) words.push(present(assign.Name) ? plainWord(goText(assign.Name.Value)) : this.word(assign.Value));
        else words.push(prefixed(`${goText(assign.Name.Value)}=`, present(assign.Value) ? this.word(assign.Value) : plainWord("")));
      }
      return { kind: "simple", words, assignments: [], redirects, text };
    }
    const assignments: Array<[string, Word]> = [];
    for (const assign of list(cmd.Assigns)) {
      if (present(assign.Array) || present(assign.Index) || assign.Append) return { kind: "opaque", text, why: "an array or += assignment" };
      assignments.push([goText(assign.Name.Value), present(assign.Value) ? this.word(assign.Value) : plainWord("")]);
    }
    return { kind: "simple", words: list(cmd.Args).map((w: GoNode) => this.word(w)), assignments, redirects, text };
  }

  private redirect(r: GoNode): Redirect {
    const op = this.p.redirectOps.get(r.Op) ?? ">";
    const target = this.word(r.Word);
    const fd = present(r.N) ? Number(goText(r.N.Value)) : undefined;
    const base = { op, target, ...(fd !== undefined && Number.isInteger(fd) ? { fd } : {}) };
    if ((op === "<<" || op === "<<-") && present(r.Hdoc)) {
      const quoted = list(r.Word.Parts).some((part: GoNode) => typeOf(part) !== "Lit" || goText(part.Value).includes("\\"));
      return { ...base, heredoc: this.heredoc(r.Hdoc, quoted, op === "<<-") };
    }
    return base;
  }

  /** A heredoc body: expansions and `\` escapes only with an unquoted delimiter; `<<-` strips leading tabs. */
  private heredoc(body: GoNode | null, quoted: boolean, stripTabs: boolean): Word {
    if (!present(body)) return { pieces: [], raw: "" };
    const pieces: WordPiece[] = [];
    let lineStart = true;
    for (const part of list(body.Parts) as GoNode[]) {
      if (typeOf(part) === "Lit") {
        let value = goText(part.Value);
        if (stripTabs) value = value.replace(/(^|\n)\t+/g, (match, newline: string) => (newline === "" && !lineStart ? match : newline));
        if (!quoted) value = value.replace(/\\([$`\\])|\\\n/g, (_, escaped: string | undefined) => escaped ?? "");
        lineStart = value.endsWith("\n");
        pieces.push(...this.literal(value, true));
      } else {
        lineStart = false;
        pieces.push(...this.part(part, true));
      }
    }
    return { pieces, raw: this.source(body) };
  }

  private word(word: GoNode): Word {
    const pieces = list(word.Parts).flatMap((part: GoNode) => this.part(part, false));
    return { pieces, raw: this.source(word) };
  }

  private part(part: GoNode, quoted: boolean): WordPiece[] {
    switch (typeOf(part)) {
      case "Lit":
        return this.literal(quoted ? goText(part.Value) : unescapeUnquoted(goText(part.Value)), quoted);
      case "SglQuoted":
        return this.literal(part.Dollar ? ansiC(goText(part.Value)) : goText(part.Value), true);
      case "DblQuoted":
        return list(part.Parts).flatMap((inner: GoNode) =>
          typeOf(inner) === "Lit" ? this.literal(goText(inner.Value).replace(/\\([$`"\\])|\\\n/g, (_, escaped: string | undefined) => escaped ?? ""), true) : this.part(inner, true),
        );
      case "ParamExp":
        if (!part.Excl && !part.Length && !part.Width && !present(part.Index) && !present(part.Slice) && !present(part.Repl) && !present(part.Exp) && !part.Names && present(part.Param)) {
          return [{ kind: "param", name: goText(part.Param.Value), quoted }];
        }
        return [{ kind: "command", text: this.source(part) }];
      default:
        // $(...), `...`, $((...)), <(...), extended globs: values the audit does not compute.
        return [{ kind: "command", text: this.source(part) }];
    }
  }

  /** Literal text with the reference placeholders put back as references. */
  private literal(value: string, quoted: boolean): WordPiece[] {
    if (this.splice.references.length === 0) return [{ kind: "text", value, quoted }];
    const out: WordPiece[] = [];
    let last = 0;
    for (const match of value.matchAll(this.splice.placeholder)) {
      if (match.index > last) out.push({ kind: "text", value: value.slice(last, match.index), quoted });
      out.push(this.splice.references[Number(match[1])]);
      last = match.index + match[0].length;
    }
    if (last < value.length || out.length === 0) out.push({ kind: "text", value: value.slice(last), quoted });
    return out;
  }
}

/** The elements of a Go slice. */
function list(slice: GoNode | null | undefined): GoNode[] {
  if (!slice || !slice.$array) return [];
  return slice.$array.slice(slice.$offset, slice.$offset + slice.$length);
}

function goType(value: GoNode | null | undefined): { nil?: unknown; string?: string } | undefined {
  return value === null || value === undefined ? undefined : (value.constructor as unknown as { nil?: unknown; string?: string });
}

/** Whether a Go pointer or interface holds a value (GopherJS's nil is an object of its type). */
function present(value: GoNode | null | undefined): value is GoNode {
  const type = goType(value);
  return type !== undefined && value !== type.nil && type.string !== undefined;
}

/** The node type's name (`CallExpr`), from the Go type behind the value. */
function typeOf(node: GoNode | null | undefined): string | undefined {
  const name = goType(node)?.string;
  return typeof name === "string" && name.startsWith("*syntax.") ? name.slice("*syntax.".length) : undefined;
}

/** A Go string as JavaScript text (GopherJS keeps Go strings as UTF-8 bytes). */
function goText(value: string): string {
  return /[\x80-\xff]/.test(value) ? Buffer.from(value, "latin1").toString("utf8") : value;
}

function unescapeUnquoted(value: string): string {
  return value.includes("\\") ? value.replace(/\\\n|\\(.)/gs, (_, escaped: string | undefined) => escaped ?? "") : value;
}

function plainWord(text: string): Word {
  return { pieces: [{ kind: "text", value: text, quoted: true }], raw: text };
}

function prefixed(prefix: string, word: Word): Word {
  return { pieces: [{ kind: "text", value: prefix, quoted: true }, ...word.pieces], raw: `${prefix}${word.raw}` };
}

/** The escapes of `$'...'` that scripts use. */
function ansiC(text: string): string {
  const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', a: "\x07", e: "\x1b" };
  return text.replace(/\\(.)/gs, (match, char: string) => escapes[char] ?? match);
}
