/**
 * Variable files as Terraform reads them (HCL `NAME = VALUE` or `.tfvars.json`), and the ones it
 * loads by itself in a root module, without -var-file: `terraform.tfvars`, `terraform.tfvars.json`,
 * then every `*.auto.tfvars` and `*.auto.tfvars.json` in lexical order of their names, a later file
 * overriding an earlier one.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { hcl, Value } from "../evaluate/expression";
import { AuditInputError, readText } from "./found";
import { evaluateRaw } from "./values";

/** The files Terraform loads, in the order it loads them. */
export function automaticVariableFiles(dir: string): string[] {
  const fixed = ["terraform.tfvars", "terraform.tfvars.json"].filter((name) => existsSync(join(dir, name)));
  const auto = readdirSync(dir)
    .filter((name) => name.endsWith(".auto.tfvars") || name.endsWith(".auto.tfvars.json"))
    .sort();
  return [...fixed, ...auto].map((name) => join(dir, name));
}

/** The values one variable file gives, by variable name; `dir` is what `file()` would resolve against. */
export async function variableFileValues(file: string, dir: string): Promise<Record<string, Value>> {
  let body: unknown;
  try {
    body = file.endsWith(".json") ? JSON.parse(readText(file)) : await hcl().parse(file, readText(file));
  } catch (error) {
    throw new AuditInputError(file, `does not parse as variable values: ${(error as Error).message.split("\n")[0]}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new AuditInputError(file, "is not a set of NAME = VALUE assignments");
  const values: Record<string, Value> = {};
  // Values are constants: nothing for a reference to resolve to.
  for (const [name, raw] of Object.entries(body as Record<string, unknown>)) values[name] = await evaluateRaw(raw, { dir, resolve: () => undefined });
  return values;
}
