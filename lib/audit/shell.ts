/**
 * A parser for the shell that user data is written in: enough of POSIX sh and bash to read the
 * commands people use to install a firewall rule or write ecs.config. Nothing is executed; the
 * parse is bounded by the input length. Constructs outside the subset become `opaque` nodes that
 * keep their text, so the caller can say "unknown" for what it could not read.
 */

/** A piece of a word: literal text, a parameter expansion, or a command substitution. */
export type WordPiece =
  | { readonly kind: "text"; readonly value: string }
  | { readonly kind: "param"; readonly name: string; readonly quoted: boolean }
  | { readonly kind: "command"; readonly text: string };

/** A shell word before expansion. */
export interface Word {
  readonly pieces: readonly WordPiece[];
  /** The source text of the word. */
  readonly raw: string;
}

/** A redirection of a simple command. */
export interface Redirect {
  readonly op: ">" | ">>" | "<" | "<<" | "<<<" | ">&" | "<&" | "&>" | "&>>" | ">|";
  readonly fd?: number;
  readonly target: Word;
  /** For `<<`: the body, and whether it expands (unquoted delimiter). */
  readonly heredoc?: { readonly body: string; readonly expand: boolean };
}

export type ShellNode =
  | { readonly kind: "simple"; readonly words: readonly Word[]; readonly assignments: ReadonlyArray<readonly [string, Word]>; readonly redirects: readonly Redirect[]; readonly text: string }
  | { readonly kind: "pipeline"; readonly negate: boolean; readonly commands: readonly ShellNode[] }
  | { readonly kind: "andor"; readonly first: ShellNode; readonly rest: ReadonlyArray<readonly ["&&" | "||", ShellNode]> }
  | { readonly kind: "list"; readonly items: readonly ShellNode[] }
  | { readonly kind: "if"; readonly branches: ReadonlyArray<readonly [ShellNode, ShellNode]>; readonly otherwise?: ShellNode }
  | { readonly kind: "for"; readonly variable: string; readonly values: readonly Word[] | undefined; readonly body: ShellNode }
  | { readonly kind: "function"; readonly name: string; readonly body: ShellNode }
  | { readonly kind: "group"; readonly body: ShellNode; readonly subshell: boolean; readonly redirects: readonly Redirect[] }
  | { readonly kind: "opaque"; readonly text: string; readonly why: string };

type Token =
  | { readonly t: "word"; readonly word: Word; readonly start: number }
  | { readonly t: "op"; readonly op: string; readonly start: number }
  | { readonly t: "newline"; readonly start: number }
  | { readonly t: "eof"; readonly start: number };

class ParseFailure extends Error {}

const OPERATORS = ["&&", "||", ";;", "<<<", "<<-", "<<", ">>", "&>>", "&>", ">&", "<&", ">|", "|", "&", ";", "(", ")", "<", ">"];
// Every operator starts with one of these; a word ends at the first of them.
const OPERATOR_START = new Set(OPERATORS.map((op) => op[0]));
const RESERVED = new Set(["if", "then", "elif", "else", "fi", "for", "while", "until", "do", "done", "case", "esac", "in", "{", "}", "!", "function"]);

/** Lexes and parses shell text. Never throws: what it cannot parse comes back as `opaque`. */
export function parseShell(source: string): ShellNode {
  try {
    return new Parser(source).program();
  } catch (error) {
    if (error instanceof ParseFailure) return { kind: "opaque", text: source, why: error.message };
    throw error;
  }
}

class Parser {
  private pos = 0;
  private peeked: Token | undefined;
  private readonly pendingHeredocs: Array<{ delimiter: string; strip: boolean; expand: boolean; fill: (body: string) => void }> = [];

  constructor(private readonly src: string) {}

  program(): ShellNode {
    const list = this.list(new Set());
    const next = this.peek();
    if (next.t !== "eof") throw new ParseFailure(`unexpected ${describe(next)} at offset ${next.start}`);
    return list;
  }

