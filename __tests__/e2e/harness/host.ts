/**
 * An emulated ECS container instance built from network namespaces, with no link into the
 * machine's own network namespace, running a real Docker engine (engine.ts):
 *
 *   container N (docker run)   instance ns                          metadata ns
 *   eth0 172.17.0.N+1  ──veth── docker0 172.17.0.1 (dockerd's)
 *        fd00:d0c::…            eth0 10.0.0.10, fd00:10::10  ──veth── uplink 10.0.0.1, fd00:10::1
 *                               lo: task-credentials server          lo: 169.254.169.254, fd00:ec2::254
 *                                   127.0.0.1:51679                      IMDS emulation on port 80
 *                               containerd, dockerd
 *
 * dockerd makes docker0, the veths, ip_forward, its FORWARD rules and the NAT, as on EC2; each
 * container's network namespace is given a name (`ip netns attach`) so probes can enter it. The
 * metadata namespace rewrites the TTL / hop limit of IMDSv2 token responses to the launch
 * template's `http_put_response_hop_limit`.
 */
import { ChildProcess, spawn } from "node:child_process";
import { createServer, Server } from "node:http";
import { randomBytes } from "node:crypto";
import { transformFileSync } from "@swc/core";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ECS_INIT_SCRIPT, freshKernelFirewallScript } from "./docker";
import { BUSYBOX_IMAGE, DOCKER_SUBNET_V6, DockerEngine, removeCgroupParent, StopMode } from "./engine";
import { CommandResult, mustRun, run } from "./run";

/** Every namespace of the suite starts with this, followed by the pid of the run that made it. */
export const NAMESPACE_PREFIX = "imdsguard-e2e-";
const HARNESS_DIR = __dirname;
const PROJECT_ROOT = resolve(HARNESS_DIR, "..", "..", "..");
/** The recording systemctl; run it through `runOnInstance` to act as systemd would. */
export const STANDIN_SYSTEMCTL = join(HARNESS_DIR, "standins", "systemctl");
/** Upper bound of one namespace or firewall command. */
const COMMAND_TIMEOUT_MS = 10_000;
/** Upper bound of a server's start-up. */
const SERVER_START_TIMEOUT_MS = 15_000;
/** Upper bound of one user-data part run. */
const PART_TIMEOUT_MS = 60_000;
/** Address plan. */
export const IMDS_V4 = "169.254.169.254";
export const IMDS_V6 = "fd00:ec2::254";
export const TASK_CREDENTIALS_ADDRESS = "169.254.170.2";
const INSTANCE_UPLINK = { v4: "10.0.0.10/24", v6: "fd00:10::10/64" };
/** The metadata namespace's end of the uplink: the instance's gateway, and a control endpoint. */
export const NEIGHBOUR_V4 = "10.0.0.1";
export const NEIGHBOUR_V6 = "fd00:10::1";
const METADATA_UPLINK = { v4: `${NEIGHBOUR_V4}/24`, v6: `${NEIGHBOUR_V6}/64` };
/** How long a container may take to run again after dockerd started, and its IPv6 address to settle. */
const CONTAINER_TIMEOUT_MS = 30_000;

/** How the emulated host is built. */
export interface InstanceOptions {
  /** Short label in the namespace names (letters and digits). */
  readonly label: string;
  /** The launch template's `http_tokens`. */
  readonly httpTokens: "required" | "optional";
  /** The launch template's `http_put_response_hop_limit`. */
  readonly hopLimit: number;
  /** Whether the IMDS IPv6 endpoint exists (`http_protocol_ipv6`) and docker0 has IPv6. */
  readonly ipv6: boolean;
  /** How many bridge containers Docker runs (`--restart always`, so they come back with dockerd). */
  readonly containers: number;
}

/** An HTTP exchange seen from a client: `status` is null when no answer arrived. */
export interface HttpOutcome {
  readonly status: number | null;
  readonly body: string;
  readonly detail: string;
}

