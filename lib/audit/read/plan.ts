/** `terraform show -json` of a saved plan: planned values, with child modules and instance keys. */
import { Known, LaunchDescription, MetadataOptions, UserDataInput } from "../types";
import { AuditInputError, FoundResource, LAUNCH_RESOURCE_TYPES } from "./found";
import { userDataSentFromText } from "./launch";
import { blocksOf } from "./values";

/** `terraform show -json` of a saved plan: planned_values, with child modules. */
export function readPlan(file: string, plan: Record<string, unknown>): FoundResource[] {
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
  const configuration = (plan.configuration as { root_module?: ConfigModule } | undefined)?.root_module;
  const found: FoundResource[] = [];
  const walk = (module: PlanModule) => {
    for (const resource of module.resources ?? []) {
      if (resource.mode !== "managed" || !(LAUNCH_RESOURCE_TYPES as readonly string[]).includes(resource.type)) continue;
      const why = configuration ? whyUnknownInConfiguration(configuration, resource.address, resource.values ?? {}) : undefined;
      found.push({ address: resource.address, file, description: describePlanned(resource, unknownByAddress.get(resource.address) ?? {}, why) });
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

/**
 * Why a field the plan marks unknown (`after_unknown`) is unknown, naming what it waits for; or
 * undefined when the configuration leaves it unset. Terraform marks both alike for an optional
 * computed field (`http_tokens`, `http_put_response_hop_limit`, an instance's `user_data`): the
 * provider fills an unset one at apply, from EC2's defaults.
 */
export type UnknownReason = (path: readonly string[]) => string | undefined;

/** Without the configuration: every unknown field is taken as known only after apply. */
const knownOnlyAfterApply: UnknownReason = (path) => `${path[path.length - 1]} is known only after apply`;

/** One planned launch resource (its `values` and `after_unknown`) as the judge reads it. */
export function describePlanned(
  resource: { type: string; values?: Record<string, unknown> },
  afterUnknown: Record<string, unknown>,
  whyUnknown: UnknownReason = knownOnlyAfterApply,
): LaunchDescription {
  const values = resource.values ?? {};
  const userDataUnknown = ["user_data_base64", "user_data"]
    .filter((name) => afterUnknown[name] === true)
    .map((name) => whyUnknown([name]))
    .find((why) => why !== undefined);
  let userData: UserDataInput | undefined;
  if (userDataUnknown !== undefined) userData = { unknown: userDataUnknown };
  else if (typeof values.user_data_base64 === "string" && values.user_data_base64) userData = { base64: values.user_data_base64 };
  else if (typeof values.user_data === "string" && values.user_data) {
    userData =
      resource.type === "aws_launch_template"
        ? { base64: values.user_data }
        : /^[0-9a-f]{40}$/.test(values.user_data)
          ? { sha1: values.user_data }
          : userDataSentFromText(values.user_data);
  }
  const block = blocksOf(values.metadata_options)[0];
  const unknownBlock = blocksOf(afterUnknown.metadata_options)[0];
  const blockUnknown = afterUnknown.metadata_options === true;
  const metadataField = (name: string): Known<string | number> | undefined => {
    if (blockUnknown || unknownBlock?.[name] === true) {
      const why = whyUnknown(["metadata_options", name]);
      return why === undefined ? undefined : { unknown: why };
    }
    const value = block?.[name];
    return value === undefined || value === null ? undefined : (value as string | number);
  };
  const fields = {
    ...optional("httpEndpoint", metadataField("http_endpoint")),
    ...optional("httpTokens", metadataField("http_tokens")),
    ...optional("httpPutResponseHopLimit", metadataField("http_put_response_hop_limit")),
    ...optional("httpProtocolIpv6", metadataField("http_protocol_ipv6")),
  };
  const metadataOptions = (block || Object.keys(fields).length > 0 ? fields : undefined) as MetadataOptions | undefined;
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

/** `module.a["x"].module.b.aws_instance.c[0]` → the module names `a`, `b`, the type and the name. */
export function resourceAddressParts(address: string): { modules: string[]; type: string; name: string } {
  const modules: string[] = [];
  const step = /module\.([\w-]+)(?:\[(?:"(?:[^"\\]|\\.)*"|\d+)\])?\./y;
  let rest = 0;
  for (let match = step.exec(address); match; match = step.exec(address)) {
    modules.push(match[1]);
    rest = step.lastIndex;
  }
  const resource = /^([\w-]+)\.([\w-]+)/.exec(address.slice(rest));
  if (!resource) throw new Error(`not a resource address: ${address}`);
  return { modules, type: resource[1], name: resource[2] };
}

// The plan's `configuration` section: each expression as written, by its constant value or the
// references it reads (never its text); blocks as lists of such objects.
interface Expression {
  readonly constant_value?: unknown;
  readonly references?: readonly string[];
}
interface ConfigResource {
  readonly address: string;
  readonly mode: string;
  readonly expressions?: Record<string, unknown>;
  readonly for_each_expression?: Expression;
}
interface ModuleCall {
  readonly expressions?: Record<string, Expression>;
  readonly for_each_expression?: Expression;
  readonly module?: ConfigModule;
}
interface ConfigModule {
  readonly resources?: readonly ConfigResource[];
  readonly module_calls?: Record<string, ModuleCall>;
}
/** A module in the configuration, with the call that made it: where a `var.x` gets its value. */
interface ModuleScope {
  readonly module: ConfigModule;
  readonly call?: { readonly name: string; readonly body: ModuleCall; readonly outer: ModuleScope };
}

/** The reasons `describePlanned` asks for, read from the plan's configuration for one resource instance. */
export function whyUnknownInConfiguration(root: ConfigModule, address: string, values: Record<string, unknown>): UnknownReason {
  const { modules, type, name } = resourceAddressParts(address);
  let scope: ModuleScope = { module: root };
  for (const moduleName of modules) {
    const body = scope.module.module_calls?.[moduleName];
    if (!body?.module) return knownOnlyAfterApply;
    scope = { module: body.module, call: { name: moduleName, body, outer: scope } };
  }
  const resource = scope.module.resources?.find((candidate) => candidate.mode === "managed" && candidate.address === `${type}.${name}`);
  if (!resource) return knownOnlyAfterApply;
  const expressions = resource.expressions ?? {};
  return (path) => {
    let body: Record<string, unknown> | undefined = expressions;
    for (const blockName of path.slice(0, -1)) {
      const written: Record<string, unknown> | undefined = blocksOf(body?.[blockName])[0];
      // The configuration section leaves out blocks written with `dynamic`: the plan still has one.
      if (!written && blocksOf(values[blockName]).length > 0) {
        return `written in a dynamic ${blockName} block, whose content a saved plan does not show`;
      }
      body = written;
    }
    const expression = body?.[path[path.length - 1]] as Expression | undefined;
    // Not written, or written as null (a constant the plan would otherwise show): unset.
    if (!expression || "constant_value" in expression) return undefined;
    const sources = unknownSources(expression, scope, resource.for_each_expression);
    // An expression over values all known while planning is itself known: unknown here means null.
    return sources.length === 0 ? undefined : sources.join(", ");
  };
}

/** What an expression reads that is known only after apply, each described; empty when nothing is. */
function unknownSources(expression: Expression, scope: ModuleScope, forEach: Expression | undefined): string[] {
  // No constant and no reference: a function known only at apply (timestamp(), uuid()).
  if (!expression.references || expression.references.length === 0) return ["an expression known only after apply"];
  return outermost(expression.references).flatMap((reference) => sourcesOf(reference, scope, forEach));
}

function sourcesOf(reference: string, scope: ModuleScope, forEach: Expression | undefined): string[] {
  if (/^(count\.index|each\.key|path\.|terraform\.)/.test(reference)) return [];
  if (reference === "each.value" || reference.startsWith("each.value.") || reference.startsWith("each.value[")) {
    if (!forEach || "constant_value" in forEach) return [];
    const over = unknownSources(forEach, scope, undefined);
    return over.length === 0 ? [] : [`${reference}, from a for_each over ${over.join(", ")}`];
  }
  const variable = /^var\.([\w-]+)/.exec(reference);
  if (variable) {
    // A root variable always has its value in a saved plan; a module's comes from its call.
    if (!scope.call) return [];
    const given = scope.call.body.expressions?.[variable[1]];
    if (!given || "constant_value" in given) return [];
    const outer = unknownSources(given, scope.call.outer, scope.call.body.for_each_expression);
    return outer.length === 0 ? [] : [`${reference}, which module.${scope.call.name} sets from ${outer.join(", ")}`];
  }
  // Locals, data sources, other resources and module outputs: the plan does not hold their values.
  return [reference];
}

/** Terraform lists `aws_x.y.attr` and `aws_x.y` both: keep the longer. */
function outermost(references: readonly string[]): string[] {
  return references.filter((reference) => !references.some((other) => other !== reference && (other.startsWith(`${reference}.`) || other.startsWith(`${reference}[`))));
}
