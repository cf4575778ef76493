/**
 * Terraform's built-in functions met in user data, each as Terraform defines it. An operand not known
 * yet makes the result unknown (the `known*` readers), except where the function keeps text around a
 * mark exactly (join, format, indent, ...). A function not here is an Opaque naming it, never a guess.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import type { Context } from "./expression";
import { evaluateTemplateText } from "./expression";
import { formatValue, goRegExp, jsonEncode, parseJson, yamlEncode } from "./encodings";
import { graphemes, LEADING_SPACE, TRAILING_SPACE } from "./template";
import {
  canonical,
  compareStrings,
  Encoded,
  equals,
  EvalError,
  hasMark,
  interpolate,
  isEncoded,
  isOpaque,
  isRecord,
  knownBool,
  knownList,
  knownNumber,
  knownRecord,
  knownText,
  Opaque,
  orUnknown,
  record,
  sortedKeys,
  toText,
  typeName,
  Unknown,
  unknownIn,
  UNKNOWN_END,
  UNKNOWN_START,
  Value,
  wholly,
} from "./values";

/** The largest file file() and templatefile() read. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

type Fn = (args: Value[], context: Context, name: string) => Value | Promise<Value>;

export async function callFunction(name: string, args: Value[], context: Context): Promise<Value> {
  const fn = FUNCTIONS[name];
  if (!fn) return { opaque: `${name}() is a function the audit does not evaluate` };
  return orUnknown(() => fn(args, context, name));
}

function arity(name: string, args: Value[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    throw new EvalError(`${name}() takes ${min === max ? min : `${min} to ${max}`} arguments, not ${args.length}`);
  }
}

const arg = (name: string, position: number) => `${name}() argument ${position + 1}`;
const text = (args: Value[], name: string, position: number) => knownText(args[position], arg(name, position));
const number = (args: Value[], name: string, position: number) => knownNumber(args[position], arg(name, position));
const list = (args: Value[], name: string, position: number) => knownList(args[position], arg(name, position));
const integer = (args: Value[], name: string, position: number) => {
  const n = number(args, name, position);
  if (!Number.isInteger(n)) throw new EvalError(`${arg(name, position)}: ${n} is not a whole number`);
  return n;
};

/** Text whose unknown parts stay marks: for functions that keep text around a mark exactly. */
function markedText(value: Value, what: string): string {
  return interpolate(value, what);
}

/** The known pieces of marked text and the marks between them. */
function pieces(textWithMarks: string): { known: string[]; marks: string[] } {
  const known: string[] = [];
  const marks: string[] = [];
  let rest = textWithMarks;
  for (;;) {
    const start = rest.indexOf(UNKNOWN_START);
    if (start < 0) break;
    const end = rest.indexOf(UNKNOWN_END, start);
    known.push(rest.slice(0, start));
    marks.push(rest.slice(start, end + 1));
    rest = rest.slice(end + 1);
  }
  known.push(rest);
  return { known, marks };
}

const join = (p: { known: string[]; marks: string[] }) => p.known.map((k, i) => k + (p.marks[i] ?? "")).join("");

/** Applies a text function to the known pieces only, where it cannot reach across a mark. */
function onKnownPieces(textWithMarks: string, apply: (piece: string) => string): string {
  const p = pieces(textWithMarks);
  return join({ known: p.known.map(apply), marks: p.marks });
}

function readPath(context: Context, value: Value, name: string): string {
  const path = knownText(value, `${name}() path`);
  const full = isAbsolute(path) ? path : resolve(context.scope.dir, path);
  if (!existsSync(full)) throw new EvalError(`${name}("${path}"): the file is not there`);
  const size = statSync(full).size;
  if (size > MAX_FILE_BYTES) throw new EvalError(`${name}("${path}"): ${size} bytes is more than the audit reads (${MAX_FILE_BYTES})`);
  return full;
}

function readUtf8(file: string, name: string): string {
  const bytes = readFileSync(file);
  const content = bytes.toString("utf8");
  if (Buffer.from(content, "utf8").compare(bytes) !== 0) throw new EvalError(`${name}(): ${file} is not valid UTF-8`);
  return content;
}

