/**
 * Readers of the places launch descriptions live: Terraform JSON (`cdk.tf.json`, a `cdktf.out`
 * folder), HCL `.tf` files (parsed by HashiCorp's own HCL parser, `@cdktn/hcl2json`), and the
 * output of `terraform show -json` for a saved plan. Each yields the EC2 launch resources with
 * their Terraform address and file.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { EvalScope, evaluateTemplateString, hcl, isEncoded, isOpaque, UNKNOWN_START, unknownMark, Value } from "./evaluate/expression";
import { Known, LaunchDescription, MetadataOptions, UserDataInput } from "./types";

/** The resource types the audit judges. */
export const LAUNCH_RESOURCE_TYPES = ["aws_launch_template", "aws_instance", "aws_launch_configuration"] as const;

/** One launch resource found in an input. */
export interface FoundResource {
  /** Terraform address, with the module path (`module.ecs.aws_launch_template.this`). */
  readonly address: string;
  /** The file it was read from. */
  readonly file: string;
  readonly description: LaunchDescription;
}

/** An input the audit cannot read: the file and what is wrong. */
export class AuditInputError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = "AuditInputError";
  }
}

/** The largest input file read (Terraform JSON of 10,000 templates is about 40 MB). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

export { UNKNOWN_START, UNKNOWN_END } from "./evaluate/expression";

/** Reads every launch resource from a path: a file or a folder. */
export async function readAuditPath(path: string): Promise<FoundResource[]> {
  if (!existsSync(path)) throw new AuditInputError(path, "no such file or folder");
  const stat = statSync(path);
  if (stat.isDirectory()) {
    // A cdktf project folder: its synthesized output.
    if (!existsSync(join(path, "stacks")) && existsSync(join(path, "cdktf.out", "stacks"))) return readAuditPath(join(path, "cdktf.out"));
    const stacks = join(path, "stacks");
    if (existsSync(stacks) && statSync(stacks).isDirectory()) {
      const files = readdirSync(stacks)
        .sort()
        .map((stack) => join(stacks, stack, "cdk.tf.json"))
        .filter((file) => existsSync(file));
      if (files.length === 0) throw new AuditInputError(path, "a cdktf.out folder without stacks/*/cdk.tf.json: run cdktf synth first");
      return files.flatMap((file) => readJsonFile(file));
    }
    if (existsSync(join(path, "cdk.tf.json"))) return readJsonFile(join(path, "cdk.tf.json"));
    const hcl = readdirSync(path).filter((name) => name.endsWith(".tf")).sort();
    const json = readdirSync(path).filter((name) => name.endsWith(".tf.json")).sort();
    if (hcl.length === 0 && json.length === 0) throw new AuditInputError(path, "no cdktf.out stacks, cdk.tf.json, .tf or .tf.json files in this folder");
    return [...(await readHclModule(path, hcl)), ...json.flatMap((name) => readJsonFile(join(path, name)))];
  }
  if (path.endsWith(".tf")) return readHclModule(dirname(path), [basename(path)]);
  return readJsonFile(path);
}

function readText(file: string): string {
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES) throw new AuditInputError(file, `${size} bytes is more than the audit reads (${MAX_FILE_BYTES})`);
  return readFileSync(file, "utf8");
}

function readJsonFile(file: string): FoundResource[] {
  const text = readText(file);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new AuditInputError(file, `not JSON (${(error as Error).message}); expected Terraform JSON (cdk.tf.json), terraform show -json output, or .tf files`);
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new AuditInputError(file, "not a JSON object; expected Terraform JSON or terraform show -json output");
  }
  const record = document as Record<string, unknown>;
  if ("format_version" in record && ("planned_values" in record || "terraform_version" in record || "resource_changes" in record)) {
    return readPlan(file, record);
  }
  if (!("resource" in record) && !("terraform" in record) && !("provider" in record) && !("module" in record)) {
    throw new AuditInputError(file, "JSON without resource, terraform, provider or module keys: not Terraform JSON nor a plan");
  }
  return readTerraformJson(file, record, "");
}

/** Terraform JSON: resource.<type>.<name> objects; expressions are "${...}" strings. */
function readTerraformJson(file: string, document: Record<string, unknown>, prefix: string): FoundResource[] {
  const resources = (document.resource ?? {}) as Record<string, Record<string, unknown>>;
  const context = jsonContext(file, document);
  const found: FoundResource[] = [];
  for (const type of LAUNCH_RESOURCE_TYPES) {
    for (const [name, body] of Object.entries(resources[type] ?? {})) {
      const attributes = (Array.isArray(body) ? body[0] : body) as Record<string, unknown>;
      found.push({ address: `${prefix}${type}.${name}`, file, description: describeSync(type, attributes, context) });
    }
  }
  return found;
}

