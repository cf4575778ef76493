/**
 * Terraform values as the audit holds them, and the conversions Terraform applies between them.
 * A value known only at apply time is an `Opaque`; inside text it is a mark, U+E000 reference U+E001.
 */

/** Marks a value Terraform only knows at apply time inside a string: U+E000 reference U+E001. */
export const UNKNOWN_START = "\ue000";
export const UNKNOWN_END = "\ue001";
export const unknownMark = (what: string) => `${UNKNOWN_START}${what}${UNKNOWN_END}`;

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Encoded | Opaque;

/** What base64encode, base64gzip or filebase64 encodes, kept as text so the judge reads it. */
export interface Encoded {
  readonly encodedText: string;
  readonly gzip: boolean;
}

/** A whole value known only at apply time (or one the audit does not evaluate), with why. */
export interface Opaque {
  readonly opaque: string;
  /** The reference the value stands for (`var.extra`), named by the mark when it lands in text. */
  readonly reference?: string;
  /** Terraform itself stops on this expression (a null condition, a missing attribute). */
  readonly refused?: true;
}

export const isEncoded = (v: unknown): v is Encoded => typeof v === "object" && v !== null && "encodedText" in v;
export const isOpaque = (v: unknown): v is Opaque => typeof v === "object" && v !== null && "opaque" in v;

/** A Terraform object or map. */
export const isRecord = (v: unknown): v is { [key: string]: Value } =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !isOpaque(v) && !isEncoded(v);

/** Something Terraform itself rejects (a type error, a missing key): `try` and `can` catch it. */
export class EvalError extends Error {}

/** The value a reference stands for while it is known only at apply time. */
export const unknownReference = (reference: string): Opaque => ({ opaque: reference, reference });

export const hasMark = (text: string) => text.includes(UNKNOWN_START);

/** The first part of a value Terraform would not know yet, as an Opaque naming it; undefined when all is known. */
export function unknownIn(value: Value): Opaque | undefined {
  if (isOpaque(value)) return value;
  if (typeof value === "string") return hasMark(value) ? markedText(value) : undefined;
  if (isEncoded(value)) return hasMark(value.encodedText) ? markedText(value.encodedText) : undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = unknownIn(item);
      if (found) return found;
    }
    return undefined;
  }
  if (isRecord(value)) {
    for (const key of sortedKeys(value)) {
      const found = unknownIn(value[key]);
      if (found) return found;
    }
  }
  return undefined;
}

function markedText(text: string): Opaque {
  const reference = /\ue000([^\ue001]*)\ue001/.exec(text)?.[1] ?? "a value known only at apply time";
  return unknownReference(reference);
}

/** How an unknown appears inside text. */
export const markOf = (value: Opaque) => unknownMark(value.reference ?? value.opaque);

/** Map keys in Terraform's order (lexical), whatever order JavaScript keeps them in. */
export const sortedKeys = (record: Record<string, unknown>) => Object.keys(record).sort(compareStrings);

export const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** An object built with keys in Terraform's order. */
export function record(entries: Iterable<readonly [string, Value]>): { [key: string]: Value } {
  const out: { [key: string]: Value } = {};
  for (const [key, value] of [...entries].sort((a, b) => compareStrings(a[0], b[0]))) out[key] = value;
  return out;
}

/** A number as Terraform writes it: plain decimal digits, never an exponent. */
export function formatNumber(n: number): string {
  // Terraform's numbers keep a negative zero's sign: -(0) is written "-0".
  if (Object.is(n, -0)) return "-0";
  if (Number.isInteger(n) && Math.abs(n) >= 1e21) return BigInt(n).toString();
  const text = String(n);
  const exponent = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!exponent) return text;
  const [, sign, lead, rest = "", power] = exponent;
  const digits = lead + rest;
  const point = 1 + Number(power);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  return `${sign}${digits.padEnd(point, "0")}`;
}

export function typeName(value: Value): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "list";
  if (isOpaque(value)) return "unknown";
  if (isEncoded(value)) return "string";
  if (typeof value === "object") return "object";
  return typeof value;
}

/** The text of an Encoded value as Terraform would hold it (base64), when the audit can write it exactly. */
export function encodedAsText(value: Encoded): string | Opaque {
  if (hasMark(value.encodedText)) return { opaque: "base64 of text known only at apply time" };
  // Terraform's gzip bytes (Go's compress/gzip) differ from Node's: the judge reads the text instead.
  if (value.gzip) return { opaque: "base64gzip() output, whose gzip bytes the audit does not reproduce" };
  return Buffer.from(value.encodedText, "utf8").toString("base64");
}

