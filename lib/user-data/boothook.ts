import { FirewallPersistence } from "./types";

/** Instance metadata service addresses a container must not reach. */
export const IMDS_IPV4 = "169.254.169.254/32";
export const IMDS_IPV6 = "fd00:ec2::254/128";

/** What the bridge-mode firewall needs to know. */
export interface FirewallOptions {
  /** Also drop traffic to the IPv6 endpoint. */
  readonly ipv6Imds: boolean;
  /** How the rule is kept across reboots. */
  readonly firewallPersistence: FirewallPersistence;
}

/** The line a console or log reader greps for; also the prefix of every failure message. */
export const FAILURE_PREFIX = "ecs-imds-guard: FAILED:";

/**
 * Shell function shared by the guard's scripts: report the reason on stderr (cloud-init's log) and
 * the console, then keep the ECS agent from starting so that no task runs with IMDS open.
 * `--runtime` lasts until the next boot, when the boothook decides again.
 */
export const FAIL_CLOSED_FUNCTION = `fail() {
  local message="${FAILURE_PREFIX} $1; the ECS agent is kept from starting so that no task runs with IMDS open"
  echo "$message" >&2
  { echo "$message" >/dev/console; } 2>/dev/null || true
  systemctl mask --runtime ecs.service >&2 || true
  systemctl stop --no-block ecs.service >&2 || true
  exit 1
}`;

/**
 * The iptables-restore file of the article's recipe: the DOCKER-USER chain with one DROP rule.
 * With `iptables-services` it becomes /etc/sysconfig/iptables (or ip6tables).
 */
export function renderRulesFile(destination: string): string {
  return ["*filter", ":DOCKER-USER - [0:0]", `-A DOCKER-USER -d ${destination} -j DROP`, "COMMIT", ""].join("\n");
}

/** The `text/cloud-boothook` part that closes bridge mode. Runs on every boot, before Docker. */
export function renderBoothook(options: FirewallOptions): string {
  const body =
    options.firewallPersistence === "iptables-services"
      ? iptablesServicesBody(options.ipv6Imds)
      : reapplyBody(options.ipv6Imds);
  return `#!/bin/bash
# ecs-imds-guard: drop bridge-mode container traffic to the instance metadata service (IMDS).
# cloud-init runs boothooks on every boot, before Docker starts, so every step is idempotent.
# The rule lives in DOCKER-USER: Docker jumps there first from FORWARD and never flushes it.
set -u

${FAIL_CLOSED_FUNCTION}

${body}
`;
}

/** Default persistence: re-apply the rule in place on every boot with the AMI's own iptables. */
function reapplyBody(ipv6Imds: boolean): string {
  const calls = [`ensure_first_drop iptables ${IMDS_IPV4}`];
  if (ipv6Imds) calls.push(`ensure_first_drop ip6tables ${IMDS_IPV6}`);
  return `# ensure_first_drop <iptables|ip6tables> <destination>: leave exactly one DROP rule for the
# destination, first in DOCKER-USER, and FORWARD jumping to DOCKER-USER (Docker re-creates that
# jump on start, replacing ours).
ensure_first_drop() {
  local tool=$1 destination=$2 rules
  local rule="-A DOCKER-USER -d $destination -j DROP"
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found"
  if ! "$tool" -w 30 -S DOCKER-USER >/dev/null 2>&1; then
    "$tool" -w 30 -N DOCKER-USER || fail "$tool could not create the DOCKER-USER chain"
  fi
  "$tool" -w 30 -C FORWARD -j DOCKER-USER 2>/dev/null \\
    || "$tool" -w 30 -I FORWARD 1 -j DOCKER-USER \\
    || fail "$tool could not jump from FORWARD to DOCKER-USER"
  rules=$("$tool" -w 30 -S DOCKER-USER) || fail "$tool could not list DOCKER-USER"
  if [ "$(printf '%s\\n' "$rules" | sed -n 2p)" != "$rule" ] \\
    || [ "$(printf '%s\\n' "$rules" | grep -cxF -- "$rule")" -ne 1 ]; then
    local copies
    copies=$(printf '%s\\n' "$rules" | grep -cxF -- "$rule")
    while [ "$copies" -gt 0 ]; do
      "$tool" -w 30 -D DOCKER-USER -d "$destination" -j DROP || fail "$tool could not remove a misplaced DROP rule for $destination"
      copies=$((copies - 1))
    done
    "$tool" -w 30 -I DOCKER-USER 1 -d "$destination" -j DROP \\
      || fail "$tool could not insert the DROP rule for $destination into DOCKER-USER"
  fi
  verify_drop "$tool" "$destination"
}

${VERIFY_FUNCTION}

${calls.join("\n")}
echo "ecs-imds-guard: container traffic to IMDS is dropped in DOCKER-USER"`;
}

/** Verification shared by both persistence modes: exactly one DROP rule, first in DOCKER-USER. */
const VERIFY_FUNCTION = `# verify_drop <iptables|ip6tables> <destination>: the rule is loaded, once, and first.
verify_drop() {
  local tool=$1 destination=$2 rules
  local rule="-A DOCKER-USER -d $destination -j DROP"
  rules=$("$tool" -w 30 -S DOCKER-USER) || fail "$tool could not list DOCKER-USER to verify the rule"
  [ "$(printf '%s\\n' "$rules" | sed -n 2p)" = "$rule" ] \\
    || fail "$tool: the DROP rule for $destination is not the first rule of DOCKER-USER"
  [ "$(printf '%s\\n' "$rules" | grep -cxF -- "$rule")" -eq 1 ] \\
    || fail "$tool: DOCKER-USER does not hold exactly one DROP rule for $destination"
}`;

/**
 * The article's recipe (AWS knowledge center, for Amazon Linux 2): install iptables-services,
 * write /etc/sysconfig/iptables, enable and start the service; then verify like the default mode.
 */
function iptablesServicesBody(ipv6Imds: boolean): string {
  const families = [{ tool: "iptables", service: "iptables", destination: IMDS_IPV4 }];
  if (ipv6Imds) families.push({ tool: "ip6tables", service: "ip6tables", destination: IMDS_IPV6 });
  const writes = families
    .map(
      ({ service, destination }) => `cat >/etc/sysconfig/${service} <<'ECS_IMDS_GUARD_RULES' || fail "could not write /etc/sysconfig/${service}"
${renderRulesFile(destination)}ECS_IMDS_GUARD_RULES`,
    )
    .join("\n");
  const services = families
    .map(
      ({ service }) =>
        `{ systemctl enable ${service} && systemctl start ${service}; } || fail "could not enable and start ${service}.service"`,
    )
    .join("\n");
  const verifies = families.map(({ tool, destination }) => `verify_drop ${tool} ${destination}`).join("\n");
  return `${VERIFY_FUNCTION}

yum install -y iptables-services || fail "could not install iptables-services (does the subnet reach the package repositories?)"
mkdir -p /etc/sysconfig || fail "could not create /etc/sysconfig"
${writes}
${services}
${verifies}
echo "ecs-imds-guard: container traffic to IMDS is dropped in DOCKER-USER (iptables-services)"`;
}
