import { Annotations, App, Aspects, DefaultTokenResolver, IAspect, StringConcat, TerraformResource, TerraformStack, Tokenization } from "cdktf";
import { IConstruct } from "constructs";
import { judge } from "./audit/judge";
import { UNKNOWN_END, UNKNOWN_START } from "./audit/evaluate/expression";
import { ruleIdOf } from "./audit/rules";
import { addSuppressions, suppressionsHeldBy, suppressionsOver } from "./audit/construct-suppressions";
import { COMMENT_KEY, describeSuppression, ImdsSuppression, matchSuppressions, SourcedSuppression } from "./audit/suppressions";
import { AuditNetworkMode, Judgement, Known, LaunchDescription, MetadataOptions, UserDataInput } from "./audit/types";
import { ImdsGuardedLaunchTemplate } from "./imds-guarded-launch-template";

/** Options of the audit Aspect. */
export interface ImdsAuditAspectProps {
  /**
   * Network modes your tasks use; each is judged for every launch resource.
   * @default ["bridge", "awsvpc"]
   */
  readonly networkModes?: readonly AuditNetworkMode[];
  /**
   * Annotation level of a finding not suppressed: `error` fails synth with exit code 1 (`cdktf
   * synth` still writes cdk.tf.json: the exit code is the gate), `warning` prints.
   * @default "error"
   */
  readonly level?: "error" | "warning";
}

const AUDITED_TYPES = new Set(["aws_launch_template", "aws_instance", "aws_launch_configuration"]);

/** Marks an ImdsAuditAspect across copies of this library (instanceof would not). */
const AUDIT_ASPECT = Symbol.for("ecs-imds-guard/ImdsAuditAspect");
/** Where `suppress` keeps a construct's suppressions. */
/** Marks a framework's `App.prototype.synth` once it hands audits on the App to every stack. */
const APP_AUDITS = Symbol.for("ecs-imds-guard/app-audits");

/**
 * Judges every aws_launch_template, aws_instance and aws_launch_configuration in the scope it is
 * added to, including ones ecs-imds-guard did not make, and annotates each network mode whose
 * containers can reach IMDS (open, fragile or unknown) with its rule id, at the level chosen; a
 * finding acknowledged with `ImdsAuditAspect.suppress` is reported as info with its reason:
 * `Aspects.of(app).add(new ImdsAuditAspect({ level: "error" }))`.
 *
 * On the App it audits every stack: cdktf and CDK Terrain run aspects from each stack down and
 * never visit the App's own, so `app.synth()` hands audits added above a stack to the stack.
 */
export class ImdsAuditAspect implements IAspect {
  /**
   * Acknowledges the findings of `construct` and of every launch resource below it, each with a
   * written reason: `{ rule: "ecs-imds-bridge", reason: "..." }` for one mode, no `rule` for
   * every mode. Suppressed findings are still reported (as info, with the reason) but no longer
   * stop synth; a suppression that matches no finding is reported as a warning. They are written
   * into the resources' `//` comment in cdk.tf.json, where `ecs-imds-guard audit` reads them too.
   * Throws when a suppression has no reason or names an unknown rule.
   */
  static suppress(construct: IConstruct, suppressions: readonly ImdsSuppression[]): void {
    addSuppressions(construct, suppressions);
    for (const resource of construct.node.findAll()) if (isAudited(resource)) writeSuppressions(resource);
  }

  private readonly networkModes: readonly AuditNetworkMode[];
  private readonly level: "error" | "warning";
  private readonly judgements = new WeakMap<TerraformResource, Judgement>();

  constructor(props: ImdsAuditAspectProps = {}) {
    this.networkModes = props.networkModes ?? ["bridge", "awsvpc"];
    this.level = props.level ?? "error";
    Object.defineProperty(this, AUDIT_ASPECT, { value: true });
    auditStacksFromAbove();
  }

