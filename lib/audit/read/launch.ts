/** One launch resource instance (template, instance, launch configuration) as the judge reads it. */
import { gzipSync } from "node:zlib";
import { EvalScope, isEncoded, isOpaque, UNKNOWN_START, Value } from "../evaluate/expression";
import { Known, LaunchDescription, MetadataOptions, UserDataInput } from "../types";
import { expressionText } from "./instances";
import { nestedBlocks } from "./dynamic";
import { describeUnknowns, evaluateRaw, isTemplate, opaqueReference, wholeReference } from "./values";

/** Reads user data, metadata options and image of one instance of a launch resource. */
export async function describeLaunch(
  type: string,
  attributes: Record<string, unknown>,
  scope: EvalScope,
  explain: (reference: string) => string,
  imageSourceOf: (raw: string, waitsFor: string | undefined) => Promise<string | undefined> = async () => undefined,
): Promise<LaunchDescription> {
  const metadataOptions = await metadataOptionsOf(attributes, scope);
  const image = attributes.image_id ?? attributes.ami;
  const userData = await userDataOf(type, attributes, scope, explain);
  const read = typeof image === "string" ? await imageOf(image, scope) : undefined;
  const imageId = read?.imageId;
  const imageSource = typeof image === "string" && read !== undefined && typeof read.imageId === "object" ? await imageSourceOf(image, read.waitsFor) : undefined;
  return {
    resourceType: type,
    ...(userData !== undefined ? { userData } : {}),
    ...(metadataOptions ? { metadataOptions } : {}),
    ...(imageId !== undefined ? { imageId } : {}),
    ...(imageSource !== undefined ? { imageSource } : {}),
  };
}

/**
 * The `metadata_options` block, static or from a `dynamic` block; when a dynamic block's for_each is
 * known only at apply time, whether the block exists is too: every field is unknown, naming it.
 */
async function metadataOptionsOf(attributes: Record<string, unknown>, scope: EvalScope): Promise<MetadataOptions | undefined> {
  const expanded = await nestedBlocks(attributes, "metadata_options", scope);
  if ("unknown" in expanded) {
    const unknown = { unknown: expanded.unknown };
    return { httpEndpoint: unknown, httpTokens: unknown, httpPutResponseHopLimit: unknown, httpProtocolIpv6: unknown };
  }
  const block = expanded.blocks[0];
  if (!block) return undefined;
  return {
    ...(await field("httpEndpoint", block.body.http_endpoint, block.scope)),
    ...(await field("httpTokens", block.body.http_tokens, block.scope)),
    ...(await field("httpPutResponseHopLimit", block.body.http_put_response_hop_limit, block.scope, true)),
    ...(await field("httpProtocolIpv6", block.body.http_protocol_ipv6, block.scope)),
  } as MetadataOptions;
}

async function userDataOf(type: string, attributes: Record<string, unknown>, scope: EvalScope, explain: (reference: string) => string): Promise<UserDataInput | undefined> {
  const base64Field = attributes.user_data_base64 !== undefined && attributes.user_data_base64 !== null;
  const raw = base64Field ? attributes.user_data_base64 : attributes.user_data;
  if (raw === undefined || raw === null) return undefined;
  // A launch template's user_data is base64; an instance's and launch configuration's is text.
  const base64 = base64Field || type === "aws_launch_template";
  if (typeof raw !== "string") return { unknown: `user_data is a ${typeof raw}, not text` };
  if (!isTemplate(raw)) return base64 ? { base64: raw } : userDataSentFromText(raw);
  let value: Value;
  try {
    value = await evaluateRaw(raw, scope);
  } catch (error) {
    return { unknown: `${expressionText(raw).slice(0, 80)}: ${(error as Error).message}` };
  }
  return userDataFromValue(value, base64, explain);
}

