/**
 * Terraform expressions as Terraform evaluates them, over the syntax tree of HashiCorp's HCL parser
 * (`@cdktn/hcl2json`). A reference the scope cannot resolve stays a value known only at apply time:
 * a whole value is an `Opaque` naming it; inside text it is marked U+E000 reference U+E001, never
 * read as text. Terraform itself is the reference in the tests (`terraform console`).
 */
import { callFunction } from "./functions";
import { arithmetic, Arithmetic } from "./numbers";
import { asHeredoc, expressionTree, Node, sourceOf } from "./syntax";
import { literalTexts, TemplateKind } from "./template";
import {
  equals,
  EvalError,
  interpolate,
  isEncoded,
  isOpaque,
  isRecord,
  knownBool,
  knownList,
  knownNumber,
  knownText,
  Opaque,
  orUnknown,
  record,
  sortedKeys,
  toBool,
  toText,
  typeName,
  unknownIn,
  unknownReference,
  Value,
} from "./values";

export { hcl } from "./syntax";
export { EvalError, isEncoded, isOpaque, UNKNOWN_END, UNKNOWN_START, unknownMark } from "./values";
export type { Encoded, Opaque, Value } from "./values";

/** Where an expression is evaluated: its module's folder and the values its references name. */
export interface EvalScope {
  /** The module's folder: path.module, and what file() and templatefile() resolve against. */
  readonly dir: string;
  /**
   * The value a reference names, or undefined when it is known only at apply time.
   *
   * Asked with the reference's leading attribute names, longest first, down to its root:
   * `data.template_file.x.rendered`, then `data.template_file.x`; `each.value.hop_limit`, then
   * `each.value`; `var.pools` for `var.pools["web"].user_data` (an index ends the names). Roots are
   * `var.X`, `local.X`, `each.key`, `each.value`, `count.index`, `path.X`, `terraform.X`, `self.X`,
   * `module.M`, `data.T.N` and `T.N` (a resource). The evaluator applies the remaining attributes,
   * indexes and splats to the value returned; a reference no call answers is unknown, named in full.
   */
  readonly resolve: (reference: string) => Value | undefined | Promise<Value | undefined>;
}

/**
 * Evaluates a string as Terraform JSON and HCL attributes (through `hcl().parse`) hold it: literal
 * text with "${...}" interpolations and "%{...}" directives; a string that is one interpolation is
 * that expression's value, whatever its type.
 */
export async function evaluateTemplateString(text: string, scope: EvalScope): Promise<Value> {
  try {
    return await evaluateTemplateStrict(text, scope);
  } catch (error) {
    // Terraform would stop on it; the audit cannot know the value either, and says why.
    if (error instanceof EvalError) return { opaque: error.message, refused: true };
    throw error;
  }
}

/** evaluateTemplateString, throwing EvalError where Terraform reports an error. */
export async function evaluateTemplateStrict(text: string, scope: EvalScope): Promise<Value> {
  return evaluateTemplateText(text, { scope, symbols: new Map(), depth: 0, source: Buffer.alloc(0) });
}

/** Nested templates, locals and template files deeper than this give up (Terraform rejects cycles). */
const MAX_EVAL_DEPTH = 40;

/** What an expression sees: the scope, plus symbols bound by for, templatefile and splats. */
export interface Context {
  readonly scope: EvalScope;
  readonly symbols: ReadonlyMap<string, Value>;
  readonly depth: number;
  /** The source the syntax tree being walked was parsed from: its ranges are byte offsets into it. */
  readonly source: Buffer;
  /** In a template file only its vars exist: any other name is Terraform's error. */
  readonly onlySymbols?: boolean;
}

/** The element a splat's each-expression applies to. */
const SPLAT_ITEM = "\0splat";

