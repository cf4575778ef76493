/**
 * One Terraform module as Terraform evaluates it: variables (from the caller, or defaults), locals,
 * the data sources that only assemble text, module calls and their outputs, and every instance of
 * each launch resource. HCL (as hcl2json writes it) and Terraform JSON share this shape.
 */
import { relative } from "node:path";
import { EvalError, EvalScope, Value } from "../evaluate/expression";
import { convertToType, parseTypeConstraint, TypeConstraint } from "../evaluate/types";
import { ASSEMBLED_DATA_TYPES, evaluateDataSource } from "./data-sources";
import { SourcedSuppression, SuppressionError, suppressionsInComment } from "../suppressions";
import { AuditInputError, FoundResource, LAUNCH_RESOURCE_TYPES, unresolvedDescription } from "./found";
import { ParsedFile, READ_DATA_TYPES } from "./hcl";
import { Expansion, expand, expressionText, Instance } from "./instances";
import { describeLaunch, imageOf } from "./launch";
import type { ModuleLoader } from "./modules";
import { applySteps, isUnknownValue, splitReference } from "./reference";
import { blocksOf, evaluateRaw } from "./values";

/** A block declared in a module: `resource "type" "name"`, `data "type" "name"`, `module "name"`. */
export interface Declaration {
  readonly type: string;
  readonly name: string;
  readonly file: string;
  readonly body: Record<string, unknown>;
  /** Suppressions written beside a resource: an HCL comment above it, its `//` comment in Terraform JSON. */
  readonly suppressions?: readonly SourcedSuppression[];
}

/** A `variable` block: its default, nullability and type constraint. */
export interface VariableDeclaration {
  readonly hasDefault: boolean;
  readonly default?: unknown;
  readonly nullable: boolean;
  /** The type constraint as written (`string`, `list(string)`), absent when none is. */
  readonly type?: string;
}

/** What a module declares, merged over its files. */
export interface ModuleConfig {
  readonly dir: string;
  readonly files: readonly string[];
  readonly variables: ReadonlyMap<string, VariableDeclaration>;
  readonly locals: ReadonlyMap<string, unknown>;
  readonly resources: readonly Declaration[];
  readonly data: ReadonlyMap<string, Declaration>;
  readonly calls: ReadonlyMap<string, Declaration>;
  readonly outputs: ReadonlyMap<string, unknown>;
  /** Locals and data sources that refer to themselves through others (Terraform refuses the cycle). */
  readonly cyclic: ReadonlySet<string>;
  /** Every file of the module was read (a folder), so a block missing here is not declared. */
  readonly wholeFolder: boolean;
}

/** `override.tf`, `*_override.tf` and their `.tf.json` forms: Terraform merges them into the other files. */
const OVERRIDE_FILE = /(^|[\\/])(override|[^\\/]*_override)\.tf(\.json)?$/;

/**
 * The module's files with its override files merged in, as Terraform merges them: override files in
 * lexical order, each block merged into the block of the same kind and name (an argument replaces
 * the argument; a nested block type replaces every block of that type, `dynamic` ones included), a
 * local or variable replaced by name. The merged block keeps its own file.
 */
export function mergeOverrides(files: readonly ParsedFile[]): ParsedFile[] {
  const overrides = files.filter((f) => OVERRIDE_FILE.test(f.file)).sort((a, b) => compareNames(baseName(a.file), baseName(b.file)));
  if (overrides.length === 0) return [...files];
  const primary = files.filter((f) => !OVERRIDE_FILE.test(f.file)).map((f) => ({ ...f, body: structuredClone(f.body) }));
  /** The first block of a kind and name among the primary files (`resource`, type, name or `module`, name). */
  const original = (path: readonly string[]): Record<string, unknown> | undefined => {
    for (const { body } of primary) {
      let node: unknown = body;
      for (const key of path) node = entries(node).find(([k]) => k === key)?.[1];
      const block = blocksOf(node)[0];
      if (block) return block as Record<string, unknown>;
    }
    return undefined;
  };
  const merge = (target: Record<string, unknown> | undefined, over: unknown) => {
    if (!target) return;
    for (const [key, value] of Object.entries(blocksOf(over)[0] ?? {})) target[key] = value;
  };
  for (const { body } of overrides) {
    for (const kind of ["resource", "data"]) {
      for (const [type, byName] of entries(body[kind])) for (const [name, blocks] of entries(byName)) merge(original([kind, type, name]), blocks);
    }
    for (const kind of ["module", "variable", "output"]) for (const [name, blocks] of entries(body[kind])) merge(original([kind, name]), blocks);
    for (const block of blocksOf(body.locals)) {
      for (const [name, raw] of Object.entries(block)) {
        const holder = primary.flatMap((f) => blocksOf(f.body.locals)).find((b) => name in (b as Record<string, unknown>));
        if (holder) (holder as Record<string, unknown>)[name] = raw;
      }
    }
  }
  return primary;
}

