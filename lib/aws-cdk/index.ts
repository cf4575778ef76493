/**
 * The audit inside an AWS CDK (aws-cdk-lib) app: an Aspect that judges every launch template,
 * launch configuration and instance as `ecs-imds-guard audit cdk.out` judges the synthesized
 * template, and reports findings as annotations. Nothing of cdktf is loaded, nor aws-cdk-lib itself:
 * the constructs are recognized by the markers aws-cdk-lib puts on them, so the copy of aws-cdk-lib
 * the app uses is the one at work, whichever it is.
 */
import type { IConstruct } from "constructs";
import { judge } from "../audit/judge";
import { readTemplate } from "../audit/read/cloudformation";
import { FoundResource } from "../audit/read/found";
import { ruleIdOf } from "../audit/rules";
import { addSuppressions, suppressionsHeldBy, suppressionsOver } from "../audit/construct-suppressions";
import { describeSuppression, ImdsSuppression, matchSuppressions } from "../audit/suppressions";
import { AuditNetworkMode, Judgement } from "../audit/types";

export type { ImdsSuppression } from "../audit/suppressions";
export type { AuditNetworkMode } from "../audit/types";
export type { AuditRuleId } from "../audit/rules";

/** Options of the audit Aspect. */
export interface ImdsAuditAspectProps {
  /**
   * Network modes your tasks use; each is judged for every launch resource.
   * @default ["bridge", "awsvpc"]
   */
  readonly networkModes?: readonly AuditNetworkMode[];
  /**
   * Annotation level of a finding not suppressed: `error` makes `cdk synth` and `cdk deploy` exit 1
   * (the CLI fails on error annotations; `app.synth()` alone still writes cdk.out, with the errors in
   * its manifest), `warning` prints.
   * @default "error"
   */
  readonly level?: "error" | "warning";
}

/** The CloudFormation types judged, as in `ecs-imds-guard audit`. */
const AUDITED_TYPES = new Set(["AWS::EC2::LaunchTemplate", "AWS::AutoScaling::LaunchConfiguration", "AWS::EC2::Instance"]);

/** The marker aws-cdk-lib puts on every template element (what `CfnElement.isCfnElement` reads). */
const CFN_ELEMENT_MARKER = Symbol.for("@aws-cdk/core.CfnElement");
/** The cloud assembly's metadata types of annotations (what `Annotations.of(scope)` writes). */
const ANNOTATION = { info: "aws:cdk:info", warning: "aws:cdk:warning", error: "aws:cdk:error" } as const;
/** Where `suppress` keeps a construct's suppressions (the cdktf Aspect's key: one format). */

/** What of an aws-cdk-lib `Stack` the Aspect uses. */
interface CdkStack extends IConstruct {
  resolve(value: unknown): unknown;
  readonly templateFile: string;
  /** Set on a nested stack. */
  readonly nestedStackResource?: IConstruct;
  /** The template, resolved, as the stack synthesizes it. */
  _toCloudFormation(): { readonly Parameters?: Record<string, unknown> } & Record<string, unknown>;
}

/** What of an aws-cdk-lib `CfnElement` / `CfnResource` the Aspect uses. */
interface CfnElementLike extends IConstruct {
  readonly logicalId: string;
  readonly stack: CdkStack;
  readonly cfnResourceType?: string;
}

/**
 * Judges every `AWS::EC2::LaunchTemplate`, `AWS::AutoScaling::LaunchConfiguration` and
 * `AWS::EC2::Instance` of an aws-cdk-lib app in the scope it is added to, as `ecs-imds-guard audit
 * cdk.out` judges the synthesized template, and annotates each network mode whose containers can
 * reach IMDS (open, fragile or unknown) with its rule id, at the level chosen; a finding
 * acknowledged with `ImdsAuditAspect.suppress` is reported as info with its reason:
 * `Aspects.of(app).add(new ImdsAuditAspect())`.
 *
 * aws-cdk-lib runs the aspects of the App on its stacks and their nested stacks, but not inside a
 * `Stage` (a stage is synthesized on its own, with its own aspects): add it to each Stage as well.
 */
export class ImdsAuditAspect {
  /**
   * Acknowledges the findings of `construct` and of every launch resource below it, each with a
   * written reason: `{ rule: "ecs-imds-bridge", reason: "..." }` for one mode, no `rule` for
   * every mode. Suppressed findings are still reported (as info, with the reason) but no longer
   * fail synth; a suppression that matches no finding is reported as a warning.
   * Throws when a suppression has no reason or names an unknown rule.
   */
  static suppress(construct: IConstruct, suppressions: readonly ImdsSuppression[]): void {
    addSuppressions(construct, suppressions);
  }

  private readonly networkModes: readonly AuditNetworkMode[];
  private readonly level: "error" | "warning";
  /** The launch resources of each stack's template as it synthesizes, read once per stack. */
  private readonly templates = new WeakMap<CdkStack, Map<string, FoundResource>>();
  private readonly judgements = new WeakMap<FoundResource, Judgement>();
  private readonly visited = new WeakSet<IConstruct>();

