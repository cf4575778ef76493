/**
 * The pure half of `--evaluate terraform`: the test file the audit hands to `terraform test`, the
 * variables it must leave unknown, and the reading of the plan `terraform test -json -verbose`
 * prints back into launch descriptions. Running Terraform is in `terraform-runner.ts`.
 */
import { gunzipSync } from "node:zlib";
import { describePlanned, describeUnknowns, LAUNCH_RESOURCE_TYPES, resourceAddressParts, UNKNOWN_END, UNKNOWN_START } from "./sources";
import { isUnknown, Known, LaunchDescription, MetadataOptions, UserDataInput } from "./types";

/**
 * Terraform 1.9 is the first with `override_during = plan` (mock values at plan time, which lets
 * the audit tell an unset option from one known only at apply) and with variable validations that
 * may refer to other values (the audit replaces references to variables it leaves unknown).
 */
export const MINIMUM_TERRAFORM_VERSION = "1.9.0";

/** The version in `terraform version -json` output. */
export function terraformVersionOf(versionJson: string): string {
  let version: unknown;
  try {
    version = (JSON.parse(versionJson) as { terraform_version?: unknown }).terraform_version;
  } catch {
    version = undefined;
  }
  if (typeof version !== "string") throw new Error(`terraform version -json printed no terraform_version: ${versionJson.slice(0, 200)}`);
  return version;
}

/** Why this Terraform cannot evaluate for the audit, or undefined when it can. */
export function terraformVersionProblem(version: string): string | undefined {
  const parts = (text: string) => text.split(/[.-]/).slice(0, 3).map((part) => Number.parseInt(part, 10) || 0);
  const [have, need] = [parts(version), parts(MINIMUM_TERRAFORM_VERSION)];
  for (let i = 0; i < 3; i++) {
    if (have[i] > need[i]) return undefined;
    if (have[i] < need[i]) {
      return `Terraform ${version} is older than ${MINIMUM_TERRAFORM_VERSION}, the first whose terraform test sets mock values at plan time (override_during = plan); install ${MINIMUM_TERRAFORM_VERSION} or later, or audit without --evaluate terraform`;
    }
  }
  return undefined;
}

/**
 * What the mock provider writes into an optional computed field the configuration leaves unset: a
 * value the reader recognises and drops, so "unset" (the AMI's default) is not taken for "known
 * only at apply time" (which Terraform's plan shows for both).
 */
export const UNSET_SENTINEL = `${UNKNOWN_START}unset${UNKNOWN_END}`;
const UNSET_NUMBER = -1;

/** The optional computed fields of each launch resource the audit reads, with their sentinel. */
const LAUNCH_MOCK_DEFAULTS: Readonly<Record<string, Record<string, unknown>>> = {
  aws_launch_template: {
    metadata_options: { http_endpoint: UNSET_SENTINEL, http_tokens: UNSET_SENTINEL, http_protocol_ipv6: UNSET_SENTINEL, http_put_response_hop_limit: UNSET_NUMBER },
  },
  aws_instance: {
    ami: UNSET_SENTINEL,
    user_data: UNSET_SENTINEL,
    user_data_base64: UNSET_SENTINEL,
    metadata_options: { http_tokens: UNSET_SENTINEL, http_put_response_hop_limit: UNSET_NUMBER },
  },
  aws_launch_configuration: {
    metadata_options: { http_endpoint: UNSET_SENTINEL, http_tokens: UNSET_SENTINEL, http_put_response_hop_limit: UNSET_NUMBER },
  },
};

/**
 * What a mocked data source attribute holds: a mark naming it, never a made-up string. Plain words
 * only: the mark sits inside shell text the instance layers parse. `source` is a data source's
 * address in the root module (`data.aws_ssm_parameter.ecs`), or its type alone
 * (`data.aws_ssm_parameter`) where the mark is the type's default.
 */
export function mockedDataValue(source: string, attribute: string): string {
  return `${UNKNOWN_START}${source}.${attribute}, read from AWS when Terraform plans${UNKNOWN_END}`;
}

/** A data source declared in the root module. */
export interface RootDataSource {
  readonly type: string;
  readonly name: string;
  /** Whether it has count or for_each: its instances are not one value. */
  readonly repeated: boolean;
}

// The data sources an image comes from, as the static reader follows them (read/module.ts).
const IMAGE_SOURCE_TYPES = ["aws_ssm_parameter", "aws_ami"];
const IMAGE_SOURCES_RESOURCE = "ecs_imds_guard_image_sources";

