import { FAIL_CLOSED_FUNCTION } from "./boothook";

/** Where ecs-init reads the agent's settings (after /var/lib/ecs/ecs.config, which it overrides). */
export const ECS_CONFIG_PATH = "/etc/ecs/ecs.config";
const HEREDOC_END = "ECS_IMDS_GUARD_SETTINGS";

/**
 * The `text/x-shellscript` part that writes the ECS agent settings. ecs-init keeps the last copy of
 * a key, so the keys written here are first removed from the file: running the script twice leaves
 * one copy of each. Values are written unquoted (ecs-init does not unquote) through a quoted
 * heredoc, so the shell never expands them; validation guarantees they hold no newline.
 */
export function renderEcsConfigScript(settings: ReadonlyArray<readonly [string, string]>): string {
  const keys = settings.map(([key]) => key).join("|");
  const lines = settings.map(([key, value]) => `${key}=${value}`).join("\n");
  return `#!/bin/bash
# ecs-imds-guard: ECS agent settings. Runs once per instance, before ecs.service starts.
set -Eeuo pipefail

${FAIL_CLOSED_FUNCTION}
trap 'fail "could not write ${ECS_CONFIG_PATH} (line $LINENO)"' ERR

config=${ECS_CONFIG_PATH}
mkdir -p "$(dirname "$config")"
touch "$config"
staged=$(mktemp "$config.XXXXXX")
# Drop earlier copies of the keys written below (ecs-init trims each line, then splits at the first =).
grep -vE '^[[:space:]]*(${keys})=' "$config" >"$staged" || [ $? -eq 1 ]
cat >>"$staged" <<'${HEREDOC_END}'
${lines}
${HEREDOC_END}
chmod 0644 "$staged"
mv -f "$staged" "$config"
echo "ecs-imds-guard: wrote ${settings.length} settings to $config"
`;
}

/**
 * Reads ecs.config the way ecs-init does: split on newlines, trim each line, split at the first
 * `=`, skip lines without one; later keys override earlier ones; values are taken verbatim.
 */
export function readEcsConfig(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    const equals = trimmed.indexOf("=");
    if (equals < 0) continue;
    settings.set(trimmed.slice(0, equals), trimmed.slice(equals + 1));
  }
  return settings;
}