const baseName = (file: string) => file.slice(Math.max(file.lastIndexOf("/"), file.lastIndexOf("\\")) + 1);
const compareNames = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Builds a module's declarations from its parsed files. */
export function moduleConfig(dir: string, parsed: readonly ParsedFile[], wholeFolder: boolean): ModuleConfig {
  const files = mergeOverrides(parsed);
  const variables = new Map<string, VariableDeclaration>();
  const locals = new Map<string, unknown>();
  const resources: Declaration[] = [];
  const data = new Map<string, Declaration>();
  const calls = new Map<string, Declaration>();
  const outputs = new Map<string, unknown>();
  for (const { file, body, suppressions } of files) {
    for (const [name, blocks] of entries(body.variable)) {
      const first = blocksOf(blocks)[0] ?? {};
      const nullable = first.nullable !== false && first.nullable !== "false";
      // hcl2json writes a type expression as "${list(string)}"; Terraform JSON as "list(string)".
      const type = typeof first.type === "string" ? first.type.replace(/^\$\{([\s\S]*)\}$/, "$1").trim() : undefined;
      variables.set(name, { ...("default" in first ? { hasDefault: true, default: first.default } : { hasDefault: false }), nullable, ...(type ? { type } : {}) });
    }
    for (const block of blocksOf(body.locals)) for (const [name, raw] of Object.entries(block)) locals.set(name, raw);
    for (const [type, byName] of entries(body.resource)) {
      if (!(LAUNCH_RESOURCE_TYPES as readonly string[]).includes(type)) continue;
      for (const [name, blocks] of entries(byName)) {
        const declared = blocksOf(blocks)[0] ?? {};
        const written = [...(suppressions?.get(`${type}.${name}`) ?? []), ...commentedSuppressions(declared["//"], file, `${type}.${name}`)];
        resources.push({ type, name, file, body: declared, ...(written.length > 0 ? { suppressions: written } : {}) });
      }
    }
    for (const [type, byName] of entries(body.data)) {
      for (const [name, blocks] of entries(byName)) data.set(`${type}.${name}`, { type, name, file, body: blocksOf(blocks)[0] ?? {} });
    }
    for (const [name, blocks] of entries(body.module)) calls.set(name, { type: "module", name, file, body: blocksOf(blocks)[0] ?? {} });
    for (const [name, blocks] of entries(body.output)) outputs.set(name, (blocksOf(blocks)[0] ?? {}).value);
  }
  // Rows keep the order of files, and within a file the order of LAUNCH_RESOURCE_TYPES.
  const typeOrder = (d: Declaration) => (LAUNCH_RESOURCE_TYPES as readonly string[]).indexOf(d.type);
  const fileOrder = files.map((f) => f.file);
  resources.sort((a, b) => fileOrder.indexOf(a.file) - fileOrder.indexOf(b.file) || typeOrder(a) - typeOrder(b));
  return { dir, files: fileOrder, variables, locals, resources, data, calls, outputs, cyclic: cycles(locals, data), wholeFolder };
}

function entries(value: unknown): Array<[string, unknown]> {
  if (value === null || typeof value !== "object") return [];
  // Terraform JSON may list blocks of one kind as an array of objects.
  if (Array.isArray(value)) return value.flatMap((item) => entries(item));
  return Object.entries(value as Record<string, unknown>).filter(([key]) => key !== "//");
}

