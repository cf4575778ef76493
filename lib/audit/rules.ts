/**
 * The audit's rules: one per network mode, each with a stable id that every output uses (the
 * Aspect's annotations, the table, JSON, SARIF's `ruleId`) and suppressions name.
 */
import { AUDIT_NETWORK_MODES, AuditNetworkMode } from "./types";

/** A rule's id: `ecs-imds-` and the network mode it judges. */
export type AuditRuleId = `ecs-imds-${AuditNetworkMode}`;

/** What a rule says, for SARIF's rule list and the documentation. */
export interface AuditRule {
  readonly id: AuditRuleId;
  readonly mode: AuditNetworkMode;
  /** PascalCase name, as SARIF's `name`. */
  readonly name: string;
  /** One sentence: what a finding of this rule means. */
  readonly text: string;
}

const TEXT: Readonly<Record<AuditNetworkMode, string>> = {
  bridge: "Bridge-mode containers can reach the instance metadata service",
  awsvpc: "awsvpc-mode tasks can reach the instance metadata service",
  host: "host-mode tasks can reach the instance metadata service",
};

/** Every rule, in report order. */
export const AUDIT_RULES: readonly AuditRule[] = AUDIT_NETWORK_MODES.map((mode) => ({
  id: ruleIdOf(mode),
  mode,
  name: `EcsImds${mode[0].toUpperCase()}${mode.slice(1)}`,
  text: TEXT[mode],
}));

/** The id of the rule that judges `mode`. */
export function ruleIdOf(mode: AuditNetworkMode): AuditRuleId {
  return `ecs-imds-${mode}`;
}

/** The rule with this id, or undefined. */
export function ruleById(id: string): AuditRule | undefined {
  return AUDIT_RULES.find((rule) => rule.id === id);
}
