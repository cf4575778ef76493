/**
 * What the namespace suite needs from the machine: root (namespaces, iptables, mounts, Docker) and
 * the tools it drives. When something is missing the suite is skipped with the reason, except in CI
 * (CI=true), where a missing tool must fail the run instead of hiding the proof (describeWhen).
 */
import { spawnSync } from "node:child_process";

/** Commands the suite runs, with the Debian package that provides each. */
const REQUIRED_COMMANDS: ReadonlyArray<readonly [string, string]> = [
  ["ip", "iproute2"],
  ["iptables", "iptables"],
  ["ip6tables", "iptables"],
  ["iptables-restore", "iptables"],
  ["ip6tables-restore", "iptables"],
  ["iptables-save", "iptables"],
  ["curl", "curl"],
  ["unshare", "util-linux"],
  ["nsenter", "util-linux"],
  ["dockerd", "docker.io"],
  ["containerd", "containerd"],
  ["runc", "runc"],
  ["/usr/bin/docker", "docker.io"],
  ["mount", "mount"],
  ["bash", "bash"],
  ["terraform", "the Terraform CLI, /usr/local/bin/terraform"],
];

/** What the suite lacks here, or null when it can run. */
export function missingPrerequisite(): string | null {
  if (process.platform !== "linux") return `Linux network namespaces (this is ${process.platform})`;
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return `root, for network namespaces, iptables, mounts and dockerd (running as uid ${process.getuid()})`;
  }
  const missing = REQUIRED_COMMANDS.filter(
    ([command]) => spawnSync("bash", ["-c", `command -v ${command}`], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }, timeout: 5_000 }).status !== 0,
  );
  if (missing.length > 0) {
    return `commands ${missing.map(([command, source]) => `${command} (${source.includes(" ") ? source : `Debian package ${source}`})`).join(", ")}`;
  }
  if (spawnSync("ldd", ["/bin/busybox"], { timeout: 5_000 }).status !== 1 || spawnSync("/bin/busybox", ["true"], { timeout: 5_000 }).status !== 0) {
    return "a statically linked /bin/busybox for the containers' image (Debian package busybox-static)";
  }
  const cloudInit = spawnSync("/usr/bin/python3", ["-c", "from cloudinit import user_data"], { timeout: 15_000 });
  if (cloudInit.status !== 0) return "cloud-init's parser for /usr/bin/python3 (Debian package cloud-init)";
  const netns = spawnSync("ip", ["netns", "list"], { timeout: 5_000 });
  if (netns.status !== 0) return `a working ip netns (${netns.stderr?.toString().trim()})`;
  return null;
}
