/**
 * CloudFormation templates (JSON, or YAML with the short-form tags) and AWS CDK cloud assemblies
 * (`cdk.out`): every `AWS::EC2::LaunchTemplate`, `AWS::AutoScaling::LaunchConfiguration` and
 * `AWS::EC2::Instance`, with its user data, metadata options and image as the template knows them.
 */
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import type { Tags } from "yaml";
import { Known, LaunchDescription, MetadataOptions, UserDataInput } from "../types";
import { UNKNOWN_START } from "../evaluate/expression";
import { Base64Of, CfnEvaluator, CfnParameter, CfnValue, DeployTime, TemplateError } from "./cfn-intrinsics";
import { AuditInputError, FoundResource, readText } from "./found";
import { describeUnknowns } from "./values";

/** The CloudFormation resource types the audit judges. */
export const CFN_LAUNCH_TYPES = ["AWS::EC2::LaunchTemplate", "AWS::AutoScaling::LaunchConfiguration", "AWS::EC2::Instance"] as const;

/** The short-form functions, each as `!Name` for scalars, sequences and mappings. */
const SHORT_FORMS = [
  "Base64", "Cidr", "FindInMap", "GetAZs", "If", "ImportValue", "Join", "Select", "Split", "Sub", "Transform",
  "And", "Equals", "Not", "Or", "Length", "ToJsonString",
];

const shortFormTags: Tags = [
  ...SHORT_FORMS.flatMap((name) => [
    { tag: `!${name}`, resolve: (value: string) => ({ [`Fn::${name}`]: value }) },
    { tag: `!${name}`, collection: "seq" as const, resolve: (value: { toJSON(): unknown }) => ({ [`Fn::${name}`]: value.toJSON() }) },
    { tag: `!${name}`, collection: "map" as const, resolve: (value: { toJSON(): unknown }) => ({ [`Fn::${name}`]: value.toJSON() }) },
  ]),
  { tag: "!Ref", resolve: (value: string) => ({ Ref: value }) },
  { tag: "!Condition", resolve: (value: string) => ({ Condition: value }) },
  // `!GetAtt Resource.Attribute`, or the list form.
  { tag: "!GetAtt", resolve: (value: string) => ({ "Fn::GetAtt": value }) },
  { tag: "!GetAtt", collection: "seq" as const, resolve: (value: { toJSON(): unknown }) => ({ "Fn::GetAtt": value.toJSON() }) },
] as Tags;

/** A parsed template and the text it was read from (for the line of each resource). */
export interface ParsedTemplate {
  readonly file: string;
  readonly text: string;
  readonly template: Record<string, unknown>;
}

/** Whether a JSON object looks like a CloudFormation template. */
export function isCloudFormation(document: Record<string, unknown>): boolean {
  return "AWSTemplateFormatVersion" in document || (typeof document.Resources === "object" && document.Resources !== null && !Array.isArray(document.Resources));
}

/** Reads a template file: JSON or YAML, with the short-form tags. */
export function parseTemplateFile(file: string): ParsedTemplate {
  const text = readText(file);
  let template: unknown;
  try {
    // The YAML parser loads only for a YAML template: an audit of Terraform never needs it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    template = text.trimStart().startsWith("{") ? JSON.parse(text) : (require("yaml") as typeof import("yaml")).parse(text, { customTags: shortFormTags, maxAliasCount: 1000 });
  } catch (error) {
    throw new AuditInputError(file, `not a CloudFormation template in JSON or YAML (${(error as Error).message.split("\n")[0]})`);
  }
  if (template === null || typeof template !== "object" || Array.isArray(template) || !isCloudFormation(template as Record<string, unknown>)) {
    throw new AuditInputError(file, "not a CloudFormation template: no Resources section");
  }
  return { file, text, template: template as Record<string, unknown> };
}

interface CfnResource {
  readonly Type?: string;
  readonly Properties?: Record<string, unknown>;
  readonly Condition?: string;
  readonly Metadata?: Record<string, unknown>;
}

/** Options of one template's reading: for a nested stack, the parameters its parent sets. */
export interface TemplateReadOptions {
  readonly givenByParent?: ReadonlySet<string>;
  /** Prefixed to each address: the nested stack's logical id in its parent. */
  readonly addressPrefix?: string;
  /** Parameter values given for the deployment (`--var NAME=VALUE`), for a root stack. */
  readonly parameters?: Readonly<Record<string, string>>;
}

