/**
 * Text encodings Terraform's functions write with Go's libraries: format() verbs, jsonencode (Go's
 * encoding/json), yamlencode (go-yaml with every string double-quoted), and RE2 patterns read as
 * JavaScript ones where both mean the same.
 */
import {
  encodedAsText,
  EvalError,
  formatNumber,
  hasMark,
  interpolate,
  isEncoded,
  isOpaque,
  isRecord,
  knownBool,
  knownNumber,
  knownText,
  Opaque,
  record,
  sortedKeys,
  typeName,
  Unknown,
  unknownIn,
  Value,
} from "./values";

/** A string as Go's encoding/json writes it (HTML characters and U+2028/9 escaped). */
export function jsonString(text: string): string {
  return `"${text.replace(/["\\\u0000-\u001f<>&\u2028\u2029]/g, (c) => {
    const short: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };
    return short[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  })}"`;
}

export function jsonEncode(value: Value): string {
  if (value === null) return "null";
  if (typeof value === "string") return jsonString(value);
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(jsonEncode).join(",")}]`;
  if (isEncoded(value)) return jsonString(known(encodedAsText(value)));
  if (isOpaque(value)) throw new Unknown(value);
  return `{${sortedKeys(value)
    .map((key) => `${jsonString(key)}:${jsonEncode(value[key])}`)
    .join(",")}}`;
}

function known<T>(value: T | Opaque): T {
  if (isOpaque(value)) throw new Unknown(value);
  return value;
}

export function parseJson(text: string): Value {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new EvalError(`jsondecode(): ${(error as Error).message}`);
  }
  const convert = (v: unknown): Value => {
    if (Array.isArray(v)) return v.map(convert);
    if (v !== null && typeof v === "object") return record(Object.entries(v).map(([k, x]) => [k, convert(x)]));
    return v as Value;
  };
  return convert(parsed);
}

/** yamlencode(): keys and strings double-quoted, multi-line strings as literal blocks, lists at their key's indent. */
export function yamlEncode(value: Value): string {
  // yamlNode writes what follows a key: a space before a scalar, a newline before nested lines.
  return `${yamlNode(value, "").slice(1)}\n`;
}

function yamlScalar(value: Value): string | undefined {
  if (value === null) return "null";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "boolean") return String(value);
  if (isEncoded(value)) return yamlString(known(encodedAsText(value)));
  // go-yaml writes a multi-line string as a literal block unless it holds a tab: then quoted, escaped.
  if (typeof value === "string") return value.includes("\n") && !value.includes("\t") ? undefined : yamlString(value, true);
  if (Array.isArray(value) && value.length === 0) return "[]";
  if (isRecord(value) && Object.keys(value).length === 0) return "{}";
  return undefined;
}

function yamlString(text: string, value = false): string {
  if (text.includes("\n") && !value) throw new Unknown({ opaque: "yamlencode() of a multi-line map key" });
  // go-yaml folds a quoted string with spaces past 80 columns; the audit does not reproduce where.
  if (text.length > 40 && /\s/.test(text)) throw new Unknown({ opaque: "yamlencode() of a long string, which go-yaml folds" });
  // go-yaml escapes what is not printable; beyond tabs, newlines and the JSON set, the audit does not guess.
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(text)) throw new Unknown({ opaque: "yamlencode() of control characters" });
  return `"${text.replace(/["\\\t\n]/g, (c) => ({ '"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n" })[c] as string)}"`;
}

/** A node after its key (or a list dash): " scalar" on the same line, or its lines below at `indent`. */
function yamlNode(value: Value, indent: string): string {
  const scalar = yamlScalar(value);
  if (scalar !== undefined) return ` ${scalar}`;
  if (typeof value === "string") {
    // A literal block: "|" keeps one final newline, "|-" none; more than one, or leading spaces, go-yaml writes otherwise.
    const chomp = value.endsWith("\n") ? "" : "-";
    const body = chomp ? value : value.slice(0, -1);
    if (body.endsWith("\n") || /^[ \t\n]/.test(body) || /[ \t]$/m.test(body) || body === "") throw new Unknown({ opaque: "yamlencode() of a multi-line string in a block style the audit does not reproduce" });
    return ` |${chomp}\n${body
      .split("\n")
      .map((line) => (line ? indent + line : ""))
      .join("\n")}`;
  }
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        const rendered = yamlNode(item, indent + "  ");
        // A map or list inside a list starts on the dash's line.
        return `\n${indent}-${rendered.startsWith("\n") ? " " + rendered.slice(1 + indent.length + 2) : rendered}`;
      })
      .join("");
  }
  if (isOpaque(value)) throw new Unknown(value);
  return sortedKeys(value as Record<string, Value>)
    .map((key) => {
      const child = (value as Record<string, Value>)[key];
      const childIndent = Array.isArray(child) ? indent : indent + "  ";
      return `\n${indent}${yamlString(key)}:${yamlNode(child, childIndent)}`;
    })
    .join("");
}