  constructor(props: ImdsAuditAspectProps = {}) {
    this.networkModes = props.networkModes ?? ["bridge", "awsvpc"];
    this.level = props.level ?? "error";
  }

  /**
   * Marks each launch resource, and each construct given suppressions, to be judged when the tree
   * is validated: after every aspect (those that add launch templates, as `requireImdsv2` does, and
   * the user's own) and after references between stacks are wired, so the template judged is the
   * one cdk.out gets, and nothing is resolved before the app has finished changing it.
   */
  visit(node: IConstruct): void {
    const holdsSuppressions = suppressionsHeldBy(node).length > 0;
    const audited = isAudited(node);
    if ((!holdsSuppressions && !audited) || this.visited.has(node)) return;
    this.visited.add(node);
    node.node.addValidation({
      validate: () => {
        if (holdsSuppressions) this.reportStale(node);
        if (audited) this.report(node);
        // Findings are annotations, which `cdk synth` reports and fails on; a validation error
        // would stop synth before cdk.out is written.
        return [];
      },
    });
  }

  private report(node: CfnElementLike): void {
    const { logicalId, judgement } = this.judgementOf(node);
    const suppressions = suppressionsOver(node);
    const { byResource } = matchSuppressions([{ address: node.node.path, judgement, suppressions }], this.networkModes);
    for (const mode of this.networkModes) {
      const judged = judgement.modes[mode];
      if (!judged || judged.verdict === "closed") continue;
      const suppression = byResource[0][mode];
      const finding = `ecs-imds-guard audit (${ruleIdOf(mode)}): ${node.cfnResourceType} ${node.node.path} (${logicalId}): ${mode} mode is ${judged.verdict}`;
      if (suppression) {
        annotate(node, "info", `${finding}, suppressed: ${suppression.reason} (${describeSuppression(suppression)}). ${judged.reasons.join("; ")}`);
        continue;
      }
      annotate(node, this.level, `${finding}: ${judged.reasons.join("; ")}. Fix: ${judged.fix}`);
    }
  }

  /** The judgement of a resource, read from its stack's template as `ecs-imds-guard audit cdk.out` reads it. */
  private judgementOf(resource: CfnElementLike): { readonly logicalId: string; readonly judgement: Judgement } {
    const stack = resource.stack;
    let rows = this.templates.get(stack);
    if (!rows) {
      const template = stack._toCloudFormation();
      // A nested stack's parameters are set by its parent, as the audit of cdk.out reads them.
      const givenByParent = stack.nestedStackResource ? new Set(Object.keys(template.Parameters ?? {})) : undefined;
      rows = new Map(readTemplate({ file: stack.templateFile, text: "", template }, { ...(givenByParent ? { givenByParent } : {}) }).map((row) => [row.address, row]));
      this.templates.set(stack, rows);
    }
    const logicalId = stack.resolve(resource.logicalId) as string;
    const found = rows.get(logicalId);
    if (!found) throw new Error(`ecs-imds-guard audit: ${resource.node.path} (${logicalId}) is not in the template of ${stack.node.path}`);
    let judgement = this.judgements.get(found);
    if (!judgement) {
      judgement = judge(found.description, { networkModes: this.networkModes });
      this.judgements.set(found, judgement);
    }
    return { logicalId, judgement };
  }

  /** Warns about each suppression given for `holder` that acknowledges no finding below it. */
  private reportStale(holder: IConstruct): void {
    const resources = holder.node.findAll().filter(isAudited);
    const sourced = suppressionsHeldBy(holder);
    const { unmatched } = matchSuppressions(
      resources.map((resource) => ({ address: resource.node.path, judgement: this.judgementOf(resource).judgement, suppressions: sourced })),
      this.networkModes,
    );
    for (const { suppression, why } of unmatched) {
      const wrong = resources.length === 0 ? `no AWS::EC2::LaunchTemplate, AWS::AutoScaling::LaunchConfiguration or AWS::EC2::Instance at or below ${holder.node.path || "<app>"}` : why;
      annotate(holder, "warning", `ecs-imds-guard audit: ${describeSuppression(suppression)} matched no finding: ${wrong}`);
    }
  }
}

function isCfnElement(node: IConstruct): node is CfnElementLike {
  return CFN_ELEMENT_MARKER in node;
}

function isAudited(node: IConstruct): node is CfnElementLike {
  return isCfnElement(node) && AUDITED_TYPES.has(node.cfnResourceType ?? "");
}

function annotate(scope: IConstruct, level: keyof typeof ANNOTATION, message: string): void {
  // As `Annotations.of(scope)` does: a message is recorded once per construct.
  if (scope.node.metadata.some((entry) => entry.type === ANNOTATION[level] && entry.data === message)) return;
  scope.node.addMetadata(ANNOTATION[level], message);
}

