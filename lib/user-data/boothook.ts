import { FAIL_CLOSED_FUNCTION } from "./fail-closed";
import { GUARD_SCRIPT_PATH, HEAL_PERIOD_SECONDS, HEAL_UNIT } from "./guard-paths";
import { IMDS_IPV4, IMDS_IPV6, renderGuardScript } from "./guard-script";
import { InstalledFile, renderGuardUnits } from "./systemd-units";
import { FirewallPersistence } from "./types";

export { FAILURE_PREFIX, FAIL_CLOSED_FUNCTION } from "./fail-closed";
export { IMDS_IPV4, IMDS_IPV6 } from "./guard-script";

/** What the boothook installs and applies. */
export interface BoothookOptions {
  /** Bridge mode is guarded: drop container traffic to IMDS in DOCKER-USER. */
  readonly bridge: boolean;
  /** Also drop traffic to the IPv6 endpoint. */
  readonly ipv6Imds: boolean;
  /** How the rule is kept across reboots. */
  readonly firewallPersistence: FirewallPersistence;
  /** The ecs.config lines the guard owns, in file order. */
  readonly settings: ReadonlyArray<readonly [string, string]>;
}

/** Ends every file the boothook writes; no line of a file is this (settings lines hold "="). */
const FILE_END = "ECS_IMDS_GUARD_FILE";

/**
 * The iptables-restore file of the article's recipe: the DOCKER-USER chain with one DROP rule.
 * With `iptables-services` it becomes /etc/sysconfig/iptables (or ip6tables).
 */
export function renderRulesFile(destination: string): string {
  return ["*filter", ":DOCKER-USER - [0:0]", `-A DOCKER-USER -d ${destination} -j DROP`, "COMMIT", ""].join("\n");
}

/** The files the boothook writes: the guard script, its systemd units and, for iptables-services, the rules. */
export function guardFiles(options: BoothookOptions): InstalledFile[] {
  const iptablesServices = options.bridge && options.firewallPersistence === "iptables-services";
  const files: InstalledFile[] = [
    {
      path: GUARD_SCRIPT_PATH,
      mode: "0755",
      content: renderGuardScript({ ...options, iptablesServices }),
    },
    ...renderGuardUnits({ ...options, iptablesServices }),
  ];
  if (iptablesServices) {
    files.push({ path: "/etc/sysconfig/iptables", mode: "0600", content: renderRulesFile(IMDS_IPV4) });
    if (options.ipv6Imds) files.push({ path: "/etc/sysconfig/ip6tables", mode: "0600", content: renderRulesFile(IMDS_IPV6) });
  }
  return files;
}

/**
 * The `text/cloud-boothook` part, present on every Amazon Linux instance. cloud-init runs it on
 * every boot, before Docker and before cloud-final (so before ecs.service). It installs the guard
 * script and the units that run it, then runs it; every step is idempotent.
 */
export function renderBoothook(options: BoothookOptions): string {
  const files = guardFiles(options);
  const iptablesServices = options.bridge && options.firewallPersistence === "iptables-services";
  const services = !iptablesServices ? [] : options.ipv6Imds ? ["iptables", "ip6tables"] : ["iptables"];
  const steps = [
    files.map(installStep).join("\n"),
    ...(iptablesServices
      ? ['yum install -y iptables-services || fail "could not install iptables-services (does the subnet reach the package repositories?)"']
      : []),
    'systemctl daemon-reload || fail "systemctl daemon-reload failed, so ecs.service would start without checking the guard"',
    // --no-block: the boothook runs before sysinit.target, which the service is ordered after;
    // waiting would deadlock the boot. The guard script below and the drop-in hold the rule meanwhile.
    ...services.map(
      (service) =>
        `{ systemctl enable ${service} && systemctl start --no-block ${service}; } || fail "could not enable and start ${service}.service"`,
    ),
    `${GUARD_SCRIPT_PATH} || exit 1`,
    ...(options.bridge
      ? [
          `systemctl start --no-block ${HEAL_UNIT}.timer || fail "could not start ${HEAL_UNIT}.timer, which re-applies the block every ${HEAL_PERIOD_SECONDS} s"`,
        ]
      : []),
    `echo "ecs-imds-guard: the guard holds${options.bridge ? `; container traffic to IMDS is dropped in DOCKER-USER${iptablesServices ? " (iptables-services)" : ""}` : ""}"`,
  ];
  const where = options.bridge
    ? "\n# The rule lives in DOCKER-USER: Docker jumps there first from FORWARD and never flushes it."
    : "";
  return `#!/bin/bash
# ecs-imds-guard: install the guard script and the systemd units that run it, then run it.
# cloud-init runs boothooks on every boot, before Docker starts, so every step is idempotent.${where}
set -u

${FAIL_CLOSED_FUNCTION}

# install_file <path> <mode>: standard input becomes the file, replaced whole.
install_file() {
  local staged
  mkdir -p "\${1%/*}" && staged=$(mktemp "$1.XXXXXX") && cat >"$staged" && chmod "$2" "$staged" && mv -f "$staged" "$1"
}

${steps.join("\n")}
`;
}

/** Writes one file through a quoted heredoc: the shell expands nothing in it. */
function installStep(file: InstalledFile): string {
  if (file.content.split("\n").includes(FILE_END) || !file.content.endsWith("\n")) {
    throw new Error(`${file.path}: content must end with a newline and hold no line "${FILE_END}"`);
  }
  return `install_file ${file.path} ${file.mode} <<'${FILE_END}' || fail "could not write ${file.path}"
${file.content}${FILE_END}`;
}
