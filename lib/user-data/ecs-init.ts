// How ecs-init and the ECS agent (Go) read /etc/ecs/ecs.config: the one definition the renderer's
// checks, its tests and the audit use.

/**
 * Go's unicode.IsSpace (Unicode White_Space) as a regular-expression class body, what
 * strings.TrimSpace strips in ecs-init and the agent. JavaScript's trim() differs: it also strips
 * U+FEFF and keeps U+0085.
 */
export const GO_SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const LEADING = new RegExp(`^[${GO_SPACE}]+`);
const TRAILING = new RegExp(`[${GO_SPACE}]+$`);

/** Go's strings.TrimSpace. */
export function goTrimSpace(text: string): string {
  return text.replace(LEADING, "").replace(TRAILING, "");
}

/** Go's strconv.ParseBool: the value, or undefined when Go would return an error. */
export function goParseBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

/**
 * ecs.config as ecs-init reads it: the file trimmed and split on newlines, each line trimmed and
 * split at the first `=`, lines without one skipped, the last copy of a key kept, values verbatim
 * (quotes stay).
 */
export function readEcsConfig(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of goTrimSpace(text).split("\n")) {
    const trimmed = goTrimSpace(line);
    const equals = trimmed.indexOf("=");
    if (equals < 0) continue;
    settings.set(trimmed.slice(0, equals), trimmed.slice(equals + 1));
  }
  return settings;
}

/**
 * What the agent makes of a boolean setting: its value trimmed (Go TrimSpace) and parsed with
 * strconv.ParseBool; anything unparseable counts as unset, which is false for ECS_AWSVPC_BLOCK_IMDS.
 */
export function agentBoolean(value: string | undefined): boolean {
  return value === undefined ? false : (goParseBool(goTrimSpace(value)) ?? false);
}
