import { getExpressionAst } from "@cdktf/hcl2json";
import { gzipSync } from "node:zlib";

/** A node of the syntax tree HCL's own parser (hashicorp/hcl, compiled to WebAssembly) returns. */
export interface HclNode {
  readonly type: string;
  readonly meta: { readonly value?: string; readonly name?: string; readonly fullAccessor?: string; readonly type?: string };
  readonly children: readonly HclNode[];
}

/** Parses a Terraform expression (without the surrounding `${ }`) with HCL's parser. */
export async function parseHclExpression(expression: string): Promise<HclNode> {
  return (await getExpressionAst("main.tf", expression)) as unknown as HclNode;
}

/** The expression inside a JSON-syntax value `"${...}"`. */
export function unwrapInterpolation(value: string): string {
  const match = /^\$\{([\s\S]*)\}$/.exec(value);
  if (!match) throw new Error(`not a single interpolation: ${value.slice(0, 80)}`);
  return match[1];
}

/**
 * Decodes the source of an HCL quoted string literal (`"..."`) the way the HCL spec reads it:
 * backslash escapes, and `$${` / `%%{` for literal `${` / `%{`.
 */
export function decodeHclQuotedLiteral(source: string): string {
  if (!source.startsWith('"') || !source.endsWith('"') || source.length < 2) {
    throw new Error(`not a quoted literal: ${source.slice(0, 80)}`);
  }
  const body = source.slice(1, -1);
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const char = body[i];
    if (char === "\\") {
      const next = body[i + 1];
      const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };
      if (next in simple) {
        out += simple[next];
        i += 1;
      } else if (next === "u" || next === "U") {
        const width = next === "u" ? 4 : 8;
        out += String.fromCodePoint(parseInt(body.slice(i + 2, i + 2 + width), 16));
        i += 1 + width;
      } else {
        throw new Error(`invalid escape \\${next} in HCL literal`);
      }
    } else if ((char === "$" || char === "%") && body[i + 1] === char && body[i + 2] === "{") {
      out += `${char}{`;
      i += 2;
    } else {
      out += char;
    }
  }
  return out;
}

/**
 * The literal text of a `template` node whose only child is one literal (or which is empty);
 * throws when the template interpolates or has directives, which literal text must never do.
 */
export function literalTemplateText(node: HclNode): string {
  if (node.type !== "template") throw new Error(`expected a template, got ${node.type}`);
  if (node.children.some((child) => child.type !== "literalValue")) {
    throw new Error(`template is not purely literal: ${node.children.map((c) => c.type).join(", ")}`);
  }
  return decodeHclQuotedLiteral(node.meta.value as string);
}

/**
 * What Terraform makes of `join("", [...])` when the reference `reference` holds `value`: the
 * literal pieces joined with the value. Throws on any other shape.
 */
export function substituteJoin(join: HclNode, reference: string, value: string): string {
  if (join.type !== "function" || join.meta.name !== "join") throw new Error(`expected join(), got ${join.type} ${join.meta.name}`);
  const [separator, list] = join.children;
  if (literalTemplateText(separator) !== "" || list.type !== "tuple") throw new Error('expected join("", [...])');
  return list.children
    .map((item) => {
      if (item.type === "scopeTraversal" || item.type === "relativeTraversal") {
        if (item.meta.fullAccessor !== reference) throw new Error(`unexpected reference ${item.meta.fullAccessor}`);
        return value;
      }
      return literalTemplateText(item);
    })
    .join("");
}

/**
 * The bytes EC2 receives from a `base64encode(join(...))` or `base64gzip(join(...))` user data
 * expression once Terraform has filled `reference` with `value`: the interpolated text, gzip-compressed
 * for base64gzip as Terraform does.
 */
export function plannedUserData(expression: HclNode, reference: string, value: string): Buffer {
  if (expression.type !== "function") throw new Error(`expected a function call, got ${expression.type}`);
  const text = Buffer.from(substituteJoin(expression.children[0], reference, value), "utf8");
  if (expression.meta.name === "base64encode") return text;
  if (expression.meta.name === "base64gzip") return gzipSync(text);
  throw new Error(`unexpected encoding function ${expression.meta.name}`);
}