/** Every launch resource of one template. */
export function readTemplate(parsed: ParsedTemplate, options: TemplateReadOptions = {}): FoundResource[] {
  const { file, template } = parsed;
  const resources = (template.Resources ?? {}) as Record<string, CfnResource>;
  const evaluator = new CfnEvaluator({
    parameters: (template.Parameters ?? {}) as Record<string, CfnParameter>,
    mappings: (template.Mappings ?? {}) as Record<string, unknown>,
    conditions: (template.Conditions ?? {}) as Record<string, unknown>,
    resources: new Set(Object.keys(resources)),
    givenByParent: options.givenByParent,
    ...(options.parameters !== undefined ? { given: options.parameters } : {}),
  });
  const lines = resourceLines(parsed.text, Object.keys(resources));
  const found: FoundResource[] = [];
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (!(CFN_LAUNCH_TYPES as readonly string[]).includes(resource?.Type ?? "")) continue;
    // A resource whose condition is false is not created.
    if (typeof resource.Condition === "string") {
      try {
        if (evaluator.condition(resource.Condition) === false) continue;
      } catch {
        /* an unreadable condition: judge the resource as if it is created */
      }
    }
    const description = describeResource(resource, resources, evaluator);
    found.push({ address: `${options.addressPrefix ?? ""}${logicalId}`, file, description, ...(lines.has(logicalId) ? { line: lines.get(logicalId) } : {}) });
  }
  return found;
}

function describeResource(resource: CfnResource, resources: Record<string, CfnResource>, evaluator: CfnEvaluator): LaunchDescription {
  const type = resource.Type as string;
  const properties = resource.Properties ?? {};
  if (type === "AWS::EC2::LaunchTemplate") {
    const data = readProperties(evaluator, properties.LaunchTemplateData, "LaunchTemplateData");
    if (data instanceof DeployTime) return wholly(type, `LaunchTemplateData is ${data.what}`);
    if (data instanceof TemplateErrorValue) return wholly(type, data.message);
    return describeProperties(type, data, evaluator, isRecord(properties.LaunchTemplateData) ? properties.LaunchTemplateData : {});
  }
  const own = readProperties(evaluator, properties, "Properties") as Record<string, unknown>;
  if (type === "AWS::AutoScaling::LaunchConfiguration") return describeProperties(type, own, evaluator, properties);
  // An instance: its own user data and image override its launch template's; metadata options come
  // only from the launch template (AWS::EC2::Instance has no MetadataOptions property).
  const instance = describeProperties(type, own, evaluator, properties);
  const template = launchTemplateOf(properties.LaunchTemplate, resources, evaluator);
  if (template === undefined) return instance;
  if ("unknown" in template) {
    const unknown = { unknown: template.unknown };
    return {
      resourceType: type,
      userData: instance.userData ?? unknown,
      metadataOptions: { httpEndpoint: unknown, httpTokens: unknown, httpPutResponseHopLimit: unknown, httpProtocolIpv6: unknown },
      ...(instance.imageId !== undefined ? { imageId: instance.imageId, ...(instance.imageSource ? { imageSource: instance.imageSource } : {}) } : { imageId: unknown }),
    };
  }
  const fromTemplate = describeResource(resources[template.logicalId], resources, evaluator);
  return {
    resourceType: type,
    ...(instance.userData !== undefined ? { userData: instance.userData } : fromTemplate.userData !== undefined ? { userData: fromTemplate.userData } : {}),
    ...(fromTemplate.metadataOptions ? { metadataOptions: fromTemplate.metadataOptions } : {}),
    ...(instance.imageId !== undefined
      ? { imageId: instance.imageId, ...(instance.imageSource ? { imageSource: instance.imageSource } : {}) }
      : fromTemplate.imageId !== undefined
        ? { imageId: fromTemplate.imageId, ...(fromTemplate.imageSource ? { imageSource: fromTemplate.imageSource } : {}) }
        : {}),
  };
}

