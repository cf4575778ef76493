/**
 * A root module's variable values as Terraform takes them, lowest precedence first (Terraform's
 * documented order): `TF_VAR_name` environment variables, `terraform.tfvars`,
 * `terraform.tfvars.json`, `*.auto.tfvars(.json)` in lexical order, then `-var` and `-var-file` in
 * the order given, a later source overriding an earlier one.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { hcl, Value } from "../evaluate/expression";
import { unknownIn } from "../evaluate/values";
import { AuditInputError } from "./found";
import type { ModuleConfig, VariableDeclaration } from "./module";
import { automaticVariableFiles, variableFileValues } from "./tfvars";
import { evaluateRaw } from "./values";

/** A `-var NAME=VALUE` or a `-var-file FILE`, as given on the command line. */
export type VariableArgument = { readonly flag: "--var"; readonly assignment: string } | { readonly flag: "--var-file"; readonly file: string };

/** Where a root module's variable values come from, besides its defaults. */
export interface VariableSources {
  /** `--var` and `--var-file`, in the order given; files relative to the working directory. @default [] */
  readonly variableArguments?: readonly VariableArgument[];
  /** The environment `TF_VAR_name` variables are read from. @default {} (none) */
  readonly environment?: Readonly<Record<string, string | undefined>>;
}

const ENVIRONMENT_PREFIX = "TF_VAR_";

/**
 * The values the sources give the root module `config`, by variable name. `automaticFilesDir` is the
 * folder whose `terraform.tfvars` and `*.auto.tfvars` Terraform would load (none for a single file).
 */
export async function rootVariableValues(config: ModuleConfig, sources: VariableSources, automaticFilesDir?: string): Promise<Record<string, Value>> {
  const values: Record<string, Value> = {};
  // Terraform ignores TF_VAR_ variables the root module does not declare.
  for (const [key, text] of Object.entries(sources.environment ?? {})) {
    const name = key.slice(ENVIRONMENT_PREFIX.length);
    const declared = config.variables.get(name);
    if (!key.startsWith(ENVIRONMENT_PREFIX) || text === undefined || !declared) continue;
    values[name] = await givenText(text, name, declared, `${key}=${JSON.stringify(text)}`, config.dir);
  }
  for (const file of automaticFilesDir !== undefined ? automaticVariableFiles(automaticFilesDir) : []) {
    Object.assign(values, typed(await variableFileValues(file, automaticFilesDir as string), config, file, file));
  }
  for (const argument of sources.variableArguments ?? []) {
    if (argument.flag === "--var-file") {
      Object.assign(values, typed(await givenFile(argument.file), config, argument.file, `--var-file ${argument.file}`));
      continue;
    }
    const cut = argument.assignment.indexOf("=");
    const [name, text] = [argument.assignment.slice(0, cut), argument.assignment.slice(cut + 1)];
    const declared = config.variables.get(name);
    const source = `--var ${JSON.stringify(argument.assignment)}`;
    if (!declared) throw new AuditInputError(config.dir, `${source}: the root module declares no variable "${name}" (Terraform refuses a -var for an undeclared variable)`);
    values[name] = await givenText(text, name, declared, source, config.dir);
  }
  return values;
}

async function givenFile(file: string): Promise<Record<string, Value>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new AuditInputError(file, "--var-file: no such file");
  try {
    return await variableFileValues(path, dirname(path));
  } catch (error) {
    if (error instanceof AuditInputError) throw new AuditInputError(error.file, `--var-file: ${error.problem}`);
    throw error;
  }
}

/** File values converted to the declared primitive types; values of undeclared variables dropped (Terraform warns). */
function typed(values: Record<string, Value>, config: ModuleConfig, file: string, source: string): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const [name, value] of Object.entries(values)) {
    const declared = config.variables.get(name);
    if (declared) out[name] = toPrimitive(value, name, declared, file, source);
  }
  return out;
}

/**
 * A `-var` or `TF_VAR_` value: Terraform takes it as a literal string when the variable's type is
 * a primitive (string, number, bool) or not declared, then converts it to that type; for any other
 * type (`list(string)`, `map(...)`, `object(...)`, `any`) it parses the text as an HCL expression
 * of literal values.
 */
async function givenText(text: string, name: string, declared: VariableDeclaration, source: string, dir: string): Promise<Value> {
  if (isPrimitive(declared.type)) return toPrimitive(text, name, declared, dir, source);
  const asExpression = `variable "${name}" is declared ${declared.type}, so Terraform reads the value as an HCL expression`;
  let body: Record<string, unknown>;
  try {
    body = (await hcl().parse(`<value for var.${name}>`, `value = ${text}\n`)) as Record<string, unknown>;
  } catch (error) {
    throw new AuditInputError(dir, `${source}: ${asExpression}, and ${JSON.stringify(text)} does not parse as one (${(error as Error).message.split("\n")[0]})`);
  }
  if (Object.keys(body).length !== 1 || !("value" in body)) throw new AuditInputError(dir, `${source}: ${asExpression}, and ${JSON.stringify(text)} is more than one expression`);
  const value = await evaluateRaw(body.value, { dir, resolve: () => undefined });
  const reference = unknownIn(value);
  if (reference) throw new AuditInputError(dir, `${source}: ${asExpression} of literal values, and ${JSON.stringify(text)} refers to ${reference.reference ?? reference.opaque}`);
  return value;
}

const PRIMITIVE_TYPES = ["string", "number", "bool"];
const isPrimitive = (type: string | undefined) => type === undefined || PRIMITIVE_TYPES.includes(type);

/** Terraform's conversion of a value to a primitive declared type; other types are left as given. */
function toPrimitive(value: Value, name: string, declared: VariableDeclaration, file: string, source: string): Value {
  if (value === null || typeof value === "object") return value;
  const rule = (what: string) => new AuditInputError(file, `${source}: variable "${name}" is declared ${declared.type}, and ${JSON.stringify(value)} is not ${what}`);
  switch (declared.type) {
    case "string":
      return String(value);
    case "number":
      if (typeof value === "number") return value;
      // cty parses a number from a string as a decimal literal: "1", "-0.5", "1e3"; not " 1", "1+1", "0x10".
      if (typeof value === "string" && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value)) return Number(value);
      throw rule('a number ("1", "0.5", "1e3")');
    case "bool":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "1") return true;
      if (value === "false" || value === "0") return false;
      throw rule('a bool ("true", "false", "1" or "0")');
    default:
      return value;
  }
}
