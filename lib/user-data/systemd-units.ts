import { DROP_IN_NAME, GUARD_SCRIPT_PATH, HEAL_PERIOD_SECONDS, HEAL_UNIT } from "./guard-paths";

/** A file the boothook installs. */
export interface InstalledFile {
  /** Absolute path on the instance. */
  readonly path: string;
  /** Octal mode, for example `0644`. */
  readonly mode: string;
  readonly content: string;
}

/** What decides which units the guard installs. */
export interface GuardUnitOptions {
  /** Bridge mode is guarded: its firewall rule can be flushed, so a timer heals it. */
  readonly bridge: boolean;
  /** The rules are loaded by iptables.service (and ip6tables.service with IPv6). */
  readonly iptablesServices: boolean;
  readonly ipv6Imds: boolean;
}

const UNIT_DIR = "/etc/systemd/system";

/**
 * The systemd units of the guard. A drop-in runs the guard script before every start of
 * ecs.service: if the guard cannot hold, the start fails and the agent stays down. With bridge
 * mode, a timer runs it every HEAL_PERIOD_SECONDS; with iptables-services, drop-ins run it after
 * iptables.service (re)loads or flushes its table, which removes Docker's jump to DOCKER-USER.
 * Directives are those of systemd 219 (Amazon Linux 2) and later.
 */
export function renderGuardUnits(options: GuardUnitOptions): InstalledFile[] {
  const files: InstalledFile[] = [
    {
      path: `${UNIT_DIR}/ecs.service.d/${DROP_IN_NAME}`,
      mode: "0644",
      content: `# ecs-imds-guard: the ECS agent starts only when the guard holds; if it cannot, the start fails.
[Service]
ExecStartPre=${GUARD_SCRIPT_PATH}
`,
    },
  ];
  if (!options.bridge) return files;
  files.push(
    {
      path: `${UNIT_DIR}/${HEAL_UNIT}.service`,
      mode: "0644",
      content: `[Unit]
Description=ecs-imds-guard: re-apply the IMDS block, or stop the ECS agent

[Service]
Type=oneshot
ExecStart=${GUARD_SCRIPT_PATH}
`,
    },
    {
      path: `${UNIT_DIR}/${HEAL_UNIT}.timer`,
      mode: "0644",
      content: `# Started by the boothook on every boot.
[Unit]
Description=ecs-imds-guard: re-apply the IMDS block every ${HEAL_PERIOD_SECONDS} s

[Timer]
OnBootSec=${HEAL_PERIOD_SECONDS}s
OnUnitActiveSec=${HEAL_PERIOD_SECONDS}s
AccuracySec=1s
`,
    },
  );
  if (options.iptablesServices) {
    for (const service of options.ipv6Imds ? ["iptables", "ip6tables"] : ["iptables"]) {
      files.push({
        path: `${UNIT_DIR}/${service}.service.d/${DROP_IN_NAME}`,
        mode: "0644",
        content: `# ecs-imds-guard: loading or flushing the saved rules removes Docker's jump to DOCKER-USER; restore it.
[Service]
ExecStartPost=${GUARD_SCRIPT_PATH}
ExecReload=${GUARD_SCRIPT_PATH}
ExecStopPost=${GUARD_SCRIPT_PATH}
`,
      });
    }
  }
  return files;
}
