/**
 * A real Docker engine (Debian's docker.io: dockerd, containerd, runc) on the emulated instance.
 *
 * containerd and dockerd are direct children of the test process, inside the instance's network
 * namespace, so the firewall layout, docker0, ip_forward and NAT they set up are the instance's and
 * never the machine's. They share one private mount namespace (dockerd mounts each container's root
 * file system, runc must see it) in which /etc and /var are overlays whose upper layers live in the
 * engine's folder (dockerd writes /etc/docker/key.json, containerd /var/lib/containerd) and /run is
 * the instance's run folder (the one the user-data parts see: the xtables lock and /run/containerd
 * are shared as on a real host). Everything else Docker keeps (data root, exec root, sockets, pid
 * file, containerd's root and state) is in the engine's folder. The mount namespace lives as long as
 * containerd, dockerd or a shim does, so the mounts a stopped dockerd leaves (its data root bound on
 * itself, an nsfs per sandbox under its exec root) stay for its next start, as on a host, and go
 * with the engine's end.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CommandResult, mustRun, run } from "./run";

/** Debian's docker.io CLI, never another `docker` found first on PATH. */
export const DOCKER_CLI = "/usr/bin/docker";
/** The image every container of the suite runs: a busybox root file system made by `docker import`. */
export const BUSYBOX_IMAGE = "local/busybox";
const BUSYBOX = "/bin/busybox";
/** Upper bound of a daemon's start (dockerd restores its containers first) and of a graceful stop. */
const DAEMON_TIMEOUT_MS = 45_000;
const COMMAND_TIMEOUT_MS = 30_000;
/** docker0's IPv6 subnet when the instance has IPv6. */
export const DOCKER_SUBNET_V6 = "fd00:d0c::/64";

/** How a running dockerd is stopped: as `systemctl stop docker` does, or by a crash / OOM kill. */
export type StopMode = "graceful" | "killed";

/** What an engine needs to know about the instance it runs on. */
export interface EngineOptions {
  /** The instance's network namespace (a name under /run/netns). */
  readonly netns: string;
  /** The engine's own folder (data root, exec root, sockets, overlays). */
  readonly dir: string;
  /** The instance's /run folder, bound on /run in the engine's mount namespace. */
  readonly runDir: string;
  /** Unique name for the cgroup parent of the containers. */
  readonly name: string;
  /** Whether docker0 gets IPv6 (`--ipv6`). */
  readonly ipv6: boolean;
}

/** A child daemon and the promise of its end. */
interface Daemon {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly log: string;
}

function startDaemon(command: string, args: readonly string[], log: string): Daemon {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  const append = (chunk: Buffer) => writeFileSync(log, chunk, { flag: "a" });
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  child.once("error", (error) => writeFileSync(log, `spawn failed: ${error.message}\n`, { flag: "a" }));
  return { child, exited, log };
}

function running(daemon: Daemon | undefined): boolean {
  return daemon !== undefined && daemon.child.exitCode === null && daemon.child.signalCode === null;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)))]).finally(() => clearTimeout(timer));
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-15).join("\n") : "(no log)";
}

/** Sends a signal to a daemon and waits (bounded) until the test process has reaped it. */
async function stopDaemon(daemon: Daemon, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  if (!running(daemon)) return;
  daemon.child.kill(signal);
  if ((await withTimeout(daemon.exited, DAEMON_TIMEOUT_MS)) === "timeout") {
    daemon.child.kill("SIGKILL");
    if ((await withTimeout(daemon.exited, 10_000)) === "timeout") throw new Error(`${daemon.log}: pid ${daemon.child.pid} survived SIGKILL`);
  }
}

/** Processes whose command line names `needle` (a path unique to one engine): its containerd shims. */
export function processesNaming(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").some((word) => word.includes(needle))) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids.filter((pid) => pid !== process.pid);
}

/** The mounts of the machine's own mount namespace whose mount point lies under `dir`. */
export function hostMountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)));
}

/** cgroup hierarchies (cgroup v1 controllers, or the single v2 one) where dockerd makes the parent. */
function cgroupDirs(name: string): string[] {
  const root = "/sys/fs/cgroup";
  if (existsSync(join(root, "cgroup.controllers"))) return [join(root, name)];
  return readdirSync(root).map((hierarchy) => join(root, hierarchy, name));
}

/** Folders under `dir`, deepest first, `dir` last. */
function foldersDeepestFirst(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const children = readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory());
  return [...children.flatMap((child) => foldersDeepestFirst(join(dir, child.name))), dir];
}

