/**
 * Cluster names to try against every check of the ECS cluster name rule (1-255 letters, digits,
 * hyphens and underscores): the construct at synth time, the capacity stack's variable validation
 * at plan time. Which of them are bad is for the construct to say; each check must agree with it.
 */
export const CLUSTER_NAME_CANDIDATES: readonly string[] = [
  "prod_1-a",
  "a".repeat(255),
  "",
  "a b",
  "x\ny",
  "$(reboot)",
  "a".repeat(256),
  "ü",
  "a.b",
  "a;reboot",
];
