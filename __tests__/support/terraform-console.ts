import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { TERRAFORM } from "./terraform";
import { canonical, isEncoded, UNKNOWN_START, unknownIn, Value } from "../../lib/audit/evaluate/values";

/** What Terraform made of one expression. */
export type TerraformAnswer =
  | { readonly kind: "value"; readonly value: unknown }
  | { readonly kind: "error" }
  | { readonly kind: "unknown" };

const ERROR = "ERROR";

/**
 * Evaluates HCL expressions with `terraform console` in `dir`, one process for all of them: each
 * becomes `local.eN = try(base64encode(jsonencode(<expression>)), "ERROR")` beside `declarations`
 * (variables: without a default console holds them unknown), and the console prints the list of locals.
 */
export function terraformEvaluate(expressions: readonly string[], dir: string, declarations = ""): TerraformAnswer[] {
  if (expressions.length === 0) return [];
  const answers = consoleRun(expressions, dir, declarations);
  if (answers) return answers;
  // One expression Terraform rejects statically (a syntax error) fails the whole file: split until found.
  if (expressions.length === 1) return [{ kind: "error" }];
  const half = Math.ceil(expressions.length / 2);
  return [...terraformEvaluate(expressions.slice(0, half), dir, declarations), ...terraformEvaluate(expressions.slice(half), dir, declarations)];
}

function consoleRun(expressions: readonly string[], dir: string, declarations: string): TerraformAnswer[] | undefined {
  const locals = expressions.map((expression, i) => `  e${i} = try(base64encode(jsonencode(\n${expression}\n)), "${ERROR}")`).join("\n");
  writeFileSync(join(dir, "main.tf"), `${declarations}\nlocals {\n${locals}\n}\n`);
  writeFileSync(join(dir, "empty.tfrc"), "");
  const result = spawnSync(TERRAFORM, ["console", "-no-color"], {
    cwd: dir,
    input: `[${expressions.map((_, i) => `local.e${i}`).join(", ")}]\n`,
    env: { PATH: process.env.PATH, HOME: dir, TF_CLI_CONFIG_FILE: join(dir, "empty.tfrc"), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" },
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) return undefined;
  const lines = result.stdout
    .trim()
    .split("\n")
    .map((line) => line.trim().replace(/,$/, ""))
    .filter((line) => line !== "[" && line !== "]" && line !== "");
  if (lines.length !== expressions.length) return undefined;
  return lines.map((line): TerraformAnswer => {
    if (line === "(known after apply)") return { kind: "unknown" };
    const text = JSON.parse(line) as string;
    if (text === ERROR) return { kind: "error" };
    return { kind: "value", value: JSON.parse(Buffer.from(text, "base64").toString("utf8")) };
  });
}

/** Our value as plain JSON, the way jsonencode would write it; gzip stays { gzipOf } (Go's bytes differ). */
function plain(value: Value): unknown {
  if (isEncoded(value)) return value.gzip ? { gzipOf: value.encodedText } : Buffer.from(value.encodedText, "utf8").toString("base64");
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v as Value)]));
  return canonical(value);
}

function sameJson(ours: unknown, theirs: unknown): boolean {
  if (typeof ours === "object" && ours !== null && "gzipOf" in ours && typeof theirs === "string") {
    return gunzipSync(Buffer.from(theirs, "base64")).toString("utf8") === (ours as { gzipOf: string }).gzipOf;
  }
  if (Array.isArray(ours) && Array.isArray(theirs)) return ours.length === theirs.length && ours.every((o, i) => sameJson(o, theirs[i]));
  if (typeof ours === "object" && ours !== null && typeof theirs === "object" && theirs !== null && !Array.isArray(ours) && !Array.isArray(theirs)) {
    const a = Object.keys(ours).sort();
    const b = Object.keys(theirs).sort();
    return a.length === b.length && a.every((k, i) => k === b[i] && sameJson((ours as Record<string, unknown>)[k], (theirs as Record<string, unknown>)[k]));
  }
  return ours === theirs;
}

/** Our answer: a value, "unknown" (an Opaque or a mark anywhere inside), or an error Terraform would also raise. */
export type OurAnswer = { readonly kind: "value"; readonly value: Value } | { readonly kind: "unknown"; readonly why: string } | { readonly kind: "error"; readonly message: string };

export function ourAnswer(value: Value): OurAnswer {
  const unknown = unknownIn(value);
  if (unknown) return { kind: "unknown", why: unknown.opaque };
  return { kind: "value", value };
}

/**
 * How our answer stands against Terraform's: "same", "ours unknown" where Terraform knows (allowed:
 * the audit then says unknown), or a sentence saying how they differ (never allowed).
 */
export function judgeAgainst(ours: OurAnswer, theirs: TerraformAnswer): "same" | "ours unknown" | string {
  if (theirs.kind === "unknown") return ours.kind === "unknown" ? "same" : `Terraform: unknown; ours: ${describe(ours)}`;
  if (theirs.kind === "error") return ours.kind === "error" ? "same" : ours.kind === "unknown" ? "ours unknown" : `Terraform: error; ours: ${describe(ours)}`;
  if (ours.kind === "unknown") return "ours unknown";
  if (ours.kind === "error") return `Terraform: ${JSON.stringify(theirs.value)}; ours: error ${ours.message}`;
  return sameJson(plain(ours.value), theirs.value) ? "same" : `Terraform: ${JSON.stringify(theirs.value)}; ours: ${JSON.stringify(plain(ours.value))}`;
}

function describe(ours: OurAnswer): string {
  if (ours.kind === "value") return JSON.stringify(plain(ours.value)).replace(new RegExp(UNKNOWN_START, "g"), "<mark>");
  return ours.kind === "unknown" ? `unknown (${ours.why})` : `error (${ours.message})`;
}