/** An RE2 pattern as a JavaScript RegExp, when both read it the same way. */
export function goRegExp(pattern: string, flags: string): RegExp {
  let source = pattern;
  let extra = "";
  const leading = /^\(\?([ims]+)\)/.exec(source);
  if (leading) {
    extra = leading[1];
    source = source.slice(leading[0].length);
  }
  source = source.replace(/\(\?P</g, "(?<");
  if (/\(\?[a-zA-Z]|\[\[:|\\[pP][A-Za-z]|\\[zAQCE]/.test(source)) {
    throw new Unknown({ opaque: `the RE2 pattern ${pattern}, whose syntax the audit does not translate` });
  }
  try {
    return new RegExp(literalBraces(source), `${flags}${extra}u`);
  } catch {
    throw new EvalError(`the pattern ${pattern} is not a valid regular expression`);
  }
}

// format() verbs: %[flags][width][.precision][argument index]verb, as cty's stdlib reads them.
const VERB = /%([-+ #0]*)(?:\[(\d+)\])?(\d+)?(?:\.(\d+))?(?:\[(\d+)\])?(.)?/g;

/** format(): each verb converts its argument as Terraform does; text that holds marks keeps them under %s and %v. */
export function formatValue(spec: string, args: Value[], name: string): string {
  let next = 0;
  let used = 0;
  const out = spec.replace(VERB, (whole, flags: string, index1: string | undefined, width: string | undefined, precision: string | undefined, index2: string | undefined, verb: string | undefined) => {
    if (verb === undefined) throw new EvalError(`${name}(): the format ends in the middle of a verb`);
    if (verb === "%") return "%";
    const index = index1 ?? index2;
    const position = index !== undefined ? Number(index) - 1 : next;
    next = position + 1;
    used = Math.max(used, next);
    if (position < 0 || position >= args.length) throw new EvalError(`${name}(): not enough arguments for ${whole}`);
    const value = args[position];
    if (value === null) throw new Unknown({ opaque: `${name}() of a null argument` });
    const rendered = formatOne(verb, flags, precision === undefined ? undefined : Number(precision), value, `${name}() ${whole}`);
    return pad(rendered, flags, width === undefined ? 0 : Number(width), verb);
  });
  if (used < args.length) throw new EvalError(`${name}(): ${args.length - used} arguments are not used by the format`);
  return out;
}

function pad(text: string, flags: string, width: number, verb: string): string {
  const length = [...text].length;
  if (length >= width) return text;
  if (hasMark(text)) throw new Unknown(unknownIn(text) as Opaque);
  const fill = width - length;
  if (flags.includes("-")) return text + " ".repeat(fill);
  if (flags.includes("0") && "dfeobxX".includes(verb)) {
    const sign = /^[-+ ]/.test(text) ? text[0] : "";
    return sign + "0".repeat(fill) + text.slice(sign.length);
  }
  return " ".repeat(fill) + text;
}

function formatOne(verb: string, flags: string, precision: number | undefined, value: Value, what: string): string {
  switch (verb) {
    case "s": {
      if (typeof value === "object" && !isOpaque(value) && !isEncoded(value)) throw new EvalError(`${what}: a ${typeName(value)} is not a string`);
      const text = interpolate(value, what);
      if (precision === undefined) return text;
      if (hasMark(text)) throw new Unknown(unknownIn(text) as Opaque);
      return [...text].slice(0, precision).join("");
    }
    case "v":
      if (typeof value === "string" || isOpaque(value)) return interpolate(value, what);
      if (typeof value === "number") return formatNumber(value);
      if (typeof value === "boolean") return String(value);
      return jsonEncode(value);
    case "q":
      return jsonString(knownText(value, what));
    case "t":
      return String(knownBool(value, what));
    case "d":
    case "x":
    case "X":
    case "o":
    case "b": {
      const n = knownNumber(value, what);
      if (!Number.isInteger(n)) throw new EvalError(`${what}: ${formatNumber(n)} is not a whole number`);
      const digits = BigInt(n) < 0n ? (-BigInt(n)).toString(RADIX[verb]) : BigInt(n).toString(RADIX[verb]);
      return sign(n, flags) + (verb === "X" ? digits.toUpperCase() : digits);
    }
    case "f":
      return sign(knownNumber(value, what), flags) + fixed(Math.abs(knownNumber(value, what)), precision ?? 6);
    case "e":
      return sign(knownNumber(value, what), flags) + exponential(Math.abs(knownNumber(value, what)), precision ?? 6);
    case "g": {
      const n = knownNumber(value, what);
      if (precision !== undefined) throw new Unknown({ opaque: `${what}: %g with a precision, which the audit does not reproduce` });
      return sign(n, flags) + shortestG(Math.abs(n));
    }
    default:
      throw new EvalError(`${what}: %${verb} is not a verb format() knows`);
  }
}

const RADIX: Record<string, number> = { d: 10, x: 16, X: 16, o: 8, b: 2 };

const sign = (n: number, flags: string) => (n < 0 ? "-" : flags.includes("+") ? "+" : flags.includes(" ") ? " " : "");

/** A decimal's digits and point: 12.5 is { digits: "125", point: 2 }. */
function decimalDigits(n: number): { digits: string; point: number } {
  const [whole, fraction = ""] = formatNumber(n).split(".");
  const digits = (whole + fraction).replace(/^0+/, "");
  const point = whole === "0" ? -(fraction.length - fraction.replace(/^0+/, "").length) : whole.length;
  return { digits: digits || "0", point: digits ? point : 1 };
}

/**
 * Rounds the digits to `keep` digits half to even, as Go rounds Terraform's 512-bit numbers; a tie on a
 * decimal that binary cannot hold (0.15) depends on bits the audit does not have.
 */
function roundDigits(digits: string, keep: number, n: number): { digits: string; carry: boolean } {
  if (keep >= digits.length) return { digits: digits.padEnd(Math.max(keep, 0), "0"), carry: false };
  if (keep < 0) return { digits: "", carry: false };
  const head = digits.slice(0, keep);
  const rest = digits.slice(keep);
  let up = rest[0] > "5" || (rest[0] === "5" && /[1-9]/.test(rest.slice(1)));
  if (rest[0] === "5" && !/[1-9]/.test(rest.slice(1))) {
    const [, fraction = ""] = formatNumber(n).split(".");
    const scaled = BigInt(formatNumber(n).replace(".", "").replace("-", ""));
    if (scaled % 5n ** BigInt(fraction.length) !== 0n) throw new Unknown({ opaque: `rounding ${formatNumber(n)}, a tie Terraform breaks on bits the audit does not hold` });
    up = head !== "" && Number(head[head.length - 1]) % 2 === 1;
  }
  if (!up) return { digits: head, carry: false };
  const bumped = (BigInt(head || "0") + 1n).toString().padStart(head.length, "0");
  return bumped.length > head.length ? { digits: bumped.slice(0, head.length), carry: true } : { digits: bumped, carry: false };
}

function fixed(n: number, precision: number): string {
  const { digits, point } = decimalDigits(n);
  const all = point > 0 ? digits : "0".repeat(-point) + digits;
  const intLength = Math.max(point, 0);
  let { digits: kept, carry } = roundDigits(all, intLength + precision, n);
  if (carry) kept = "1" + kept;
  const whole = kept.slice(0, kept.length - precision) || "0";
  const fraction = kept.slice(kept.length - precision);
  return precision > 0 ? `${whole.replace(/^0+(?=\d)/, "")}.${fraction}` : whole.replace(/^0+(?=\d)/, "");
}

function exponential(n: number, precision: number): string {
  if (n === 0) return `${precision > 0 ? "0." + "0".repeat(precision) : "0"}e+00`;
  const { digits, point } = decimalDigits(n);
  let { digits: kept, carry } = roundDigits(digits, precision + 1, n);
  let exponent = point - 1;
  if (carry) {
    kept = "1" + kept.slice(0, -1);
    exponent += 1;
  }
  const mantissa = precision > 0 ? `${kept[0]}.${kept.slice(1)}` : kept[0];
  return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

/** Go's %g with the shortest digits: an exponent below -4 or from 6 up is written as %e. */
function shortestG(n: number): string {
  if (n === 0) return "0";
  const { digits, point } = decimalDigits(n);
  const exponent = point - 1;
  if (exponent < -4 || exponent >= 6) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  return formatNumber(n);
}

/**
 * RE2 reads a brace that starts no repetition ({2}, {2,}, {2,3}) as itself, and `]` first in a class
 * as itself; JavaScript's Unicode mode rejects both: escape them.
 */
function literalBraces(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      out += c + (pattern[i + 1] ?? "");
      i++;
    } else if (inClass) {
      if (c === "]") inClass = false;
      out += c;
    } else if (c === "[") {
      inClass = true;
      out += c;
      if (pattern[i + 1] === "^") out += pattern[++i];
      if (pattern[i + 1] === "]") out += "\\" + pattern[++i];
    } else if (c === "{") {
      const repetition = /^\{\d+(?:,\d*)?\}/.exec(pattern.slice(i))?.[0];
      out += repetition ?? "\\{";
      if (repetition) i += repetition.length - 1;
    } else out += c === "}" ? "\\}" : c;
  }
  return out;
}
