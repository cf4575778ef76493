/** The line a console or log reader greps for; also the prefix of every failure message. */
export const FAILURE_PREFIX = "ecs-imds-guard: FAILED:";

/**
 * Shell function shared by the guard's scripts: report the reason on stderr (cloud-init's log, or
 * the journal of the unit that ran it) and the console, then keep the ECS agent down so that no
 * task runs with IMDS open. `--runtime` lasts until the next boot, when the boothook decides again.
 */
export const FAIL_CLOSED_FUNCTION = `fail() {
  local message="${FAILURE_PREFIX} $1; the ECS agent is kept from starting so that no task runs with IMDS open"
  echo "$message" >&2
  { echo "$message" >/dev/console; } 2>/dev/null || true
  systemctl mask --runtime ecs.service >&2 || true
  systemctl stop --no-block ecs.service >&2 || true
  exit 1
}`;
