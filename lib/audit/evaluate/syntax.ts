/**
 * HashiCorp's HCL parser (`@cdktn/hcl2json`, WebAssembly), and the syntax trees the evaluator walks.
 *
 * `getExpressionAst` gives each literal part of a template as its raw source text: escapes undecoded,
 * strip markers (`~`) and `<<-` indentation not applied. `parse` applies all three (it is HCL's own
 * template parser) and writes the template back in the form Terraform JSON uses ("${...}",
 * "%{if ...}", "$${" for a literal "${"). So an HCL template's source goes through `parse` once, and
 * the result is read as a plain heredoc template, where a literal's source is its text.
 */
import type * as Hcl2Json from "@cdktn/hcl2json";
import { EvalError } from "./values";

// Loaded only when HCL or an expression needs it: Terraform JSON with literal user data, the common
// case at fleet scale, starts without it.
let hclParser: typeof Hcl2Json | undefined;
export function hcl(): typeof Hcl2Json {
  hclParser ??= require("@cdktn/hcl2json") as typeof Hcl2Json;
  return hclParser;
}

export interface Node {
  readonly type: string;
  readonly meta: Record<string, unknown>;
  readonly children: readonly Node[];
}

// The same expressions recur (a local read by many resources, a module called per pool): parse once.
const CACHE_LIMIT = 2000;
const astCache = new Map<string, Promise<Node | null>>();
const renderCache = new Map<string, Promise<string>>();

function cached<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let hit = cache.get(key);
  if (!hit) {
    if (cache.size >= CACHE_LIMIT) cache.clear();
    hit = make();
    cache.set(key, hit);
  }
  return hit;
}

/** The syntax tree of one HCL expression, or null when HCL cannot parse it. */
export function expressionTree(source: string): Promise<Node | null> {
  return cached(astCache, source, async () => ((await hcl().getExpressionAst("main.tf", source).catch(() => null)) as unknown as Node | null));
}

/** A delimiter that no line of the text equals. */
function delimiterFor(text: string): string {
  let delimiter = "EOT";
  const lines = new Set(text.split("\n").map((line) => line.trim()));
  while (lines.has(delimiter)) delimiter += "X";
  return delimiter;
}

/** Wraps template text (Terraform JSON form) as a heredoc, whose literal parts are read as written. */
export function asHeredoc(text: string): string {
  const delimiter = delimiterFor(text);
  return `<<${delimiter}\n${text}\n${delimiter}\n`;
}

/**
 * An HCL template's source (`"..."` or a heredoc) in Terraform JSON form: escapes decoded, strip
 * markers and `<<-` indentation applied by HCL itself.
 */
export function renderTemplateSource(source: string): Promise<string> {
  return cached(renderCache, source, async () => {
    const body = (await hcl()
      .parse("template.tf", `template = ${source}\n`)
      .catch((error: Error) => {
        throw new EvalError(`HCL could not read the template ${source.slice(0, 80)}: ${error.message}`);
      })) as { template?: unknown };
    if (typeof body.template !== "string") throw new EvalError(`HCL could not read the template ${source.slice(0, 80)}`);
    return body.template;
  });
}

/** Template text in JSON form with its strip markers applied, as Terraform reads a JSON string or a template file. */
export async function applyStripMarkers(text: string): Promise<string> {
  if (!/[$%]\{~|~\}/.test(text)) return text;
  // The heredoc adds a final newline; a strip marker before it removes it, otherwise it is dropped here.
  const rendered = await renderTemplateSource(asHeredoc(text).replace(/\n$/, ""));
  return rendered.endsWith("\n") ? rendered.slice(0, -1) : rendered;
}
