/**
 * The text of a template's literal parts, as HCL's template parser makes it from their source.
 *
 * The syntax tree gives each literal part as its raw source. HCL then works on tokens (a quoted
 * string's run of text; in a heredoc or template file, one token per line): it decodes escapes,
 * trims the token next to a strip marker (`~}` before it, `${~` or `%{~` after it) of its white
 * space, and, for `<<-`, removes from each line-start token the indentation the least indented line
 * has (blank lines neither count nor change). This file does the same, in the same order.
 */
import type { Node } from "./syntax";

export type TemplateKind = "quoted" | "heredoc" | "flush";

// Go's unicode.IsSpace, which HCL and strings.TrimSpace trim with (JavaScript's trim() also takes U+FEFF, not U+0085).
export const SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
export const LEADING_SPACE = new RegExp(`^[${SPACE}]+`);
export const TRAILING_SPACE = new RegExp(`[${SPACE}]+$`);

const rangeOf = (node: Node) => node.range;

/** A literal part and its tokens; the directives and interpolations between are markers. */
interface Literal {
  readonly node: Node;
  tokens: string[];
}
type Token = { readonly literal: Literal; readonly index: number } | "marker";

const isLiteral = (node: Node) => node.type === "literalValue" && node.meta.type === "string";
const isDirective = (node: Node) => node.type === "templateJoin" || (node.type === "conditional" && String(node.meta.value).startsWith("%{"));

/** Each literal part's text, for the template `node` (its directives' bodies included), read from `source`. */
export function literalTexts(node: Node, source: Buffer, kind: TemplateKind): Map<Node, string> {
  const literals: Literal[] = [];
  const stream: Token[] = [];
  const visit = (parts: readonly Node[]) => {
    for (const part of parts) {
      if (isLiteral(part)) {
        const literal = readLiteral(part, source, kind);
        if (!literal) continue;
        literals.push(literal);
        literal.tokens.forEach((_, index) => stream.push({ literal, index }));
      } else if (part.type === "conditional" && isDirective(part)) {
        const [, yes, no] = part.children;
        stream.push("marker");
        visit(yes.children);
        if (hasElse(yes, no, source)) stream.push("marker");
        visit(no.children);
        stream.push("marker");
      } else if (part.type === "templateJoin") {
        stream.push("marker");
        visit(part.children[0]?.children[1]?.children ?? []);
        stream.push("marker");
      } else stream.push("marker");
    }
  };
  visit(node.children);
  if (kind === "flush") flush(stream);
  const texts = new Map<Node, string>();
  for (const literal of literals) {
    const text = literal.tokens.join("");
    texts.set(literal.node, kind === "quoted" ? text : text.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{"));
  }
  return texts;
}

function readLiteral(node: Node, source: Buffer, kind: TemplateKind): Literal | undefined {
  const range = rangeOf(node);
  if (!range) return { node, tokens: [String(node.meta.value ?? "")] };
  let start = range.start.byte;
  const end = range.end.byte;
  // The parser moved a `<<-` line-start token's start past its indentation (all of it, for a line
  // of only indentation before an interpolation): take it back.
  if (kind === "flush" && start <= end) {
    let back = start;
    while (back > 0 && (source[back - 1] === 0x20 || source[back - 1] === 0x09)) back--;
    if (back > 0 && source[back - 1] === 0x0a) start = back;
  }
  if (start >= end) return undefined;
  const raw = source.subarray(start, end).toString("utf8");
  const tokens = kind === "quoted" ? [decodeQuoted(raw)] : (raw.match(/[^\n]*\n|[^\n]+/g) ?? [raw]);
  const before = source.subarray(Math.max(0, start - 2), start).toString("latin1");
  const after = source.subarray(end, end + 3).toString("latin1");
  if (before === "~}") tokens[0] = tokens[0].replace(LEADING_SPACE, "");
  if (after === "${~" || after === "%{~") tokens[tokens.length - 1] = tokens[tokens.length - 1].replace(TRAILING_SPACE, "");
  return { node, tokens };
}

/** Whether an if directive has an else: its source between the two branches says so. */
function hasElse(yes: Node, no: Node, source: Buffer): boolean {
  const yesEnd = rangeOf(yes.children[yes.children.length - 1] ?? yes)?.end.byte ?? 0;
  const noStart = rangeOf(no.children[0] ?? no)?.start.byte ?? 0;
  return noStart > yesEnd && /%\{~?\s*else\b/.test(source.subarray(yesEnd, noStart).toString("utf8"));
}

/** HCL's escapes in a quoted string: \n \r \t \" \\ \uNNNN \UNNNNNNNN, and $${ and %%{ for literal ${ and %{. */
function decodeQuoted(raw: string): string {
  return raw.replace(/\\(["\\nrt])|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\$\$\{|%%\{/g, (whole, simple?: string, u4?: string, u8?: string) => {
    if (simple) return ({ n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" } as Record<string, string>)[simple];
    if (u4 || u8) return String.fromCodePoint(parseInt((u4 ?? u8) as string, 16));
    return whole.slice(1);
  });
}

const segmenter = new Intl.Segmenter("en", { granularity: "grapheme" });
/** User-perceived characters, as Terraform counts them (length, substr, <<- indentation). */
export const graphemes = (s: string) => [...segmenter.segment(s)].map((g) => g.segment);

/** `<<-`: HCL's flushHeredocTemplateParts over the token stream, strip markers already applied. */
function flush(stream: readonly Token[]): void {
  let least = Infinity;
  let atLineStart = true;
  const adjust: { literal: Literal; index: number }[] = [];
  for (const token of stream) {
    if (atLineStart) {
      atLineStart = false;
      if (token === "marker") least = 0;
      else {
        const text = token.literal.tokens[token.index];
        const rest = text.replace(LEADING_SPACE, "");
        // A line of only white space counts for nothing and keeps its spaces.
        if (!(rest === "" && text.endsWith("\n"))) {
          least = Math.min(least, graphemes(text.slice(0, text.length - rest.length)).length);
          adjust.push(token);
        }
      }
    }
    if (token !== "marker" && token.literal.tokens[token.index].endsWith("\n")) atLineStart = true;
  }
  if (!Number.isFinite(least) || least === 0) return;
  for (const { literal, index } of adjust) {
    const text = literal.tokens[index];
    const indentation = graphemes(text.slice(0, text.length - text.replace(LEADING_SPACE, "").length));
    literal.tokens[index] = text.slice(indentation.slice(0, least).join("").length);
  }
}