// Go's base64.StdEncoding, which the AWS provider decodes with: padded, no URL alphabet.
const GO_STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * What the instance gets from the text of an `aws_instance` or `aws_launch_configuration`
 * `user_data`: the AWS provider (verify.Base64Encode) sends text that Go's base64 decoder accepts
 * (it skips line breaks) as is, taking it for already encoded, so EC2 decodes it; any other text
 * is encoded, so the instance gets the text itself.
 */
export function userDataSentFromText(text: string): UserDataInput {
  const joined = text.replace(/[\r\n]/g, "");
  return joined !== "" && GO_STD_BASE64.test(joined) ? { bytes: Buffer.from(joined, "base64") } : { text };
}

/**
 * User data from its evaluated value. Text that is wholly one reference is unknown, naming it;
 * text with references inside is handed on as text with its marks (never encoded), per the contract.
 */
export function userDataFromValue(value: Value, base64: boolean, explain: (reference: string) => string): UserDataInput | undefined {
  if (value === null) return undefined;
  if (isOpaque(value)) {
    const reference = opaqueReference(value);
    return { unknown: reference !== undefined ? explain(reference) : value.opaque };
  }
  if (isEncoded(value)) {
    const whole = wholeReference(value.encodedText);
    if (whole !== undefined) return { unknown: explain(whole) };
    if (value.encodedText.includes(UNKNOWN_START)) return { text: value.encodedText };
    return value.gzip ? { bytes: gzipSync(Buffer.from(value.encodedText, "utf8")) } : { text: value.encodedText };
  }
  if (typeof value !== "string") return { unknown: `user_data evaluates to a ${Array.isArray(value) ? "list" : typeof value}, not text` };
  const whole = wholeReference(value);
  if (whole !== undefined) return { unknown: explain(whole) };
  if (!base64) return userDataSentFromText(value);
  if (value.includes(UNKNOWN_START)) return { unknown: `the base64 user data holds values known only at apply time (${describeUnknowns(value)})` };
  return { base64: value };
}

async function field(name: keyof MetadataOptions, raw: unknown, scope: EvalScope, numeric = false): Promise<Partial<Record<keyof MetadataOptions, Known<string | number>>>> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw === "string" && isTemplate(raw)) {
    let value: Value;
    try {
      value = await evaluateRaw(raw, scope);
    } catch (error) {
      return { [name]: { unknown: `${expressionText(raw)}: ${(error as Error).message}` } };
    }
    if (value === null) return {};
    if (typeof value === "number") return { [name]: numeric ? value : String(value) };
    if (typeof value === "boolean") return { [name]: String(value) };
    if (typeof value === "string" && !value.includes(UNKNOWN_START)) return { [name]: numeric ? Number(value) : value };
    const why = typeof value === "string" ? describeUnknowns(value) : isOpaque(value) ? value.opaque : "";
    return { [name]: { unknown: `${expressionText(raw)} is known only at apply time${why ? ` (${why})` : ""}` } };
  }
  if (numeric) return { [name]: typeof raw === "number" ? raw : Number(raw) };
  return { [name]: String(raw) };
}

/**
 * The image, and when it is known only at plan time the one reference it waits for, as Terraform
 * evaluates it: through locals, conditionals, an index into a counted data source and functions
 * such as jsondecode() (`jsondecode(data.aws_ssm_parameter.ecs[0].insecure_value).image_id` waits
 * for `data.aws_ssm_parameter.ecs[0].insecure_value`).
 */
export async function imageOf(raw: string, scope: EvalScope): Promise<{ readonly imageId: Known<string>; readonly waitsFor?: string }> {
  if (!isTemplate(raw)) return { imageId: raw };
  const value = await evaluateRaw(raw, scope).catch(() => undefined);
  if (typeof value === "string" && !value.includes(UNKNOWN_START)) return { imageId: value };
  const waitsFor = opaqueReference(value) ?? (typeof value === "string" ? wholeReference(value) : undefined);
  return { imageId: { unknown: raw }, ...(waitsFor !== undefined ? { waitsFor } : {}) };
}
