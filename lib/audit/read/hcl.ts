/**
 * HCL `.tf` files, parsed by HashiCorp's own HCL parser (`@cdktn/hcl2json`, WebAssembly, loaded
 * once per process). The parser runs cold at first: measured here, 40 KB of a real root module took
 * 1.5 s in its first call and 0.15 s once V8 had optimised it. Most of a root module is blocks the
 * audit never reads (IAM policies, security groups, load balancers), so only the blocks it reads
 * are handed to the parser; a file the block scanner cannot split is parsed whole. Measured here on
 * three root modules of 16 to 34 files, parsing took 0.7-1.3 s of CPU file by file and whole, and
 * 0.14-0.22 s this way.
 */
import { hcl } from "../evaluate/expression";
import { recordNestedOrder } from "./dynamic";
import { AuditInputError, LAUNCH_RESOURCE_TYPES, readText } from "./found";
import { HCL_COMMENT, parseHclSuppression, SourcedSuppression, SuppressionError } from "../suppressions";

/** A parsed file: its top-level blocks in hcl2json's shape (the shape of Terraform JSON, blocks as lists). */
export interface ParsedFile {
  readonly file: string;
  readonly body: Record<string, unknown>;
  /** `# ecs-imds-guard:suppress` comments above resource blocks, by `type.name`. */
  readonly suppressions?: ReadonlyMap<string, readonly SourcedSuppression[]>;
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

/**
 * Parses the files of one module. The blocks the audit reads from every file go to the parser in
 * one call (measured here: 34 files' blocks took 0.12-0.17 s in one call, 0.22-0.34 s in one call
 * each), then each file gets back the blocks it declared. A file the block scanner cannot split,
 * or a module whose blocks do not parse together, is parsed file by file, whole where needed.
 */
export async function parseHclFiles(files: readonly string[]): Promise<ParsedFile[]> {
  const read = files.map((file) => {
    const text = readText(file);
    return { file, text, blocks: readBlocks(text) };
  });
  const split = read.filter((entry) => entry.blocks !== undefined) as Array<{ file: string; text: string; blocks: KeptBlock[] }>;
  let merged: Record<string, unknown> | undefined;
  if (split.length > 0) {
    try {
      merged = (await hcl().parse(split[0].file, `${split.flatMap((entry) => entry.blocks.map((block) => block.text)).join("\n\n")}\n`)) as Record<string, unknown>;
    } catch {
      merged = undefined;
    }
  }
  const locals = { next: 0, seen: new Map<string, number>() };
  const byFile = new Map<string, ParsedFile>();
  if (merged) for (const entry of split) byFile.set(entry.file, { file: entry.file, body: bodyOf(merged, entry.blocks, locals) });
  const parsed = await Promise.all(read.map((entry) => byFile.get(entry.file) ?? parseHclFile(entry.file, entry.text, entry.blocks)));
  return parsed.map((file, index) => {
    const suppressions = commentSuppressions(file.file, read[index].text);
    return suppressions.size > 0 ? { ...file, suppressions } : file;
  });
}

/**
 * `# ecs-imds-guard:suppress rule=... reason="..."` lines in the comment lines right above a
 * `resource "type" "name" {` line, by `type.name`.
 */
export function commentSuppressions(file: string, text: string): Map<string, SourcedSuppression[]> {
  const found = new Map<string, SourcedSuppression[]>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    const block = /^[ \t]*resource[ \t]+"([^"]+)"[ \t]+"([^"]+)"/.exec(line);
    if (!block) return;
    const suppressions: SourcedSuppression[] = [];
    for (let above = index - 1; above >= 0 && /^[ \t]*(#|\/\/)/.test(lines[above]); above--) {
      const comment = HCL_COMMENT.exec(lines[above]);
      if (!comment) continue;
      try {
        suppressions.unshift(parseHclSuppression(comment[1], file, above + 1));
      } catch (error) {
        if (error instanceof SuppressionError) throw new AuditInputError(file, error.message.replace(/^ecs-imds-guard: /, ""));
        throw error;
      }
    }
    if (suppressions.length > 0) found.set(`${block[1]}.${block[2]}`, suppressions);
  });
  // A suppression comment anywhere else would acknowledge nothing without a word: refuse it.
  const attached = [...found.values()].flat().map((suppression) => suppression.source);
  const stray = lines.findIndex((line, index) => HCL_COMMENT.test(line) && !attached.includes(`${file}:${index + 1}`));
  if (stray >= 0) throw new AuditInputError(file, `line ${stray + 1}: an ecs-imds-guard:suppress comment must be in the comment lines right above a resource block`);
  return found;
}

/** The part of a module's merged body that one file's blocks declared. */
function bodyOf(merged: Record<string, unknown>, blocks: readonly KeptBlock[], locals: { next: number; seen: Map<string, number> }): Record<string, unknown> {
  const body: Record<string, Record<string, unknown> | unknown[]> = {};
  const pick = (path: readonly string[]) => {
    let from: unknown = merged;
    for (const key of path) from = from && typeof from === "object" ? (from as Record<string, unknown>)[key] : undefined;
    if (from === undefined) return;
    // A block declared again in another file (an override file, or a duplicate Terraform refuses)
    // is the next entry of the merged list: each file keeps its own.
    const key = path.join("\u0000");
    const index = locals.seen.get(key) ?? 0;
    locals.seen.set(key, index + 1);
    if (Array.isArray(from) && from.length > 1 && index < from.length) from = [from[index]];
    let into = body as Record<string, unknown>;
    path.slice(0, -1).forEach((key) => (into = (into[key] ??= {}) as Record<string, unknown>));
    into[path[path.length - 1]] = from;
  };
  for (const block of blocks) {
    if (block.type === "locals") {
      const all = (merged.locals ?? []) as unknown[];
      ((body.locals ??= []) as unknown[]).push(all[locals.next++]);
    } else if (block.type === "resource" || block.type === "data") pick([block.type, block.labels[0], block.labels[1]]);
    else pick([block.type, block.labels[0]]);
  }
  recordOrders(body, blocks);
  return body;
}

/** For resource and data blocks with `dynamic` blocks: the order of their nested blocks, from the source. */
function recordOrders(body: Record<string, unknown>, blocks: readonly KeptBlock[]): void {
  for (const block of blocks) {
    if (block.type !== "resource" && block.type !== "data") continue;
    const byType = body[block.type] as Record<string, Record<string, unknown>> | undefined;
    const declared = byType?.[block.labels[0]]?.[block.labels[1]];
    const first = Array.isArray(declared) ? declared[0] : declared;
    if (first && typeof first === "object") recordNestedOrder(first as Record<string, unknown>, block.text);
  }
}

async function parseHclFile(file: string, text: string, blocks: readonly KeptBlock[] | undefined): Promise<ParsedFile> {
  if (blocks !== undefined) {
    try {
      const body = (await hcl().parse(file, `${blocks.map((block) => block.text).join("\n\n")}\n`)) as Record<string, unknown>;
      recordOrders(body, blocks);
      return { file, body };
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

/** A top-level block the audit reads: its type, labels and text. */
export interface KeptBlock {
  readonly type: string;
  readonly labels: readonly string[];
  readonly text: string;
}

/**
 * The top-level blocks the audit reads, or undefined when the text does not split into blocks
 * cleanly (then the parser sees the whole file and reports any error in it).
 */
export function readBlocks(text: string): KeptBlock[] | undefined {
  const kept: KeptBlock[] = [];
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
    if (isRead(type[0], labels)) kept.push({ type: type[0], labels, text: text.slice(start, end) });
    at = end;
  }
  return kept;
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