/** Template text in Terraform JSON form (a JSON string, an HCL attribute as `hcl().parse` writes it, a template file). */
export async function evaluateTemplateText(text: string, context: Context): Promise<Value> {
  if (context.depth > MAX_EVAL_DEPTH) return { opaque: "templates nest too deeply" };
  // Literal text, the common case, needs no parser.
  if (!/[$%]\{/.test(text)) return text;
  const wrapped = asHeredoc(text);
  const ast = await expressionTree(wrapped);
  if (!ast || ast.type !== "template") throw new EvalError(`HCL could not parse the template ${JSON.stringify(text.slice(0, 80))}`);
  const source = Buffer.from(wrapped, "utf8");
  const texts = new Map(textsOf(ast, source, "heredoc"));
  // The heredoc adds a final newline that the text does not have (unless a strip marker took it).
  const parts = [...ast.children];
  const last = parts[parts.length - 1];
  const lastText = last && isText(last) ? (texts.get(last) ?? "") : undefined;
  if (last && lastText?.endsWith("\n")) {
    if (lastText === "\n") parts.pop();
    else texts.set(last, lastText.slice(0, -1));
  }
  const inner = { ...context, depth: context.depth + 1, source };
  if (parts.length === 1 && isInterpolation(parts[0])) return evaluate(parts[0], inner);
  return renderParts(parts, inner, texts);
}

// Templates recur (a module's locals, loops): read each literal part once per syntax tree.
const textsCache = new WeakMap<Node, Map<Node, string>>();
function textsOf(template: Node, source: Buffer, kind: TemplateKind): Map<Node, string> {
  let texts = textsCache.get(template);
  if (!texts) {
    texts = literalTexts(template, source, kind);
    textsCache.set(template, texts);
  }
  return texts;
}

const isDirective = (node: Node) => node.type === "templateJoin" || (node.type === "conditional" && String(node.meta.value).startsWith("%{"));
/** A literal part of a template's text (HCL writes `${42}` as a literal number part, an interpolation). */
const isText = (node: Node | undefined) => node?.type === "literalValue" && node.meta.type === "string";
const isInterpolation = (node: Node) => !isText(node) && !isDirective(node);

/** The text of template parts: literals, interpolations and directives. */
async function renderParts(parts: readonly Node[], context: Context, texts: ReadonlyMap<Node, string>): Promise<string> {
  let out = "";
  for (const part of parts) {
    if (isText(part)) out += texts.get(part) ?? "";
    else if (part.type === "conditional" && isDirective(part)) out += await renderIf(part, context, texts);
    else if (part.type === "templateJoin") out += await renderFor(part.children[0], context, texts);
    else out += interpolate(await evaluate(part, context), String(part.meta.value ?? "an interpolation"));
  }
  return out;
}

const partsOf = (node: Node): readonly Node[] => (node.type === "template" ? node.children : [node]);

/** `%{ if }`: an unknown condition leaves its text unknown unless both branches read the same. */
async function renderIf(node: Node, context: Context, texts: ReadonlyMap<Node, string>): Promise<string> {
  const [conditionNode, yes, no] = node.children;
  const condition = await orUnknown(async () => knownBool(await evaluate(conditionNode, context), "%{ if } condition"));
  if (typeof condition === "boolean") return renderParts(partsOf(condition ? yes : no), context, texts);
  const [whenTrue, whenFalse] = await Promise.all([renderParts(partsOf(yes), context, texts), renderParts(partsOf(no), context, texts)]);
  return whenTrue === whenFalse ? whenTrue : interpolate(condition, "");
}

/** `%{ for }`: the body once per element; an unknown collection leaves the text unknown. */
async function renderFor(node: Node, context: Context, texts: ReadonlyMap<Node, string>): Promise<string> {
  const [collectionNode, body] = node.children;
  const collection = await evaluate(collectionNode, context);
  if (isOpaque(collection)) return interpolate(collection, "");
  let out = "";
  for (const [key, value] of iterate(collection, "%{ for }")) {
    out += await renderParts(partsOf(body), bind(context, node, key, value), texts);
  }
  return out;
}

function iterate(collection: Value, what: string): [Value, Value][] {
  if (Array.isArray(collection)) return collection.map((value, index) => [index, value]);
  if (isRecord(collection)) return sortedKeys(collection).map((key) => [key, collection[key]]);
  throw new EvalError(`${what}: cannot iterate over a ${typeName(collection)}`);
}

function bind(context: Context, forNode: Node, key: Value, value: Value): Context {
  const symbols = new Map(context.symbols);
  const keyVar = String(forNode.meta.keyVar ?? "");
  if (keyVar) symbols.set(keyVar, key);
  symbols.set(String(forNode.meta.valVar), value);
  return { ...context, symbols };
}

/** The value of one expression node. */
export async function evaluate(node: Node, context: Context): Promise<Value> {
  if (context.depth > MAX_EVAL_DEPTH) return { opaque: "expressions nest too deeply" };
  const meta = node.meta;
  switch (node.type) {
    case "":
      if (node.children[0]) return evaluate(node.children[0], context);
      return context.symbols.get(SPLAT_ITEM) ?? { opaque: "an expression the audit could not read" };
    case "literalValue":
      return literal(node);
    case "template": {
      const source = String(meta.value ?? "");
      const kind: TemplateKind = source.startsWith("<<-") ? "flush" : source.startsWith('"') ? "quoted" : "heredoc";
      const texts = textsOf(node, context.source, kind);
      if (node.children.length === 1 && isInterpolation(node.children[0])) return interpolate(await evaluate(node.children[0], context), source);
      return renderParts(node.children, context, texts);
    }
    case "templateWrap":
      return evaluate(node.children[0], context);
    case "scopeTraversal":
      return reference(node, context);
    case "relativeTraversal":
      return orUnknown(async () => traverse(await evaluate(node.children[0], context), parts(node), String(meta.value)));
    case "index":
      return index(node, context);
    case "splat":
      return splat(node, context);
    case "conditional":
      return conditional(node, context);
    case "binaryOp":
      return binary(node, context);
    case "unaryOp":
      return unary(node, context);
    case "tuple":
      return Promise.all(node.children.map((child) => evaluate(child, context)));
    case "object":
      return object(node, context);
    case "for":
      return forExpression(node, context);
    case "function":
      return call(node, context);
    default:
      return { opaque: `a ${node.type} expression the audit does not evaluate` };
  }
}

function literal(node: Node): Value {
  const { type, value } = node.meta as { type: string; value: string };
  if (type === "number") {
    const n = Number(value);
    // Terraform keeps 512 bits; a literal a double cannot hold exactly is not guessed.
    if (/^\d+$/.test(value) && !Number.isSafeInteger(n)) return { opaque: `the number ${value}, beyond what the audit holds exactly` };
    return n;
  }
  if (type === "bool") return value === "true";
  if (type === "dynamic" && value === "null") return null;
  return String(value).replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");
}

interface Part {
  readonly type: string;
  readonly segment: string;
}

const parts = (node: Node) => (node.meta.traversal ?? []) as readonly Part[];

function segmentKey(part: Part): Value {
  const segment = part.segment;
  if (segment.startsWith('"') && segment.endsWith('"')) return segment.slice(1, -1);
  return Number(segment);
}

/** How many leading names make a reference's root (`var.x`, `data.T.N`, `module.M`, `T.N`). */
function rootLength(first: string): number {
  return first === "data" ? 3 : 2;
}

async function reference(node: Node, context: Context): Promise<Value> {
  const all = parts(node);
  const name = all[0]?.segment ?? "";
  const full = String(node.meta.fullAccessor ?? node.meta.value);
  if (context.symbols.has(name)) return orUnknown(() => traverse(context.symbols.get(name) as Value, all.slice(1), full));
  if (context.onlySymbols) throw new EvalError(`${full}: the template's vars have no "${name}"`);
  let names = all.findIndex((part) => part.type !== "nameTraversal");
  if (names < 0) names = all.length;
  const root = Math.min(rootLength(name), names);
  for (let length = names; length >= root; length--) {
    const path = all.slice(0, length).map((part) => part.segment).join(".");
    const resolved = await context.scope.resolve(path);
    if (resolved !== undefined) return orUnknown(() => traverse(resolved, all.slice(length), full));
  }
  if (name === "path" && all.length === 2) return ".";
  return unknownReference(full);
}

function traverse(value: Value, steps: readonly Part[], what: string): Value {
  let current = value;
  for (const step of steps) {
    current = step.type === "nameTraversal" ? attribute(current, step.segment, what) : lookupKey(current, segmentKey(step), what);
  }
  return current;
}

function attribute(value: Value, name: string, what: string): Value {
  if (isOpaque(value)) return value;
  if (isRecord(value)) {
    if (name in value) return value[name];
    throw new EvalError(`${what}: no attribute "${name}"`);
  }
  throw new EvalError(`${what}: a ${typeName(value)} has no attribute "${name}"`);
}

function lookupKey(collection: Value, key: Value, what: string): Value {
  if (isOpaque(collection)) return collection;
  if (Array.isArray(collection)) {
    const position = knownNumber(key, `${what} index`);
    if (!Number.isInteger(position) || position < 0 || position >= collection.length) {
      throw new EvalError(`${what}: index ${position} is out of range for a list of ${collection.length}`);
    }
    return collection[position];
  }
  if (isRecord(collection)) {
    const name = knownText(key, `${what} key`);
    if (name in collection) return collection[name];
    throw new EvalError(`${what}: no element "${name}"`);
  }
  throw new EvalError(`${what}: a ${typeName(collection)} cannot be indexed`);
}

async function index(node: Node, context: Context): Promise<Value> {
  const [collection, key] = await Promise.all(node.children.map((child) => evaluate(child, context)));
  return orUnknown(() => lookupKey(collection, key, String(node.meta.value)));
}

/** `x[*].y`, `x.*.y`: a list maps element-wise, null gives [], any other value is a list of one. */
async function splat(node: Node, context: Context): Promise<Value> {
  const [sourceNode, each] = node.children;
  const source = await evaluate(sourceNode, context);
  if (isOpaque(source)) return source;
  const items = source === null ? [] : Array.isArray(source) ? source : [source];
  return Promise.all(items.map((item) => evaluate(each, { ...context, symbols: new Map(context.symbols).set(SPLAT_ITEM, item) })));
}

/** Evaluates, keeping Terraform's error as a value: the branch not taken may fail without harm. */
async function attempt(node: Node, context: Context): Promise<Value | EvalError> {
  try {
    return await evaluate(node, context);
  } catch (error) {
    if (error instanceof EvalError) return error;
    throw error;
  }
}

/** `c ? a : b`: both results take one type (a number and a string give strings, as Terraform converts). */
async function conditional(node: Node, context: Context): Promise<Value> {
  const [conditionNode, yesNode, noNode] = node.children;
  const [condition, yes, no] = await Promise.all([
    orUnknown(async () => knownBool(await evaluate(conditionNode, context), "condition")),
    attempt(yesNode, context),
    attempt(noNode, context),
  ]);
  const [whenTrue, whenFalse] = unify(yes, no);
  if (typeof condition === "boolean") {
    const chosen = condition ? whenTrue : whenFalse;
    if (chosen instanceof EvalError) throw chosen;
    return chosen;
  }
  if (!(whenTrue instanceof EvalError) && !(whenFalse instanceof EvalError) && equals(whenTrue, whenFalse) === true) return whenTrue;
  return condition as Opaque;
}

/**
 * Terraform converts both results of a conditional to one type: a number or bool beside a string
 * becomes a string; a primitive beside a collection is an error. A branch that failed, or is not known yet,
 * has a type Terraform knows and the audit does not: a number or bool beside it is left unknown.
 */
function unify(a: Value | EvalError, b: Value | EvalError): [Value | EvalError, Value | EvalError] {
  const kind = (v: Value | EvalError) =>
    v instanceof EvalError || isOpaque(v) ? "failed" : v === null ? "any" : typeof v === "string" || isEncoded(v) ? "string" : Array.isArray(v) ? "list" : typeof v === "object" ? "map" : "primitive";
  const [p, q] = [kind(a), kind(b)];
  const uncertain = (v: Value | EvalError): Value | EvalError => (kind(v) === "primitive" ? { opaque: "a conditional whose other result failed, whose type Terraform would convert it to" } : v);
  if (p === "failed" || q === "failed") return [q === "failed" ? uncertain(a) : a, p === "failed" ? uncertain(b) : b];
  if (p === "any" || q === "any" || (p === q && (p !== "primitive" || typeof a === typeof b))) return [a, b];
  if ((p === "string" && q === "primitive") || (p === "primitive" && q === "string")) return [toText(a as Value, "condition"), toText(b as Value, "condition")];
  throw new EvalError(`the results of a conditional are a ${typeName(a as Value)} and a ${typeName(b as Value)}, which Terraform cannot convert to one type`);
}

const COMPARISONS: Record<string, (a: number, b: number) => boolean> = {
  lessThan: (a, b) => a < b,
  lessThanOrEqual: (a, b) => a <= b,
  greaterThan: (a, b) => a > b,
  greaterThanOrEqual: (a, b) => a >= b,
};

async function binary(node: Node, context: Context): Promise<Value> {
  const operator = String(node.meta.operator);
  const what = String(node.meta.value);
  const [left, right] = await Promise.all(node.children.map((child) => evaluate(child, context)));
  return orUnknown(() => {
    switch (operator) {
      case "equal":
      case "notEqual": {
        const same = equals(left, right);
        if (isOpaque(same)) return same;
        return operator === "equal" ? same : !same;
      }
      case "logicalAnd":
      case "logicalOr": {
        const a = toBool(left, what);
        const b = toBool(right, what);
        // A known left side decides alone when it can (false && x, true || x).
        // Terraform evaluates both sides: an unknown on either makes the result unknown (false && x too).
        const x = knownBool(a, what);
        const y = knownBool(b, what);
        return operator === "logicalAnd" ? x && y : x || y;
      }
    }
    const a = knownNumber(left, what);
    const b = knownNumber(right, what);
    if (operator in COMPARISONS) return COMPARISONS[operator](a, b);
    let result: number | undefined;
    try {
      result = arithmetic(operator as Arithmetic, a, b);
    } catch (error) {
      throw new EvalError(`${what}: ${(error as Error).message}`);
    }
    return result ?? { opaque: `${what}: a number beyond what the audit computes exactly` };
  });
}

async function unary(node: Node, context: Context): Promise<Value> {
  const value = await evaluate(node.children[0], context);
  const what = String(node.meta.value);
  return orUnknown(() => {
    if (node.meta.operator === "logicalNot") return !knownBool(value, what);
    return -knownNumber(value, what);
  });
}

/** `{ k = v }`: a bare name's key node carries no text: its range gives it (or meta.items, key source to value source). */
async function object(node: Node, context: Context): Promise<Value> {
  const items = Object.entries((node.meta.items ?? {}) as Record<string, string>);
  const bareNames = items.filter(([key]) => /^[A-Za-z_][\w-]*$/.test(key));
  const entries: [string, Value][] = [];
  for (let i = 0; i + 1 < node.children.length; i += 2) {
    const [keyNode, valueNode] = [node.children[i], node.children[i + 1]];
    let key: Value;
    if (keyNode.children.length > 0) key = await evaluate(keyNode, context);
    else if (/^[A-Za-z_][\w-]*$/.test(sourceOf(keyNode, context.source) ?? "")) key = sourceOf(keyNode, context.source) as string;
    else {
      const source = valueNode.meta.value;
      const match = bareNames.findIndex(([, valueSource]) => source !== undefined && valueSource === source);
      const chosen = match >= 0 ? match : bareNames.length === 1 ? 0 : -1;
      if (chosen < 0) return { opaque: `an object whose keys the audit cannot pair with values (${String(node.meta.value).slice(0, 60)})` };
      key = bareNames.splice(chosen, 1)[0][0];
    }
    const unknown = unknownIn(key);
    if (unknown) return unknown;
    entries.push([knownText(key, "object key"), await evaluate(valueNode, context)]);
  }
  const names = new Set(entries.map(([key]) => key));
  if (names.size !== entries.length) throw new EvalError(`${String(node.meta.value).slice(0, 60)}: a key is given twice`);
  return record(entries);
}

/** `[for k, v in c : x if f]` and `{for k, v in c : k => v... if f}`. */
async function forExpression(node: Node, context: Context): Promise<Value> {
  const meta = node.meta as { keyExpression?: string; conditionalExpression?: string; groupedValue?: boolean; value: string };
  const isObject = Boolean(meta.keyExpression);
  const [collectionNode, ...rest] = node.children;
  const keyNode = isObject ? rest.shift() : undefined;
  const valueNode = rest.shift() as Node;
  const filterNode = meta.conditionalExpression ? rest.shift() : undefined;
  const collection = await evaluate(collectionNode, context);
  return orUnknown(async () => {
    if (isOpaque(collection)) return collection;
    const tuple: Value[] = [];
    const grouped = new Map<string, Value[]>();
    const single = new Map<string, Value>();
    for (const [key, value] of iterate(collection, meta.value)) {
      const inner = bind(context, node, key, value);
      if (filterNode && !knownBool(await evaluate(filterNode, inner), `${meta.value} if`)) continue;
      const result = await evaluate(valueNode, inner);
      if (!keyNode) {
        tuple.push(result);
        continue;
      }
      const name = knownText(await evaluate(keyNode, inner), `${meta.value} key`);
      if (meta.groupedValue) grouped.set(name, [...(grouped.get(name) ?? []), result]);
      else if (single.has(name)) throw new EvalError(`${meta.value}: the key "${name}" is produced twice (add ... to group)`);
      else single.set(name, result);
    }
    if (!keyNode) return tuple;
    return record(meta.groupedValue ? grouped : single);
  });
}

async function call(node: Node, context: Context): Promise<Value> {
  const name = String(node.meta.name);
  if (name === "try" || name === "can") return tryOrCan(name, node.children, context);
  const args = await Promise.all(node.children.map((child) => evaluate(child, context)));
  if (node.meta.expandedFinalArgument === true && args.length > 0) {
    const last = args.pop() as Value;
    if (isOpaque(last)) return last;
    args.push(...knownList(last, `${name}(...)`));
  }
  return callFunction(name, args, context);
}

/** try() gives its first argument that evaluates without error; can() says whether its argument does. */
async function tryOrCan(name: "try" | "can", argNodes: readonly Node[], context: Context): Promise<Value> {
  for (const argNode of argNodes) {
    const result = await attempt(argNode, context);
    if (name === "can") {
      if (result instanceof EvalError) return false;
      return unknownIn(result) ?? true;
    }
    if (result instanceof EvalError) continue;
    // A value not wholly known might still fail once known: Terraform's try is unknown then too.
    return unknownIn(result) ?? result;
  }
  throw new EvalError(`${name}(): no argument evaluated without an error`);
}
