/**
 * Data sources that only assemble text, evaluated as their providers do: `template_file` and
 * `template_cloudinit_config` (hashicorp/template) and `cloudinit_config` (hashicorp/cloudinit).
 * Their `rendered` is known before apply whenever their arguments are; parts whose content holds a
 * reference keep it marked (U+E000 reference U+E001), never read as text.
 */
import { gzipSync } from "node:zlib";
import { EvalScope, evaluateTemplateString, isEncoded, isOpaque, UNKNOWN_START, unknownMark, Value } from "../evaluate/expression";
import { boundaryProblem, CloudInitConfigPart, DEFAULT_MIME_BOUNDARY, renderCloudInitMime } from "./cloudinit-mime";
import { applySteps, splitReference } from "./reference";
import { nestedBlocks } from "./dynamic";
import { evaluateRaw, opaqueReference } from "./values";

/** The data sources evaluated here. */
export const ASSEMBLED_DATA_TYPES = ["template_file", "cloudinit_config", "template_cloudinit_config"] as const;

/** The attributes of one instance of an assembling data source (`{ rendered }`), or undefined for other types. */
export async function evaluateDataSource(type: string, body: Record<string, unknown>, scope: EvalScope, address: string): Promise<Value | undefined> {
  switch (type) {
    case "template_file":
      return { rendered: await renderTemplateFile(body, scope, address) };
    case "cloudinit_config":
      return { rendered: await renderCloudInitConfig(body, scope, address, true) };
    case "template_cloudinit_config":
      return { rendered: await renderCloudInitConfig(body, scope, address, false) };
    default:
      return undefined;
  }
}

/**
 * `template_file`: `template` is evaluated in the module first (so `$${name}` reaches the provider as
 * `${name}`), then parsed as an HCL template whose only variables are `vars`, each a string.
 */
async function renderTemplateFile(body: Record<string, unknown>, scope: EvalScope, address: string): Promise<Value> {
  if (body.template === undefined) {
    return { opaque: `${address} has no template argument (filename was removed from the provider): nothing the audit can render` };
  }
  const template = await evaluateRaw(body.template, scope);
  if (isOpaque(template)) return template;
  if (typeof template !== "string") return { opaque: `${address}.template is not a string` };
  // Terraform 0.11 wrote `vars { ... }` as a block, which the template provider read as the map.
  const legacyBlock = Array.isArray(body.vars) && body.vars.length === 1 && typeof body.vars[0] === "object" && body.vars[0] !== null && !Array.isArray(body.vars[0]);
  const vars = body.vars === undefined ? {} : await evaluateRaw(legacyBlock ? (body.vars as unknown[])[0] : body.vars, scope);
  const known = vars !== null && typeof vars === "object" && !Array.isArray(vars) && !isOpaque(vars) && !isEncoded(vars) ? (vars as Record<string, Value>) : undefined;
  const resolve = (reference: string): Value | undefined => {
    const split = splitReference(`vars.${reference}`);
    if (!split) return undefined;
    const name = split.root[1];
    if (!known) return unknownMark(`${address} vars (${typeof vars === "object" && isOpaque(vars) ? vars.opaque : "known only at apply time"})`);
    if (!(name in known)) return { opaque: `${address}: the template names ${name}, which vars does not give (the provider fails)` };
    const value = known[name];
    // The provider takes every var as a string.
    const text = typeof value === "number" || typeof value === "boolean" ? String(value) : value;
    return applySteps(text, split.steps);
  };
  return evaluateTemplateString(template, { dir: scope.dir, resolve });
}

/** A part's content as the provider writes it: text, with marks for what is known only at apply time. */
function partText(value: Value): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "";
  if (isOpaque(value)) return unknownMark(opaqueReference(value) ?? value.opaque);
  if (isEncoded(value)) {
    if (value.encodedText.includes(UNKNOWN_START)) return unknownMark("base64 of a value known only at apply time");
    const bytes = Buffer.from(value.encodedText, "utf8");
    return (value.gzip ? gzipSync(bytes) : bytes).toString("base64");
  }
  return unknownMark("a collection used as a part's content");
}

async function optionalText(raw: unknown, scope: EvalScope): Promise<string | undefined> {
  if (raw === undefined || raw === null) return undefined;
  const value = await evaluateRaw(raw, scope);
  return value === null ? undefined : partText(value);
}

async function flag(raw: unknown, scope: EvalScope, name: string, address: string): Promise<boolean | { opaque: string }> {
  if (raw === undefined || raw === null) return true;
  const value = await evaluateRaw(raw, scope);
  if (typeof value === "boolean") return value;
  if (value === "true" || value === "false") return value === "true";
  return { opaque: `${address}.${name} = ${typeof raw === "string" ? raw : JSON.stringify(raw)} is known only at apply time` };
}

/**
 * `cloudinit_config` and `template_cloudinit_config`: the parts in order in one MIME document (see
 * cloudinit-mime.ts), gzipped and base64-encoded by default. `rendered` is then an encoded value:
 * the judge reads its text, as cloud-init does after decoding.
 */
async function renderCloudInitConfig(body: Record<string, unknown>, scope: EvalScope, address: string, hasBoundary: boolean): Promise<Value> {
  const gzip = await flag(body.gzip, scope, "gzip", address);
  const base64 = await flag(body.base64_encode, scope, "base64_encode", address);
  if (typeof gzip !== "boolean") return gzip;
  if (typeof base64 !== "boolean") return base64;
  if (gzip && !base64) return { opaque: `${address}: gzip = true needs base64_encode = true (the provider refuses it)` };
  let boundary = DEFAULT_MIME_BOUNDARY;
  if (hasBoundary && body.boundary !== undefined && body.boundary !== null) {
    const value = await evaluateRaw(body.boundary, scope);
    if (typeof value !== "string" || value.includes(UNKNOWN_START)) return { opaque: `${address}.boundary is known only at apply time` };
    const problem = boundaryProblem(value);
    if (problem) return { opaque: `${address}: the provider refuses the ${problem}` };
    boundary = value;
  }
  const expanded = await nestedBlocks(body, "part", scope);
  if ("unknown" in expanded) return { opaque: `${address}: ${expanded.unknown}` };
  if (expanded.blocks.length === 0) return { opaque: `${address} has no part block (the provider refuses it)` };
  const parts: CloudInitConfigPart[] = [];
  for (const { body: part, scope: partScope } of expanded.blocks) {
    parts.push({
      contentType: await optionalText(part.content_type, partScope),
      content: (await optionalText(part.content, partScope)) ?? "",
      filename: await optionalText(part.filename, partScope),
      mergeType: await optionalText(part.merge_type, partScope),
    });
  }
  const mime = renderCloudInitMime(parts, boundary);
  return base64 ? { encodedText: mime, gzip } : mime;
}
