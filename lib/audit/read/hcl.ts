/**
 * HCL `.tf` files, parsed by HashiCorp's own HCL parser (`@cdktn/hcl2json`, WebAssembly, loaded
 * once per process). The parser runs cold at first: measured here, 40 KB of a real root module took
 * 1.5 s in its first call and 0.15 s once V8 had optimised it. Most of a root module is blocks the
 * audit never reads (IAM policies, security groups, load balancers), so only the blocks it reads
 * are handed to the parser; a file the block scanner cannot split is parsed whole.
 */
import { hcl } from "../evaluate/expression";
import { AuditInputError, LAUNCH_RESOURCE_TYPES, readText } from "./found";

/** A parsed file: its top-level blocks in hcl2json's shape (the shape of Terraform JSON, blocks as lists). */
export interface ParsedFile {
  readonly file: string;
  readonly body: Record<string, unknown>;
}

/** Data sources whose values the readers evaluate or name (the rest stay unknown, so are not parsed). */
export const READ_DATA_TYPES = ["template_file", "cloudinit_config", "template_cloudinit_config", "aws_ssm_parameter", "aws_ami"];

/** Whether the audit reads a top-level block: its type and labels as written. */
function isRead(type: string, labels: readonly string[]): boolean {
  switch (type) {
    case "variable":
    case "locals":
    case "output":
    case "module":
      return true;
    case "resource":
      return (LAUNCH_RESOURCE_TYPES as readonly string[]).includes(labels[0] ?? "");
    case "data":
      return READ_DATA_TYPES.includes(labels[0] ?? "");
    default:
      return false;
  }
}

/** Parses the files of one module; the parser answers one file at a time, all files in one pass. */
export async function parseHclFiles(files: readonly string[]): Promise<ParsedFile[]> {
  return Promise.all(files.map((file) => parseHclFile(file, readText(file))));
}

async function parseHclFile(file: string, text: string): Promise<ParsedFile> {
  const kept = readBlocks(text);
  if (kept !== undefined) {
    try {
      return { file, body: (await hcl().parse(file, kept)) as Record<string, unknown> };
    } catch {
      // The whole file gives the parser's message with the right line numbers.
    }
  }
  try {
    return { file, body: (await hcl().parse(file, text)) as Record<string, unknown> };
  } catch (error) {
    throw new AuditInputError(file, `HCL does not parse: ${(error as Error).message.split("\n")[0]}`);
  }
}

/**
 * The text of the top-level blocks the audit reads, or undefined when the text does not split into
 * blocks cleanly (then the parser sees the whole file and reports any error in it).
 */
export function readBlocks(text: string): string | undefined {
  const kept: string[] = [];
  let at = 0;
  const n = text.length;
  for (;;) {
    at = skipSpaceAndComments(text, at);
    if (at >= n) break;
    const start = at;
    const type = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(at, at + 64));
    if (!type) return undefined;
    at += type[0].length;
    const labels: string[] = [];
    for (;;) {
      at = skipInlineSpace(text, at);
      if (text[at] === "{") break;
      const label = /^(?:"((?:[^"\\\n]|\\.)*)"|([A-Za-z_][A-Za-z0-9_-]*))/.exec(text.slice(at, at + 512));
      if (!label) return undefined;
      labels.push(label[1] ?? label[2]);
      at += label[0].length;
    }
    const end = skipBalanced(text, at + 1);
    if (end === undefined) return undefined;
    if (isRead(type[0], labels)) kept.push(text.slice(start, end));
    at = end;
  }
  return kept.join("\n\n") + "\n";
}

function skipInlineSpace(text: string, at: number): number {
  while (at < text.length && (text[at] === " " || text[at] === "\t")) at++;
  return at;
}

function skipSpaceAndComments(text: string, at: number): number {
  for (;;) {
    while (at < text.length && /\s/.test(text[at])) at++;
    if (text[at] === "#" || (text[at] === "/" && text[at + 1] === "/")) {
      const eol = text.indexOf("\n", at);
      at = eol < 0 ? text.length : eol + 1;
    } else if (text[at] === "/" && text[at + 1] === "*") {
      const close = text.indexOf("*/", at + 2);
      at = close < 0 ? text.length : close + 2;
    } else return at;
  }
}

/** The index after the `}` that closes a body opened just before `at`; strings, heredocs and comments skipped. */
function skipBalanced(text: string, at: number): number | undefined {
  let depth = 1;
  const n = text.length;
  while (at < n) {
    const c = text[at];
    if (c === "#" || (c === "/" && text[at + 1] === "/")) {
      const eol = text.indexOf("\n", at);
      at = eol < 0 ? n : eol + 1;
      continue;
    }
    if (c === "/" && text[at + 1] === "*") {
      const close = text.indexOf("*/", at + 2);
      if (close < 0) return undefined;
      at = close + 2;
      continue;
    }
    if (c === '"') {
      const after = skipQuoted(text, at + 1);
      if (after === undefined) return undefined;
      at = after;
      continue;
    }
    if (c === "<" && text[at + 1] === "<") {
      const heredoc = /^<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n/.exec(text.slice(at, at + 256));
      if (heredoc) {
        const after = skipHeredoc(text, at + heredoc[0].length, heredoc[1]);
        if (after === undefined) return undefined;
        at = after;
        continue;
      }
    }
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return at + 1;
    at++;
  }
  return undefined;
}

/** After a quoted string's closing quote; `${ }` and `%{ }` inside it may nest strings. */
function skipQuoted(text: string, at: number): number | undefined {
  while (at < text.length) {
    const c = text[at];
    if (c === "\\") at += 2;
    else if (c === '"') return at + 1;
    else if (c === "\n") return undefined;
    else if ((c === "$" || c === "%") && text[at + 1] === c && text[at + 2] === "{") at += 3;
    else if ((c === "$" || c === "%") && text[at + 1] === "{") {
      const after = skipBalanced(text, at + 2);
      if (after === undefined) return undefined;
      at = after;
    } else at++;
  }
  return undefined;
}

/** After the line that closes a heredoc: the delimiter alone on its line (indentation allowed). */
function skipHeredoc(text: string, at: number, delimiter: string): number | undefined {
  while (at < text.length) {
    const eol = text.indexOf("\n", at);
    const line = text.slice(at, eol < 0 ? text.length : eol);
    if (line.trim() === delimiter) return eol < 0 ? text.length : eol + 1;
    if (eol < 0) return undefined;
    at = eol + 1;
  }
  return undefined;
}
