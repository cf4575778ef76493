/**
 * Type constraints of `variable` blocks, applied as Terraform applies them to a default or a given
 * value: primitives converted (`"1"` to a number, `true` to `"true"`), `optional(type, default)`
 * attributes of object types filled in when absent or null (Terraform 1.3+, nested defaults too),
 * attributes an object type does not declare dropped, sets sorted, and the elements of `map(any)`
 * or `list(any)` unified to one primitive type. Checked against `terraform console` 1.11.4.
 */
import { evaluate } from "./expression";
import { expressionTree, Node, sourceOf } from "./syntax";
import { EvalError, isEncoded, isOpaque, isRecord, record, sortedKeys, toBool, toNumber, toText, typeName, unknownIn, Value } from "./values";

/** A type constraint, as `variable { type = ... }` declares it. */
export type TypeConstraint =
  | { readonly kind: "string" | "number" | "bool" | "any" }
  | { readonly kind: "list" | "set" | "map"; readonly element: TypeConstraint }
  | { readonly kind: "tuple"; readonly elements: readonly TypeConstraint[] }
  | { readonly kind: "object"; readonly attributes: ReadonlyMap<string, ObjectAttribute> };

/** One attribute of an object type: `name = type`, or `name = optional(type, default)`. */
export interface ObjectAttribute {
  readonly type: TypeConstraint;
  readonly optional: boolean;
  /** The default of `optional(type, default)`, already converted to `type`; null when none. */
  readonly default: Value;
}

/**
 * Reads a `type` argument: HCL as hcl2json writes it (`"${map(string)}"`) or Terraform JSON's
 * expression string (`"map(string)"`). Throws EvalError naming what it cannot read.
 */
export function parseTypeConstraint(raw: unknown): Promise<TypeConstraint> {
  if (typeof raw !== "string") return Promise.reject(new EvalError(`type = ${JSON.stringify(raw)} is not a type expression`));
  const text = (/^\$\{([\s\S]*)\}$/.exec(raw.trim())?.[1] ?? raw).trim();
  // Every instance of a module reads the same declarations: parse each type once.
  let parsed = PARSED.get(text);
  if (!parsed) {
    if (PARSED.size >= 500) PARSED.clear();
    parsed = (async () => {
      const tree = await expressionTree(text);
      if (!tree) throw new EvalError(`type = ${text} does not parse`);
      return readType(tree, Buffer.from(text, "utf8"));
    })();
    PARSED.set(text, parsed);
  }
  return parsed;
}

const PARSED = new Map<string, Promise<TypeConstraint>>();

async function readType(node: Node, source: Buffer): Promise<TypeConstraint> {
  const text = sourceOf(node, source) ?? String(node.meta.value ?? "");
  if (node.type === "scopeTraversal") {
    if (text === "string" || text === "number" || text === "bool" || text === "any") return { kind: text };
    // The bare collection names of older configurations mean a collection of any.
    if (text === "list" || text === "set" || text === "map") return { kind: text, element: { kind: "any" } };
    throw new EvalError(`type ${text} is not a Terraform type`);
  }
  if (node.type === "function") {
    const name = String(node.meta.name);
    const args = node.children;
    switch (name) {
      case "list":
      case "set":
      case "map":
        if (args.length !== 1) break;
        return { kind: name, element: await readType(args[0], source) };
      case "tuple":
        if (args.length !== 1 || args[0].type !== "tuple") break;
        return { kind: "tuple", elements: await Promise.all(args[0].children.map((child) => readType(child, source))) };
      case "object":
        if (args.length !== 1 || args[0].type !== "object") break;
        return { kind: "object", attributes: await readAttributes(args[0], source) };
    }
  }
  throw new EvalError(`type ${text} is not a type constraint the audit reads`);
}

