import { Annotations, DefaultTokenResolver, IAspect, StringConcat, TerraformResource, TerraformStack, Tokenization } from "cdktf";
import { IConstruct } from "constructs";
import { judge } from "./audit/judge";
import { UNKNOWN_END, UNKNOWN_START } from "./audit/evaluate/expression";
import { AuditNetworkMode, Known, LaunchDescription, MetadataOptions, UserDataInput } from "./audit/types";
import { ImdsGuardedLaunchTemplate } from "./imds-guarded-launch-template";

/** Options of the audit Aspect. */
export interface ImdsAuditAspectProps {
  /**
   * Network modes your tasks use; each is judged for every launch resource.
   * @default ["bridge", "awsvpc"]
   */
  readonly networkModes?: readonly AuditNetworkMode[];
  /**
   * Annotation level of a mode that is not closed: `error` stops `cdktf synth`, `warning` prints.
   * @default "error"
   */
  readonly level?: "error" | "warning";
}

const AUDITED_TYPES = new Set(["aws_launch_template", "aws_instance", "aws_launch_configuration"]);

/**
 * Judges every aws_launch_template, aws_instance and aws_launch_configuration in the scope it is
 * added to, including ones ecs-imds-guard did not make, and annotates each network mode whose
 * containers can reach IMDS (open, fragile or unknown) at the level chosen:
 * `Aspects.of(app).add(new ImdsAuditAspect({ level: "error" }))`.
 */
export class ImdsAuditAspect implements IAspect {
  private readonly networkModes: readonly AuditNetworkMode[];
  private readonly level: "error" | "warning";

  constructor(props: ImdsAuditAspectProps = {}) {
    this.networkModes = props.networkModes ?? ["bridge", "awsvpc"];
    this.level = props.level ?? "error";
  }

  visit(node: IConstruct): void {
    if (!(node instanceof TerraformResource) || !AUDITED_TYPES.has(node.terraformResourceType)) return;
    const judgement = judge(describeResource(node), { networkModes: this.networkModes });
    for (const mode of this.networkModes) {
      const judged = judgement.modes[mode];
      if (!judged || judged.verdict === "closed") continue;
      const message = `ecs-imds-guard audit: ${node.terraformResourceType} ${node.node.path}: ${mode} mode is ${judged.verdict}: ${judged.reasons.join("; ")}. Fix: ${judged.fix}`;
      if (this.level === "error") Annotations.of(node).addError(message);
      else Annotations.of(node).addWarning(message);
    }
  }
}

/** The launch description of a resource, from its synthesized attributes. */
function describeResource(resource: TerraformResource): LaunchDescription {
  const stack = TerraformStack.of(resource);
  const synthesized = Tokenization.resolve(resource.toTerraform(), {
    scope: stack,
    preparing: false,
    resolver: new DefaultTokenResolver(new StringConcat()),
  }) as { resource?: Record<string, Record<string, Record<string, unknown>>> };
  const attributes = Object.values(synthesized.resource?.[resource.terraformResourceType] ?? {})[0] ?? {};
  const scope = resource.node.scope;
  let userData: UserDataInput | undefined;
  if (scope instanceof ImdsGuardedLaunchTemplate && scope.launchTemplate === resource) {
    // The guard's own text; a cluster name given as a reference stays a token in it, where the
    // judge reads it as a value known at plan time.
    userData = { text: scope.userData.text.replace(/\$\{TfToken\[[^\]]*\]\}/g, (token) => `${UNKNOWN_START}${token}${UNKNOWN_END}`) };
  } else {
    userData = userDataOf(resource.terraformResourceType, attributes);
  }
  const block = ([] as unknown[]).concat(attributes.metadata_options ?? [])[0] as Record<string, unknown> | undefined;
  const image = attributes.image_id ?? attributes.ami;
  return {
    resourceType: resource.terraformResourceType,
    ...(userData ? { userData } : {}),
    ...(block ? { metadataOptions: metadataOf(block) } : {}),
    ...(typeof image === "string" ? { imageId: literal(image) } : {}),
  };
}

function isExpression(value: string): boolean {
  return value.includes("${");
}

function literal(value: string): Known<string> {
  return isExpression(value) ? { unknown: `${value.slice(0, 120)} is known only at plan or apply time` } : value;
}

function userDataOf(type: string, attributes: Record<string, unknown>): UserDataInput | undefined {
  const base64 = attributes.user_data_base64 ?? (type === "aws_launch_template" ? attributes.user_data : undefined);
  if (typeof base64 === "string") {
    return isExpression(base64) ? { unknown: `user_data is the expression ${base64.slice(0, 120)}` } : { base64 };
  }
  const text = attributes.user_data;
  if (typeof text !== "string") return undefined;
  // Plain-text user data as Terraform reads it: "$${" is a literal "${", any other "${...}" a
  // reference whose value the judge cannot see.
  return {
    text: text.replace(/\$\$\{|\$\{[^}]*\}/g, (match) => (match === "$${" ? "${" : `${UNKNOWN_START}${match}${UNKNOWN_END}`)),
  };
}

function metadataOf(block: Record<string, unknown>): MetadataOptions {
  const field = (value: unknown, numeric = false): Known<string> | Known<number> | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value === "string" && isExpression(value)) return { unknown: `${value} is known only at plan or apply time` };
    return numeric ? Number(value) : String(value);
  };
  const options: Record<string, unknown> = {
    httpEndpoint: field(block.http_endpoint),
    httpTokens: field(block.http_tokens),
    httpPutResponseHopLimit: field(block.http_put_response_hop_limit, true),
    httpProtocolIpv6: field(block.http_protocol_ipv6),
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as MetadataOptions;
}
