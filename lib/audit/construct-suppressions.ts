/**
 * Suppressions held by constructs, for the audit Aspects of both frameworks (cdktf / CDK Terrain
 * and the AWS CDK): `ImdsAuditAspect.suppress` stores them on the construct, and a resource is
 * covered by those of every construct above it. Loads no framework.
 */
import type { IConstruct } from "constructs";
import { checkSuppression, ImdsSuppression, SourcedSuppression } from "./suppressions";

// One symbol for every copy of the package an app loads.
const SUPPRESSIONS = Symbol.for("ecs-imds-guard/suppressions");

/** Checks each suppression (a reason, a known rule) and stores it on the construct; throws naming the field, value and rule. */
export function addSuppressions(construct: IConstruct, suppressions: readonly ImdsSuppression[]): void {
  const checked = suppressions.map((suppression, index) => checkSuppression(suppression, `ImdsAuditAspect.suppress(${construct.node.path || "<app>"})[${index}]`, "refused"));
  const holder = construct as unknown as { [SUPPRESSIONS]?: ImdsSuppression[] };
  if (!Object.prototype.hasOwnProperty.call(holder, SUPPRESSIONS)) Object.defineProperty(holder, SUPPRESSIONS, { value: [], enumerable: false });
  holder[SUPPRESSIONS]!.push(...checked);
}

function ownSuppressions(construct: IConstruct): readonly ImdsSuppression[] {
  return Object.prototype.hasOwnProperty.call(construct, SUPPRESSIONS) ? (construct as unknown as { [SUPPRESSIONS]: ImdsSuppression[] })[SUPPRESSIONS] : [];
}

function sourcedAt(holder: IConstruct, suppression: ImdsSuppression): SourcedSuppression {
  return { ...suppression, source: `ImdsAuditAspect.suppress(${holder.node.path || "<app>"})`, kind: "inSource", declaredAt: holder.node.path };
}

/** The suppressions given to the construct itself, named by where they were given. */
export function suppressionsHeldBy(construct: IConstruct): SourcedSuppression[] {
  return ownSuppressions(construct).map((suppression) => sourcedAt(construct, suppression));
}

/** The suppressions given for a resource and for every construct above it, nearest first. */
export function suppressionsOver(resource: IConstruct): SourcedSuppression[] {
  return [...resource.node.scopes].reverse().flatMap(suppressionsHeldBy);
}