  /** A sequence of and-or lists, until one of `stops` (a reserved word or operator) is next. */
  private list(stops: ReadonlySet<string>): ShellNode {
    const items: ShellNode[] = [];
    for (;;) {
      this.skipNewlines();
      const next = this.peek();
      if (next.t === "eof" || this.isStop(next, stops)) break;
      items.push(this.andOr(stops));
      const sep = this.peek();
      if (sep.t === "op" && (sep.op === ";" || sep.op === "&")) this.take();
      else if (sep.t === "newline") this.take();
      else if (sep.t === "eof" || this.isStop(sep, stops)) break;
      else throw new ParseFailure(`unexpected ${describe(sep)} at offset ${sep.start}`);
    }
    return items.length === 1 ? items[0] : { kind: "list", items };
  }

  private isStop(token: Token, stops: ReadonlySet<string>): boolean {
    if (token.t === "op") return stops.has(token.op);
    if (token.t === "word") return stops.has(token.word.raw) && isPlain(token.word);
    return false;
  }

  private andOr(stops: ReadonlySet<string>): ShellNode {
    const first = this.pipeline(stops);
    const rest: Array<["&&" | "||", ShellNode]> = [];
    for (;;) {
      const next = this.peek();
      if (next.t === "op" && (next.op === "&&" || next.op === "||")) {
        this.take();
        this.skipNewlines();
        rest.push([next.op, this.pipeline(stops)]);
      } else break;
    }
    return rest.length === 0 ? first : { kind: "andor", first, rest };
  }

  private pipeline(stops: ReadonlySet<string>): ShellNode {
    let negate = false;
    const first = this.peek();
    if (first.t === "word" && first.word.raw === "!" && isPlain(first.word)) {
      this.take();
      negate = true;
    }
    const commands = [this.command(stops)];
    for (;;) {
      const next = this.peek();
      if (next.t === "op" && next.op === "|") {
        this.take();
        this.skipNewlines();
        commands.push(this.command(stops));
      } else break;
    }
    return commands.length === 1 && !negate ? commands[0] : { kind: "pipeline", negate, commands };
  }

  private command(stops: ReadonlySet<string>): ShellNode {
    const start = this.peek();
    if (start.t === "op" && start.op === "(") {
      this.take();
      const body = this.list(new Set([")"]));
      this.expectOp(")");
      return { kind: "group", body, subshell: true, redirects: this.redirects() };
    }
    if (start.t === "word" && isPlain(start.word)) {
      switch (start.word.raw) {
        case "{": {
          this.take();
          const body = this.list(new Set(["}"]));
          this.expectWord("}");
          return { kind: "group", body, subshell: false, redirects: this.redirects() };
        }
        case "if":
          return this.ifClause();
        case "for":
          return this.forClause();
        case "while":
        case "until":
        case "case":
          return this.skipCompound(start.word.raw);
        case "function": {
          this.take();
          const name = this.takeWord().raw;
          const open = this.peek();
          if (open.t === "op" && open.op === "(") {
            this.take();
            this.expectOp(")");
          }
          this.skipNewlines();
          return { kind: "function", name, body: this.command(stops) };
        }
        default:
          break;
      }
    }
    return this.simple(stops);
  }

  private ifClause(): ShellNode {
    this.expectWord("if");
    const branches: Array<[ShellNode, ShellNode]> = [];
    let otherwise: ShellNode | undefined;
    let condition = this.list(new Set(["then"]));
    this.expectWord("then");
    let body = this.list(new Set(["elif", "else", "fi"]));
    branches.push([condition, body]);
    for (;;) {
      const next = this.takeWord().raw;
      if (next === "fi") break;
      if (next === "elif") {
        condition = this.list(new Set(["then"]));
        this.expectWord("then");
        body = this.list(new Set(["elif", "else", "fi"]));
        branches.push([condition, body]);
      } else if (next === "else") {
        otherwise = this.list(new Set(["fi"]));
      } else throw new ParseFailure(`unexpected ${next} in if`);
    }
    this.redirects();
    return { kind: "if", branches, ...(otherwise ? { otherwise } : {}) };
  }