/** The root data sources whose parameter name or AMI name filter tells the image's defaults. */
export function imageSourceDataSources(dataSources: readonly RootDataSource[]): RootDataSource[] {
  return dataSources.filter((source) => IMAGE_SOURCE_TYPES.includes(source.type) && !source.repeated);
}

/**
 * A configuration file for the root module copy: a `terraform_data` resource (built in, no provider)
 * whose planned input records what each image data source was asked for (the SSM parameter's name,
 * the first value of the AMI's "name" filter), since the plan of `terraform test` holds no data
 * source values.
 */
export function imageSourcesFile(dataSources: readonly RootDataSource[]): string {
  const entries = imageSourceDataSources(dataSources).map(({ type, name }) => {
    const address = `data.${type}.${name}`;
    const asked = type === "aws_ssm_parameter" ? `${address}.name` : `[for f in ${address}.filter : tolist(f.values)[0] if f.name == "name"][0]`;
    return `    ${JSON.stringify(address)} = try(${asked}, null)\n`;
  });
  return `resource "terraform_data" "${IMAGE_SOURCES_RESOURCE}" {\n  input = {\n${entries.join("")}  }\n}\n`;
}

/** The name of the local that stands for a variable left unknown. */
export function unknownVariableLocal(name: string): string {
  return `ecs_imds_guard_unknown_${name}`;
}