/** Terraform's replace(): a /regex/ in RE2 syntax, else every literal occurrence. */
function replace(args: Value[], name: string): Value {
  arity(name, args, 3);
  const search = text(args, name, 1);
  if (search.length > 1 && search.startsWith("/") && search.endsWith("/")) {
    const replacement = text(args, name, 2);
    const pattern = goRegExp(search.slice(1, -1), "g");
    const subject = text(args, name, 0);
    return subject.replace(pattern, (...match) => expandGoTemplate(replacement, match));
  }
  // A replacement known only at apply time lands where the search text was, as a mark: the text
  // around it stays known (Terraform's plan shows the whole result as unknown).
  const replacement = markedText(args[2], arg(name, 2));
  const subject = markedText(args[0], arg(name, 0));
  if (!hasMark(subject)) return literalReplace(subject, search, replacement);
  // A match could start before a mark and end inside it: then the result depends on the unknown.
  const p = pieces(subject);
  const spans = p.known.some((piece, i) => {
    const before = i < p.known.length - 1;
    const after = i > 0;
    for (let k = 1; k < search.length; k++) {
      if (before && piece.endsWith(search.slice(0, k))) return true;
      if (after && piece.startsWith(search.slice(search.length - k))) return true;
    }
    return false;
  });
  if (spans || search === "") throw new Unknown(unknownIn(subject) as Opaque);
  return join({ known: p.known.map((piece) => literalReplace(piece, search, replacement)), marks: p.marks });
}

/** Go's strings.ReplaceAll: an empty search inserts at every character boundary. */
function literalReplace(subject: string, search: string, replacement: string): string {
  if (search === "") return replacement + [...subject].map((c) => c + replacement).join("");
  return subject.split(search).join(replacement);
}

/** Go's Regexp.Expand: $1, ${1}, $name, ${name}; $$ is a dollar; a name runs as far as letters, digits and _ go. */
function expandGoTemplate(template: string, match: unknown[]): string {
  const groups = (typeof match[match.length - 1] === "object" ? match[match.length - 1] : {}) as Record<string, string | undefined> | undefined;
  const numbered = match.slice(0, -2).filter((_, i, all) => !(i === all.length - 1 && typeof all[i] === "object")) as (string | undefined)[];
  return template.replace(/\$(?:\$|\{(\w+)\}|(\w+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    if (whole === "$$") return "$";
    const key = braced ?? (bare as string);
    if (/^\d+$/.test(key)) return numbered[Number(key)] ?? "";
    return groups?.[key] ?? "";
  });
}

/** regex()'s result: the match, its groups as a list, or its named groups as a map. */
function regexResult(match: RegExpExecArray): Value {
  if (match.groups) return record(Object.entries(match.groups).map(([k, v]) => [k, v ?? null]));
  if (match.length > 1) return match.slice(1).map((v) => v ?? null);
  return match[0];
}

function flatten(items: Value[]): Value[] {
  return items.flatMap((item) => {
    if (isOpaque(item)) throw new Unknown(item);
    return Array.isArray(item) ? flatten(item) : [item];
  });
}

/** Sorted, duplicates dropped: a set of strings or numbers as Terraform orders it. */
function toSet(items: Value[], what: string): Value[] {
  const known = items.map((item) => wholly(item));
  const unique: Value[] = [];
  for (const item of known) if (!unique.some((u) => equals(u, item) === true)) unique.push(item);
  if (unique.every((u) => typeof u === "number")) return (unique as number[]).sort((a, b) => a - b);
  if (unique.every((u) => typeof u !== "object" || u === null)) {
    return unique.map((u) => (u === null ? u : toText(u, what))).sort((a, b) => compareStrings(String(a), String(b)));
  }
  return unique.sort((a, b) => compareStrings(JSON.stringify(canonical(a)), JSON.stringify(canonical(b))));
}

/** The elements of lists of mixed primitive types take one type (any string makes all strings). */
function unifyPrimitives(items: Value[], what: string): Value[] {
  const kinds = new Set(items.filter((i) => i !== null && !isOpaque(i)).map((i) => (isEncoded(i) ? "string" : typeof i)));
  if (kinds.size > 1 && kinds.has("string") && [...kinds].every((k) => k !== "object")) return items.map((i) => (i === null || isOpaque(i) ? i : toText(i, what)));
  if (kinds.size > 1) throw new EvalError(`${what}: values of types ${[...kinds].join(" and ")} do not share a type`);
  return items;
}

function cidr(prefix: string, what: string): { address: bigint; bits: number; length: number } {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(prefix);
  if (!match) throw new Unknown({ opaque: `${what}: only IPv4 prefixes are evaluated ("${prefix}")` });
  const octets = match.slice(1, 5).map(Number);
  const length = Number(match[5]);
  if (octets.some((o) => o > 255) || length > 32) throw new EvalError(`${what}: "${prefix}" is not a CIDR prefix`);
  const address = octets.reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
  const mask = ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - length)) - 1n);
  return { address: address & mask, bits: 32, length };
}