  private forClause(): ShellNode {
    this.expectWord("for");
    const variable = this.takeWord().raw;
    this.skipNewlines();
    let values: Word[] | undefined;
    const next = this.peek();
    if (next.t === "word" && next.word.raw === "in") {
      this.take();
      values = [];
      for (;;) {
        const item = this.peek();
        if (item.t === "word") {
          values.push(item.word);
          this.take();
        } else break;
      }
      const sep = this.peek();
      if ((sep.t === "op" && sep.op === ";") || sep.t === "newline") this.take();
    } else if (next.t === "op" && next.op === ";") this.take();
    this.skipNewlines();
    this.expectWord("do");
    const body = this.list(new Set(["done"]));
    this.expectWord("done");
    this.redirects();
    return { kind: "for", variable, values, body };
  }

  /** while/until/case: parsed only to find their end; the caller treats them as opaque. */
  private skipCompound(keyword: string): ShellNode {
    const start = this.peek().start;
    const end = keyword === "case" ? "esac" : "done";
    let depth = 0;
    for (;;) {
      const token = this.take();
      if (token.t === "eof") throw new ParseFailure(`${keyword} without ${end}`);
      if (token.t === "word" && isPlain(token.word)) {
        if (token.word.raw === keyword || (keyword !== "case" && (token.word.raw === "while" || token.word.raw === "until" || token.word.raw === "for"))) depth += 1;
        if (token.word.raw === end || (keyword !== "case" && token.word.raw === "done")) {
          depth -= 1;
          if (depth === 0) break;
        }
      }
    }
    this.redirects();
    return { kind: "opaque", text: this.src.slice(start, this.pos), why: `a ${keyword} loop or branch` };
  }

  private simple(stops: ReadonlySet<string>): ShellNode {
    const words: Word[] = [];
    const assignments: Array<[string, Word]> = [];
    const redirects: Redirect[] = [];
    const startToken = this.peek();
    let end = startToken.start;
    for (;;) {
      const next = this.peek();
      if (next.t === "word") {
        if (words.length === 0 && RESERVED.has(next.word.raw) && isPlain(next.word) && next.word.raw !== "!") {
          if (this.isStop(next, stops)) break;
        }
        if (/^\d+$/.test(next.word.raw) && (this.src[this.pos] === ">" || this.src[this.pos] === "<")) {
          this.take();
          redirects.push(this.redirect(Number(next.word.raw)));
          end = this.pos;
          continue;
        }
        this.take();
        end = this.pos;
        const assignment = words.length === 0 ? /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(next.word.raw) : null;
        if (assignment && next.word.pieces[0]?.kind === "text") {
          assignments.push([assignment[1], dropPrefix(next.word, assignment[0].length)]);
        } else {
          words.push(next.word);
          if (words.length === 1 && isPlain(next.word)) {
            const open = this.peek();
            if (open.t === "op" && open.op === "(") {
              // name() { ...; }
              this.take();
              this.expectOp(")");
              this.skipNewlines();
              return { kind: "function", name: next.word.raw, body: this.command(stops) };
            }
          }
        }
        continue;
      }
      if (next.t === "op" && isRedirectOp(next.op)) {
        redirects.push(this.redirect());
        end = this.pos;
        continue;
      }
      break;
    }
    if (words.length === 0 && assignments.length === 0 && redirects.length === 0) {
      const next = this.peek();
      throw new ParseFailure(`unexpected ${describe(next)} at offset ${next.start}`);
    }
    return { kind: "simple", words, assignments, redirects, text: this.src.slice(startToken.start, end).trim() };
  }

  private redirects(): Redirect[] {
    const out: Redirect[] = [];
    for (;;) {
      const next = this.peek();
      if (next.t === "op" && isRedirectOp(next.op)) out.push(this.redirect());
      else return out;
    }
  }

