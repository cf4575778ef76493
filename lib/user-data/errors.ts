/**
 * Bad input, reported at synth time before anything is written. The message names the field, the
 * offending value and the rule it breaks.
 */
export class UserDataValidationError extends Error {
  constructor(
    /** The option path, for example `ecsSettings.ECS_LOGLEVEL`. */
    readonly field: string,
    /** The offending value, as given. */
    readonly value: unknown,
    /** The rule the value breaks. */
    readonly rule: string,
  ) {
    super(`ecs-imds-guard: ${field} = ${describeValue(value)} is invalid: ${rule}`);
    this.name = "UserDataValidationError";
  }
}

/** Longest string shown, in code points; the rest is elided with `...`. */
const MAX_STRING_SHOWN = 80;
/** Longest whole rendering of a value in a message. */
const MAX_VALUE_SHOWN = 240;
/** Entries of an array or object shown before `...`. */
const MAX_ENTRIES_SHOWN = 10;

// Characters a terminal shows as nothing or as a plain space, or that reorder text: C1 controls,
// Unicode White_Space other than the space (the whitespace ecs-init trims), zero-width and bidi
// controls, the byte order mark. JSON.stringify already escapes C0 controls and lone surrogates.
const INVISIBLE = /[\u007f-\u00a0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]/g;

/**
 * Renders any value for an error message so that what the user gave is what the message shows:
 * strings JSON-quoted with invisible characters escaped, NaN, Infinity, -0 and bigints as
 * JavaScript writes them, functions and symbols by name, objects with cycles marked. Never throws.
 */
export function describeValue(value: unknown): string {
  let shown: string;
  try {
    shown = show(value, new Set());
  } catch {
    // A proxy or a throwing getter: say what it is rather than fail while reporting.
    try {
      shown = Object.prototype.toString.call(value);
    } catch {
      shown = `[${typeof value} that cannot be shown]`;
    }
  }
  return shown.length > MAX_VALUE_SHOWN ? `${shown.slice(0, MAX_VALUE_SHOWN - 3)}...` : shown;
}

function show(value: unknown, ancestors: Set<object>): string {
  switch (typeof value) {
    case "string":
      return showString(value);
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "boolean":
    case "undefined":
      return String(value);
    case "symbol":
      return value.toString();
    case "function":
      return `[function ${value.name || "(anonymous)"}]`;
  }
  if (value === null) return "null";
  const object = value as object;
  if (ancestors.has(object)) return "[circular]";
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      const items = object.slice(0, MAX_ENTRIES_SHOWN).map((item) => show(item, ancestors));
      if (object.length > MAX_ENTRIES_SHOWN) items.push(`... ${object.length - MAX_ENTRIES_SHOWN} more`);
      return `[${items.join(",")}]`;
    }
    const entries = Object.entries(object);
    const items = entries.slice(0, MAX_ENTRIES_SHOWN).map(([key, item]) => `${showString(key)}:${show(item, ancestors)}`);
    if (entries.length > MAX_ENTRIES_SHOWN) items.push(`... ${entries.length - MAX_ENTRIES_SHOWN} more`);
    const prototype = Object.getPrototypeOf(object);
    const kind = prototype === Object.prototype || prototype === null ? "" : `${prototype?.constructor?.name ?? "object"} `;
    return `${kind}{${items.join(",")}}`;
  } finally {
    ancestors.delete(object);
  }
}

function showString(text: string): string {
  // Cut at a code point, never inside a surrogate pair, so the cut itself shows no lone surrogate.
  const codePoints = Array.from(text);
  const cut = codePoints.length > MAX_STRING_SHOWN ? `${codePoints.slice(0, MAX_STRING_SHOWN - 3).join("")}...` : text;
  return JSON.stringify(cut).replace(INVISIBLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
