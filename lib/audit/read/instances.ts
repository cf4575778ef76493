/**
 * `count` and `for_each`: which instances of a resource, data source or module call exist, each
 * with its own `count.index` or `each.key`/`each.value`, addressed as Terraform addresses them
 * (`aws_instance.node[0]`, `aws_launch_template.pool["web"]`).
 */
import { isEncoded, isOpaque, UNKNOWN_START, Value } from "../evaluate/expression";
import { describeUnknowns, opaqueReference } from "./values";

/** One instance: its address suffix and the values `each` and `count` take in it. */
export interface Instance {
  /** `""`, `[0]` or `["web"]`. */
  readonly key: string;
  readonly each?: { readonly key: Value; readonly value: Value };
  readonly countIndex?: number;
}

/** The instances of a block, or why they are known only at apply time. */
export type Expansion = { readonly instances: readonly Instance[] } | { readonly unknown: string };

/** The expression as written, for messages: `var.pools` for "${var.pools}". */
export function expressionText(raw: unknown): string {
  if (typeof raw === "string") {
    const whole = /^\$\{([\s\S]*)\}$/.exec(raw);
    return (whole ? whole[1] : raw).trim();
  }
  return JSON.stringify(raw);
}

/** Terraform's address key: `[0]` or `["web"]`. */
export function instanceKey(key: string | number): string {
  return typeof key === "number" ? `[${key}]` : `[${JSON.stringify(key)}]`;
}

const SINGLE: Expansion = { instances: [{ key: "" }] };

function whyUnknown(argument: string, raw: unknown, value: Value): string {
  const text = expressionText(raw);
  const reference = opaqueReference(value);
  if (isOpaque(value) && value.refused) return `${argument} = ${text} is an error in Terraform too (${value.opaque}): its plan stops there; give the values it needs (--var, --var-file)`;
  if (isOpaque(value) && reference === undefined) return `${argument} = ${text} is beyond what the audit evaluates (${value.opaque}): it cannot tell which instances exist`;
  const inner = reference ?? (typeof value === "string" && value.includes(UNKNOWN_START) ? describeUnknowns(value) : "");
  return `${argument} = ${text} is known only at apply time${inner && inner !== text ? ` (${inner})` : ""}: the audit cannot tell which instances exist`;
}

/** Expands a block's `count` or `for_each`, evaluated by `evaluate` in the block's module. */
export async function expand(body: Record<string, unknown>, evaluate: (raw: unknown) => Promise<Value>): Promise<Expansion> {
  const hasCount = body.count !== undefined && body.count !== null;
  const hasForEach = body.for_each !== undefined && body.for_each !== null;
  if (hasCount && hasForEach) return { unknown: `count and for_each are both set, which Terraform refuses` };
  if (hasCount) {
    const value = await evaluate(body.count);
    const count = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : undefined;
    if (count === undefined || !Number.isInteger(count) || count < 0) return { unknown: whyUnknown("count", body.count, value) };
    return { instances: Array.from({ length: count }, (_, index) => ({ key: instanceKey(index), countIndex: index })) };
  }
  if (hasForEach) {
    const value = await evaluate(body.for_each);
    if (Array.isArray(value)) {
      // A set of strings: each.key and each.value are the element; Terraform orders them as strings.
      if (!value.every((element) => typeof element === "string" && !element.includes(UNKNOWN_START))) return { unknown: whyUnknown("for_each", body.for_each, value) };
      const keys = [...new Set(value as string[])].sort();
      return { instances: keys.map((key) => ({ key: instanceKey(key), each: { key, value: key } })) };
    }
    if (value !== null && typeof value === "object" && !isOpaque(value) && !isEncoded(value)) {
      const keys = Object.keys(value).sort();
      if (keys.some((key) => key.includes(UNKNOWN_START))) return { unknown: whyUnknown("for_each", body.for_each, value) };
      return { instances: keys.map((key) => ({ key: instanceKey(key), each: { key, value: (value as Record<string, Value>)[key] } })) };
    }
    return { unknown: whyUnknown("for_each", body.for_each, value) };
  }
  return SINGLE;
}
