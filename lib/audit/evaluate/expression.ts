/**
 * Terraform expressions as Terraform evaluates them, over the syntax tree of HashiCorp's HCL parser
 * (`@cdktn/hcl2json`). A reference the scope cannot resolve stays a value known only at apply time:
 * inside text it is marked U+E000 reference U+E001, never read as text.
 */
import type * as Hcl2Json from "@cdktn/hcl2json";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

// HashiCorp's HCL parser (WebAssembly) is loaded only when HCL or an expression needs it: Terraform
// JSON with literal user data, the common case at fleet scale, starts without it.
let hclParser: typeof Hcl2Json | undefined;
export function hcl(): typeof Hcl2Json {
  hclParser ??= require("@cdktn/hcl2json") as typeof Hcl2Json;
  return hclParser;
}

/** Marks a value Terraform only knows at apply time inside a string: U+E000 reference U+E001. */
export const UNKNOWN_START = "\ue000";
export const UNKNOWN_END = "\ue001";
export const unknownMark = (what: string) => `${UNKNOWN_START}${what}${UNKNOWN_END}`;

/** The largest file file() and templatefile() read. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** Where an expression is evaluated: its module's folder and the values its references name. */
export interface EvalScope {
  /** The module's folder: path.module, and what file() and templatefile() resolve against. */
  readonly dir: string;
  /**
   * The value of a reference as written (`var.x`, `local.y`, `each.key`, `count.index`,
   * `data.template_file.x.rendered`, `module.m.out`), or undefined when it is known only at apply time.
   */
  readonly resolve: (reference: string) => Value | undefined | Promise<Value | undefined>;
}

/** Evaluates a string as Terraform JSON and HCL attributes hold it: literal text with "${...}" templates. */
export async function evaluateTemplateString(text: string, scope: EvalScope): Promise<Value> {
  return evaluateText(text, scope, {}, 0);
}

function readText(file: string): string {
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES) throw new Error(`${file}: ${size} bytes is more than the audit reads (${MAX_FILE_BYTES})`);
  return readFileSync(file, "utf8");
}

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Encoded | Opaque;
export interface Encoded {
  readonly encodedText: string;
  readonly gzip: boolean;
}
export interface Opaque {
  readonly opaque: string;
}
export const isEncoded = (v: unknown): v is Encoded => typeof v === "object" && v !== null && "encodedText" in v;
export const isOpaque = (v: unknown): v is Opaque => typeof v === "object" && v !== null && "opaque" in v;

interface Node {
  readonly type: string;
  readonly meta: Record<string, unknown>;
  readonly children: readonly Node[];
}

const MAX_EVAL_DEPTH = 20;

/** A JSON-syntax string: literal text with "${...}" interpolations (cdktf writes whole expressions). */
async function evaluateText(text: string, context: EvalScope, scope: Record<string, Value>, depth: number): Promise<Value> {
  const whole = /^\$\{([\s\S]*)\}$/.exec(text);
  if (whole) {
    const ast = (await hcl().getExpressionAst("main.tf", whole[1]).catch(() => null)) as unknown as Node | null;
    if (ast) return evaluate(ast, context, scope, depth, false);
  }
  const ast = (await hcl().getExpressionAst("main.tf", heredoc(text))) as unknown as Node | null;
  if (!ast) throw new Error("HCL could not parse the expression");
  // The heredoc adds a final newline that the text does not have.
  const children = ast.children;
  const last = children[children.length - 1];
  if (last?.type === "literalValue" && String(last.meta.value).endsWith("\n")) {
    const trimmed = String(last.meta.value).slice(0, -1);
    const rest = trimmed ? [...children.slice(0, -1), { ...last, meta: { ...last.meta, value: trimmed } }] : children.slice(0, -1);
    if (rest.length === 1 && rest[0].type !== "literalValue") return evaluate(rest[0], context, scope, depth, true);
    return evaluate({ ...ast, children: rest }, context, scope, depth, true);
  }
  return evaluate(ast, context, scope, depth, true);
}

function heredoc(text: string): string {
  let delimiter = "EOT";
  while (text.split("\n").some((line) => line.trim() === delimiter)) delimiter += "X";
  return `<<${delimiter}\n${text}\n${delimiter}\n`;
}

function asString(value: Value): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (isOpaque(value)) return unknownMark(value.opaque);
  if (isEncoded(value)) return unknownMark("an encoded value used as text");
  return unknownMark("a collection used as text");
}