/** One HTTP request sent with curl from inside a namespace. */
export interface HttpRequest {
  readonly url: string;
  readonly method?: "GET" | "PUT";
  readonly headers?: Readonly<Record<string, string>>;
}

/** One start of the ECS agent, with what it would read at that moment. */
export interface AgentStart {
  /** /etc/ecs/ecs.config, if present. */
  readonly etcEcsConfig: string | undefined;
  /** /var/lib/ecs/ecs.config, if present (ecs-init reads it first). */
  readonly varLibEcsConfig: string | undefined;
  /** iptables-save and ip6tables-save output. */
  readonly iptablesSave: string;
  readonly ip6tablesSave: string;
}

/** Result of running a user-data part on the instance. */
export interface PartRun extends CommandResult {
  /** Lines the recording stand-ins wrote (systemctl, yum, dnf, failing iptables). */
  readonly calls: readonly string[];
  /** What the part wrote to /dev/console. */
  readonly console: string;
}

let sequence = 0;

function uniqueRunId(): string {
  return `${process.pid}-${randomBytes(3).toString("hex")}`;
}

async function ipNetnsList(): Promise<string[]> {
  const { stdout } = await mustRun("ip", ["netns", "list"], { timeoutMs: COMMAND_TIMEOUT_MS });
  return stdout
    .split("\n")
    .map((line) => line.split(" ")[0])
    .filter((name) => name.length > 0);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Kills what still runs in a namespace of this suite and deletes it. */
async function removeNamespace(name: string): Promise<void> {
  const pids = await run("ip", ["netns", "pids", name], { timeoutMs: COMMAND_TIMEOUT_MS });
  for (const pid of pids.stdout.split("\n").filter((line) => /^\d+$/.test(line))) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await run("ip", ["netns", "delete", name], { timeoutMs: COMMAND_TIMEOUT_MS });
}

/**
 * Deletes namespaces left by earlier runs of this suite that crashed: their names carry the pid of
 * a process that no longer exists. Live runs (other jest workers) are left alone.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const stale = (await ipNetnsList()).filter((name) => {
    const match = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)-`).exec(name);
    return match !== null && !processAlive(Number(match[1]));
  });
  for (const name of stale) await removeNamespace(name);
  // The cgroup parents their Docker engines made, once the processes in the namespaces are gone.
  for (const name of staleCgroupParents()) await removeCgroupParent(name);
  return stale;
}

/** cgroup parents (any hierarchy) named after a run whose process no longer exists. */
function staleCgroupParents(): string[] {
  const names = new Set<string>();
  for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
    const dir = join("/sys/fs/cgroup", hierarchy);
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const entry of [hierarchy, ...entries]) {
      const match = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)-`).exec(entry);
      if (match !== null && !processAlive(Number(match[1]))) names.add(entry);
    }
  }
  return [...names];
}

/** Sends one HTTP request with curl from a namespace; bounded by curl's own limits and a kill timer. */
export async function httpFrom(namespace: string, request: HttpRequest): Promise<HttpOutcome> {
  const args = ["netns", "exec", namespace, "curl", "-sS", "-g", "--noproxy", "*", "--connect-timeout", "1", "--max-time", "2"];
  args.push("-X", request.method ?? "GET", "-o", "-", "-w", "\n%{http_code}");
  for (const [name, value] of Object.entries(request.headers ?? {})) args.push("-H", `${name}: ${value}`);
  args.push(request.url);
  const result = await run("ip", args, { timeoutMs: 5_000 });
  const lines = result.stdout.split("\n");
  const code = Number(lines.pop());
  const status = Number.isInteger(code) && code > 0 ? code : null;
  return { status, body: lines.join("\n"), detail: `curl exit ${result.code}: ${result.stderr.trim()}` };
}

/** An emulated ECS container instance. Create with `EmulatedInstance.create`, end with `teardown`. */
export class EmulatedInstance {
  readonly instance: string;
  readonly metadata: string;
  readonly containers: readonly string[];
  /** The instance's disk (overlay upper layers), console file and stand-in call log. */
  readonly stateDir: string;
  /** The instance's Docker engine: started by `startDocker`, stopped by `reboot` and `teardown`. */
  readonly engine: DockerEngine;
  private readonly servers: ChildProcess[] = [];
  private control: Server | undefined;
  private readonly namespaces: string[] = [];

  private constructor(readonly options: InstanceOptions) {
    const base = `${NAMESPACE_PREFIX}${uniqueRunId()}-${options.label}${sequence++}`;
    this.instance = `${base}-inst`;
    this.metadata = `${base}-meta`;
    this.containers = Array.from({ length: options.containers }, (_, index) => `${base}-c${index + 1}`);
    this.stateDir = mkdtempSync(join(tmpdir(), `${NAMESPACE_PREFIX}${options.label}-`));
    this.engine = new DockerEngine({ netns: this.instance, dir: join(this.stateDir, "docker"), runDir: join(this.stateDir, "run"), name: base, ipv6: options.ipv6 });
  }

  /** Builds the namespaces, links, addresses and servers. Tears down what it made if a step fails. */
  static async create(options: InstanceOptions): Promise<EmulatedInstance> {
    const host = new EmulatedInstance(options);
    try {
      await host.build();
      await host.bootSystemd();
    } catch (error) {
      await host.teardown();
      throw error;
    }
    return host;
  }

  private ip(...args: string[]): Promise<CommandResult> {
    return mustRun("ip", args, { timeoutMs: COMMAND_TIMEOUT_MS });
  }

  /** Runs a bash script in a namespace and throws if it fails. */
  inNamespace(namespace: string, script: string): Promise<CommandResult> {
    return mustRun("ip", ["netns", "exec", namespace, "bash", "-c", script], { timeoutMs: COMMAND_TIMEOUT_MS });
  }

  private async build(): Promise<void> {
    const { ipv6 } = this.options;
    for (const namespace of [this.metadata, this.instance]) {
      await this.ip("netns", "add", namespace);
      this.namespaces.push(namespace);
    }
    // Links are created inside the namespaces directly: nothing ever appears in the initial one.
    await this.ip("-n", this.instance, "link", "add", "eth0", "type", "veth", "peer", "name", "uplink", "netns", this.metadata);
    const nodad = ipv6 ? "nodad" : "";
    await this.inNamespace(
      this.metadata,
      `set -e
sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null || true
ip link set lo up
ip addr add ${IMDS_V4}/32 dev lo
ip addr add ${METADATA_UPLINK.v4} dev uplink
${ipv6 ? `ip -6 addr add ${IMDS_V6}/128 dev lo\nip -6 addr add ${METADATA_UPLINK.v6} dev uplink ${nodad}` : ""}
ip link set uplink up
# Docker routes docker0's IPv6 subnet without NAT: the way back goes through the instance.
${ipv6 ? `ip -6 route add ${DOCKER_SUBNET_V6} via ${INSTANCE_UPLINK.v6.split("/")[0]}` : ""}
# EC2 sends the IMDSv2 token response with TTL / hop limit = http_put_response_hop_limit.
iptables -t mangle -A PREROUTING -p tcp --dport 80 -m string --algo bm --string "PUT /latest/api/token" -j CONNMARK --set-mark 0x1
iptables -t mangle -A OUTPUT -p tcp --sport 80 -m connmark --mark 0x1 -j TTL --ttl-set ${this.options.hopLimit}
${
  ipv6
    ? `ip6tables -t mangle -A PREROUTING -p tcp --dport 80 -m string --algo bm --string "PUT /latest/api/token" -j CONNMARK --set-mark 0x1
ip6tables -t mangle -A OUTPUT -p tcp --sport 80 -m connmark --mark 0x1 -j HL --hl-set ${this.options.hopLimit}`
    : ""
}`,
    );
    await this.inNamespace(
      this.instance,
      `set -e
ip link set lo up
ip addr add ${INSTANCE_UPLINK.v4} dev eth0
ip link set eth0 up
ip route add default via ${METADATA_UPLINK.v4.split("/")[0]}
${ipv6 ? `ip -6 addr add ${INSTANCE_UPLINK.v6} dev eth0 ${nodad}\nip -6 route add default via ${METADATA_UPLINK.v6.split("/")[0]}` : ""}`,
    );
    // The same server also answers on the metadata namespace's uplink address: a neighbour past the
    // instance that containers must still reach, so that "no answer from IMDS" cannot come from a
    // broken path.
    const addresses = [IMDS_V4, NEIGHBOUR_V4, ...(ipv6 ? [IMDS_V6, NEIGHBOUR_V6] : [])];
    const imdsArgs = ["imds", this.options.httpTokens, ...addresses];
    await this.startServer(this.metadata, imdsArgs);
    await this.startServer(this.instance, ["task-credentials"]);
  }

  /** metadata-servers.ts as plain JavaScript for node, made with swc (the project's jest transform). */
  private serverScript(): string {
    const compiled = join(this.stateDir, "metadata-servers.js");
    if (!existsSync(compiled)) {
      const { code } = transformFileSync(join(HARNESS_DIR, "metadata-servers.ts"), {
        jsc: { target: "es2022", parser: { syntax: "typescript" } },
        module: { type: "commonjs" },
      });
      writeFileSync(compiled, code);
    }
    return compiled;
  }

  private startServer(namespace: string, args: readonly string[]): Promise<void> {
    const child = spawn("ip", ["netns", "exec", namespace, process.execPath, this.serverScript(), ...args], {
      cwd: PROJECT_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.servers.push(child);
    return new Promise((resolvePromise, reject) => {
      let output = "";
      const timer = setTimeout(() => reject(new Error(`server ${args.join(" ")} did not start within ${SERVER_START_TIMEOUT_MS} ms: ${output}`)), SERVER_START_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (/^ready$/m.test(output)) {
          clearTimeout(timer);
          resolvePromise();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server ${args.join(" ")} exited ${code}: ${output}`));
      });
    });
  }

  /**
   * Docker starts (`systemctl start docker` at boot): containerd and dockerd, then the bridge
   * containers (run once, brought back by dockerd's restart policy afterwards), then ecs-init's
   * plumbing; docker.service is marked active for the systemctl stand-in. Nothing happens when
   * dockerd already runs, as with systemd.
   */
  async startDocker(): Promise<void> {
    if (this.engine.dockerdRunning) return;
    await this.engine.startDockerd();
    await this.afterDockerStart();
  }

  /**
   * dockerd stops and starts again: gracefully (SIGTERM, its containers stopped and started again)
   * or killed (SIGKILL, as by the OOM killer: containers keep running, the pid file stays, and
   * systemd's Restart=always starts it again).
   */
  async restartDocker(mode: StopMode): Promise<void> {
    await this.engine.stopDockerd(mode);
    await this.engine.startDockerd();
    await this.afterDockerStart();
  }

  private async afterDockerStart(): Promise<void> {
    await this.attachContainers();
    await this.inNamespace(this.instance, ECS_INIT_SCRIPT);
    const active = join(this.stateDir, "run", "imds-e2e-systemd", "active");
    mkdirSync(active, { recursive: true });
    writeFileSync(join(active, "docker.service"), "");
  }

  /**
   * Runs each bridge container on its first start, waits until dockerd has it running, and names
   * its network namespace after `containers[i]` for the probes (again after every start: a
   * restarted container has a new namespace).
   */
  private async attachContainers(): Promise<void> {
    for (const [index, name] of this.containers.entries()) {
      const container = `c${index + 1}`;
      if ((await this.engine.tryDocker(["container", "inspect", container])).code !== 0) {
        await this.engine.docker(["run", "-d", "--init", "--restart", "always", "--name", container, BUSYBOX_IMAGE, "/bin/busybox", "sleep", "86400"]);
      }
      const deadline = Date.now() + CONTAINER_TIMEOUT_MS;
      let pid = 0;
      for (;;) {
        const state = (await this.engine.docker(["container", "inspect", "--format", "{{.State.Running}} {{.State.Pid}}", container])).stdout.trim();
        const [isRunning, statePid] = state.split(" ");
        pid = Number(statePid);
        if (isRunning === "true" && pid > 0) break;
        if (Date.now() > deadline) throw new Error(`container ${container} not running ${CONTAINER_TIMEOUT_MS} ms after dockerd started: ${state}`);
        await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
      }
      await run("ip", ["netns", "delete", name], { timeoutMs: COMMAND_TIMEOUT_MS });
      await this.ip("netns", "attach", name, String(pid));
      if (this.options.ipv6) {
        // The container's address is usable once duplicate address detection is over.
        const deadline6 = Date.now() + CONTAINER_TIMEOUT_MS;
        while ((await this.ip("-n", name, "-6", "addr", "show", "tentative")).stdout.trim() !== "") {
          if (Date.now() > deadline6) throw new Error(`container ${container} kept a tentative IPv6 address`);
          await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
        }
      }
    }
  }

  /**
   * The socket on which the systemctl stand-in asks for docker.service's start and stop (a part
   * that runs `systemctl restart docker`): served by the test process, dockerd's parent.
   */
  private dockerControl(): Promise<string> {
    const path = join(this.stateDir, "docker-control.sock");
    if (this.control !== undefined) return Promise.resolve(path);
    let queue = Promise.resolve();
    const server = createServer((request, response) => {
      const verb = /^\/docker\/(start|stop)$/.exec(request.url ?? "")?.[1];
      request.resume();
      queue = queue.then(async () => {
        try {
          if (verb === "start") await this.startDocker();
          else if (verb === "stop") await this.engine.stopDockerd("graceful");
          else throw new Error(`unknown request ${request.method} ${request.url}`);
          response.end();
        } catch (error) {
          response.statusCode = 500;
          response.end(`docker.service ${verb}: ${(error as Error).message}\n`);
        }
      });
    });
    this.control = server;
    return new Promise((resolvePromise, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolvePromise(path));
    });
  }

  /** Removes the names given to the containers' network namespaces. */
  private async detachContainers(): Promise<void> {
    for (const name of this.containers) await run("ip", ["netns", "delete", name], { timeoutMs: COMMAND_TIMEOUT_MS });
  }

  /**
   * A reboot: Docker is shut down (dockerd, containerd, shims); the kernel starts with empty tables,
   * every policy ACCEPT, no docker0 and no forwarding; /run starts empty (runtime masks are gone);
   * the disk is kept (Docker's data root too: images and containers survive), and systemd loads
   * the unit files found on it.
   */
  async reboot(): Promise<void> {
    await this.engine.stopAll(false);
    await this.detachContainers();
    await this.inNamespace(
      this.instance,
      `${freshKernelFirewallScript(this.options.ipv6)}
ip link delete docker0 2>/dev/null || true
sysctl -qw net.ipv4.ip_forward=0
${this.options.ipv6 ? "sysctl -qw net.ipv6.conf.all.forwarding=0" : ""}`,
    );
    rmSync(join(this.stateDir, "run"), { recursive: true, force: true });
    await this.bootSystemd();
  }

  /** systemd's start-up as the stand-in knows it: the unit files on disk are loaded. */
  private async bootSystemd(): Promise<void> {
    const boot = await this.runOnInstance([STANDIN_SYSTEMCTL, "daemon-reload"]);
    if (boot.code !== 0) throw new Error(`systemd stand-in did not boot: ${boot.stderr}`);
  }

  /**
   * Every start of the ECS agent so far (ecs.service's ExecStart, reached only when its
   * ExecStartPre commands succeeded), oldest first, with what the agent would read at that moment.
   */
  agentStarts(): AgentStart[] {
    const dir = join(this.stateDir, "agent-starts");
    if (!existsSync(dir)) return [];
    const read = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : undefined);
    return readdirSync(dir)
      .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))
      .map((name) => ({
        etcEcsConfig: read(join(dir, name, "etc-ecs.config")),
        varLibEcsConfig: read(join(dir, name, "var-lib-ecs.config")),
        iptablesSave: read(join(dir, name, "iptables")) ?? "",
        ip6tablesSave: read(join(dir, name, "ip6tables")) ?? "",
      }));
  }

  /** `iptables -S` (or ip6tables) of one chain, one rule per line. */
  async rules(tool: "iptables" | "ip6tables", chain: string, table = "filter"): Promise<string[]> {
    const { stdout } = await mustRun("ip", ["netns", "exec", this.instance, tool, "-t", table, "-S", chain], {
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    return stdout.split("\n").filter((line) => line.length > 0);
  }

  /** The whole ruleset of one family, as iptables-save prints it. */
  async save(tool: "iptables" | "ip6tables"): Promise<string> {
    const { stdout } = await mustRun("ip", ["netns", "exec", this.instance, `${tool}-save`], { timeoutMs: COMMAND_TIMEOUT_MS });
    return stdout;
  }

  /**
   * Executes a user-data part file the way cloud-init does (directly, INSTANCE_ID set) inside the
   * instance namespace and a private mount namespace over the instance's disk, with the recording
   * stand-ins for Amazon Linux commands first on PATH. `failingIptables` puts stand-ins that fail
   * in front of the real iptables and ip6tables.
   */
  runPart(partPath: string, options: { readonly failingIptables?: boolean } = {}): Promise<PartRun> {
    return this.runOnInstance([partPath], options);
  }

  /** Runs any command the way `runPart` runs a part (same namespaces, disk, PATH and records). */
  async runOnInstance(command: readonly string[], options: { readonly failingIptables?: boolean } = {}): Promise<PartRun> {
    const callsFile = join(this.stateDir, "calls.log");
    const consoleFile = join(this.stateDir, "console.log");
    const callsBefore = readLines(callsFile).length;
    const consoleBefore = existsSync(consoleFile) ? readFileSync(consoleFile, "utf8").length : 0;
    const path = [
      ...(options.failingIptables ? [join(HARNESS_DIR, "failing-iptables")] : []),
      join(HARNESS_DIR, "standins"),
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ].join(":");
    const result = await run(
      "ip",
      [
        "netns", "exec", this.instance,
        "unshare", "--mount", "--propagation", "private", "--",
        "env", "-i", `PATH=${path}`, `IMDS_E2E_CALLS=${callsFile}`, `IMDS_E2E_AGENT_STARTS=${join(this.stateDir, "agent-starts")}`, `IMDS_E2E_DOCKER_CONTROL=${await this.dockerControl()}`, "INSTANCE_ID=i-0123456789abcdef0", "HOME=/root", "LANG=C",
        join(HARNESS_DIR, "instance-root.sh"), this.stateDir,
        ...command,
      ],
      { timeoutMs: PART_TIMEOUT_MS },
    );
    return {
      ...result,
      calls: readLines(callsFile).slice(callsBefore),
      console: existsSync(consoleFile) ? readFileSync(consoleFile, "utf8").slice(consoleBefore) : "",
    };
  }

  /** A file as the instance's disk holds it after the parts ran (the overlay's upper layer). */
  diskFile(absolutePath: string): string | undefined {
    const onDisk = join(this.stateDir, "disk", absolutePath);
    return existsSync(onDisk) ? readFileSync(onDisk, "utf8") : undefined;
  }

  /** Stops Docker, removes servers, namespaces and the state directory. Safe to call twice. */
  async teardown(): Promise<void> {
    const errors: unknown[] = [];
    try {
      await this.engine.stopAll(true);
    } catch (error) {
      errors.push(error);
    }
    await this.detachContainers();
    this.control?.close();
    this.control = undefined;
    for (const server of this.servers.splice(0)) {
      if (server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
    }
    for (const namespace of this.namespaces.splice(0).reverse()) await removeNamespace(namespace);
    rmSync(this.stateDir, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, `teardown of ${this.instance}`);
  }
}

function readLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((line) => line.length > 0) : [];
}
