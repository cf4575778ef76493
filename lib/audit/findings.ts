/**
 * The audit as a function for a user's own unit tests: the findings a stack's Terraform JSON gives,
 * each with its rule, verdict, reasons and fix, so `expect(...).toEqual([])` fails with them.
 */
import { judge } from "./judge";
import { AuditInputError, readJsonDocument, unresolvedJudgement } from "./read";
import { reaches } from "./report";
import { AuditRuleId, ruleIdOf } from "./rules";
import { describeSuppression, ImdsSuppression, matchSuppressions, SourcedSuppression, checkSuppression } from "./suppressions";
import { AuditNetworkMode, DEFAULT_AUDIT_NETWORK_MODES, Verdict } from "./types";

/** How `imdsAuditFindings` judges. */
export interface ImdsAuditFindingsOptions {
  /**
   * Network modes your tasks use; each is judged for every launch resource.
   * @default ["bridge", "awsvpc"]
   */
  readonly networkModes?: readonly AuditNetworkMode[];
  /**
   * The least bad verdict that is a finding, as the CLI's `--fail-on`: `unknown` (anything not
   * closed, what the Aspect reports), `fragile`, or `open`.
   * @default "unknown"
   */
  readonly failOn?: Exclude<Verdict, "closed">;
  /**
   * Acknowledged findings, each with `resource` (the Terraform address), optional `rule` and a reason,
   * as in a `--suppressions` file. Suppressions made with `ImdsAuditAspect.suppress` count too when
   * the input keeps them (a stack, cdk.tf.json; `Testing.synth` drops every `//` comment).
   * @default none
   */
  readonly suppressions?: readonly ImdsSuppression[];
}

/** One finding: a mode of a resource whose containers can reach IMDS, and why. */
export interface ImdsAuditFinding {
  /** Terraform address: `aws_launch_template.foreign_1A2B3C4D`. */
  readonly resource: string;
  readonly rule: AuditRuleId;
  readonly mode: AuditNetworkMode;
  readonly verdict: Exclude<Verdict, "closed">;
  readonly reasons: readonly string[];
  readonly fix: string;
}

/** What `imdsAuditFindings` reads: Terraform JSON as text or parsed, or a stack (anything with `toTerraform()`). */
export type ImdsAuditInput = string | Record<string, unknown> | { toTerraform(): unknown };

const LABEL = "synthesized.tf.json";

/**
 * The findings of every aws_launch_template, aws_instance and aws_launch_configuration in Terraform
 * JSON (`Testing.synth(stack)`, a cdk.tf.json's content, or the stack itself), not suppressed, at or
 * above `failOn`. In a jest test: `expect(await imdsAuditFindings(Testing.synth(stack))).toEqual([])`
 * fails and prints each finding's reasons and fix. Throws on a suppression that matches no finding,
 * so stale ones surface in the test too.
 */
export async function imdsAuditFindings(input: ImdsAuditInput, options: ImdsAuditFindingsOptions = {}): Promise<ImdsAuditFinding[]> {
  const modes = options.networkModes ?? DEFAULT_AUDIT_NETWORK_MODES;
  const failOn = options.failOn ?? "unknown";
  const external: SourcedSuppression[] = (options.suppressions ?? []).map((suppression, index) => ({
    ...checkSuppression(suppression, `imdsAuditFindings: suppressions[${index}]`, "required"),
    source: "imdsAuditFindings options",
    kind: "external",
  }));
  const found = await readJsonDocument(documentOf(input), LABEL);
  const resources = found.map((resource) => ({
    ...resource,
    judgement: resource.unresolved ? unresolvedJudgement(resource.unresolved, modes) : judge(resource.description, { networkModes: modes }),
  }));
  const { byResource, unmatched } = matchSuppressions(resources, modes, external);
  if (unmatched.length > 0) {
    throw new Error(unmatched.map(({ suppression, why }) => `ecs-imds-guard: ${describeSuppression(suppression)} matched no finding: ${why}`).join("\n"));
  }
  return resources.flatMap((resource, index) =>
    modes.flatMap((mode): ImdsAuditFinding[] => {
      const judged = resource.judgement.modes[mode];
      if (!judged || judged.verdict === "closed" || !reaches(judged.verdict, failOn) || byResource[index][mode]) return [];
      return [{ resource: resource.address, rule: ruleIdOf(mode), mode, verdict: judged.verdict, reasons: judged.reasons, fix: judged.fix }];
    }),
  );
}

function documentOf(input: ImdsAuditInput): Record<string, unknown> {
  let value: unknown = input;
  if (typeof input === "object" && input !== null && typeof (input as { toTerraform?: unknown }).toTerraform === "function") {
    value = (input as { toTerraform(): unknown }).toTerraform();
  }
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch (error) {
      throw new AuditInputError(LABEL, `not JSON (${(error as Error).message}): give Testing.synth(stack), a cdk.tf.json's content or the stack`);
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new AuditInputError(LABEL, "not a JSON object: give Testing.synth(stack), a cdk.tf.json's content or the stack");
  return value as Record<string, unknown>;
}