/** Locals and data sources on a reference cycle, found from the references their text names. */
function cycles(locals: ReadonlyMap<string, unknown>, data: ReadonlyMap<string, Declaration>): Set<string> {
  const edges = new Map<string, string[]>();
  const refs = (raw: unknown) => [...JSON.stringify(raw ?? null).matchAll(/\b(local\.[A-Za-z_][\w-]*|data\.[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*)/g)].map((m) => m[1]);
  for (const [name, raw] of locals) edges.set(`local.${name}`, refs(raw));
  for (const [key, declaration] of data) edges.set(`data.${key}`, refs(declaration.body));
  const cyclic = new Set<string>();
  for (const start of edges.keys()) {
    const seen = new Set<string>();
    const stack = [...(edges.get(start) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (next === start) {
        cyclic.add(start);
        break;
      }
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(edges.get(next) ?? []));
    }
  }
  return cyclic;
}

/** Values given to a module from outside: its caller's inputs, or `-var` values for the root. */
export type Inputs = ReadonlyMap<string, () => Promise<Value>>;

/** A module call's instances once followed, or why they cannot be. */
type CallInstances = { readonly kind: "instances"; readonly repeat: "none" | "count" | "for_each"; readonly instances: ReadonlyArray<{ readonly instance: Instance; readonly module: ModuleInstance }> } | { readonly kind: "unresolved"; readonly why: string };

/** One instance of a module: where its values come from, and what it yields. */
export class ModuleInstance {
  private readonly localValues = new Map<string, Promise<Value>>();
  private readonly variableValues = new Map<string, Promise<Value | undefined>>();
  private readonly dataValues = new Map<string, Promise<Value | undefined>>();
  private readonly callInstances = new Map<string, Promise<CallInstances>>();
  private readonly outputCache = new Map<string, Promise<Value>>();
  private readonly moduleScope: EvalScope;

  constructor(
    readonly config: ModuleConfig,
    private readonly loader: ModuleLoader,
    /** Module call names from the root: the key of `.terraform/modules/modules.json` (`a.b`). */
    readonly callPath: readonly string[],
    /** Address prefix: `""` or `module.asg["a"].`. */
    readonly prefix: string,
    private readonly inputs: Inputs,
    /** Where each input's image comes from, as the caller's `imageSource` reads its expression. */
    private readonly inputImageSources: ReadonlyMap<string, () => Promise<string | undefined>> = new Map(),
  ) {
    this.moduleScope = this.scope();
  }

  /** The scope of an expression in this module, inside one instance of a block (or none). */
  scope(instance?: Instance): EvalScope {
    return { dir: this.config.dir, resolve: (reference) => this.resolve(reference, instance) };
  }

  private async resolve(reference: string, instance: Instance | undefined): Promise<Value | undefined> {
    const split = splitReference(reference);
    if (!split) return undefined;
    const [kind, name, third] = split.root;
    let root: Value | undefined;
    switch (kind) {
      case "var":
        root = await this.variable(name);
        break;
      case "local":
        root = await this.local(name);
        break;
      case "each":
        root = instance?.each ? (name === "key" ? instance.each.key : name === "value" ? instance.each.value : undefined) : undefined;
        break;
      case "count":
        root = name === "index" ? instance?.countIndex : undefined;
        break;
      case "data":
        root = await this.dataSource(name, third);
        break;
      case "module":
        return this.moduleOutput(name, split.steps);
      case "path":
        // Relative to this module's folder, which file() and templatefile() resolve against.
        root = name === "module" ? "." : name === "root" || name === "cwd" ? relative(this.config.dir, this.loader.rootDir) || "." : undefined;
        break;
      default:
        return undefined;
    }
    return applySteps(root, split.steps);
  }

  private variable(name: string): Promise<Value | undefined> {
    let value = this.variableValues.get(name);
    if (!value) {
      value = this.variableValue(name);
      this.variableValues.set(name, value);
    }
    return value;
  }

  private async variableValue(name: string): Promise<Value | undefined> {
    const given = this.inputs.get(name);
    const declared = this.config.variables.get(name);
    if (given) {
      const value = await given();
      // null given to a variable declared nullable = false takes its default, as Terraform does.
      if (!(value === null && declared?.nullable === false && declared.hasDefault)) return typed(name, value, declared);
    }
    // A variable without default is given only at plan time: never guessed. A default of null is null.
    if (!declared?.hasDefault) return undefined;
    return typed(name, await evaluateRaw(declared.default, { dir: this.config.dir, resolve: () => undefined }), declared);
  }

  private local(name: string): Promise<Value | undefined> {
    if (!this.config.locals.has(name)) return Promise.resolve(undefined);
    if (this.config.cyclic.has(`local.${name}`)) return Promise.resolve({ opaque: `local.${name} refers to itself through other locals (Terraform refuses the cycle)` });
    let value = this.localValues.get(name);
    if (!value) {
      value = evaluateRaw(this.config.locals.get(name), this.moduleScope);
      this.localValues.set(name, value);
    }
    return value;
  }

  private dataSource(type: string, name: string): Promise<Value | undefined> {
    const key = `${type}.${name}`;
    const declaration = this.config.data.get(key);
    // Every block of a type the reader parses is in the map, so in a whole folder one missing there is not declared.
    if (!declaration && name !== undefined && this.config.wholeFolder && READ_DATA_TYPES.includes(type)) {
      return Promise.resolve({ opaque: `data.${key} is not declared in this module (Terraform refuses a reference to an undeclared data source)` });
    }
    if (!declaration || !(ASSEMBLED_DATA_TYPES as readonly string[]).includes(type)) return Promise.resolve(undefined);
    if (this.config.cyclic.has(`data.${key}`)) return Promise.resolve({ opaque: `data.${key} refers to itself through other blocks (Terraform refuses the cycle)` });
    let value = this.dataValues.get(key);
    if (!value) {
      value = this.evaluateData(declaration);
      this.dataValues.set(key, value);
    }
    return value;
  }

  private async evaluateData(declaration: Declaration): Promise<Value | undefined> {
    const address = `${this.prefix}data.${declaration.type}.${declaration.name}`;
    const expansion = await this.expansion(declaration.body);
    if ("unknown" in expansion) return { opaque: `${address}: ${expansion.unknown}` };
    const values: Array<[Instance, Value | undefined]> = [];
    for (const instance of expansion.instances) values.push([instance, await evaluateDataSource(declaration.type, declaration.body, this.scope(instance), `${address}${instance.key}`)]);
    return collect(declaration.body, values);
  }

  /**
   * `module.NAME` and what follows it. `module.m.out` evaluates only that output; the root alone
   * (`module.m`, or a repeated call's `module.m["k"]`) evaluates every output of the instances named.
   */
  private async moduleOutput(name: string, steps: ReadonlyArray<string | number>): Promise<Value | undefined> {
    const declaration = this.config.calls.get(name);
    if (!declaration) return undefined;
    const call = await this.callInstancesOf(name);
    if (call.kind === "unresolved") return { opaque: call.why };
    if (call.repeat === "none") {
      const only = call.instances[0]?.module;
      if (!only) return undefined;
      if (typeof steps[0] === "string") return applySteps(await only.output(steps[0]), steps.slice(1));
      return applySteps(await only.outputValues(), steps);
    }
    if (steps.length >= 2 && typeof steps[1] === "string") {
      const key = call.repeat === "count" ? `[${steps[0]}]` : `[${JSON.stringify(String(steps[0]))}]`;
      const chosen = call.instances.find(({ instance }) => instance.key === key)?.module;
      return chosen ? applySteps(await chosen.output(steps[1]), steps.slice(2)) : undefined;
    }
    const values: Array<[Instance, Value | undefined]> = [];
    for (const { instance, module } of call.instances) values.push([instance, await module.outputValues()]);
    return applySteps(collect(declaration.body, values), steps);
  }

  /** One output of this module instance, evaluated; undefined when the module has no such output. */
  output(name: string): Promise<Value | undefined> {
    if (!this.config.outputs.has(name)) return Promise.resolve(undefined);
    let value = this.outputCache.get(name);
    if (!value) {
      value = evaluateRaw(this.config.outputs.get(name), this.moduleScope);
      this.outputCache.set(name, value);
    }
    return value;
  }

  /** Every output of this module instance, evaluated. */
  async outputValues(): Promise<Value> {
    const out: Record<string, Value> = {};
    for (const name of this.config.outputs.keys()) out[name] = (await this.output(name)) as Value;
    return out;
  }

  private expansion(body: Record<string, unknown>): Promise<Expansion> {
    return expand(body, (raw) => evaluateRaw(raw, this.moduleScope));
  }

  private callInstancesOf(name: string): Promise<CallInstances> {
    let value = this.callInstances.get(name);
    if (!value) {
      value = this.followCall(this.config.calls.get(name) as Declaration);
      this.callInstances.set(name, value);
    }
    return value;
  }

  private async followCall(call: Declaration): Promise<CallInstances> {
    const callPath = [...this.callPath, call.name];
    const source = await this.loader.moduleOf(call, this.config.dir, callPath);
    if ("why" in source) return { kind: "unresolved", why: source.why };
    const expansion = await this.expansion(call.body);
    if ("unknown" in expansion) return { kind: "unresolved", why: `module.${call.name}: ${expansion.unknown}` };
    const repeat = call.body.count !== undefined && call.body.count !== null ? "count" : call.body.for_each !== undefined && call.body.for_each !== null ? "for_each" : "none";
    const instances = expansion.instances.map((instance) => {
      const scope = this.scope(instance);
      const inputs = new Map<string, () => Promise<Value>>();
      const imageSources = new Map<string, () => Promise<string | undefined>>();
      for (const [input, raw] of Object.entries(call.body)) {
        if (META_ARGUMENTS.has(input)) continue;
        let value: Promise<Value> | undefined;
        inputs.set(input, () => (value ??= evaluateRaw(raw, scope)));
        if (typeof raw === "string") imageSources.set(input, async () => this.imageSource(raw, (await imageOf(raw, scope)).waitsFor));
      }
      return { instance, module: new ModuleInstance(source.config, this.loader, callPath, `${this.prefix}module.${call.name}${instance.key}.`, inputs, imageSources) };
    });
    return { kind: "instances", repeat, instances };
  }

  /**
   * Where an image known only at plan time comes from: the SSM parameter an `aws_ssm_parameter`
   * data source reads (`image_id = data.aws_ssm_parameter.ecs.value`), or the name filter of an
   * `aws_ami` data source, found from the reference the evaluated image waits for, or for a module
   * input from the caller's expression. The judge takes the AMI's metadata defaults from it.
   */
  private async imageSource(raw: string, waitsFor?: string): Promise<string | undefined> {
    // The one data source of this module the evaluated image waits for (through locals too).
    const byReference = waitsFor === undefined ? undefined : await this.imageSourceOfReference(waitsFor);
    if (byReference !== undefined) return byReference;
    // An input variable: where the caller's expression takes its image from.
    const input = /^\$\{\s*var\.([A-Za-z_][\w-]*)\s*\}$/.exec(raw);
    return input ? this.inputImageSources.get(input[1])?.() : undefined;
  }

  /**
   * The SSM parameter an `aws_ssm_parameter` data source reads, or the name filter of an `aws_ami`,
   * given the reference an image waits for (`data.aws_ssm_parameter.ecs.value`,
   * `data.aws_ssm_parameter.ecs[0].insecure_value`). A name or filter that depends on the data
   * source's own `count.index` or `each` stays unknown.
   */
  private async imageSourceOfReference(waitsFor: string): Promise<string | undefined> {
    // A splat over the data source (`join("", data.x.y[*].value)`) waits for the data source as a whole.
    const reference = /^data\.(aws_ssm_parameter|aws_ami)\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.(?:value|insecure_value|id|image_id))?$/.exec(waitsFor);
    return reference ? this.imageNamedBy(reference[1], reference[2]) : undefined;
  }

  /** The parameter name or AMI name filter of a data source of this module, when known for every instance. */
  private async imageNamedBy(type: string, name: string): Promise<string | undefined> {
    const declaration = this.config.data.get(`${type}.${name}`);
    if (!declaration || declaration.body.for_each !== undefined) return undefined;
    const known = (value: Value | undefined) => (typeof value === "string" && !isUnknownValue(value) ? value : undefined);
    if (type === "aws_ssm_parameter") return known(await evaluateRaw(declaration.body.name, this.moduleScope));
    const filter = blocksOf(declaration.body.filter).find((block) => block.name === "name");
    const values = filter ? await evaluateRaw(filter.values, this.moduleScope) : undefined;
    return Array.isArray(values) && values.length > 0 ? known(values[0]) : undefined;
  }

  /**
   * Launch resources and module calls holding them that have no instance at these inputs (count = 0,
   * for_each over an empty collection), each with the argument that says so: why an audit of a
   * module on its own finds nothing.
   */
  async withoutInstances(): Promise<string[]> {
    const out: string[] = [];
    for (const resource of this.config.resources) {
      const expansion = await this.expansion(resource.body);
      if ("instances" in expansion && expansion.instances.length === 0) out.push(`${this.prefix}${resource.type}.${resource.name}: ${repetition(resource.body)} gives no instance`);
    }
    for (const call of this.config.calls.values()) {
      const followed = await this.callInstancesOf(call.name);
      if (followed.kind !== "instances") continue;
      if (followed.instances.length > 0) {
        for (const { module } of followed.instances) out.push(...(await module.withoutInstances()));
        continue;
      }
      const source = await this.loader.moduleOf(call, this.config.dir, [...this.callPath, call.name]);
      if ("config" in source && (source.config.resources.length > 0 || source.config.calls.size > 0)) {
        out.push(`${this.prefix}module.${call.name}: ${repetition(call.body)} gives no instance of the module, which declares ${source.config.resources.map((r) => `${r.type}.${r.name}`).join(", ") || "module calls"}`);
      }
    }
    return out;
  }

  /** Every launch resource instance in this module and the modules it calls, or a row for what cannot be followed. */
  async rows(): Promise<FoundResource[]> {
    const found: FoundResource[] = [];
    for (const resource of this.config.resources) {
      const address = `${this.prefix}${resource.type}.${resource.name}`;
      const expansion = await this.expansion(resource.body);
      if ("unknown" in expansion) {
        const why = `${address}: ${expansion.unknown}`;
        found.push({ address, file: resource.file, description: unresolvedDescription(resource.type, why), unresolved: why, ...(resource.suppressions ? { suppressions: resource.suppressions } : {}) });
        continue;
      }
      for (const instance of expansion.instances) {
        const description = await describeLaunch(resource.type, resource.body, this.scope(instance), explainReference, (raw, waitsFor) => this.imageSource(raw, waitsFor));
        found.push({ address: `${address}${instance.key}`, file: resource.file, description, ...(resource.suppressions ? { suppressions: resource.suppressions } : {}) });
      }
    }
    for (const call of this.config.calls.values()) {
      const followed = await this.callInstancesOf(call.name);
      if (followed.kind === "unresolved") {
        found.push({ address: `${this.prefix}module.${call.name}`, file: call.file, description: unresolvedDescription("module", followed.why), unresolved: followed.why });
        continue;
      }
      for (const { module } of followed.instances) found.push(...(await module.rows()));
    }
    return found;
  }
}