/** The launch template an instance names, by `Ref`/id or name, when it is in the same template. */
function launchTemplateOf(raw: unknown, resources: Record<string, CfnResource>, evaluator: CfnEvaluator): { logicalId: string } | { unknown: string } | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) return { unknown: "the instance's LaunchTemplate is not a map" };
  const byId = raw.LaunchTemplateId;
  const refTarget = (value: unknown): string | undefined => {
    if (!isRecord(value)) return undefined;
    if (typeof value.Ref === "string") return value.Ref;
    const getAtt = value["Fn::GetAtt"];
    if (typeof getAtt === "string") return getAtt.split(".")[0];
    if (Array.isArray(getAtt) && typeof getAtt[0] === "string") return getAtt[0];
    return undefined;
  };
  const target = refTarget(byId) ?? refTarget(raw.LaunchTemplateName);
  if (target !== undefined && resources[target]?.Type === "AWS::EC2::LaunchTemplate") return { logicalId: target };
  if (raw.LaunchTemplateName !== undefined) {
    const name = safely(evaluator, raw.LaunchTemplateName, "LaunchTemplateName");
    if (typeof name === "string" && !name.includes(UNKNOWN_START)) {
      const match = Object.entries(resources).find(([, resource]) => resource?.Type === "AWS::EC2::LaunchTemplate" && safely(evaluator, resource.Properties?.LaunchTemplateName, "LaunchTemplateName") === name);
      if (match) return { logicalId: match[0] };
      return { unknown: `the launch template "${name}" is not in this template: its metadata options and user data are not known here` };
    }
  }
  const id = byId !== undefined ? safely(evaluator, byId, "LaunchTemplateId") : undefined;
  const named = typeof id === "string" ? id : id instanceof DeployTime ? id.what : JSON.stringify(raw).slice(0, 80);
  return { unknown: `the launch template ${named} is not in this template: its metadata options and user data are not known here` };
}

/** UserData, MetadataOptions and ImageId of launch template data, a launch configuration or an instance. */
function describeProperties(type: string, data: Record<string, unknown>, evaluator: CfnEvaluator, raw: Record<string, unknown>): LaunchDescription {
  const userData = userDataOf(data.UserData);
  const metadataOptions = type === "AWS::EC2::Instance" ? undefined : metadataOptionsOf(data.MetadataOptions);
  const image = data.ImageId;
  let imageId: Known<string> | undefined;
  let imageSource: string | undefined;
  if (image instanceof TemplateErrorValue) imageId = { unknown: image.message };
  else if (image instanceof DeployTime) {
    imageId = { unknown: image.what };
    imageSource = evaluator.ssmParameterOf(raw.ImageId);
  } else if (typeof image === "string") {
    const dynamic = /^\u{e000}\{\{resolve:ssm:([^}:]+)(?::\d+)?\}\}\u{e001}$/u.exec(image);
    if (dynamic) {
      imageId = { unknown: `{{resolve:ssm:${dynamic[1]}}}` };
      imageSource = dynamic[1];
    } else imageId = image.includes(UNKNOWN_START) ? { unknown: describeUnknowns(image) } : image;
  }
  return {
    resourceType: type,
    ...(userData !== undefined ? { userData } : {}),
    ...(metadataOptions !== undefined ? { metadataOptions } : {}),
    ...(imageId !== undefined ? { imageId } : {}),
    ...(imageSource !== undefined ? { imageSource } : {}),
  };
}

/**
 * UserData is base64 in every one of these resources: `Fn::Base64` of text (read as the text, its
 * deploy-time values as marks), or a literal already encoded.
 */
function userDataOf(value: unknown): UserDataInput | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof TemplateErrorValue) return { unknown: value.message };
  if (value instanceof DeployTime) return { unknown: `UserData is ${value.what}` };
  if (value instanceof Base64Of) {
    const whole = /^\ue000([^\ue001]*)\ue001$/.exec(value.text);
    return whole ? { unknown: `UserData is Fn::Base64 of ${whole[1]}` } : { text: value.text };
  }
  if (typeof value === "string") {
    if (value.includes(UNKNOWN_START)) return { unknown: `the base64 UserData holds values known only at deploy time (${describeUnknowns(value)})` };
    return { base64: value };
  }
  return { unknown: `UserData is a ${Array.isArray(value) ? "list" : typeof value}, not base64 text` };
}