const ipv4 = (address: bigint) => [24n, 16n, 8n, 0n].map((shift) => String((address >> shift) & 255n)).join(".");

const hash = (algorithm: string) => (args: Value[], _c: Context, name: string) => {
  arity(name, args, 1);
  return createHash(algorithm).update(text(args, name, 0), "utf8").digest("hex");
};

const FUNCTIONS: Record<string, Fn> = {
  // Text.
  replace: (args, _c, name) => replace(args, name),
  format: (args, _c, name) => {
    if (args.length < 1) throw new EvalError("format() needs a format string");
    return formatValue(text(args, name, 0), args.slice(1), name);
  },
  formatlist: (args, _c, name) => {
    if (args.length < 1) throw new EvalError("formatlist() needs a format string");
    const spec = text(args, name, 0);
    const rest = args.slice(1);
    const unknown = rest.find(isOpaque);
    if (unknown) throw new Unknown(unknown);
    const lengths = rest.filter(Array.isArray).map((a) => (a as Value[]).length);
    if (new Set(lengths).size > 1) throw new EvalError("formatlist(): the lists have different lengths");
    const count = lengths.length ? lengths[0] : 1;
    return Array.from({ length: count }, (_, i) => formatValue(spec, rest.map((a) => (Array.isArray(a) ? a[i] : a)), name));
  },
  join: (args, _c, name) => {
    if (args.length < 2) throw new EvalError("join() needs a separator and at least one list");
    const separator = text(args, name, 0);
    const items = args.slice(1).flatMap((_, i) => list(args, name, i + 1));
    return items
      .map((item, i) => {
        if (item === null) throw new EvalError(`join(): element ${i} is null`);
        return markedText(item, "join() element");
      })
      .join(separator);
  },
  split: (args, _c, name) => {
    arity(name, args, 2);
    const separator = text(args, name, 0);
    const subject = text(args, name, 1);
    return separator === "" ? [...subject] : subject.split(separator);
  },
  trimspace: (args, _c, name) => {
    arity(name, args, 1);
    return markedText(args[0], arg(name, 0)).replace(LEADING_SPACE, "").replace(TRAILING_SPACE, "");
  },
  trim: (args, _c, name) => {
    arity(name, args, 2);
    const cutset = new Set([...text(args, name, 1)]);
    const chars = [...text(args, name, 0)];
    let start = 0;
    let end = chars.length;
    while (start < end && cutset.has(chars[start])) start++;
    while (end > start && cutset.has(chars[end - 1])) end--;
    return chars.slice(start, end).join("");
  },
  trimprefix: (args, _c, name) => {
    arity(name, args, 2);
    const subject = text(args, name, 0);
    const prefix = text(args, name, 1);
    return subject.startsWith(prefix) ? subject.slice(prefix.length) : subject;
  },
  trimsuffix: (args, _c, name) => {
    arity(name, args, 2);
    const subject = text(args, name, 0);
    const suffix = text(args, name, 1);
    return suffix && subject.endsWith(suffix) ? subject.slice(0, -suffix.length) : subject;
  },
  chomp: (args, _c, name) => {
    arity(name, args, 1);
    return markedText(args[0], arg(name, 0)).replace(/(?:\r\n?|\n)*$/, "");
  },
  indent: (args, _c, name) => {
    arity(name, args, 2);
    const spaces = integer(args, name, 0);
    return markedText(args[1], arg(name, 1)).split("\n").join(`\n${" ".repeat(Math.max(0, spaces))}`);
  },
  upper: (args, _c, name) => {
    arity(name, args, 1);
    return onKnownPieces(markedText(args[0], arg(name, 0)), (s) => s.toUpperCase());
  },
  lower: (args, _c, name) => {
    arity(name, args, 1);
    return onKnownPieces(markedText(args[0], arg(name, 0)), (s) => s.toLowerCase());
  },
  title: (args, _c, name) => {
    arity(name, args, 1);
    // Go's strings.Title: a letter after a space or ASCII punctuation (not _) is upper-cased.
    return text(args, name, 0).replace(/(^|[\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f\p{White_Space}])(\p{L})/gu, (_, before: string, letter: string) => before + letter.toUpperCase());
  },
  substr: (args, _c, name) => {
    arity(name, args, 3);
    const chars = graphemes(text(args, name, 0));
    let offset = integer(args, name, 1);
    const length = integer(args, name, 2);
    // As cty's Substr: a negative offset counts from the end (and may stay negative: then from the
    // start); length 0 gives "" only for an offset from the start, else the rest; a negative length the rest.
    if (offset < 0) offset += chars.length;
    else if (length === 0) return "";
    const rest = offset > 0 ? chars.slice(offset) : chars;
    return (length <= 0 ? rest : rest.slice(0, length)).join("");
  },
  strcontains: (args, _c, name) => {
    arity(name, args, 2);
    return text(args, name, 0).includes(text(args, name, 1));
  },
  startswith: (args, _c, name) => {
    arity(name, args, 2);
    return text(args, name, 0).startsWith(text(args, name, 1));
  },
  endswith: (args, _c, name) => {
    arity(name, args, 2);
    return text(args, name, 0).endsWith(text(args, name, 1));
  },
  regex: (args, _c, name) => {
    arity(name, args, 2);
    const match = goRegExp(text(args, name, 0), "").exec(text(args, name, 1));
    if (!match) throw new EvalError("regex(): the pattern did not match");
    return regexResult(match);
  },
  regexall: (args, _c, name) => {
    arity(name, args, 2);
    return [...text(args, name, 1).matchAll(goRegExp(text(args, name, 0), "g"))].map((m) => regexResult(m as RegExpExecArray));
  },
  // Collections.
  coalesce: (args, _c, name) => {
    const values = unifyPrimitives(args, "coalesce()");
    for (const value of values) {
      if (isOpaque(value)) throw new Unknown(value);
      if (typeof value === "string" && hasMark(value)) throw new Unknown(unknownIn(value) as Opaque);
      if (value !== null && value !== "") return value;
    }
    throw new EvalError(`${name}(): no non-null, non-empty argument`);
  },
  coalescelist: (args, _c, name) => {
    for (let i = 0; i < args.length; i++) {
      const items = list(args, name, i);
      if (items.length > 0) return items;
    }
    throw new EvalError("coalescelist(): no non-empty list");
  },
  lookup: (args, _c, name) => {
    arity(name, args, 2, 3);
    const map = knownRecord(args[0], arg(name, 0));
    const key = text(args, name, 1);
    if (key in map) return map[key];
    if (args.length === 3) return args[2];
    throw new EvalError(`lookup(): no key "${key}" and no default`);
  },
  merge: (args) => {
    const out: Record<string, Value> = {};
    args.forEach((value, i) => {
      if (value === null) return;
      Object.assign(out, knownRecord(value, arg("merge", i)));
    });
    return record(Object.entries(out));
  },
  concat: (args, _c, name) => args.flatMap((_, i) => list(args, name, i)),
  flatten: (args, _c, name) => {
    arity(name, args, 1);
    return flatten(list(args, name, 0));
  },
  compact: (args, _c, name) => {
    arity(name, args, 1);
    return list(args, name, 0)
      .filter((item) => item !== null)
      .map((item) => knownText(item, "compact() element"))
      .filter((item) => item !== "");
  },
  distinct: (args, _c, name) => {
    arity(name, args, 1);
    const out: Value[] = [];
    for (const item of list(args, name, 0).map((i) => wholly(i))) if (!out.some((o) => equals(o, item) === true)) out.push(item);
    return out;
  },
  contains: (args, _c, name) => {
    arity(name, args, 2);
    const items = list(args, name, 0).map((i) => wholly(i));
    const wanted = wholly(args[1]);
    return items.some((item) => equals(item, wanted) === true);
  },
  length: (args, _c, name) => {
    arity(name, args, 1);
    const value = args[0];
    if (Array.isArray(value)) return value.length;
    if (isRecord(value)) return Object.keys(value).length;
    return graphemes(text(args, name, 0)).length;
  },
  element: (args, _c, name) => {
    arity(name, args, 2);
    const items = list(args, name, 0);
    const position = integer(args, name, 1);
    if (items.length === 0) throw new EvalError("element(): the list is empty");
    if (position < 0) throw new EvalError("element(): the index is negative");
    return items[position % items.length];
  },
  keys: (args, _c, name) => {
    arity(name, args, 1);
    return sortedKeys(knownRecord(args[0], arg(name, 0)));
  },
  values: (args, _c, name) => {
    arity(name, args, 1);
    const map = knownRecord(args[0], arg(name, 0));
    return sortedKeys(map).map((key) => map[key]);
  },
  zipmap: (args, _c, name) => {
    arity(name, args, 2);
    const keyList = list(args, name, 0).map((k) => knownText(k, "zipmap() key"));
    const valueList = list(args, name, 1);
    if (keyList.length !== valueList.length) throw new EvalError("zipmap(): the lists have different lengths");
    return record(keyList.map((key, i) => [key, valueList[i]]));
  },
  slice: (args, _c, name) => {
    arity(name, args, 3);
    const items = list(args, name, 0);
    const start = integer(args, name, 1);
    const end = integer(args, name, 2);
    if (start < 0 || end > items.length || start > end) throw new EvalError(`slice(): [${start}, ${end}) is outside a list of ${items.length}`);
    return items.slice(start, end);
  },
  reverse: (args, _c, name) => {
    arity(name, args, 1);
    return [...list(args, name, 0)].reverse();
  },
  sort: (args, _c, name) => {
    arity(name, args, 1);
    return list(args, name, 0)
      .map((item) => knownText(item, "sort() element"))
      .sort(compareStrings);
  },
  range: (args, _c, name) => {
    arity(name, args, 1, 3);
    const n = args.map((_, i) => number(args, name, i));
    const [start, limit, step] = n.length === 1 ? [0, n[0], 1] : [n[0], n[1], n[2] ?? (n[1] >= n[0] ? 1 : -1)];
    if (step === 0) throw new EvalError("range(): step is zero");
    const out: number[] = [];
    for (let v = start; step > 0 ? v < limit : v > limit; v += step) {
      if (out.length >= 1024) throw new EvalError("range(): more than 1024 elements");
      out.push(v);
    }
    return out;
  },
  one: (args, _c, name) => {
    arity(name, args, 1);
    const items = list(args, name, 0);
    if (items.length > 1) throw new EvalError(`one(): the list has ${items.length} elements`);
    return items.length ? items[0] : null;
  },
  sum: (args, _c, name) => {
    arity(name, args, 1);
    const items = list(args, name, 0).map((v) => knownNumber(v, "sum() element"));
    if (items.length === 0) throw new EvalError("sum(): the list is empty");
    return items.reduce((a, b) => a + b);
  },
  min: (args, _c, name) => Math.min(...args.map((_, i) => number(args, name, i))),
  max: (args, _c, name) => Math.max(...args.map((_, i) => number(args, name, i))),
  // Sensitivity only hides a value in Terraform's output: the value itself is unchanged.
  sensitive: (args, _c, name) => {
    arity(name, args, 1);
    return args[0];
  },
  nonsensitive: (args, _c, name) => {
    arity(name, args, 1);
    return args[0];
  },
  // Types.
  tostring: (args, _c, name) => {
    arity(name, args, 1);
    if (args[0] === null) return null;
    if (typeof args[0] === "object" && !isOpaque(args[0]) && !isEncoded(args[0])) throw new EvalError(`tostring(): a ${typeName(args[0])} is not a string`);
    return markedText(args[0], arg(name, 0));
  },
  tonumber: (args, _c, name) => (args[0] === null ? null : number(args, name, 0)),
  tobool: (args, _c, name) => (args[0] === null ? null : knownBool(args[0], arg(name, 0))),
  tolist: (args, _c, name) => unifyPrimitives(list(args, name, 0), "tolist()"),
  toset: (args, _c, name) => toSet(unifyPrimitives(list(args, name, 0), "toset()"), "toset()"),
  tomap: (args, _c, name) => {
    const map = knownRecord(args[0], arg(name, 0));
    const keys = sortedKeys(map);
    const values = unifyPrimitives(keys.map((k) => map[k]), "tomap()");
    return record(keys.map((k, i) => [k, values[i]]));
  },
  // Encodings.
  jsonencode: (args, _c, name) => {
    arity(name, args, 1);
    return jsonEncode(wholly(args[0]));
  },
  jsondecode: (args, _c, name) => {
    arity(name, args, 1);
    return parseJson(text(args, name, 0));
  },
  yamlencode: (args, _c, name) => {
    arity(name, args, 1);
    return yamlEncode(wholly(args[0]));
  },
  base64encode: (args, _c, name): Encoded | Opaque => {
    arity(name, args, 1);
    if (isOpaque(args[0])) return args[0];
    return { encodedText: markedText(args[0], arg(name, 0)), gzip: false };
  },
  base64gzip: (args, _c, name): Encoded | Opaque => {
    arity(name, args, 1);
    if (isOpaque(args[0])) return args[0];
    return { encodedText: markedText(args[0], arg(name, 0)), gzip: true };
  },
  textencodebase64: (args, _c, name) => {
    arity(name, args, 2);
    const encoding = text(args, name, 1).toUpperCase().replace(/[-_]/g, "");
    if (encoding === "UTF8") return { encodedText: markedText(args[0], arg(name, 0)), gzip: false };
    if (encoding === "UTF16LE") return Buffer.from(text(args, name, 0), "utf16le").toString("base64");
    return { opaque: `textencodebase64() to ${text(args, name, 1)}, an encoding the audit does not write` };
  },
  base64decode: (args, _c, name) => {
    arity(name, args, 1);
    const value = args[0];
    if (isEncoded(value) && !value.gzip) return value.encodedText;
    const encoded = text(args, name, 0);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) throw new EvalError("base64decode(): the argument is not base64");
    const bytes = Buffer.from(encoded, "base64");
    const decoded = bytes.toString("utf8");
    if (Buffer.from(decoded, "utf8").compare(bytes) !== 0) throw new EvalError("base64decode(): the decoded bytes are not UTF-8");
    return decoded;
  },
  urlencode: (args, _c, name) => {
    arity(name, args, 1);
    // Go's url.QueryEscape: space is "+", letters, digits and -_.~ stay.
    return encodeURIComponent(text(args, name, 0))
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      .replace(/%20/g, "+");
  },
  sha1: hash("sha1"),
  sha256: hash("sha256"),
  sha512: hash("sha512"),
  md5: hash("md5"),
  // Files.
  file: (args, context, name) => {
    arity(name, args, 1);
    return readUtf8(readPath(context, args[0], name), name);
  },
  fileexists: (args, context, name) => {
    arity(name, args, 1);
    const path = text(args, name, 0);
    return existsSync(isAbsolute(path) ? path : resolve(context.scope.dir, path));
  },
  filebase64: (args, context, name): Encoded | Opaque => {
    arity(name, args, 1);
    const file = readPath(context, args[0], name);
    const bytes = readFileSync(file);
    const content = bytes.toString("utf8");
    if (Buffer.from(content, "utf8").compare(bytes) !== 0) return { opaque: `filebase64("${file}"): binary content the audit does not read as text` };
    return { encodedText: content, gzip: false };
  },
  templatefile: async (args, context, name) => {
    arity(name, args, 2);
    const file = readPath(context, args[0], name);
    const vars = knownRecord(args[1], arg(name, 1));
    // A template sees only its vars: no var., local. or path. of the module that calls it.
    const scope = { dir: context.scope.dir, resolve: () => undefined };
    return evaluateTemplateText(readUtf8(file, name), { scope, symbols: new Map(Object.entries(vars)), depth: context.depth + 1, onlySymbols: true, source: context.source });
  },
  abspath: (args, _c, name) => resolve(text(args, name, 0)),
  dirname: (args, _c, name) => {
    const path = text(args, name, 0);
    // Go's filepath.Dir: everything before the last slash, cleaned; "." when there is none.
    const cut = path.lastIndexOf("/");
    if (cut < 0) return ".";
    const dir = path.slice(0, cut + 1).replace(/\/+$/, "");
    return dir === "" ? "/" : dir;
  },
  basename: (args, _c, name) => {
    const path = text(args, name, 0);
    if (path === "") return ".";
    const trimmed = path.replace(/\/+$/, "");
    return trimmed === "" ? "/" : basename(trimmed);
  },
  cidrhost: (args, _c, name) => {
    arity(name, args, 2);
    const { address, length } = cidr(text(args, name, 0), name);
    const host = BigInt(integer(args, name, 1));
    const size = 1n << BigInt(32 - length);
    const offset = host < 0n ? size + host : host;
    if (offset < 0n || offset >= size) throw new EvalError(`cidrhost(): host ${host} is outside the prefix`);
    return ipv4(address + offset);
  },
  cidrsubnet: (args, _c, name) => {
    arity(name, args, 3);
    const { address, length } = cidr(text(args, name, 0), name);
    const newbits = integer(args, name, 1);
    const netnum = BigInt(integer(args, name, 2));
    const total = length + newbits;
    if (total > 32) throw new EvalError(`cidrsubnet(): ${length} + ${newbits} bits exceed 32`);
    if (netnum < 0n || netnum >= 1n << BigInt(newbits)) throw new EvalError(`cidrsubnet(): ${netnum} does not fit in ${newbits} bits`);
    return `${ipv4(address | (netnum << BigInt(32 - total)))}/${total}`;
  },
};
