import { FAIL_CLOSED_FUNCTION } from "./fail-closed";
import { GUARD_SCRIPT_PATH } from "./guard-paths";

/** Where ecs-init reads the agent's settings (after /var/lib/ecs/ecs.config, which it overrides). */
export const ECS_CONFIG_PATH = "/etc/ecs/ecs.config";
const HEREDOC_END = "ECS_IMDS_GUARD_SETTINGS";

/**
 * Shell function `write_settings` of the guard script: leaves the settings as the last lines of
 * ecs.config, where ecs-init (which keeps the last copy of a key) reads them, and removes earlier
 * copies of their keys so that each appears once. The file is replaced, whole, only when it
 * changes. Values are unquoted (ecs-init does not unquote) and come through a quoted heredoc, so
 * the shell never expands them; validation guarantees they hold no newline.
 */
export function renderEcsConfigFunction(settings: ReadonlyArray<readonly [string, string]>): string {
  const keys = settings.map(([key]) => key).join("|");
  const lines = settings.map(([key, value]) => `${key}=${value}`).join("\n");
  return `# write_settings: the guard's settings last in ${ECS_CONFIG_PATH}, one copy of each key.
write_settings() {
  local config=${ECS_CONFIG_PATH} settings staged status
  IFS= read -r -d '' settings <<'${HEREDOC_END}'
${lines}
${HEREDOC_END}
  mkdir -p "\${config%/*}" || fail "could not create \${config%/*}"
  [ -f "$config" ] || : >>"$config" || fail "could not create $config"
  staged=$(mktemp "$config.XXXXXX") || fail "could not stage $config"
  # Drop earlier copies of the keys (ecs-init trims each line, then splits at the first =).
  grep -vE '^[[:space:]]*(${keys})=' "$config" >"$staged"
  status=$?
  [ "$status" -le 1 ] || { rm -f "$staged"; fail "could not read $config"; }
  printf '%s' "$settings" >>"$staged" || { rm -f "$staged"; fail "could not stage $config"; }
  if [ "$(cat "$staged")" = "$(cat "$config")" ]; then
    rm -f "$staged"
  else
    { chmod 0644 "$staged" && mv -f "$staged" "$config"; } || { rm -f "$staged"; fail "could not write $config"; }
    repaired+=("$config")
  fi
  [ "$(tail -n ${settings.length} "$config")" = "$(printf '%s' "$settings")" ] \\
    || fail "$config does not end with the guard's settings"
}`;
}

/**
 * The `text/x-shellscript` part. The guard script that the boothook installed writes the settings
 * (and ecs.service runs it before every start); this part applies it once more in cloud-final, so
 * ecs.config is complete even if nothing starts the agent, whatever order the shell parts run in.
 */
export function renderEcsConfigScript(): string {
  return `#!/bin/bash
# ecs-imds-guard: apply the guard once more in cloud-final. The guard script that the boothook
# installed writes the ECS agent settings to ${ECS_CONFIG_PATH}; ecs.service runs it before every
# start too, so a shell part that starts the agent before this one cannot skip the guard.
set -u

${FAIL_CLOSED_FUNCTION}

[ -x ${GUARD_SCRIPT_PATH} ] || fail "${GUARD_SCRIPT_PATH} is missing (the boothook did not run)"
exec ${GUARD_SCRIPT_PATH}
`;
}