function metadataOptionsOf(value: unknown): MetadataOptions | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof DeployTime || value instanceof TemplateErrorValue) {
    const unknown = { unknown: value instanceof DeployTime ? `MetadataOptions is ${value.what}` : value.message };
    return { httpEndpoint: unknown, httpTokens: unknown, httpPutResponseHopLimit: unknown, httpProtocolIpv6: unknown };
  }
  if (!isRecord(value)) return undefined;
  const field = (name: string, numeric = false): Known<string | number> | undefined => {
    const raw = value[name];
    if (raw === undefined || raw === null) return undefined;
    if (raw instanceof DeployTime) return { unknown: `${name} is ${raw.what}` };
    if (typeof raw === "string" && raw.includes(UNKNOWN_START)) return { unknown: `${name} holds ${describeUnknowns(raw)}` };
    if (typeof raw === "object") return { unknown: `${name} is not a value` };
    return numeric ? Number(raw) : String(raw);
  };
  const options: Record<string, Known<string | number>> = {};
  const set = (key: keyof MetadataOptions, known: Known<string | number> | undefined) => {
    if (known !== undefined) options[key] = known;
  };
  set("httpEndpoint", field("HttpEndpoint"));
  set("httpTokens", field("HttpTokens"));
  set("httpPutResponseHopLimit", field("HttpPutResponseHopLimit", true));
  set("httpProtocolIpv6", field("HttpProtocolIpv6"));
  return options as MetadataOptions;
}

/** An intrinsic CloudFormation would refuse, kept as a value so only the field it sits in is unknown. */
class TemplateErrorValue {
  constructor(readonly message: string) {}
}

/** A value evaluated; an intrinsic CloudFormation would refuse makes only this value unknown. */
function safely(evaluator: CfnEvaluator, raw: unknown, what: string): CfnValue | TemplateErrorValue {
  try {
    return evaluator.evaluate(raw);
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    return new TemplateErrorValue(`${what}: ${error.message}`);
  }
}

/**
 * The properties the audit reads (UserData, MetadataOptions, ImageId), each evaluated on its own;
 * or the whole map when it is itself an intrinsic (`Fn::If` over two launch template datas).
 */
function readProperties(evaluator: CfnEvaluator, raw: unknown, what: string): Record<string, unknown> | DeployTime | TemplateErrorValue {
  if (isRecord(raw) && !isIntrinsic(raw)) {
    const out: Record<string, unknown> = {};
    for (const key of ["UserData", "MetadataOptions", "ImageId"]) if (key in raw) out[key] = safely(evaluator, raw[key], key);
    return out;
  }
  const value = safely(evaluator, raw, what);
  if (value instanceof DeployTime || value instanceof TemplateErrorValue) return value;
  return isRecord(value) ? value : {};
}

function isIntrinsic(raw: Record<string, unknown>): boolean {
  const keys = Object.keys(raw);
  return keys.length === 1 && (keys[0] === "Ref" || keys[0].startsWith("Fn::"));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof DeployTime) && !(value instanceof Base64Of);
}

function wholly(type: string, why: string): LaunchDescription {
  const unknown = { unknown: why };
  return { resourceType: type, userData: unknown, metadataOptions: { httpEndpoint: unknown, httpTokens: unknown, httpPutResponseHopLimit: unknown, httpProtocolIpv6: unknown }, imageId: unknown };
}

