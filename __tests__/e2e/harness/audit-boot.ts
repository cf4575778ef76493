/**
 * Boots any user data on the emulated instance the way an ECS-optimized AMI does, for comparing
 * the audit's verdicts with the kernel: boothooks on every boot before Docker, shell parts once
 * after Docker in file-name order, iptables.service at boot when enabled. Parts are executed as
 * cloud-init executes them: Python's subprocess, a plain execve, so a part without a usable #!
 * line fails (a shell or glibc's execvp would run it as a script instead).
 */
import { join } from "node:path";
import { EmulatedInstance, httpFrom, IMDS_V4, IMDS_V6, NAMESPACE_PREFIX, NEIGHBOUR_V4, NEIGHBOUR_V6, PartRun } from "./host";
import { CommandResult, mustRun, run } from "./run";
import { SplitUserData } from "./user-data";

const STANDINS = join(__dirname, "audit-standins");
const SYSTEMCTL = join(__dirname, "standins", "systemctl");
const EXEC_AS_CLOUD_INIT = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))";

/** Runs a part file as cloud-init would, with sudo and Amazon Linux's service command available. */
export function runAsCloudInit(host: EmulatedInstance, path: string): Promise<PartRun> {
  return host.runOnInstance(["/bin/sh", "-c", 'PATH="$0:$PATH" exec /usr/bin/python3 -c "$1" "$2"', STANDINS, EXEC_AS_CLOUD_INIT, path]);
}

/** A boot: the first runs the once-per-instance shell parts too; `enabled` collects the units enabled so far. */
export async function bootUserData(host: EmulatedInstance, userData: SplitUserData, first: boolean, enabled: Set<string>): Promise<void> {
  if (first) {
    // Folders an ECS-optimized Amazon Linux AMI ships and Debian does not.
    await host.runOnInstance(["mkdir", "-p", "/etc/sysconfig", "/etc/ecs"]);
  } else {
    await host.reboot();
    // Enabled iptables.service / ip6tables.service load their rules at boot, before cloud-init.
    for (const unit of enabled) await host.runOnInstance([SYSTEMCTL, "start", unit]);
  }
  const record = (run: PartRun) => {
    for (const call of run.calls) {
      const match = /^systemctl (?:.* )?enable (?:.* )?(ip6?tables)(?:\.service)?\b/.exec(call);
      if (match) enabled.add(match[1]);
    }
  };
  for (const part of userData.parts.filter((p) => p.contentType === "text/cloud-boothook" && p.path)) {
    record(await runAsCloudInit(host, part.path as string));
  }
  await host.startDocker();
  if (first) {
    const scripts = userData.parts
      .filter((p) => p.contentType === "text/x-shellscript" && p.path)
      .sort((a, b) => Buffer.compare(Buffer.from(a.filename), Buffer.from(b.filename)));
    for (const part of scripts) record(await runAsCloudInit(host, part.path as string));
  }
}

/** Whether a bridge container gets any answer from IMDS (over IPv6 too when the host has it). */
export async function containerReachesImds(host: EmulatedInstance): Promise<{ reached: boolean; neighbourAnswers: boolean }> {
  const container = host.containers[0];
  const ipv6 = host.options.ipv6;
  // The neighbour first, until it answers (bounded): a container's IPv6 address is unusable for a
  // moment after Docker starts it (duplicate address detection), and an IMDS probe made then would
  // look blocked when nothing blocks it.
  const neighbours = async () => {
    const [n4, n6] = await Promise.all([
      httpFrom(container, { url: `http://${NEIGHBOUR_V4}/latest/meta-data/` }),
      ipv6 ? httpFrom(container, { url: `http://[${NEIGHBOUR_V6}]/latest/meta-data/` }) : Promise.resolve(undefined),
    ]);
    return n4.status !== null && (n6 === undefined || n6.status !== null);
  };
  let neighbourAnswers = await neighbours();
  for (let attempt = 1; !neighbourAnswers && attempt < 5; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    neighbourAnswers = await neighbours();
  }
  const [v4, v6] = await Promise.all([
    httpFrom(container, { url: `http://${IMDS_V4}/latest/meta-data/` }),
    ipv6 ? httpFrom(container, { url: `http://[${IMDS_V6}]/latest/meta-data/` }) : Promise.resolve(undefined),
  ]);
  return { reached: v4.status !== null || (v6 !== undefined && v6.status !== null), neighbourAnswers };
}

/**
 * A bare network namespace for running iptables commands against the real kernel, named like the
 * suite's others (swept if a run crashes). `run` executes a bash script in it.
 */
export async function scratchNamespace(label: string): Promise<{ name: string; run: (script: string) => Promise<CommandResult>; remove: () => Promise<void> }> {
  const name = `${NAMESPACE_PREFIX}${process.pid}-${label}`;
  await mustRun("ip", ["netns", "add", name], { timeoutMs: 10_000 });
  return {
    name,
    run: (script) => run("ip", ["netns", "exec", name, "bash", "-c", script], { timeoutMs: 60_000 }),
    remove: async () => {
      await run("ip", ["netns", "delete", name], { timeoutMs: 10_000 });
    },
  };
}