/** Converts to a string as Terraform does for a string parameter or an interpolation; marks stay marks. */
export function toText(value: Value, what: string): string | Opaque {
  if (typeof value === "string") return value;
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "boolean") return String(value);
  if (isOpaque(value)) return value;
  if (isEncoded(value)) return encodedAsText(value);
  if (value === null) throw new EvalError(`${what}: null where a string is required`);
  throw new EvalError(`${what}: a ${typeName(value)} where a string is required`);
}

/** toText for interpolation into text: an unknown becomes its mark. */
export function interpolate(value: Value, what: string): string {
  const text = toText(value, what);
  return typeof text === "string" ? text : markOf(text);
}

const NUMBER_TEXT = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

export function toNumber(value: Value, what: string): number | Opaque {
  if (typeof value === "number") return value;
  if (isOpaque(value)) return value;
  if (typeof value === "string") {
    if (hasMark(value)) return markedText(value);
    if (NUMBER_TEXT.test(value)) return Number(value);
    throw new EvalError(`${what}: "${value}" is not a number`);
  }
  throw new EvalError(`${what}: a ${typeName(value)} where a number is required`);
}

export function toBool(value: Value, what: string): boolean | Opaque {
  if (typeof value === "boolean") return value;
  if (isOpaque(value)) return value;
  if (typeof value === "string") {
    if (hasMark(value)) return markedText(value);
    if (value === "true" || value === "false") return value === "true";
    throw new EvalError(`${what}: "${value}" is not a bool`);
  }
  throw new EvalError(`${what}: a ${typeName(value)} where a bool is required`);
}

/** The elements of a list, tuple or set. */
export function toList(value: Value, what: string): Value[] | Opaque {
  if (Array.isArray(value)) return value;
  if (isOpaque(value)) return value;
  throw new EvalError(`${what}: a ${typeName(value)} where a list is required`);
}

export function toRecord(value: Value, what: string): { [key: string]: Value } | Opaque {
  if (isRecord(value)) return value;
  if (isOpaque(value)) return value;
  throw new EvalError(`${what}: a ${typeName(value)} where a map or object is required`);
}

/** Terraform's `==`: same type and same value; an unknown side makes the answer unknown. */
export function equals(a: Value, b: Value): boolean | Opaque {
  // A known collection is not null even when values inside it are unknown (cty compares nulls
  // before looking inside): `{ a = var.u } != null` is true.
  const wholeUnknown = (v: Value) => isOpaque(v) || (typeof v === "string" && unknownIn(v) !== undefined);
  if ((a === null || b === null) && !wholeUnknown(a) && !wholeUnknown(b)) return a === null && b === null;
  const unknown = unknownIn(a) ?? unknownIn(b);
  if (unknown) return unknown;
  const [x, y] = [JSON.stringify(canonical(a)), JSON.stringify(canonical(b))];
  // Terraform compares the gzip bytes, which the audit does not write.
  if (x.includes('{"gzipOf":') || y.includes('{"gzipOf":')) return { opaque: "base64gzip() output compared, whose bytes the audit does not reproduce" };
  return x === y;
}

/** A plain JSON shape of a known value, keys sorted, Encoded values as their base64 (gzip ones as what they encode). */
export function canonical(value: Value): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isEncoded(value)) {
    const text = encodedAsText(value);
    return typeof text === "string" ? text : { gzipOf: value.encodedText };
  }
  if (isRecord(value)) return Object.fromEntries(sortedKeys(value).map((key) => [key, canonical(value[key])]));
  return value;
}

/**
 * Thrown by the `known*` readers when an operand is not known yet; the operation that asked becomes
 * that unknown (Terraform: an operation over an unknown operand is unknown).
 */
export class Unknown {
  constructor(readonly value: Opaque) {}
}

function known<T>(value: T | Opaque): T {
  if (isOpaque(value)) throw new Unknown(value);
  return value;
}

/** A string with no unknown part. */
export function knownText(value: Value, what: string): string {
  const text = known(toText(value, what));
  if (hasMark(text)) throw new Unknown(markedText(text));
  return text;
}

export const knownNumber = (value: Value, what: string): number => known(toNumber(value, what));
export const knownBool = (value: Value, what: string): boolean => known(toBool(value, what));
/** A list whose elements may still be unknown. */
export const knownList = (value: Value, what: string): Value[] => known(toList(value, what));
/** A map whose values may still be unknown. */
export const knownRecord = (value: Value, what: string): { [key: string]: Value } => known(toRecord(value, what));

/** A value with no unknown part anywhere inside. */
export function wholly(value: Value): Value {
  const unknown = unknownIn(value);
  if (unknown) throw new Unknown(unknown);
  return value;
}

/** Runs an operation; an unknown operand met on the way is its result. */
export async function orUnknown(run: () => Value | Promise<Value>): Promise<Value> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof Unknown) return error.value;
    throw error;
  }
}