/** Replaces each reference to the named root variables with the local that stands for it. */
export function replaceVariableReferences(text: string, names: readonly string[]): string {
  if (names.length === 0) return text;
  const escaped = names.map((name) => name.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&"));
  // HCL identifiers may hold "-": var.a must not match var.a-b.
  const pattern = new RegExp(`(?<![\\w.-])var\\.(${escaped.join("|")})(?![\\w-])`, "g");
  return text.replace(pattern, (_, name: string) => `local.${unknownVariableLocal(name)}`);
}

/**
 * The locals that stand for variables left unknown: `timestamp()` is unknown while Terraform plans,
 * and `jsondecode` of an unknown string is an unknown of any type, so each fits where the variable
 * did (a string, a number, a map of objects).
 */
export function unknownVariablesFile(names: readonly string[]): string {
  return `locals {\n${names.map((name) => `  ${unknownVariableLocal(name)} = jsondecode(timestamp())\n`).join("")}}\n`;
}

/** The generated test file: the AWS provider mocked, one plan, unknown variables set to null. */
export interface TestFileOptions {
  /** Aliases of the root module's `provider "aws"` blocks, besides the default one. */
  readonly awsAliases: readonly string[];
  /** For each AWS data source type the configuration reads: its computed string attributes. */
  readonly dataSourceAttributes: Readonly<Record<string, readonly string[]>>;
  /** Root variables without a value (each still needs one: null; nothing reads it any more). */
  readonly unknownVariables: readonly string[];
  /** The root module's data sources: those of the image get marks naming them. @default [] */
  readonly rootDataSources?: readonly RootDataSource[];
}

/** The name of the one run block; its plan is the one the audit reads. */
export const AUDIT_RUN = "ecs_imds_guard_audit";

export function testFileText(options: TestFileOptions): string {
  const mocks = [
    ...Object.entries(LAUNCH_MOCK_DEFAULTS).map(
      ([type, defaults]) => `  mock_resource "${type}" {\n    override_during = plan\n    defaults = ${hclValue(defaults)}\n  }\n`,
    ),
    ...Object.entries(options.dataSourceAttributes)
      .filter(([, attributes]) => attributes.length > 0)
      .map(([type, attributes]) => `  mock_data "${type}" {\n    defaults = ${hclValue(Object.fromEntries(attributes.map((a) => [a, mockedDataValue(`data.${type}`, a)])))}\n  }\n`),
  ].join("");
  // An image data source's marks name it, so the image's unknown id leads back to what it asked for.
  const overrides = imageSourceDataSources(options.rootDataSources ?? [])
    .filter(({ type }) => (options.dataSourceAttributes[type] ?? []).length > 0)
    .map(({ type, name }) => {
      const address = `data.${type}.${name}`;
      const values = Object.fromEntries(options.dataSourceAttributes[type].map((a) => [a, mockedDataValue(address, a)]));
      return `override_data {\n  target = ${address}\n  values = ${hclValue(values)}\n}\n\n`;
    })
    .join("");
  const providers = ["", ...options.awsAliases].map((alias) => `mock_provider "aws" {\n${alias ? `  alias = ${hclValue(alias)}\n` : ""}${mocks}}\n`);
  const variables = options.unknownVariables.length > 0 ? `  variables {\n${options.unknownVariables.map((name) => `    ${name} = null\n`).join("")}  }\n` : "";
  return `${providers.join("\n")}\n${overrides}run "${AUDIT_RUN}" {\n  command = plan\n${variables}}\n`;
}

/** A value in HCL syntax: JSON's escapes are HCL's; template sequences are escaped. */
function hclValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value).replace(/\$\{/g, "$${").replace(/%\{/g, "%%{");
  if (typeof value === "number") return String(value);
  if (value && typeof value === "object") {
    return `{ ${Object.entries(value)
      .map(([key, item]) => `${key} = ${hclValue(item)}`)
      .join(", ")} }`;
  }
  throw new Error(`no HCL form for ${String(value)}`);
}

/** A diagnostic Terraform printed (`-json`). */
export interface TerraformDiagnostic {
  readonly severity: string;
  readonly summary: string;
  readonly detail?: string;
  readonly address?: string;
  readonly range?: { readonly filename: string; readonly start: { readonly line: number } };
  /** The line it points at and, for a failed function call, the function. */
  readonly snippet?: { readonly code?: string; readonly function_call?: { readonly called_as?: string } };
}

/** One planned resource change (`resource_changes[]` of a plan). */
export interface ResourceChange {
  readonly address: string;
  readonly mode: string;
  readonly type: string;
  readonly change: { readonly actions: readonly string[]; readonly after?: Record<string, unknown> | null; readonly after_unknown?: Record<string, unknown> };
}

/** What `terraform test -json -verbose` said: the audit run's plan, or the errors that stopped it. */
export interface TestOutput {
  readonly resourceChanges?: readonly ResourceChange[];
  readonly errors: readonly TerraformDiagnostic[];
}

export function readTestOutput(stdout: string): TestOutput {
  let resourceChanges: ResourceChange[] | undefined;
  const errors: TerraformDiagnostic[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const message = JSON.parse(line) as { type?: string; "@testrun"?: string; test_plan?: { resource_changes?: ResourceChange[] }; diagnostic?: TerraformDiagnostic };
    if (message.type === "test_plan" && message["@testrun"] === AUDIT_RUN) resourceChanges = message.test_plan?.resource_changes ?? [];
    if (message.type === "diagnostic" && message.diagnostic?.severity === "error") errors.push(message.diagnostic);
  }
  return { ...(resourceChanges ? { resourceChanges } : {}), errors };
}

/** A launch resource Terraform planned: its address and what the judge reads. */
export interface PlannedLaunch {
  readonly address: string;
  readonly description: LaunchDescription;
}

/**
 * The launch resources of the audit run's plan. `unknownVariables` are the root variables the user
 * gave no value: an unknown user data names them, since Terraform's plan says only "known after apply".
 */
export function plannedLaunches(changes: readonly ResourceChange[], unknownVariables: readonly string[]): PlannedLaunch[] {
  const launches: PlannedLaunch[] = [];
  const imageSources = plannedImageSources(changes);
  for (const change of changes) {
    if (change.mode !== "managed" || !(LAUNCH_RESOURCE_TYPES as readonly string[]).includes(change.type)) continue;
    if (!change.change.after || change.change.actions.every((action) => action === "delete")) continue;
    const { values, afterUnknown } = withoutUnsetSentinels(change.change.after, change.change.after_unknown ?? {});
    const planned = describePlanned({ type: change.type, values }, afterUnknown);
    launches.push({ address: change.address, description: withMarksRead(planned, unknownVariables, imageSources) });
  }
  return launches;
}

/** Data source address → the SSM parameter or AMI name filter it asked for, from `imageSourcesFile`'s resource. */
function plannedImageSources(changes: readonly ResourceChange[]): Map<string, string> {
  const input = changes.find((change) => change.address === `terraform_data.${IMAGE_SOURCES_RESOURCE}`)?.change.after?.input;
  const asked = input && typeof input === "object" ? Object.entries(input as Record<string, unknown>) : [];
  return new Map(asked.filter((entry): entry is [string, string] => typeof entry[1] === "string" && !entry[1].includes(UNKNOWN_START)));
}

/** Drops the fields the mock filled with the unset sentinel: the configuration left them unset. */
function withoutUnsetSentinels(after: Record<string, unknown>, afterUnknown: Record<string, unknown>): { values: Record<string, unknown>; afterUnknown: Record<string, unknown> } {
  const isSentinel = (value: unknown) => value === UNSET_SENTINEL || value === UNSET_NUMBER;
  const values = Object.fromEntries(Object.entries(after).filter(([, value]) => !isSentinel(value)));
  if (Array.isArray(values.metadata_options)) {
    values.metadata_options = values.metadata_options.map((block: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(block ?? {}).filter(([, value]) => !isSentinel(value))),
    );
  }
  return { values, afterUnknown };
}

/** Turns the marks Terraform carried through (mocked data, see `mockedDataValue`) into unknowns. */
function withMarksRead(description: LaunchDescription, unknownVariables: readonly string[], imageSources: ReadonlyMap<string, string>): LaunchDescription {
  const marked = (value: unknown): value is string => typeof value === "string" && value.includes(UNKNOWN_START);
  const userData = readUserData(description.userData, unknownVariables);
  const options = description.metadataOptions;
  const metadataOptions = options
    ? (Object.fromEntries(
        Object.entries(options).map(([name, value]) => [name, marked(value) ? { unknown: `${describeUnknowns(value)} is known only at plan time` } : markVariables(value, unknownVariables)]),
      ) as MetadataOptions)
    : undefined;
  const image = description.imageId;
  // As the static reader: an image that is wholly one image data source's id or value.
  const source = marked(image) ? /^\ue000(data\.aws_(?:ssm_parameter|ami)\.[\w-]+)\.(?:value|insecure_value|id|image_id), read from AWS when Terraform plans\ue001$/.exec(image) : null;
  const imageSource = source ? imageSources.get(source[1]) : undefined;
  return {
    ...description,
    ...(userData ? { userData } : {}),
    ...(metadataOptions ? { metadataOptions } : {}),
    ...(marked(image) ? { imageId: { unknown: describeUnknowns(image) } } : {}),
    ...(imageSource !== undefined ? { imageSource } : {}),
  };
}

function readUserData(input: UserDataInput | undefined, unknownVariables: readonly string[]): UserDataInput | undefined {
  if (!input) return input;
  if (isUnknown(input)) return markVariables(input, unknownVariables) as UserDataInput;
  if ("text" in input) return input;
  if (!("base64" in input)) return input;
  let bytes = Buffer.from(input.base64, "base64");
  // gzip: the judge reads it too, but text with marks is handed over decoded (the shared contract).
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch {
      return input;
    }
  }
  const text = bytes.toString("utf8");
  return text.includes(UNKNOWN_START) ? { text } : input;
}

