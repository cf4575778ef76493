/**
 * References as the evaluator hands them to a scope: the root (`var.pools`, `data.template_file.x`)
 * or the whole accessor (`var.pools["web"].user_data`, `data.template_file.x["web"].rendered`).
 * Readers answer both: the root's value, then each attribute or index applied to it.
 */
import { isEncoded, isOpaque, UNKNOWN_START, Value } from "../evaluate/expression";

/** A reference split into its root (`var.x`, `data.t.n`, `module.m`) and the steps after it. */
export interface SplitReference {
  readonly root: readonly string[];
  readonly steps: ReadonlyArray<string | number>;
}

/** How many names make each kind of root: `data.TYPE.NAME`, others `KIND.NAME`. */
function rootLength(first: string): number {
  return first === "data" ? 3 : 2;
}

/** Splits `a.b["k"][0].c`; undefined for a splat or anything else the readers do not follow. */
export function splitReference(reference: string): SplitReference | undefined {
  const parts: Array<string | number> = [];
  const pattern = /\.?([A-Za-z_][A-Za-z0-9_-]*)|\[\s*(?:(\d+)|"((?:[^"\\]|\\.)*)")\s*\]/gy;
  let match: RegExpExecArray | null;
  let at = 0;
  while (at < reference.length && (match = pattern.exec(reference)) !== null) {
    if (match[1] !== undefined) parts.push(match[1]);
    else if (match[2] !== undefined) parts.push(Number(match[2]));
    else parts.push(JSON.parse(`"${match[3]}"`) as string);
    at = pattern.lastIndex;
  }
  if (at !== reference.length || typeof parts[0] !== "string") return undefined;
  const length = rootLength(parts[0]);
  const root = parts.slice(0, length);
  if (root.length < length || root.some((part) => typeof part !== "string")) return undefined;
  return { root: root as string[], steps: parts.slice(length) };
}

/** Whether a value holds something known only at apply time. */
export function isUnknownValue(value: Value | undefined): boolean {
  return value === undefined || isOpaque(value) || (typeof value === "string" && value.includes(UNKNOWN_START));
}

/** The value after attribute and index steps, or undefined when a step cannot be known here. */
export function applySteps(value: Value | undefined, steps: ReadonlyArray<string | number>): Value | undefined {
  let current = value;
  for (const step of steps) {
    if (current === undefined || current === null) return undefined;
    if (isOpaque(current)) return current;
    if (isEncoded(current) || typeof current !== "object") return undefined;
    if (Array.isArray(current)) {
      if (typeof step !== "number") return undefined;
      current = current[step];
    } else {
      const key = String(step);
      current = Object.prototype.hasOwnProperty.call(current, key) ? (current as Record<string, Value>)[key] : undefined;
    }
  }
  return current;
}
