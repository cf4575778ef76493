/**
 * Nested blocks as Terraform expands them: static blocks (`part { ... }`) and `dynamic "part" {
 * for_each = ...; iterator = ...; content { ... } }`, one block per element of `for_each`, its
 * `content` evaluated with the iterator (`part.key`, `part.value`, or the `iterator` name) bound.
 * Static and dynamic blocks keep their order of declaration (HCL's dynblock expands in place).
 */
import { EvalScope, isEncoded, isOpaque, UNKNOWN_START, Value } from "../evaluate/expression";
import { expressionText } from "./instances";
import { applySteps, splitReference } from "./reference";
import { blocksOf, describeUnknowns, evaluateRaw, opaqueReference } from "./values";

/** One expanded nested block: its raw attributes and the scope they are evaluated in. */
export interface NestedBlock {
  readonly body: Record<string, unknown>;
  readonly scope: EvalScope;
}

/** The expanded blocks of one type, or why their number is known only at apply time. */
export type NestedBlocks = { readonly blocks: readonly NestedBlock[] } | { readonly unknown: string };

/**
 * The order a body declares its nested blocks of one type in, `"static"` or `"dynamic"` per block,
 * when the reader knows it (HCL source); hcl2json's JSON keeps static and dynamic blocks apart.
 */
const declaredOrder = new WeakMap<object, ReadonlyMap<string, ReadonlyArray<"static" | "dynamic">>>();

/** Records, for a parsed block body, the order of its nested blocks read from its HCL source. */
export function recordNestedOrder(body: Record<string, unknown>, source: string): void {
  const dynamicTypes = Object.keys(dynamicsByType(body));
  if (dynamicTypes.length === 0) return;
  const order = new Map<string, Array<"static" | "dynamic">>();
  for (const type of dynamicTypes) {
    const escaped = type.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const header = new RegExp(`^[ \\t]*(?:(dynamic)[ \\t]+"${escaped}"|${escaped})[ \\t]*\\{`, "gm");
    const found = [...source.matchAll(header)].map((match) => (match[1] ? "dynamic" : "static") as "static" | "dynamic");
    // Trusted only when it finds exactly the blocks the parser found (a header inside a heredoc would not be).
    const statics = blocksOf(body[type]).length;
    const dynamics = blocksOf(dynamicsByType(body)[type]).length;
    if (found.filter((kind) => kind === "static").length === statics && found.filter((kind) => kind === "dynamic").length === dynamics) order.set(type, found);
  }
  declaredOrder.set(body, order);
}

/** `dynamic` blocks by the type they generate: `{ part: [...] }` (HCL) or objects/lists of them (Terraform JSON). */
function dynamicsByType(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown[]> = {};
  for (const group of blocksOf(body.dynamic)) {
    for (const [type, blocks] of Object.entries(group)) (out[type] ??= []).push(...blocksOf(blocks));
  }
  return out;
}

/** The blocks of `type` in `body`, static and dynamic, expanded in order of declaration. */
export async function nestedBlocks(body: Record<string, unknown>, type: string, scope: EvalScope): Promise<NestedBlocks> {
  const statics = blocksOf(body[type]);
  const dynamics = blocksOf(dynamicsByType(body)[type]);
  if (dynamics.length === 0) return { blocks: statics.map((block) => ({ body: block, scope })) };
  // Without a known order (Terraform JSON, or a source the scan could not match), the static ones come first.
  const order = declaredOrder.get(body)?.get(type) ?? [...statics.map(() => "static" as const), ...dynamics.map(() => "dynamic" as const)];
  const blocks: NestedBlock[] = [];
  let nextStatic = 0;
  let nextDynamic = 0;
  for (const kind of order) {
    if (kind === "static") {
      blocks.push({ body: statics[nextStatic++], scope });
      continue;
    }
    const expanded = await expandDynamic(type, dynamics[nextDynamic++], scope);
    if ("unknown" in expanded) return expanded;
    blocks.push(...expanded.blocks);
  }
  return { blocks };
}

/** One `dynamic "type"` block: a block per element of its for_each, with the iterator bound. */
async function expandDynamic(type: string, dynamic: Record<string, unknown>, scope: EvalScope): Promise<NestedBlocks> {
  const iterator = dynamic.iterator === undefined ? type : expressionText(dynamic.iterator);
  const content = blocksOf(dynamic.content)[0] ?? {};
  const forEach = await evaluateRaw(dynamic.for_each, scope);
  const elements = iterationOf(forEach);
  if (!elements) return { unknown: whyUnknown(type, dynamic.for_each, forEach) };
  return { blocks: elements.map(([key, value]) => ({ body: content, scope: withIterator(scope, iterator, key, value) })) };
}

/**
 * The key and value of each element Terraform iterates: a map's or object's in lexical key order, a
 * list's or tuple's by index. Undefined when the collection is known only at apply time.
 */
function iterationOf(value: Value): Array<[Value, Value]> | undefined {
  if (Array.isArray(value)) return value.map((element, index) => [index, element]);
  if (value === null || typeof value !== "object" || isOpaque(value) || isEncoded(value)) return undefined;
  const keys = Object.keys(value).sort();
  if (keys.some((key) => key.includes(UNKNOWN_START))) return undefined;
  return keys.map((key) => [key, (value as Record<string, Value>)[key]]);
}

function whyUnknown(type: string, raw: unknown, value: Value): string {
  const text = expressionText(raw);
  const inner =
    opaqueReference(value) ?? (typeof value === "string" && value.includes(UNKNOWN_START) ? describeUnknowns(value) : isOpaque(value) ? value.opaque : "");
  const what = value === null ? "is null, which Terraform refuses" : "is known only at apply time";
  return `dynamic "${type}" for_each = ${text} ${what}${inner && inner !== text ? ` (${inner})` : ""}: the audit cannot tell which ${type} blocks exist`;
}

/** The scope of a dynamic block's content: `<iterator>.key` and `<iterator>.value`, the rest as outside. */
function withIterator(scope: EvalScope, iterator: string, key: Value, value: Value): EvalScope {
  return {
    dir: scope.dir,
    resolve: (reference) => {
      const split = splitReference(reference);
      if (split && split.root[0] === iterator) {
        const root = split.root[1] === "key" ? key : split.root[1] === "value" ? value : undefined;
        return applySteps(root, split.steps);
      }
      return scope.resolve(reference);
    },
  };
}