interface EvalContext {
  readonly dir: string;
  readonly locals: Record<string, unknown>;
  readonly variables: Record<string, unknown>;
}

/** The references a module's expressions can resolve here: its variables and locals. */
function scopeOf(context: EvalContext, depth = 0): EvalScope {
  return {
    dir: context.dir,
    resolve: (name) => {
      if (name.startsWith("var.")) {
        const variable = name.slice(4);
        return variable in context.variables ? (context.variables[variable] as Value) : undefined;
      }
      if (name.startsWith("local.")) {
        const local = context.locals[name.slice(6)];
        if (local === undefined) return undefined;
        // A local that refers back to itself would never end: Terraform rejects such a cycle.
        if (depth > 20) return { opaque: `${name} refers to itself through other locals` };
        return typeof local === "string" ? evaluateTemplateString(local, scopeOf(context, depth + 1)) : (local as Value);
      }
      return undefined;
    },
  };
}

function jsonContext(file: string, document: Record<string, unknown>): EvalContext {
  const locals: Record<string, unknown> = {};
  for (const block of ([] as unknown[]).concat(document.locals ?? [])) Object.assign(locals, block as object);
  const variables: Record<string, unknown> = {};
  for (const [name, body] of Object.entries((document.variable ?? {}) as Record<string, unknown>)) {
    const value = (Array.isArray(body) ? body[0] : body) as Record<string, unknown>;
    if (value && "default" in value) variables[name] = value.default;
  }
  return { dir: dirname(file), locals, variables };
}

/** Reads the fields the judge needs; expressions are resolved later (see `resolveExpressions`). */
function describeSync(type: string, attributes: Record<string, unknown>, context: EvalContext): LaunchDescription {
  const block = ([] as unknown[]).concat(attributes.metadata_options ?? [])[0] as Record<string, unknown> | undefined;
  const metadataOptions = (block
    ? {
        ...field("httpEndpoint", block.http_endpoint, context),
        ...field("httpTokens", block.http_tokens, context),
        ...field("httpPutResponseHopLimit", block.http_put_response_hop_limit, context, true),
        ...field("httpProtocolIpv6", block.http_protocol_ipv6, context),
      }
    : undefined) as MetadataOptions | undefined;
  const image = attributes.image_id ?? attributes.ami;
  const userData = userDataOf(type, attributes);
  return {
    resourceType: type,
    ...(userData !== undefined ? { userData: pending(userData, context) } : {}),
    ...(metadataOptions ? { metadataOptions } : {}),
    ...(typeof image === "string" ? { imageId: isExpression(image) ? { unknown: image } : image } : {}),
  };
}

function userDataOf(type: string, attributes: Record<string, unknown>): { value: string; base64: boolean } | undefined {
  if (typeof attributes.user_data_base64 === "string") return { value: attributes.user_data_base64, base64: true };
  if (typeof attributes.user_data === "string") return { value: attributes.user_data, base64: type === "aws_launch_template" };
  return undefined;
}

// Expressions need the asynchronous HCL parser: they are parked here and resolved in one pass.
const PENDING = new WeakMap<object, { value: string; base64: boolean; context: EvalContext }>();

function pending(userData: { value: string; base64: boolean }, context: EvalContext): UserDataInput {
  if (!isExpression(userData.value)) return userData.base64 ? { base64: userData.value } : { text: userData.value };
  const marker = { unknown: userData.value };
  PENDING.set(marker, { ...userData, context });
  return marker;
}

// Metadata options written as expressions (var.hop_limit, a local) are parked the same way.
const PENDING_FIELDS = new WeakMap<object, { value: string; numeric: boolean; context: EvalContext }>();

function field(name: keyof MetadataOptions, value: unknown, context: EvalContext, numeric = false): Partial<Record<keyof MetadataOptions, Known<string | number>>> {
  if (value === undefined || value === null) return {};
  if (typeof value === "string" && isExpression(value)) {
    const marker = { unknown: value };
    PENDING_FIELDS.set(marker, { value, numeric, context });
    return { [name]: marker };
  }
  if (numeric) return { [name]: typeof value === "number" ? value : Number(value) };
  return { [name]: String(value) };
}

function isExpression(value: string): boolean {
  return value.includes("${");
}