/**
 * Ends every process left in the engine's cgroup parent (containers whose shim was killed keep
 * running) and removes the parent's folders in every hierarchy; bounded.
 */
export async function removeCgroupParent(name: string): Promise<void> {
  for (let round = 0; ; round++) {
    const folders = cgroupDirs(name).flatMap(foldersDeepestFirst);
    const pids = new Set<number>();
    for (const folder of folders) {
      const procs = join(folder, "cgroup.procs");
      if (!existsSync(procs)) continue;
      for (const pid of readFileSync(procs, "utf8").split("\n").filter((line) => /^\d+$/.test(line))) pids.add(Number(pid));
    }
    if (pids.size === 0) {
      // A hierarchy mounted under two names (cpu,cpuacct) lists the same folders twice.
      for (const folder of folders) if (existsSync(folder)) rmdirSync(folder);
      return;
    }
    if (round >= 100) throw new Error(`processes left in cgroup ${name}: ${[...pids].join(", ")}`);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    await delay(100);
  }
}

/** One Docker engine of one emulated instance. */
export class DockerEngine {
  private containerd: Daemon | undefined;
  private dockerd: Daemon | undefined;
  /** Whether the image was imported into this data root (it survives restarts and reboots). */
  private imported = false;
  readonly socket: string;
  readonly containerdSocket: string;
  readonly pidFile: string;
  readonly dataRoot: string;
  readonly execRoot: string;

  constructor(readonly options: EngineOptions) {
    this.socket = join(options.dir, "docker.sock");
    this.containerdSocket = join(options.dir, "containerd.sock");
    this.pidFile = join(options.dir, "docker.pid");
    this.dataRoot = join(options.dir, "data");
    this.execRoot = join(options.dir, "exec");
  }

  /** Whether dockerd is running. */
  get dockerdRunning(): boolean {
    return running(this.dockerd);
  }

  /** The pid of the running dockerd (and of the one a killed start left in the pid file). */
  get dockerdPid(): number | undefined {
    return this.dockerd?.child.pid;
  }

  /** The docker CLI against this engine; throws unless it succeeds. */
  docker(args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
    return mustRun(DOCKER_CLI, ["--host", `unix://${this.socket}`, ...args], { timeoutMs });
  }

  /** The docker CLI, with the result whatever it is. */
  tryDocker(args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
    return run(DOCKER_CLI, ["--host", `unix://${this.socket}`, ...args], { timeoutMs });
  }

  /** Starts containerd (when not running) in its own mount namespace inside the instance's network. */
  private async startContainerd(): Promise<void> {
    if (running(this.containerd)) return;
    const { dir, netns, runDir } = this.options;
    mkdirSync(dir, { recursive: true });
    mkdirSync(runDir, { recursive: true });
    rmSync(this.containerdSocket, { force: true });
    // The overlays and the /run bind exist only in this new mount namespace; exec keeps containerd
    // a direct child of the test process (nsenter and unshare exec too).
    const setup = `set -e
for d in etc var; do
  mkdir -p "$1/disk/$d" "$1/work/$d"
  mount -t overlay "engine-$d" -o "lowerdir=/$d,upperdir=$1/disk/$d,workdir=$1/work/$d" "/$d"
done
mount --bind "$2" /run
shift 2
exec "$@"`;
    const containerd = startDaemon(
      "nsenter",
      [
        `--net=/run/netns/${netns}`, "--", "unshare", "--mount", "--propagation", "private", "--",
        "/bin/sh", "-c", setup, "sh", dir, runDir,
        "containerd", "--address", this.containerdSocket, "--root", join(dir, "containerd-root"), "--state", join(dir, "containerd-state"),
      ],
      join(dir, "containerd.log"),
    );
    this.containerd = containerd;
    const deadline = Date.now() + DAEMON_TIMEOUT_MS;
    while (!existsSync(this.containerdSocket)) {
      if (!running(containerd)) throw new Error(`containerd exited: ${tail(containerd.log)}`);
      if (Date.now() > deadline) throw new Error(`containerd did not listen within ${DAEMON_TIMEOUT_MS} ms: ${tail(containerd.log)}`);
      await delay(50);
    }
  }

