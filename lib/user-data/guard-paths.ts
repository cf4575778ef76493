/** Where the boothook installs the guard script, which every other piece of the guard runs. */
export const GUARD_SCRIPT_PATH = "/usr/local/libexec/ecs-imds-guard/ensure";
/** Serializes the guard's runs (boothook, ecs.service, the heal timer, iptables.service). */
export const GUARD_LOCK_PATH = "/run/ecs-imds-guard.lock";
/** The heal timer's period: the longest time the block stays open after a flush of the firewall. */
export const HEAL_PERIOD_SECONDS = 30;
/** Systemd units the guard installs. */
export const HEAL_UNIT = "ecs-imds-guard-heal";
export const DROP_IN_NAME = "ecs-imds-guard.conf";