/** Resolves parked user data expressions (file(), templatefile(), base64encode(), locals, ...). */
export async function resolveExpressions(resources: readonly FoundResource[]): Promise<FoundResource[]> {
  const out: FoundResource[] = [];
  for (const resource of resources) {
    let description = resource.description;
    const userData = description.userData;
    const parked = userData && typeof userData === "object" ? PENDING.get(userData) : undefined;
    if (parked) description = { ...description, userData: await resolveUserData(parked.value, parked.base64, parked.context) };
    const options = description.metadataOptions;
    if (options) {
      const resolved: Record<string, unknown> = { ...options };
      for (const [name, value] of Object.entries(options)) {
        const parkedField = typeof value === "object" && value !== null ? PENDING_FIELDS.get(value) : undefined;
        if (parkedField) resolved[name] = await resolveField(parkedField.value, parkedField.numeric, parkedField.context);
      }
      description = { ...description, metadataOptions: resolved as MetadataOptions };
    }
    out.push(description === resource.description ? resource : { ...resource, description });
  }
  return out;
}

async function resolveUserData(expression: string, base64: boolean, context: EvalContext): Promise<UserDataInput> {
  let value: Value;
  try {
    value = await evaluateTemplateString(expression, scopeOf(context));
  } catch (error) {
    return { unknown: `${expression.slice(0, 80)}: ${(error as Error).message}` };
  }
  if (isOpaque(value)) return { unknown: value.opaque };
  if (isEncoded(value)) return value.gzip ? { bytes: gzipSync(Buffer.from(value.encodedText, "utf8")) } : { text: value.encodedText };
  if (typeof value !== "string") return { unknown: `user_data evaluates to a ${typeof value}` };
  if (!base64) return { text: value };
  if (value.includes(UNKNOWN_START)) return { unknown: describeUnknowns(value) };
  return { base64: value };
}

async function resolveField(expression: string, numeric: boolean, context: EvalContext): Promise<Known<string | number>> {
  let value: Value;
  try {
    value = await evaluateTemplateString(expression, scopeOf(context));
  } catch (error) {
    return { unknown: `${expression}: ${(error as Error).message}` };
  }
  if (typeof value === "number") return numeric ? value : String(value);
  if (typeof value === "string" && !value.includes(UNKNOWN_START)) return numeric ? Number(value) : value;
  if (typeof value === "string") return { unknown: `${expression} is known only at apply time (${describeUnknowns(value)})` };
  return { unknown: `${expression} is known only at apply time${isOpaque(value) ? ` (${value.opaque})` : ""}` };
}

export function describeUnknowns(text: string): string {
  return [...text.matchAll(/\ue000([^\ue001]*)\ue001/g)].map((m) => m[1]).join(", ");
}

