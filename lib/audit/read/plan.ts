/** `terraform show -json` of a saved plan: planned values, with child modules and instance keys. */
import { Known, LaunchDescription, MetadataOptions, UserDataInput } from "../types";
import { AuditInputError, FoundResource, LAUNCH_RESOURCE_TYPES } from "./found";

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