  visit(node: IConstruct): void {
    if (suppressionsHeldBy(node).length > 0) this.reportStale(node);
    if (!isAudited(node)) return;
    const suppressions = suppressionsOver(node);
    const { byResource } = matchSuppressions([{ address: node.node.path, judgement: this.judgementOf(node), suppressions }], this.networkModes);
    if (suppressions.length > 0) writeSuppressions(node);
    for (const mode of this.networkModes) {
      const judged = this.judgementOf(node).modes[mode];
      if (!judged || judged.verdict === "closed") continue;
      const suppression = byResource[0][mode];
      const finding = `ecs-imds-guard audit (${ruleIdOf(mode)}): ${node.terraformResourceType} ${node.node.path}: ${mode} mode is ${judged.verdict}`;
      if (suppression) {
        Annotations.of(node).addInfo(`${finding}, suppressed: ${suppression.reason} (${describeSuppression(suppression)}). ${judged.reasons.join("; ")}`);
        continue;
      }
      const message = `${finding}: ${judged.reasons.join("; ")}. Fix: ${judged.fix}`;
      if (this.level === "error") Annotations.of(node).addError(message);
      else Annotations.of(node).addWarning(message);
    }
  }

  private judgementOf(resource: TerraformResource): Judgement {
    let judgement = this.judgements.get(resource);
    if (!judgement) {
      judgement = judge(describeResource(resource), { networkModes: this.networkModes });
      this.judgements.set(resource, judgement);
    }
    return judgement;
  }

  /** Warns about each suppression given for `holder` that acknowledges no finding below it. */
  private reportStale(holder: IConstruct): void {
    const resources = holder.node.findAll().filter(isAudited);
    const sourced = suppressionsHeldBy(holder);
    const { unmatched } = matchSuppressions(
      resources.map((resource) => ({ address: resource.node.path, judgement: this.judgementOf(resource), suppressions: sourced })),
      this.networkModes,
    );
    const reported = new Set<SourcedSuppression>();
    for (const { suppression, why } of unmatched) {
      if (reported.has(suppression)) continue;
      reported.add(suppression);
      const wrong = resources.length === 0 ? `no aws_launch_template, aws_instance or aws_launch_configuration at or below ${holder.node.path}` : why;
      Annotations.of(holder).addWarning(`ecs-imds-guard audit: ${describeSuppression(suppression)} matched no finding: ${wrong}`);
    }
  }
}

function isAudited(node: IConstruct): node is TerraformResource {
  return node instanceof TerraformResource && AUDITED_TYPES.has(node.terraformResourceType);
}

/** Puts a resource's suppressions in its `//` comment, where `ecs-imds-guard audit` reads cdk.tf.json's. */
function writeSuppressions(resource: TerraformResource): void {
  const written = suppressionsOver(resource).map(({ rule, reason, declaredAt }) => ({ ...(rule ? { rule } : {}), reason, construct: declaredAt }));
  resource.addOverride(`//.${COMMENT_KEY}.suppressions`, written);
}

/**
 * cdktf 0.20/0.21 and CDK Terrain 0.24 invoke aspects from each stack down (`invokeAspects(stack)`
 * in the stack synthesizer): an aspect on the App, or on a construct that holds stacks, is never
 * visited and an audit there would pass silently. Once per framework copy, `App.prototype.synth`
 * first adds each audit found above a stack to that stack. Other aspects are left as they are.
 */
function auditStacksFromAbove(): void {
  const prototype = App.prototype as unknown as { synth(): void; [APP_AUDITS]?: true };
  if (prototype[APP_AUDITS]) return;
  const synth = prototype.synth;
  Object.defineProperty(prototype, APP_AUDITS, { value: true });
  prototype.synth = function synthWithAudits(this: App): void {
    for (const stack of this.node.findAll().filter((node): node is TerraformStack => TerraformStack.isStack(node))) {
      const onStack = Aspects.of(stack);
      for (const scope of stack.node.scopes.slice(0, -1)) {
        for (const aspect of Aspects.of(scope).all) {
          if ((aspect as unknown as { [AUDIT_ASPECT]?: true })[AUDIT_ASPECT] && !onStack.all.includes(aspect)) onStack.add(aspect);
        }
      }
    }
    synth.call(this);
  };
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
