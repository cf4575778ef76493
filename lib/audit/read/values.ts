/** Raw attribute values (Terraform JSON, or HCL as hcl2json writes it) evaluated as Terraform would. */
import { EvalScope, evaluateTemplateString, Value } from "../evaluate/expression";

/** Whether a string is a template Terraform evaluates ("${...}" or "%{...}") rather than literal text. */
export function isTemplate(value: string): boolean {
  return value.includes("${") || value.includes("%{");
}

/** A raw value: templates evaluated, lists and objects element by element, literals as they are. */
export async function evaluateRaw(raw: unknown, scope: EvalScope): Promise<Value> {
  if (typeof raw === "string") return isTemplate(raw) ? evaluateTemplateString(raw, scope) : raw;
  if (raw === undefined || raw === null) return null;
  if (typeof raw === "number" || typeof raw === "boolean") return raw;
  if (Array.isArray(raw)) return Promise.all(raw.map((element) => evaluateRaw(element, scope)));
  const out: Record<string, Value> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) out[key] = await evaluateRaw(value, scope);
  return out;
}

/** The references a text's marks name: `var.a, data.x.y.rendered`. */
export function describeUnknowns(text: string): string {
  return [...text.matchAll(/\ue000([^\ue001]*)\ue001/g)].map((m) => m[1]).join(", ");
}

/** The reference when a text is wholly one value known at apply time, else undefined. */
export function wholeReference(text: string): string | undefined {
  const whole = /^\ue000([^\ue001]*)\ue001$/.exec(text);
  return whole ? whole[1] : undefined;
}

/** The blocks of a nested-block attribute (`metadata_options`, `part`): a list in HCL, an object or list in Terraform JSON. */
export function blocksOf(raw: unknown): Array<Record<string, unknown>> {
  return ([] as unknown[]).concat(raw ?? []).filter((block): block is Record<string, unknown> => typeof block === "object" && block !== null);
}

/**
 * The reference an opaque value stands for, when the evaluator says so (`{ opaque, reference }` for
 * `var.x` without default): a value known only at apply time, rather than one the audit cannot evaluate.
 */
export function opaqueReference(value: unknown): string | undefined {
  const reference = typeof value === "object" && value !== null ? (value as { reference?: unknown }).reference : undefined;
  return typeof reference === "string" ? reference : undefined;
}