  /**
   * Starts dockerd (containerd first when needed) and waits until its API answers. A pid file left
   * by a killed dockerd names a pid the test process has already reaped, so dockerd takes it over.
   */
  async startDockerd(): Promise<void> {
    if (this.dockerdRunning) throw new Error("dockerd is already running");
    await this.startContainerd();
    const containerdPid = this.containerd!.child.pid!;
    const { ipv6, name } = this.options;
    this.dockerd = startDaemon(
      "nsenter",
      [
        "--target", String(containerdPid), "--mount", "--net", "--",
        "dockerd",
        "--host", `unix://${this.socket}`,
        "--containerd", this.containerdSocket,
        "--data-root", this.dataRoot,
        "--exec-root", this.execRoot,
        "--pidfile", this.pidFile,
        "--cgroup-parent", `/${name}`,
        // IPv6 on docker0, routed; no ip6tables rules from Docker, as Docker 25 on AL2023 by default
        // (20.10's experimental --ip6tables never puts the jump to DOCKER-USER first).
        ...(ipv6 ? ["--ipv6", "--fixed-cidr-v6", DOCKER_SUBNET_V6] : []),
      ],
      join(this.options.dir, "dockerd.log"),
    );
    const deadline = Date.now() + DAEMON_TIMEOUT_MS;
    for (;;) {
      if (!this.dockerdRunning) throw new Error(`dockerd exited: ${tail(this.dockerd.log)}`);
      if (existsSync(this.socket) && (await this.tryDocker(["version", "--format", "{{.Server.Version}}"], 5_000)).code === 0) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer within ${DAEMON_TIMEOUT_MS} ms: ${tail(this.dockerd.log)}`);
      await delay(100);
    }
    if (!this.imported) await this.importImage();
  }

  /** Stops dockerd gracefully (SIGTERM: it stops its containers) or kills it (SIGKILL: they go on). */
  async stopDockerd(mode: StopMode): Promise<void> {
    if (this.dockerd === undefined) return;
    await stopDaemon(this.dockerd, mode === "graceful" ? "SIGTERM" : "SIGKILL");
  }

  /** A busybox root file system imported as an image: no registry involved. */
  private async importImage(): Promise<void> {
    const rootfs = join(this.options.dir, "rootfs");
    const tar = join(this.options.dir, "rootfs.tar");
    await mustRun(
      "bash",
      [
        "-c",
        `set -e
rm -rf "$1" && mkdir -p "$1/bin"
cp ${BUSYBOX} "$1/bin/busybox"
for applet in $("$1/bin/busybox" --list); do [ "$applet" = busybox ] || ln -s busybox "$1/bin/$applet"; done
tar -C "$1" -cf "$2" .`,
        "bash",
        rootfs,
        tar,
      ],
      { timeoutMs: COMMAND_TIMEOUT_MS },
    );
    await this.docker(["import", tar, BUSYBOX_IMAGE]);
    rmSync(rootfs, { recursive: true, force: true });
    rmSync(tar, { force: true });
    this.imported = true;
  }

  /**
   * Stops everything (a shutdown): dockerd gracefully, then containerd, then any shim left (after a
   * killed dockerd its containers keep running under their shims); unmounts what dockerd left. The
   * engine's folder stays (the disk) unless `removeState`.
   */
  async stopAll(removeState: boolean): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (step: () => Promise<void> | void) => {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    };
    if (this.dockerd !== undefined) await attempt(() => stopDaemon(this.dockerd!, "SIGTERM"));
    if (running(this.containerd)) {
      // The mounts dockerd left (data root on itself, nsfs under the exec root, containers' roots).
      await attempt(async () => {
        await run(
          "nsenter",
          ["--target", String(this.containerd!.child.pid), "--mount", "--", "sh", "-c",
            `awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done`,
            "sh", this.options.dir],
          { timeoutMs: COMMAND_TIMEOUT_MS },
        );
      });
      await attempt(() => stopDaemon(this.containerd!, "SIGTERM"));
    }
    await attempt(async () => {
      // Shims name the containerd socket on their command line; they outlive containerd.
      for (let round = 0; round < 50; round++) {
        const left = processesNaming(this.containerdSocket);
        if (left.length === 0) return;
        for (const pid of left) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Gone meanwhile.
          }
        }
        await delay(100);
      }
      throw new Error(`containerd shims still running: ${processesNaming(this.containerdSocket).join(", ")}`);
    });
    // Containers whose shim was killed, and their cgroups.
    await attempt(() => removeCgroupParent(this.options.name));
    this.containerd = undefined;
    this.dockerd = undefined;
    if (removeState) rmSync(this.options.dir, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, "the Docker engine did not stop cleanly");
  }
}