/** A folder (or one file) of .tf HCL, parsed with HashiCorp's HCL parser. */
async function readHclModule(dir: string, names: readonly string[], prefix = "", inputs: Record<string, unknown> = {}, depth = 0): Promise<FoundResource[]> {
  const documents: Array<{ file: string; body: Record<string, unknown> }> = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      documents.push({ file, body: (await hcl().parse(name, readText(file))) as Record<string, unknown> });
    } catch (error) {
      throw new AuditInputError(file, `HCL does not parse: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  const locals: Record<string, unknown> = {};
  const variables: Record<string, unknown> = {};
  for (const { body } of documents) {
    for (const block of ([] as unknown[]).concat(body.locals ?? [])) Object.assign(locals, block as object);
    for (const [name, value] of Object.entries((body.variable ?? {}) as Record<string, unknown>)) {
      const first = (Array.isArray(value) ? value[0] : value) as Record<string, unknown>;
      if (first && "default" in first) variables[name] = first.default;
    }
  }
  // A module call's literal arguments are its variables; any other argument is known at apply time.
  for (const [name, value] of Object.entries(inputs)) {
    variables[name] = typeof value === "string" && isExpression(value) ? unknownMark(`module input ${name} = ${value.slice(2, -1)}`) : value;
  }
  const context: EvalContext = { dir, locals, variables };
  const found: FoundResource[] = [];
  const children: FoundResource[] = [];
  for (const { file, body } of documents) {
    const resources = (body.resource ?? {}) as Record<string, Record<string, unknown>>;
    for (const type of LAUNCH_RESOURCE_TYPES) {
      for (const [name, blocks] of Object.entries(resources[type] ?? {})) {
        const attributes = ([] as unknown[]).concat(blocks)[0] as Record<string, unknown>;
        found.push({ address: `${prefix}${type}.${name}`, file, description: describeSync(type, attributes, context) });
      }
    }
    // Modules from local folders are read too; registry and git sources are not fetched.
    for (const [name, blocks] of Object.entries((body.module ?? {}) as Record<string, unknown>)) {
      const call = ([] as unknown[]).concat(blocks)[0] as Record<string, unknown>;
      const source = call?.source;
      if (typeof source !== "string" || !/^\.\.?\//.test(source) || depth >= 10) continue;
      const childDir = resolve(dir, source);
      if (!existsSync(childDir) || !statSync(childDir).isDirectory()) throw new AuditInputError(file, `module "${name}" has source ${source}, which is not a folder here`);
      const childInputs = Object.fromEntries(Object.entries(call).filter(([key]) => !["source", "version", "providers", "count", "for_each", "depends_on"].includes(key)));
      const childNames = readdirSync(childDir).filter((entry) => entry.endsWith(".tf")).sort();
      children.push(...(await readHclModule(childDir, childNames, `${prefix}module.${name}.`, childInputs, depth + 1)));
    }
  }
  return [...(await resolveExpressions(found)), ...children];
}

/** `terraform show -json` of a saved plan: planned_values, with child modules. */
function readPlan(file: string, plan: Record<string, unknown>): FoundResource[] {
  const version = String(plan.format_version);
  if (!/^1\.\d+$/.test(version)) {
    throw new AuditInputError(file, `plan format_version ${version} is not one the audit reads (1.x, from terraform show -json)`);
  }
  const planned = plan.planned_values as { root_module?: PlanModule } | undefined;
  if (!planned?.root_module) throw new AuditInputError(file, "a plan without planned_values.root_module: save a plan (terraform plan -out) and run terraform show -json on it");
  const unknownByAddress = new Map<string, Record<string, unknown>>();
  for (const change of (plan.resource_changes ?? []) as Array<{ address: string; change?: { after_unknown?: Record<string, unknown> } }>) {
    if (change.change?.after_unknown) unknownByAddress.set(change.address, change.change.after_unknown);
  }
  const found: FoundResource[] = [];
  const walk = (module: PlanModule) => {
    for (const resource of module.resources ?? []) {
      if (resource.mode !== "managed" || !(LAUNCH_RESOURCE_TYPES as readonly string[]).includes(resource.type)) continue;
      found.push({ address: resource.address, file, description: describePlanned(resource, unknownByAddress.get(resource.address) ?? {}) });
    }
    for (const child of module.child_modules ?? []) walk(child);
  };
  walk(planned.root_module);
  return found;
}

interface PlanModule {
  readonly resources?: ReadonlyArray<{ address: string; mode: string; type: string; values?: Record<string, unknown> }>;
  readonly child_modules?: readonly PlanModule[];
}

/** One planned launch resource (its `values` and `after_unknown`) as the judge reads it. */
export function describePlanned(resource: { type: string; values?: Record<string, unknown> }, afterUnknown: Record<string, unknown>): LaunchDescription {
  const values = resource.values ?? {};
  const later = (name: string) => ({ unknown: `${name} is known only after apply` });
  let userData: UserDataInput | undefined;
  if (afterUnknown.user_data === true || afterUnknown.user_data_base64 === true) userData = later("user_data");
  else if (typeof values.user_data_base64 === "string" && values.user_data_base64) userData = { base64: values.user_data_base64 };
  else if (typeof values.user_data === "string" && values.user_data) {
    userData =
      resource.type === "aws_launch_template"
        ? { base64: values.user_data }
        : /^[0-9a-f]{40}$/.test(values.user_data)
          ? { sha1: values.user_data }
          : { text: values.user_data };
  }
  const block = ([] as unknown[]).concat(values.metadata_options ?? [])[0] as Record<string, unknown> | undefined;
  const unknownBlock = ([] as unknown[]).concat(afterUnknown.metadata_options ?? [])[0];
  const blockUnknown = afterUnknown.metadata_options === true;
  const metadataField = (name: string): Known<string | number> | undefined => {
    if (blockUnknown || (typeof unknownBlock === "object" && unknownBlock !== null && (unknownBlock as Record<string, unknown>)[name] === true)) return later(name);
    const value = block?.[name];
    return value === undefined || value === null ? undefined : (value as string | number);
  };
  const metadataOptions = (block || blockUnknown
      ? {
          ...optional("httpEndpoint", metadataField("http_endpoint")),
          ...optional("httpTokens", metadataField("http_tokens")),
          ...optional("httpPutResponseHopLimit", metadataField("http_put_response_hop_limit")),
          ...optional("httpProtocolIpv6", metadataField("http_protocol_ipv6")),
        }
      : undefined) as MetadataOptions | undefined;
  const image = values.image_id ?? values.ami;
  return {
    resourceType: resource.type,
    ...(userData ? { userData } : {}),
    ...(metadataOptions ? { metadataOptions } : {}),
    ...(typeof image === "string" ? { imageId: image } : {}),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** Reads paths and resolves their expressions: the whole input of one audit. */
export async function readAuditInputs(paths: readonly string[]): Promise<FoundResource[]> {
  const found: FoundResource[] = [];
  for (const path of paths) found.push(...(await resolveExpressions(await readAuditPath(path))));
  return found;
}
