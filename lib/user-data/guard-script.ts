import { FAIL_CLOSED_FUNCTION } from "./fail-closed";
import { renderEcsConfigFunction } from "./ecs-config";
import { GUARD_LOCK_PATH, HEAL_PERIOD_SECONDS } from "./guard-paths";

/** Instance metadata service addresses a container must not reach. */
export const IMDS_IPV4 = "169.254.169.254/32";
export const IMDS_IPV6 = "fd00:ec2::254/128";

/** What the guard script makes hold. */
export interface GuardScriptOptions {
  /** Drop bridge-mode container traffic to IMDS in DOCKER-USER. */
  readonly bridge: boolean;
  /** Also drop traffic to the IPv6 endpoint (with `bridge`). */
  readonly ipv6Imds: boolean;
  /** Also restore the rules after iptables.service (re)loads /etc/sysconfig/ip(6)tables. */
  readonly iptablesServices: boolean;
  /** The ecs.config lines the guard owns, in file order. */
  readonly settings: ReadonlyArray<readonly [string, string]>;
}

/**
 * The guard script: makes the guard hold now (re-applying what is missing) and verifies it, or
 * fails closed. Every step is idempotent, and a missing rule is inserted before stale copies are
 * removed, so a repair never opens the block.
 */
export function renderGuardScript(options: GuardScriptOptions): string {
  const families: Array<[string, string]> = options.bridge ? [["iptables", IMDS_IPV4]] : [];
  if (options.bridge && options.ipv6Imds) families.push(["ip6tables", IMDS_IPV6]);
  const runners = [
    "by the boothook that installs it, on every boot",
    "by ecs.service before every start (ExecStartPre)",
    ...(options.bridge ? [`every ${HEAL_PERIOD_SECONDS} s by ecs-imds-guard-heal.timer`] : []),
    ...(options.iptablesServices ? ["whenever iptables.service loads or flushes its rules"] : []),
  ];
  return `#!/bin/bash
# ecs-imds-guard: make the guard hold now, or keep the ECS agent down. Idempotent. Run:
${runners.map((runner) => `# - ${runner}`).join("\n")}
set -u

${FAIL_CLOSED_FUNCTION}

exec 9>>${GUARD_LOCK_PATH} || fail "could not open ${GUARD_LOCK_PATH}"
flock -w 60 9 || fail "another run of the guard held ${GUARD_LOCK_PATH} for 60 s"
repaired=()
${families.length > 0 ? `\n${FIREWALL_FUNCTIONS}\n` : ""}
${renderEcsConfigFunction(options.settings)}

${families.map(([tool, destination]) => `ensure_first_drop ${tool} ${destination}`).join("\n")}
write_settings
if [ \${#repaired[@]} -gt 0 ]; then
  echo "ecs-imds-guard: re-applied \${repaired[*]}"
fi
`.replace(/\n{3,}/g, "\n\n");
}

/**
 * Bridge mode: DOCKER-USER exists, FORWARD's first rule jumps there (Docker puts it first and
 * re-creates it on start), and the first rule of DOCKER-USER is the only DROP for the address.
 */
const FIREWALL_FUNCTIONS = `# apply_first_drop <iptables|ip6tables> <destination>: make the block hold.
apply_first_drop() {
  local tool=$1 destination=$2 rules number extra
  local rule="-A DOCKER-USER -d $destination -j DROP"
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found"
  if ! "$tool" -w 30 -S DOCKER-USER >/dev/null 2>&1; then
    "$tool" -w 30 -N DOCKER-USER || fail "$tool could not create the DOCKER-USER chain"
    repaired+=("$tool DOCKER-USER chain")
  fi
  rules=$("$tool" -w 30 -S FORWARD) || fail "$tool could not list FORWARD"
  if [ "$(printf '%s\\n' "$rules" | sed -n 2p)" != "-A FORWARD -j DOCKER-USER" ]; then
    "$tool" -w 30 -I FORWARD 1 -j DOCKER-USER || fail "$tool could not jump from FORWARD to DOCKER-USER"
    repaired+=("$tool FORWARD jump to DOCKER-USER")
  fi
  # Other jumps to DOCKER-USER go (last first, each checked as Docker may be rewriting FORWARD).
  rules=$("$tool" -w 30 -S FORWARD) || fail "$tool could not list FORWARD"
  extra=0
  for number in $(printf '%s\\n' "$rules" | sed 1d | grep -nxF -- "-A FORWARD -j DOCKER-USER" | cut -d: -f1 | sed 1d | sort -rn); do
    [ "$("$tool" -w 30 -S FORWARD "$number" 2>/dev/null)" = "-A FORWARD -j DOCKER-USER" ] \\
      && "$tool" -w 30 -D FORWARD "$number" 2>/dev/null && extra=$((extra + 1))
  done
  [ "$extra" -eq 0 ] || repaired+=("$tool removed $extra other FORWARD jump(s) to DOCKER-USER")
  rules=$("$tool" -w 30 -S DOCKER-USER) || fail "$tool could not list DOCKER-USER"
  if [ "$(printf '%s\\n' "$rules" | sed -n 2p)" != "$rule" ]; then
    "$tool" -w 30 -I DOCKER-USER 1 -d "$destination" -j DROP \\
      || fail "$tool could not insert the DROP rule for $destination into DOCKER-USER"
    repaired+=("$tool DROP rule for $destination")
    rules=$("$tool" -w 30 -S DOCKER-USER) || fail "$tool could not list DOCKER-USER"
  fi
  # Remove later copies of the rule, the last first so that the other rule numbers stay valid.
  for number in $(printf '%s\\n' "$rules" | sed 1d | grep -nxF -- "$rule" | cut -d: -f1 | sed 1d | sort -rn); do
    "$tool" -w 30 -D DOCKER-USER "$number" || fail "$tool could not remove a second DROP rule for $destination"
  done
}

# verify_drop <iptables|ip6tables> <destination>: FORWARD jumps first to DOCKER-USER, whose first
# rule is the only DROP for the destination; otherwise says why in $problem.
verify_drop() {
  local tool=$1 destination=$2 rules
  local rule="-A DOCKER-USER -d $destination -j DROP"
  rules=$("$tool" -w 30 -S FORWARD) || fail "$tool could not list FORWARD to verify the jump"
  [ "$(printf '%s\\n' "$rules" | sed -n 2p)" = "-A FORWARD -j DOCKER-USER" ] \\
    || { problem="$tool: the first rule of FORWARD does not jump to DOCKER-USER"; return 1; }
  rules=$("$tool" -w 30 -S DOCKER-USER) || fail "$tool could not list DOCKER-USER to verify the rule"
  [ "$(printf '%s\\n' "$rules" | sed -n 2p)" = "$rule" ] \\
    || { problem="$tool: the DROP rule for $destination is not the first rule of DOCKER-USER"; return 1; }
  [ "$(printf '%s\\n' "$rules" | grep -cxF -- "$rule")" -eq 1 ] \\
    || { problem="$tool: DOCKER-USER does not hold exactly one DROP rule for $destination"; return 1; }
}

# ensure_first_drop <iptables|ip6tables> <destination>: apply and verify; a Docker (re)start
# rewrites FORWARD for a moment, so try three times, a second apart, before failing closed.
ensure_first_drop() {
  local attempt problem=
  for attempt in 1 2 3; do
    apply_first_drop "$1" "$2"
    verify_drop "$1" "$2" && return 0
    [ "$attempt" -eq 3 ] || sleep 1
  done
  fail "$problem"
}`;