async function readAttributes(node: Node, source: Buffer): Promise<Map<string, ObjectAttribute>> {
  const attributes = new Map<string, ObjectAttribute>();
  for (let i = 0; i + 1 < node.children.length; i += 2) {
    const [keyNode, valueNode] = [node.children[i], node.children[i + 1]];
    const keySource = sourceOf(keyNode, source) ?? "";
    const name = /^"(.*)"$/.exec(keySource)?.[1] ?? keySource;
    if (valueNode.type === "function" && valueNode.meta.name === "optional") {
      const [typeNode, defaultNode] = valueNode.children;
      const type = await readType(typeNode, source);
      const raw = defaultNode ? await evaluate(defaultNode, { scope: { dir: ".", resolve: () => undefined }, symbols: new Map(), depth: 0, source }) : null;
      attributes.set(name, { type, optional: true, default: raw === null ? null : convertToType(raw, type, `the default of ${name}`) });
    } else attributes.set(name, { type: await readType(valueNode, source), optional: false, default: null });
  }
  return attributes;
}

/**
 * A value converted to a type constraint as Terraform converts a variable's value; a value known
 * only at apply time stays as it is. Throws EvalError naming the place, the value and the rule.
 */
export function convertToType(value: Value, type: TypeConstraint, where: string): Value {
  if (value === null || isOpaque(value)) return value;
  switch (type.kind) {
    case "any":
      return value;
    case "string":
      if (isEncoded(value)) return value;
      if (typeof value === "object") throw new EvalError(`${where}: a ${typeName(value)} where a string is required`);
      return toText(value, where);
    case "number":
      return toNumber(value, where);
    case "bool":
      return toBool(value, where);
    case "list":
    case "set": {
      if (!Array.isArray(value)) throw new EvalError(`${where}: a ${typeName(value)} where a ${type.kind} is required`);
      const elements = unifyPrimitives(value.map((element, index) => convertToType(element, type.element, `${where}[${index}]`))) as Value[];
      return type.kind === "set" ? asSet(elements) : elements;
    }
    case "map": {
      if (!isRecord(value)) throw new EvalError(`${where}: a ${typeName(value)} where a map is required`);
      const converted = record(Object.entries(value).map(([key, element]) => [key, convertToType(element, type.element, `${where}["${key}"]`)] as const));
      return unifyPrimitives(converted);
    }
    case "tuple":
      if (!Array.isArray(value) || value.length !== type.elements.length)
        throw new EvalError(`${where}: a ${typeName(value)} where a tuple of ${type.elements.length} is required`);
      return value.map((element, index) => convertToType(element, type.elements[index], `${where}[${index}]`));
    case "object": {
      if (!isRecord(value)) throw new EvalError(`${where}: a ${typeName(value)} where an object is required`);
      const entries: Array<[string, Value]> = [];
      for (const [name, attribute] of type.attributes) {
        const given = Object.prototype.hasOwnProperty.call(value, name) ? value[name] : undefined;
        if (given === undefined && !attribute.optional) throw new EvalError(`${where}: attribute "${name}" is required`);
        // An optional attribute absent or null takes its default (null when none).
        entries.push([
          name,
          given === undefined || given === null ? (attribute.optional ? attribute.default : null) : convertToType(given, attribute.type, `${where}.${name}`),
        ]);
      }
      // Attributes the type does not declare are dropped.
      return record(entries);
    }
  }
}

/** A set's elements: duplicates removed, strings in lexical order (Terraform's order for a set of strings). */
function asSet(elements: Value[]): Value[] {
  if (!elements.every((element) => typeof element === "string")) return elements;
  return [...new Set(elements as string[])].sort();
}

/**
 * The elements of a collection of `any`: Terraform finds one element type; for primitives of
 * different types it is string (`{ a = "x", b = 1 }` becomes `map(string)`). Other mixes are kept.
 */
function unifyPrimitives(value: Value): Value {
  const elements = Array.isArray(value) ? value : isRecord(value) ? Object.values(value) : undefined;
  if (!elements || elements.length === 0) return value;
  const types = new Set(elements.filter((element) => element !== null && !unknownIn(element)).map(typeName));
  if (types.size < 2 || ![...types].every((t) => t === "string" || t === "number" || t === "boolean")) return value;
  const text = (element: Value) => (element === null || unknownIn(element) ? element : toText(element, "an element"));
  if (Array.isArray(value)) return value.map(text) as Value[];
  return record(sortedKeys(value as Record<string, Value>).map((key) => [key, text((value as Record<string, Value>)[key]) as Value] as const));
}