async function evaluate(node: Node, context: EvalScope, scope: Record<string, Value>, depth: number, heredocTemplate: boolean): Promise<Value> {
  if (depth > MAX_EVAL_DEPTH) return { opaque: "expressions nest too deeply" };
  const meta = node.meta;
  switch (node.type) {
    case "":
      return node.children[0] ? evaluate(node.children[0], context, scope, depth + 1, heredocTemplate) : { opaque: "an empty expression" };
    case "literalValue": {
      if (meta.type === "number") return Number(meta.value);
      if (meta.type === "bool") return meta.value === "true" || meta.value === true;
      const raw = String(meta.value ?? "");
      return heredocTemplate ? raw.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{") : decodeQuoted(raw);
    }
    case "template": {
      const source = String(meta.value ?? "");
      const isHeredoc = source.startsWith("<<");
      if (node.children.length === 1 && node.children[0].type !== "literalValue") {
        return evaluate(node.children[0], context, scope, depth + 1, isHeredoc);
      }
      let out = "";
      for (const child of node.children) {
        if (child.type !== "literalValue" && child.type !== "scopeTraversal" && child.type !== "function" && child.type !== "" && child.type !== "relativeTraversal") {
          return { opaque: `a template directive (${child.type}) the audit does not evaluate` };
        }
        out += asString(await evaluate(child, context, scope, depth + 1, isHeredoc));
      }
      return out;
    }
    case "scopeTraversal":
    case "relativeTraversal": {
      const name = String(meta.fullAccessor ?? meta.value ?? "");
      if (name in scope) return scope[name];
      if (name === "path.module" || name === "path.root" || name === "path.cwd") return ".";
      const resolved = await context.resolve(name);
      if (resolved !== undefined) return resolved;
      return unknownMark(name);
    }
    case "tuple":
      return Promise.all(node.children.map((child) => evaluate(child, context, scope, depth + 1, false)));
    case "object": {
      // Key nodes carry no text; meta.items maps each key to its value's source text.
      const items = (meta.items ?? {}) as Record<string, string>;
      const out: Record<string, Value> = {};
      for (const [key, source] of Object.entries(items)) {
        const child = node.children.find((c) => c.meta?.value === source);
        out[key] = child ? await evaluate(child, context, scope, depth + 1, false) : { opaque: `the object value ${source}` };
      }
      return out;
    }
    case "function":
      return callFunction(String(meta.name), node.children, context, scope, depth + 1);
    default:
      return { opaque: `a ${node.type} expression the audit does not evaluate` };
  }
}

function decodeQuoted(raw: string): string {
  return raw
    .replace(/\\(["\\nrt])|\\u([0-9a-fA-F]{4})|\$\$\{|%%\{/g, (whole, simple: string | undefined, hex: string | undefined) => {
      if (simple) return ({ n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" } as Record<string, string>)[simple];
      if (hex) return String.fromCharCode(parseInt(hex, 16));
      return whole.slice(1);
    });
}

async function callFunction(name: string, argNodes: readonly Node[], context: EvalScope, scope: Record<string, Value>, depth: number): Promise<Value> {
  const args = await Promise.all(argNodes.map((child) => evaluate(child, context, scope, depth, false)));
  const opaque = args.find(isOpaque);
  const readPath = (value: Value): string | Opaque => {
    if (typeof value !== "string" || value.includes(UNKNOWN_START)) return { opaque: `${name}() of a path known only at apply time` };
    const path = resolve(context.dir, value);
    if (!existsSync(path)) return { opaque: `${name}("${value}"): the file is not there` };
    return path;
  };
  switch (name) {
    case "file": {
      const path = readPath(args[0]);
      return typeof path === "string" ? readText(path) : path;
    }
    case "filebase64": {
      const path = readPath(args[0]);
      if (typeof path !== "string") return path;
      return { encodedText: readFileSync(path).toString("utf8"), gzip: false };
    }
    case "templatefile": {
      const path = readPath(args[0]);
      if (typeof path !== "string") return path;
      const vars = args[1];
      const templateScope: Record<string, Value> = {};
      if (vars && typeof vars === "object" && !Array.isArray(vars) && !isOpaque(vars) && !isEncoded(vars)) Object.assign(templateScope, vars);
      else if (isOpaque(vars)) return vars;
      const rendered = await evaluateText(readText(path), { ...context, dir: dirname(path) }, templateScope, depth + 1);
      return rendered;
    }
    case "base64encode":
    case "base64gzip":
      if (opaque) return opaque;
      return { encodedText: asString(args[0]), gzip: name === "base64gzip" };
    case "base64decode": {
      if (typeof args[0] !== "string" || args[0].includes(UNKNOWN_START)) return { opaque: "base64decode() of a value known only at apply time" };
      return Buffer.from(args[0], "base64").toString("utf8");
    }
    case "join": {
      if (opaque) return opaque;
      const list = args[1];
      if (!Array.isArray(list)) return { opaque: "join() of something not a list" };
      return list.map(asString).join(asString(args[0]));
    }
    case "trimspace":
      return typeof args[0] === "string" ? args[0].trim() : { opaque: "trimspace() of a non-string" };
    case "chomp":
      return typeof args[0] === "string" ? args[0].replace(/[\r\n]+$/, "") : { opaque: "chomp() of a non-string" };
    default:
      return { opaque: `${name}() is a function the audit does not evaluate` };
  }
}