/** The line of each logical id under `Resources`, JSON or YAML: where SARIF points. */
export function resourceLines(text: string, logicalIds: readonly string[]): Map<string, number> {
  const lines = new Map<string, number>();
  const section = /^[ \t]*["']?Resources["']?[ \t]*:/m.exec(text);
  const from = section ? section.index : 0;
  const after = text.slice(from);
  for (const id of logicalIds) {
    const escaped = id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const match = new RegExp(`^[ \\t]*(?:\\{[ \\t]*)?["']?${escaped}["']?[ \\t]*:|["']${escaped}["'][ \\t]*:`, "m").exec(after);
    if (match) lines.set(id, text.slice(0, from + match.index).split("\n").length);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// AWS CDK cloud assemblies

interface Artifact {
  readonly type?: string;
  readonly displayName?: string;
  readonly properties?: { readonly templateFile?: string; readonly directoryName?: string };
}

/** Whether a folder is an AWS CDK cloud assembly (its manifest.json lists artifacts). */
export function isCloudAssembly(folder: string): boolean {
  const manifest = join(folder, "manifest.json");
  if (!existsSync(manifest)) return false;
  try {
    return typeof (JSON.parse(readText(manifest)) as { artifacts?: unknown }).artifacts === "object";
  } catch {
    return false;
  }
}

/**
 * Every stack template a cloud assembly names, nested assemblies (stages) included, and the nested
 * stacks' templates each stack deploys.
 */
export function readCloudAssembly(folder: string, parameters?: Readonly<Record<string, string>>, seen = new Set<string>()): FoundResource[] {
  const manifestFile = join(folder, "manifest.json");
  let manifest: { artifacts?: Record<string, Artifact> };
  try {
    manifest = JSON.parse(readText(manifestFile));
  } catch (error) {
    throw new AuditInputError(manifestFile, `not JSON (${(error as Error).message})`);
  }
  const found: FoundResource[] = [];
  for (const artifact of Object.values(manifest.artifacts ?? {})) {
    if (artifact.type === "aws:cloudformation:stack" && artifact.properties?.templateFile) {
      const file = join(folder, artifact.properties.templateFile);
      if (seen.has(file)) continue;
      seen.add(file);
      if (!existsSync(file)) throw new AuditInputError(manifestFile, `names the template ${artifact.properties.templateFile}, which is not in the folder: run cdk synth again`);
      found.push(...readStackWithNested(parseTemplateFile(file), folder, seen, parameters !== undefined ? { parameters } : {}));
    } else if (artifact.type === "cdk:cloud-assembly" && artifact.properties?.directoryName) {
      found.push(...readCloudAssembly(join(folder, artifact.properties.directoryName), parameters, seen));
    }
  }
  return found;
}

/** A stack's rows, then its nested stacks' (found through the assembly's asset manifests). */
function readStackWithNested(parsed: ParsedTemplate, folder: string, seen: Set<string>, options: TemplateReadOptions = {}): FoundResource[] {
  const found = readTemplate(parsed, options);
  const nestedByKey = nestedTemplates(folder);
  for (const [logicalId, resource] of Object.entries((parsed.template.Resources ?? {}) as Record<string, CfnResource>)) {
    if (resource?.Type !== "AWS::CloudFormation::Stack") continue;
    const assetPath = resource.Metadata?.["aws:asset:path"];
    const url = JSON.stringify(resource.Properties?.TemplateURL ?? "");
    const path = typeof assetPath === "string" ? assetPath : [...nestedByKey].find(([key]) => url.includes(key))?.[1];
    if (path === undefined) continue;
    const file = join(folder, path);
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    const given = new Set(Object.keys(isRecord(resource.Properties?.Parameters) ? (resource.Properties?.Parameters as Record<string, unknown>) : {}));
    found.push(...readStackWithNested(parseTemplateFile(file), folder, seen, { givenByParent: given, addressPrefix: `${options.addressPrefix ?? ""}${logicalId}/` }));
  }
  return found;
}

/** Nested stack templates of an assembly folder by the object key their parent's TemplateURL names. */
function nestedTemplates(folder: string): Map<string, string> {
  const byKey = new Map<string, string>();
  for (const name of readdirSync(folder).filter((entry) => entry.endsWith(".assets.json"))) {
    let assets: { files?: Record<string, { source?: { path?: string }; destinations?: Record<string, { objectKey?: string }> }> };
    try {
      assets = JSON.parse(readText(join(folder, name)));
    } catch {
      continue;
    }
    for (const [hash, asset] of Object.entries(assets.files ?? {})) {
      const path = asset.source?.path;
      if (!path || !path.endsWith(".template.json") || basename(path) !== path) continue;
      byKey.set(hash, path);
      for (const destination of Object.values(asset.destinations ?? {})) if (destination.objectKey) byKey.set(destination.objectKey, path);
    }
  }
  return byKey;
}

/**
 * CloudFormation parameter values from `--var NAME=VALUE` (as `aws cloudformation deploy
 * --parameter-overrides` takes them); `--var-file` is Terraform's alone.
 */
export function parameterValues(file: string, variableArguments: ReadonlyArray<{ readonly flag: string; readonly assignment?: string }> = []): Record<string, string> | undefined {
  if (variableArguments.some((argument) => argument.flag === "--var-file")) {
    throw new AuditInputError(file, "--var-file gives Terraform variables; give a CloudFormation template's parameters with --var NAME=VALUE");
  }
  const given = variableArguments.filter((argument) => argument.flag === "--var" && argument.assignment !== undefined);
  if (given.length === 0) return undefined;
  return Object.fromEntries(given.map((argument) => {
    const assignment = argument.assignment as string;
    const at = assignment.indexOf("=");
    return [assignment.slice(0, at), assignment.slice(at + 1)];
  }));
}

/** A folder holding an AWS CDK app's `cdk.out`. */
export function cloudAssemblyIn(folder: string): string | undefined {
  const candidate = join(folder, "cdk.out");
  return isCloudAssembly(candidate) ? candidate : undefined;
}