/**
 * A variable's value converted to its type constraint, as Terraform converts defaults and given
 * values (optional attributes' defaults, primitive conversions). A type the audit cannot read
 * leaves the value as given; a value Terraform would refuse is unknown, saying why.
 */
async function typed(name: string, value: Value, declared: VariableDeclaration | undefined): Promise<Value> {
  if (declared?.type === undefined) return value;
  let type: TypeConstraint;
  try {
    type = await parseTypeConstraint(declared.type);
  } catch {
    return value;
  }
  try {
    return convertToType(value, type, `var.${name}`);
  } catch (error) {
    if (error instanceof EvalError) return { opaque: `${error.message} (Terraform refuses the value of var.${name})` };
    throw error;
  }
}

/** `count = var.n` or `for_each = local.pools`, as written. */
function repetition(body: Record<string, unknown>): string {
  return body.count !== undefined && body.count !== null ? `count = ${expressionText(body.count)}` : `for_each = ${expressionText(body.for_each)}`;
}

/** Arguments of a module call that are not its inputs. */
const META_ARGUMENTS = new Set(["source", "version", "providers", "count", "for_each", "depends_on"]);

/** The value a reference to a repeated block takes: the one instance's, a list by count, or a map by for_each key. */
function collect(body: Record<string, unknown>, values: ReadonlyArray<[Instance, Value | undefined]>): Value | undefined {
  if (body.count !== undefined && body.count !== null) return values.map(([, value]) => value ?? { opaque: "an instance known only at apply time" });
  if (body.for_each !== undefined && body.for_each !== null) {
    return Object.fromEntries(values.map(([instance, value]) => [String(instance.each?.key), value ?? { opaque: "an instance known only at apply time" }]));
  }
  return values[0]?.[1];
}

/**
 * What a reference that is the whole user data stands for, as a reason names it: the reference, and
 * for a variable what to do (data sources, module outputs and attributes name themselves).
 */
export function explainReference(reference: string): string {
  return reference.startsWith("var.") ? `${reference}, a variable without a default: give it (-var, -var-file) or audit a saved plan` : reference;
}

/** Suppressions `ImdsAuditAspect.suppress` wrote into a resource's `//` comment of Terraform JSON. */
function commentedSuppressions(comment: unknown, file: string, resource: string): SourcedSuppression[] {
  try {
    return suppressionsInComment(comment, file, resource);
  } catch (error) {
    if (error instanceof SuppressionError) throw new AuditInputError(file, error.message.replace(/^ecs-imds-guard: /, ""));
    throw error;
  }
}
