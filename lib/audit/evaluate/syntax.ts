/**
 * HashiCorp's HCL parser (`@cdktn/hcl2json`, WebAssembly), and the syntax trees the evaluator walks.
 * `getExpressionAst` gives each literal part of a template as its raw source (template.ts reads it
 * as HCL does). `parse`, which writes templates back already read, is not used for expressions: it
 * drops the line break between a heredoc's closing marker and the `}` of an interpolation around it.
 */
import type * as Hcl2Json from "@cdktn/hcl2json";

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
  /** Byte offsets into the source the tree was parsed from. */
  readonly range?: { readonly start: { readonly byte: number }; readonly end: { readonly byte: number } };
}

/** The source text of a node, by its range. */
export function sourceOf(node: Node, source: Buffer): string | undefined {
  const range = node.range;
  if (!range || range.end.byte > source.length || range.start.byte >= range.end.byte) return undefined;
  return source.subarray(range.start.byte, range.end.byte).toString("utf8");
}

// The same expressions recur (a local read by many resources, a module called per pool): parse once.
const CACHE_LIMIT = 2000;
const astCache = new Map<string, Promise<Node | null>>();

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
  return cached(astCache, source, async () => {
    const tree = (await hcl().getExpressionAst("main.tf", source).catch(() => null)) as unknown as RawNode | null;
    return tree ? complete(tree) : null;
  });
}

interface RawNode {
  readonly type: string;
  readonly range?: unknown;
  readonly meta?: Record<string, unknown> | null;
  readonly children?: readonly RawNode[] | null;
}

/** Some nodes come without meta or children (a bare object key): the walker may rely on both. */
function complete(node: RawNode): Node {
  return { type: node.type, meta: node.meta ?? {}, children: (node.children ?? []).map(complete), range: node.range as Node["range"] };
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