  private redirect(fd?: number): Redirect {
    const token = this.take() as { t: "op"; op: string; start: number };
    if (token.op === "<<" || token.op === "<<-") {
      const delimiterWord = this.takeWord();
      const quoted = /['"\\]/.test(delimiterWord.raw);
      const delimiter = delimiterWord.raw.replace(/['"\\]/g, "");
      const redirect: { op: "<<"; target: Word; heredoc: { body: string; expand: boolean } } = {
        op: "<<",
        target: delimiterWord,
        heredoc: { body: "", expand: !quoted },
      };
      this.pendingHeredocs.push({
        delimiter,
        strip: token.op === "<<-",
        expand: !quoted,
        fill: (body) => (redirect.heredoc = { body, expand: !quoted }),
      });
      return redirect;
    }
    const target = this.takeWord();
    return { op: token.op as Redirect["op"], ...(fd !== undefined ? { fd } : {}), target };
  }

  private expectWord(word: string): void {
    const token = this.take();
    if (token.t !== "word" || token.word.raw !== word) throw new ParseFailure(`expected ${word}, found ${describe(token)}`);
  }

  private expectOp(op: string): void {
    const token = this.take();
    if (token.t !== "op" || token.op !== op) throw new ParseFailure(`expected ${op}, found ${describe(token)}`);
  }

  private takeWord(): Word {
    const token = this.take();
    if (token.t !== "word") throw new ParseFailure(`expected a word, found ${describe(token)}`);
    return token.word;
  }

  private skipNewlines(): void {
    while (this.peek().t === "newline") this.take();
  }

  private peek(): Token {
    if (!this.peeked) this.peeked = this.lex();
    return this.peeked;
  }

  private take(): Token {
    const token = this.peek();
    this.peeked = undefined;
    return token;
  }

  private lex(): Token {
    const src = this.src;
    for (;;) {
      while (this.pos < src.length && (src[this.pos] === " " || src[this.pos] === "\t")) this.pos++;
      if (src[this.pos] === "\\" && src[this.pos + 1] === "\n") {
        this.pos += 2;
        continue;
      }
      if (src[this.pos] === "#") {
        while (this.pos < src.length && src[this.pos] !== "\n") this.pos++;
      }
      break;
    }
    const start = this.pos;
    if (this.pos >= src.length) {
      if (this.pendingHeredocs.length > 0) throw new ParseFailure("a heredoc without its end line");
      return { t: "eof", start };
    }
    if (src[this.pos] === "\n") {
      this.pos++;
      this.readHeredocBodies();
      return { t: "newline", start };
    }
    for (const op of OPERATOR_START.has(src[this.pos]) ? OPERATORS : []) {
      if (src.startsWith(op, this.pos)) {
        this.pos += op.length;
        return { t: "op", op, start };
      }
    }
    return { t: "word", word: this.lexWord(), start };
  }

  private readHeredocBodies(): void {
    for (const heredoc of this.pendingHeredocs.splice(0)) {
      const lines: string[] = [];
      for (;;) {
        if (this.pos >= this.src.length) throw new ParseFailure(`heredoc ${heredoc.delimiter} has no end line`);
        const newline = this.src.indexOf("\n", this.pos);
        const lineEnd = newline < 0 ? this.src.length : newline;
        let line = this.src.slice(this.pos, lineEnd);
        this.pos = newline < 0 ? this.src.length : newline + 1;
        if (heredoc.strip) line = line.replace(/^\t+/, "");
        if (line === heredoc.delimiter) break;
        lines.push(line);
      }
      heredoc.fill(lines.length === 0 ? "" : `${lines.join("\n")}\n`);
    }
  }

  private lexWord(): Word {
    const src = this.src;
    const pieces: WordPiece[] = [];
    const start = this.pos;
    let text = "";
    const flush = () => {
      if (text) pieces.push({ kind: "text", value: text });
      text = "";
    };
    while (this.pos < src.length) {
      const char = src[this.pos];
      if (char === " " || char === "\t" || char === "\n" || OPERATOR_START.has(char)) break;
      if (char === "\\") {
        if (src[this.pos + 1] === "\n") this.pos += 2;
        else {
          text += src[this.pos + 1] ?? "";
          this.pos += 2;
        }
      } else if (char === "'") {
        const end = src.indexOf("'", this.pos + 1);
        if (end < 0) throw new ParseFailure("an unterminated single quote");
        text += src.slice(this.pos + 1, end);
        this.pos = end + 1;
      } else if (char === '"') {
        this.pos++;
        while (this.pos < src.length && src[this.pos] !== '"') {
          const inner = src[this.pos];
          if (inner === "\\" && '$`"\\\n'.includes(src[this.pos + 1])) {
            if (src[this.pos + 1] !== "\n") text += src[this.pos + 1];
            this.pos += 2;
          } else if (inner === "$" || inner === "`") {
            flush();
            pieces.push(this.lexDollar(true));
          } else {
            text += inner;
            this.pos++;
          }
        }
        if (src[this.pos] !== '"') throw new ParseFailure("an unterminated double quote");
        this.pos++;
      } else if (char === "$" && src[this.pos + 1] === "'") {
        // ANSI-C quoting: $'...\n...'.
        const end = src.indexOf("'", this.pos + 2);
        if (end < 0) throw new ParseFailure("an unterminated $' quote");
        text += src.slice(this.pos + 2, end).replace(/\\n/g, "\n").replace(/\\t/g, "\t").replace(/\\'/g, "'").replace(/\\\\/g, "\\");
        this.pos = end + 1;
      } else if (char === "$" || char === "`") {
        flush();
        pieces.push(this.lexDollar(false));
      } else {
        text += char;
        this.pos++;
      }
    }
    flush();
    return { pieces, raw: src.slice(start, this.pos) };
  }

  /** `$NAME`, `${...}`, `$(...)`, `` `...` `` and `$((...))`, starting at `$` or a backtick. */
  private lexDollar(quoted: boolean): WordPiece {
    const src = this.src;
    if (src[this.pos] === "`") {
      const end = src.indexOf("`", this.pos + 1);
      if (end < 0) throw new ParseFailure("an unterminated backtick");
      const text = src.slice(this.pos + 1, end);
      this.pos = end + 1;
      return { kind: "command", text };
    }
    const next = src[this.pos + 1];
    if (next === "(") {
      const end = matchingParen(src, this.pos + 1);
      if (end < 0) throw new ParseFailure("an unterminated $(");
      const text = src.slice(this.pos + 2, end);
      this.pos = end + 1;
      return { kind: "command", text };
    }
    if (next === "{") {
      const end = src.indexOf("}", this.pos + 2);
      if (end < 0) throw new ParseFailure("an unterminated ${");
      const inner = src.slice(this.pos + 2, end);
      this.pos = end + 1;
      return /^[A-Za-z_][A-Za-z0-9_]*$|^[0-9@*#?$!-]$/.test(inner) ? { kind: "param", name: inner, quoted } : { kind: "command", text: `\${${inner}}` };
    }
    const name = /^([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(src.slice(this.pos + 1));
    if (name) {
      this.pos += 1 + name[1].length;
      return { kind: "param", name: name[1], quoted };
    }
    this.pos++;
    return { kind: "text", value: "$" };
  }
}

function matchingParen(src: string, open: number): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const char = src[i];
    if (char === "\\") i++;
    else if (char === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (char === "(") depth++;
    else if (char === ")") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function isRedirectOp(op: string): boolean {
  return ["<<<", "<<-", "<<", ">>", "&>>", "&>", ">&", "<&", ">|", "<", ">"].includes(op);
}

/** Whether a word is written without quotes or expansions (so it can be a reserved word). */
export function isPlain(word: Word): boolean {
  return word.pieces.length <= 1 && !/['"\\$`]/.test(word.raw);
}

function dropPrefix(word: Word, length: number): Word {
  const [first, ...rest] = word.pieces;
  const value = (first as { value: string }).value.slice(length);
  return { pieces: value ? [{ kind: "text", value }, ...rest] : rest, raw: word.raw.slice(length) };
}

function describe(token: Token): string {
  return token.t === "word" ? `"${token.word.raw}"` : token.t === "op" ? `"${token.op}"` : token.t;
}