/** An unknown value's reason, naming the variables the user did not give. */
function markVariables<T>(value: Known<T>, unknownVariables: readonly string[]): Known<T> {
  if (!isUnknown(value) || unknownVariables.length === 0) return value;
  const names = unknownVariables.map((name) => `var.${name}`).join(", ");
  return {
    unknown: `${value.unknown}; it may depend on ${names}, given no value (pass --var NAME=VALUE or --var-file FILE; the audit does not guess)`,
  };
}

/** `module.a["x"].module.b.aws_instance.c[0]` → the module key `a.b` of `.terraform/modules/modules.json`. */
export function moduleKeyOf(address: string): string {
  return resourceAddressParts(address).modules.join(".");
}

/** `aws_launch_template.pool["web"]` (after any module path) → type and name. */
export function resourceTypeAndName(address: string): { type: string; name: string } {
  const { type, name } = resourceAddressParts(address);
  return { type, name };
}

/**
 * Why a plan failed where a function parsed the value of an AWS data source (`jsondecode(data.aws_ssm_parameter.ami.value)`):
 * the mock gives that value a mark, standing for what AWS would return, which no function can
 * parse. Undefined when no error is of that kind.
 */
export function mockedValueProblem(diagnostics: readonly TerraformDiagnostic[]): string | undefined {
  for (const diagnostic of diagnostics) {
    const called = diagnostic.snippet?.function_call?.called_as;
    const read = /\bdata\.aws_[\w-]+\.[\w-]+(?:\[[^\]]*\])?\.[\w-]+/.exec(diagnostic.snippet?.code ?? "")?.[0];
    if (called === undefined || read === undefined) continue;
    return `${called}() was given ${read}, which AWS would return when Terraform plans: with the AWS provider mocked the audit gives it a mark, not a value ${called}() can read, so Terraform cannot plan this root module here; audit it without --evaluate terraform (the static reader judges around the value)`;
  }
  return undefined;
}

/** Shortens Terraform's diagnostics to one line each, with where they point. */
export function describeDiagnostics(diagnostics: readonly TerraformDiagnostic[]): string {
  const unique = [...new Set(diagnostics.map((d) => {
    const where = d.range ? ` (${d.range.filename}:${d.range.start.line})` : d.address ? ` (${d.address})` : "";
    const detail = (d.detail ?? "").replace(/\s+/g, " ").trim();
    return `${d.summary}${detail ? `: ${detail}` : ""}${where}`;
  }))];
  return unique.join("; ");
}
