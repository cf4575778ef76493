/**
 * The proof: the user data that the project synthesizes, run on an emulated ECS container instance
 * built from network namespaces with the real kernel firewall, keeps bridge containers from IMDS
 * and nothing else. See harness/host.ts for the emulated host and CONTRIBUTING.md ("How we prove it").
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copiesOfKey, readAgentSettings } from "./harness/ecs-config";
import {
  AgentStart,
  EmulatedInstance,
  HttpOutcome,
  NAMESPACE_PREFIX,
  httpFrom,
  IMDS_V4,
  IMDS_V6,
  NEIGHBOUR_V4,
  NEIGHBOUR_V6,
  STANDIN_SYSTEMCTL,
  sweepStaleNamespaces,
  TASK_CREDENTIALS_ADDRESS,
} from "./harness/host";
import { INSTANCE_ROLE_ACCESS_KEY, INSTANCE_ROLE_NAME, TASK_CREDENTIALS_PATH, TASK_ROLE_ACCESS_KEY } from "./harness/metadata-servers";
import { Cleanup, runCleanups } from "./harness/cleanups";
import { missingPrerequisite } from "./harness/preflight";
import { describeWhen } from "../support/tools";
import { mustRun } from "./harness/run";
import { BUSYBOX_IMAGE, hostMountsUnder, processesNaming } from "./harness/engine";
import {
  capacityStackLaunchTemplate,
  constructLaunchTemplate,
  defaultStackLaunchTemplate,
  LaunchTemplateUnderTest,
  onlyPart,
  SplitUserData,
  splitUserData,
  UserDataPart,
} from "./harness/user-data";

jest.setTimeout(60_000);

const CLUSTER_NAME = "default";
const IMDS_URL = { v4: `http://${IMDS_V4}`, v6: `http://[${IMDS_V6}]` } as const;
const DROP_V4 = `-A DOCKER-USER -d ${IMDS_V4}/32 -j DROP`;
const DROP_V6 = `-A DOCKER-USER -d ${IMDS_V6}/128 -j DROP`;

const NEIGHBOUR_URL = { v4: `http://${NEIGHBOUR_V4}`, v6: `http://[${NEIGHBOUR_V6}]` } as const;

type Family = keyof typeof IMDS_URL;

/**
 * What a container gets from IMDS and from a neighbour on the same path past the instance: a
 * block must leave the first unanswered and the second answered.
 */
async function imdsAndNeighbour(namespace: string, family: Family): Promise<{ imds: number | null; neighbour: number | null }> {
  // The neighbour first, until it answers (bounded): right after Docker starts a container its
  // IPv6 address is unusable for a moment (duplicate address detection), and an IMDS probe made
  // then would look blocked when nothing blocks it.
  let neighbour = await httpFrom(namespace, { url: `${NEIGHBOUR_URL[family]}/latest/meta-data/` });
  for (let attempt = 1; neighbour.status === null && attempt < 5; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    neighbour = await httpFrom(namespace, { url: `${NEIGHBOUR_URL[family]}/latest/meta-data/` });
  }
  const imds = await imdsAnswer(namespace, family);
  return { imds: imds.status, neighbour: neighbour.status };
}

/** Any HTTP answer from IMDS (even 401) proves the container reached it. */
function imdsAnswer(namespace: string, family: Family): Promise<HttpOutcome> {
  return httpFrom(namespace, { url: `${IMDS_URL[family]}/latest/meta-data/` });
}

function imdsToken(namespace: string, family: Family): Promise<HttpOutcome> {
  return httpFrom(namespace, {
    url: `${IMDS_URL[family]}/latest/api/token`,
    method: "PUT",
    headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" },
  });
}

/** IMDSv2 as the AWS SDKs do it: a token, then the instance role's credentials. */
async function instanceRoleCredentials(namespace: string, family: Family): Promise<{ token: HttpOutcome; credentials?: HttpOutcome }> {
  const token = await imdsToken(namespace, family);
  if (token.status !== 200) return { token };
  const credentials = await httpFrom(namespace, {
    url: `${IMDS_URL[family]}/latest/meta-data/iam/security-credentials/${INSTANCE_ROLE_NAME}`,
    headers: { "X-aws-ec2-metadata-token": token.body },
  });
  return { token, credentials };
}

function taskRoleCredentials(namespace: string): Promise<HttpOutcome> {
  return httpFrom(namespace, { url: `http://${TASK_CREDENTIALS_ADDRESS}${TASK_CREDENTIALS_PATH}` });
}

function instanceFor(template: LaunchTemplateUnderTest, label: string, containers = 1): Promise<EmulatedInstance> {
  return EmulatedInstance.create({
    label,
    httpTokens: template.httpTokens,
    hopLimit: template.hopLimit,
    ipv6: template.ipv6,
    containers,
  });
}

/**
 * A first boot in the order an ECS-optimized AMI runs it: cloud-init's boothooks (before Docker),
 * then dockerd and ecs-init, then the once-per-instance shell scripts in cloud-init's order
 * (scripts_user runs them sorted by file name), then ecs.service, which starts after cloud-final.
 */
async function boot(host: EmulatedInstance, userData: SplitUserData): Promise<void> {
  for (const part of userData.parts.filter((p) => p.contentType === "text/cloud-boothook")) {
    const run = await host.runPart(part.path!);
    if (run.code !== 0) throw new Error(`boothook ${part.filename} failed (${run.code}): ${run.stderr}`);
  }
  await host.startDocker();
  for (const part of shellScriptsInRunOrder(userData)) {
    const run = await host.runPart(part.path!);
    if (run.code !== 0) throw new Error(`shell part ${part.filename} failed (${run.code}): ${run.stderr}`);
  }
  const agent = await host.runOnInstance([STANDIN_SYSTEMCTL, "start", "ecs"]);
  if (agent.code !== 0) throw new Error(`ecs.service did not start (${agent.code}): ${agent.stderr}`);
}

/** The shell parts in the order cloud-init's scripts_user runs them: sorted by file name. */
function shellScriptsInRunOrder(userData: SplitUserData): UserDataPart[] {
  return userData.parts
    .filter((p) => p.contentType === "text/x-shellscript")
    .sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
}

/** `systemctl <args>` on the instance, as systemd would carry it out (see harness/standins/systemctl). */
function systemctl(host: EmulatedInstance, ...args: string[]) {
  return host.runOnInstance([STANDIN_SYSTEMCTL, ...args]);
}

/** A shell command as root on the instance (its network, disk and /run); throws unless it succeeds. */
async function onInstance(host: EmulatedInstance, script: string): Promise<void> {
  const run = await host.runOnInstance(["bash", "-c", script]);
  if (run.code !== 0) throw new Error(`${script} exited ${run.code}: ${run.stderr}`);
}

/** What ecs-init hands the agent at one start: /var/lib/ecs/ecs.config, then /etc/ecs/ecs.config. */
function settingsAt(start: AgentStart): Map<string, string> {
  return readAgentSettings([start.varLibEcsConfig, start.etcEcsConfig]);
}

/** The rules of one chain in an iptables-save dump, in order. */
function chainRules(save: string, chain: string): string[] {
  return save.split("\n").filter((line) => line.startsWith(`-A ${chain} `));
}

/** Whether the guard's block held in the firewall the agent started with. */
function blockHeldAt(start: AgentStart): { forwardFirst?: string; dockerUserFirst?: string } {
  return {
    forwardFirst: chainRules(start.iptablesSave, "FORWARD")[0],
    dockerUserFirst: chainRules(start.iptablesSave, "DOCKER-USER")[0],
  };
}

const BLOCK_HELD = { forwardFirst: "-A FORWARD -j DOCKER-USER", dockerUserFirst: `-A DOCKER-USER -d ${IMDS_V4}/32 -j DROP` };

/** The service a timer unit on the instance's disk starts (its Unit=, or the timer's own name). */
function serviceOfTimer(host: EmulatedInstance, timerPath: string): string {
  const timer = host.diskFile(timerPath);
  if (timer === undefined) throw new Error(`no ${timerPath} on the instance`);
  const unit = /^Unit=(.+)$/m.exec(timer)?.[1];
  return unit ?? timerPath.split("/").pop()!.replace(/\.timer$/, ".service");
}

/**
 * What busybox wget in a new container (`docker run --init --rm`) gets: an HTTP error status
 * (IMDSv2 refuses a tokenless GET with 401) still proves an answer came back.
 */
async function dockerRunWget(host: EmulatedInstance, options: readonly string[], url: string): Promise<{ answered: boolean; detail: string }> {
  const result = await host.engine.tryDocker(
    ["run", "--init", "--rm", ...options, BUSYBOX_IMAGE, "/bin/busybox", "timeout", "3", "/bin/busybox", "wget", "-q", "-O-", url],
    30_000,
  );
  const detail = `exit ${result.code}: ${result.stdout.trim()} ${result.stderr.trim()}`;
  return { answered: result.code === 0 || /server returned error: HTTP\/1\.[01] \d{3}/.test(result.stderr), detail };
}

const cleanups: Cleanup[] = [];

/** Builds a host and registers its teardown, which runs even when a later step fails. */
async function track(host: Promise<EmulatedInstance>): Promise<EmulatedInstance> {
  const built = await host;
  cleanups.push(() => built.teardown());
  return built;
}

async function trackedSplit(template: LaunchTemplateUnderTest): Promise<SplitUserData> {
  const split = await splitUserData(template.userData);
  cleanups.push(() => rmSync(split.directory, { recursive: true, force: true }));
  return split;
}

const missing = missingPrerequisite();
// Outside CI a missing prerequisite skips the suite with the reason; in CI it fails the run.
const describeProof = describeWhen({ [missing ?? "root and the namespace tools"]: missing === null });

describeProof("namespace proof", () => {
  beforeAll(async () => {
    if (missing !== null) throw new Error(`the namespace proof cannot run in CI: ${missing}`);
    await sweepStaleNamespaces();
  });

  afterAll(() => runCleanups(cleanups));

  it("removes namespaces that a crashed earlier run left behind, and only those", async () => {
    // A pid that existed and is gone, like the jest worker of a run that crashed.
    const deadPid = spawnSync("true").pid;
    const stale = `${NAMESPACE_PREFIX}${deadPid}-crashed-inst`;
    const live = `${NAMESPACE_PREFIX}${process.pid}-alive-inst`;
    await mustRun("ip", ["netns", "add", stale], { timeoutMs: 10_000 });
    await mustRun("ip", ["netns", "add", live], { timeoutMs: 10_000 });
    try {
      const swept = await sweepStaleNamespaces();
      expect(swept).toContain(stale);
      expect(swept).not.toContain(live);
    } finally {
      await mustRun("ip", ["netns", "delete", live], { timeoutMs: 10_000 });
      spawnSync("ip", ["netns", "delete", stale], { timeout: 10_000 });
    }
  });

  describe("the real Docker engine stays inside the instance", () => {
    /** The machine's own firewall (both families, every table), without counters and comments. */
    const machineFirewall = async () => {
      const dumps = await Promise.all(["iptables-save", "ip6tables-save"].map((tool) => mustRun(tool, [], { timeoutMs: 10_000 })));
      return dumps.map((dump) => dump.stdout.split("\n").filter((line) => !line.startsWith("#")).map((line) => line.replace(/\[\d+:\d+\]/g, "")));
    };
    const machineLinks = async () => (await mustRun("ip", ["-o", "link", "show"], { timeoutMs: 10_000 })).stdout.split("\n").map((line) => line.split(":")[1]?.trim());

    /** Where a Docker left to its defaults writes on the machine's own disk and /run. */
    const machinePaths = () => ["/etc/docker/key.json", "/var/lib/docker", "/var/lib/containerd", "/run/docker", "/run/containerd"].filter((path) => existsSync(path));

    it("never touches the machine's firewall, links or Docker folders, and leaves no process, mount or cgroup behind", async () => {
      const [firewallBefore, linksBefore, pathsBefore] = await Promise.all([machineFirewall(), machineLinks(), machinePaths()]);
      const template = defaultStackLaunchTemplate();
      const host = await track(instanceFor(template, "iso"));
      await host.startDocker();
      expect(await host.rules("iptables", "FORWARD")).toContain("-A FORWARD -j DOCKER-USER");
      await host.restartDocker("killed");
      await host.restartDocker("graceful");
      expect(await machineFirewall()).toEqual(firewallBefore);
      expect(await machineLinks()).toEqual(linksBefore);
      const { dir, containerdSocket, name } = { ...host.engine.options, containerdSocket: host.engine.containerdSocket };
      // A killed dockerd leaves its containers running; teardown must end them too.
      await host.restartDocker("killed");
      await host.engine.stopDockerd("killed");
      await host.teardown();
      expect({
        processes: processesNaming(dir).length + processesNaming(containerdSocket).length,
        mounts: hostMountsUnder(host.stateDir),
        cgroups: readdirSync("/sys/fs/cgroup").filter((hierarchy) => existsSync(join("/sys/fs/cgroup", hierarchy, name))),
        state: existsSync(host.stateDir),
      }).toEqual({ processes: 0, mounts: [], cgroups: [], state: false });
      expect(await machineFirewall()).toEqual(firewallBefore);
      expect(machinePaths()).toEqual(pathsBefore);
    });
  });

  describe("the default stack (AL2023, bridge + awsvpc, boothook persistence)", () => {
    let template: LaunchTemplateUnderTest;
    let userData: SplitUserData;
    let unguarded: EmulatedInstance;
    let guarded: EmulatedInstance;

    beforeAll(async () => {
      template = defaultStackLaunchTemplate();
      userData = await trackedSplit(template);
      [unguarded, guarded] = await Promise.all([track(instanceFor(template, "plain")), track(instanceFor(template, "guard"))]);
      await unguarded.startDocker();
      await boot(guarded, userData);
    });

    it("runs a part only as cloud-init does: a file without #! fails and does nothing", async () => {
      const dir = mkdtempSync(join(tmpdir(), "imdsguard-e2e-noshebang-"));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const part = join(dir, "no-shebang.sh");
      writeFileSync(part, "iptables -N NO_SHEBANG_RAN\n", { mode: 0o755 });
      const ran = await unguarded.runPart(part);
      expect(ran.code).not.toBe(0);
      expect(ran.stderr).toMatch(/Exec format error/);
      expect(await unguarded.save("iptables")).not.toContain("NO_SHEBANG_RAN");
    });

    it("lets a bridge container reach IMDS before the user data runs (the harness can fail)", async () => {
      const answer = await imdsAnswer(unguarded.containers[0], "v4");
      expect(answer.status).not.toBeNull();
    });

    it("leaves a bridge container with no IMDS answer over IPv4 after the user data ran", async () => {
      const [get, put] = await Promise.all([imdsAndNeighbour(guarded.containers[0], "v4"), imdsToken(guarded.containers[0], "v4")]);
      expect({ get: get.imds, put: put.status }).toEqual({ get: null, put: null });
      // The same path still carries the container's other traffic.
      expect(get.neighbour).not.toBeNull();
    });

    it("still lets the instance itself obtain its role's credentials with IMDSv2", async () => {
      const { token, credentials } = await instanceRoleCredentials(guarded.instance, "v4");
      expect(token.status).toBe(200);
      expect(credentials?.status).toBe(200);
      expect(JSON.parse(credentials?.body ?? "{}").AccessKeyId).toBe(INSTANCE_ROLE_ACCESS_KEY);
    });

    it("still lets the bridge container reach 169.254.170.2 for its task role's credentials", async () => {
      const answer = await taskRoleCredentials(guarded.containers[0]);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).AccessKeyId).toBe(TASK_ROLE_ACCESS_KEY);
    });

    it("puts the DROP rule first in DOCKER-USER, which FORWARD jumps to first, and nothing in FORWARD", async () => {
      const dockerUser = await guarded.rules("iptables", "DOCKER-USER");
      const forward = await guarded.rules("iptables", "FORWARD");
      expect(dockerUser[1]).toBe(DROP_V4);
      expect(forward[1]).toBe("-A FORWARD -j DOCKER-USER");
      expect(forward.filter((rule) => rule.includes(IMDS_V4))).toEqual([]);
    });

    it("writes an ecs.config that ecs-init reads with the cluster name and ECS_AWSVPC_BLOCK_IMDS=true", () => {
      const settings = readAgentSettings([guarded.diskFile("/var/lib/ecs/ecs.config"), guarded.diskFile("/etc/ecs/ecs.config")]);
      expect(settings.get("ECS_CLUSTER")).toBe(CLUSTER_NAME);
      expect(settings.get("ECS_AWSVPC_BLOCK_IMDS")).toBe("true");
      expect(settings.get("ECS_ENABLE_TASK_IAM_ROLE")).toBe("true");
    });

    it.each([
      ["stopped and started (systemctl restart docker)", "graceful"],
      ["killed (SIGKILL, its pid file left behind) and started again", "killed"],
    ] as const)("keeps the block when dockerd is %s and re-creates its FORWARD rules", async (_how, mode) => {
      const dockerdBefore = guarded.engine.dockerdPid;
      await guarded.restartDocker(mode);
      expect(guarded.engine.dockerdPid).not.toBe(dockerdBefore);
      expect((await guarded.rules("iptables", "FORWARD"))[1]).toBe("-A FORWARD -j DOCKER-USER");
      expect(await guarded.rules("iptables", "DOCKER-USER")).toEqual(["-N DOCKER-USER", DROP_V4, "-A DOCKER-USER -j RETURN"]);
      expect(await imdsAndNeighbour(guarded.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
      expect((await taskRoleCredentials(guarded.containers[0])).status).toBe(200);
    });

    it("a fresh container started with docker run gets no IMDS answer, and reaches the neighbour", async () => {
      const [imds, neighbour] = await Promise.all([
        dockerRunWget(guarded, ["--network", "bridge"], `${IMDS_URL.v4}/latest/meta-data/`),
        dockerRunWget(guarded, ["--network", "bridge"], `${NEIGHBOUR_URL.v4}/latest/meta-data/`),
      ]);
      expect({ imds: imds.answered, neighbour: neighbour.answered }).toEqual({ imds: false, neighbour: true });
    });

    it("cannot block a --network host container: it shares the instance's network and reaches IMDS", async () => {
      const host = await dockerRunWget(guarded, ["--network", "host"], `${IMDS_URL.v4}/latest/meta-data/`);
      expect(host.answered).toBe(true);
    });

    it("leaves exactly one copy of each rule and each setting when the user data runs again", async () => {
      const again = await guarded.runPart(onlyPart(userData.parts, "text/cloud-boothook").path);
      expect(again.code).toBe(0);
      for (const part of shellScriptsInRunOrder(userData)) expect((await guarded.runPart(part.path!)).code).toBe(0);
      const saved = (await guarded.save("iptables")).split("\n");
      expect(saved.filter((line) => line === DROP_V4)).toHaveLength(1);
      expect(saved.filter((line) => line === "-A FORWARD -j DOCKER-USER")).toHaveLength(1);
      const config = guarded.diskFile("/etc/ecs/ecs.config") ?? "";
      for (const key of ["ECS_CLUSTER", "ECS_ENABLE_TASK_IAM_ROLE", "ECS_AWSVPC_BLOCK_IMDS"]) {
        expect({ key, copies: copiesOfKey(config, key) }).toEqual({ key, copies: 1 });
      }
    });

    it("re-applied while Docker runs (its persistence step), keeps the block and leaves Docker's rules as they were", async () => {
      const forwardBefore = await guarded.rules("iptables", "FORWARD");
      const natBefore = await guarded.rules("iptables", "POSTROUTING", "nat");
      const again = await guarded.runPart(onlyPart(userData.parts, "text/cloud-boothook").path);
      expect(again.code).toBe(0);
      expect(await guarded.rules("iptables", "FORWARD")).toEqual(forwardBefore);
      expect(await guarded.rules("iptables", "POSTROUTING", "nat")).toEqual(natBefore);
      expect((await imdsAndNeighbour(guarded.containers[0], "v4")).imds).toBeNull();
    });

    it("blocks again after a reboot (empty kernel tables, same disk, boothook before Docker)", async () => {
      await guarded.reboot();
      expect(await guarded.save("iptables")).not.toContain("DOCKER-USER");
      const boothook = await guarded.runPart(onlyPart(userData.parts, "text/cloud-boothook").path);
      expect(boothook.code).toBe(0);
      await guarded.startDocker();
      const saved = (await guarded.save("iptables")).split("\n");
      expect(saved.filter((line) => line === DROP_V4)).toHaveLength(1);
      expect(await imdsAndNeighbour(guarded.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
    });

    it("fails closed when iptables fails: ECS agent kept from starting, reason on the console", async () => {
      const broken = await track(instanceFor(template, "fail"));
      const run = await broken.runPart(onlyPart(userData.parts, "text/cloud-boothook").path, { failingIptables: true });
      expect(run.code).not.toBe(0);
      expect(run.calls.some((call) => call.startsWith("iptables "))).toBe(true);
      expect(run.calls).toEqual(expect.arrayContaining(["systemctl mask --runtime ecs.service", "systemctl stop --no-block ecs.service"]));
      expect(run.console).toMatch(/^ecs-imds-guard: .*iptables/m);
      expect(run.stderr).toMatch(/^ecs-imds-guard: .*iptables/m);
    });
  });

  describe("the agent never starts unguarded (default stack, ecs.service's ExecStartPre)", () => {
    let template: LaunchTemplateUnderTest;
    let userData: SplitUserData;
    let host: EmulatedInstance;

    beforeAll(async () => {
      template = defaultStackLaunchTemplate();
      userData = await trackedSplit(template);
      host = await track(instanceFor(template, "start"));
      await boot(host, userData);
    });

    it("starts the agent at boot with the cluster, ECS_AWSVPC_BLOCK_IMDS=true and the DROP rule in place", () => {
      const starts = host.agentStarts();
      expect(starts).toHaveLength(1);
      expect(settingsAt(starts[0]).get("ECS_CLUSTER")).toBe(CLUSTER_NAME);
      expect(settingsAt(starts[0]).get("ECS_AWSVPC_BLOCK_IMDS")).toBe("true");
      expect(blockHeldAt(starts[0])).toEqual(BLOCK_HELD);
    });

    it("re-applies a flushed DOCKER-USER before the agent restarts, so the container gets no IMDS answer", async () => {
      await onInstance(host, "iptables -F DOCKER-USER");
      // The flush opened the path (the harness can see it).
      expect((await imdsAnswer(host.containers[0], "v4")).status).not.toBeNull();
      const restart = await systemctl(host, "restart", "ecs");
      expect(restart.code).toBe(0);
      const starts = host.agentStarts();
      expect(starts).toHaveLength(2);
      expect(blockHeldAt(starts[1])).toEqual(BLOCK_HELD);
      expect(await imdsAndNeighbour(host.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
    });

    it("keeps the agent down when the guard cannot be re-applied at a restart: masked, reason on the console", async () => {
      await onInstance(host, "iptables -F DOCKER-USER");
      const before = host.agentStarts().length;
      const restart = await host.runOnInstance([STANDIN_SYSTEMCTL, "restart", "ecs"], { failingIptables: true });
      expect(restart.code).not.toBe(0);
      expect(host.agentStarts()).toHaveLength(before);
      expect(restart.calls).toEqual(expect.arrayContaining(["systemctl mask --runtime ecs.service"]));
      expect(restart.console).toMatch(/^ecs-imds-guard: FAILED: .*iptables/m);
      // Masked until the next boot: a later start is refused even with a working iptables.
      const later = await systemctl(host, "start", "ecs");
      expect(later.code).not.toBe(0);
      expect(host.agentStarts()).toHaveLength(before);
      // The next boot decides again.
      await host.reboot();
      await boot(host, userData);
      expect(host.agentStarts()).toHaveLength(before + 1);
      expect(blockHeldAt(host.agentStarts()[before])).toEqual(BLOCK_HELD);
    });
  });

  describe("user parts that start the agent or rewrite ecs.config", () => {
    it("a user part 00-start-ecs.sh, run before the guard's shell part, starts the agent only with the guard in place", async () => {
      const template = constructLaunchTemplate({
        clusterName: CLUSTER_NAME,
        extraParts: [{ contentType: "text/x-shellscript", filename: "00-start-ecs.sh", content: "#!/bin/bash\nsystemctl start ecs\n" }],
      });
      const userData = await trackedSplit(template);
      // cloud-init runs the user's part first: the order is not the guard's to choose.
      expect(shellScriptsInRunOrder(userData).map((p) => p.filename)[0]).toBe("00-start-ecs.sh");
      const host = await track(instanceFor(template, "first"));
      await boot(host, userData);
      const [first] = host.agentStarts();
      expect(first).toBeDefined();
      const settings = settingsAt(first);
      expect({ cluster: settings.get("ECS_CLUSTER"), block: settings.get("ECS_AWSVPC_BLOCK_IMDS") }).toEqual({
        cluster: CLUSTER_NAME,
        block: "true",
      });
      expect(blockHeldAt(first)).toEqual(BLOCK_HELD);
      expect((await imdsAndNeighbour(host.containers[0], "v4")).imds).toBeNull();
    });

    it("a user part that rewrites ecs.config without the setting and restarts the agent: the agent gets the setting again", async () => {
      const rewrite = "#!/bin/bash\nprintf 'ECS_CLUSTER=elsewhere\\nECS_LOGLEVEL=debug\\n' >/etc/ecs/ecs.config\nsystemctl restart ecs\n";
      const template = constructLaunchTemplate({
        clusterName: CLUSTER_NAME,
        extraParts: [{ contentType: "text/x-shellscript", filename: "zz-rewrite.sh", content: rewrite }],
      });
      const userData = await trackedSplit(template);
      const host = await track(instanceFor(template, "rewr"));
      await boot(host, userData);
      const starts = host.agentStarts();
      expect(starts.length).toBeGreaterThan(0);
      for (const start of starts) {
        const settings = settingsAt(start);
        expect({ cluster: settings.get("ECS_CLUSTER"), block: settings.get("ECS_AWSVPC_BLOCK_IMDS") }).toEqual({
          cluster: CLUSTER_NAME,
          block: "true",
        });
        // The user's other line is kept.
        expect(settings.get("ECS_LOGLEVEL")).toBe("debug");
      }
      // Once more after boot, by hand: the next restart puts the setting back.
      await onInstance(host, `printf 'ECS_CLUSTER=${CLUSTER_NAME}\\nECS_AWSVPC_BLOCK_IMDS=false\\n' >/etc/ecs/ecs.config`);
      expect((await systemctl(host, "restart", "ecs")).code).toBe(0);
      expect(settingsAt(host.agentStarts().at(-1)!).get("ECS_AWSVPC_BLOCK_IMDS")).toBe("true");
    });
  });

  describe("healing (ecs-imds-guard-heal.timer's service, run as systemd runs it)", () => {
    let userData: SplitUserData;
    let host: EmulatedInstance;
    let heal: string;

    beforeAll(async () => {
      const template = defaultStackLaunchTemplate();
      userData = await trackedSplit(template);
      host = await track(instanceFor(template, "heal"));
      await boot(host, userData);
      heal = serviceOfTimer(host, "/etc/systemd/system/ecs-imds-guard-heal.timer");
    });

    it("puts the guard back when FORWARD is flushed and DOCKER-USER deleted, and Docker's next start puts its own rules below it", async () => {
      await onInstance(host, "iptables -F FORWARD && iptables -F DOCKER-USER && iptables -X DOCKER-USER");
      // Docker set the FORWARD policy to DROP at its first start: without its ACCEPT rules the
      // container reaches nothing.
      expect(await imdsAndNeighbour(host.containers[0], "v4")).toEqual({ imds: null, neighbour: null });
      const run = await systemctl(host, "start", heal);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ecs-imds-guard: re-applied /m);
      await host.restartDocker("graceful");
      expect((await host.rules("iptables", "FORWARD"))[1]).toBe("-A FORWARD -j DOCKER-USER");
      expect(await imdsAndNeighbour(host.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
    });

    it.each([
      ["a flush of DOCKER-USER", "iptables -F DOCKER-USER"],
      // What stopping iptables.service does (iptables.init): Docker's rules and chains go too.
      ["every chain flushed and deleted and the policies set to ACCEPT", "iptables -F && iptables -X && iptables -P FORWARD ACCEPT"],
    ])("closes the path again after %s, and leaves the agent running", async (_event, flush) => {
      await onInstance(host, flush);
      expect((await imdsAnswer(host.containers[0], "v4")).status).not.toBeNull();
      const run = await systemctl(host, "start", heal);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ecs-imds-guard: re-applied /m);
      expect(await imdsAndNeighbour(host.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
      expect(run.calls.filter((call) => call.includes("ecs.service"))).toEqual([]);
    });

    it("changes nothing and says nothing when the guard holds", async () => {
      // iptables-save without its time-stamped comment lines.
      const rules = async () => (await host.save("iptables")).split("\n").filter((line) => !line.startsWith("#"));
      const before = await rules();
      const config = host.diskFile("/etc/ecs/ecs.config");
      const run = await systemctl(host, "start", heal);
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: "" });
      expect(await rules()).toEqual(before);
      expect(host.diskFile("/etc/ecs/ecs.config")).toBe(config);
    });

    it("stops and masks the running agent when it cannot re-apply the block, and says why", async () => {
      await onInstance(host, "iptables -F DOCKER-USER");
      const run = await host.runOnInstance([STANDIN_SYSTEMCTL, "start", heal], { failingIptables: true });
      expect(run.code).not.toBe(0);
      expect(run.calls).toEqual(expect.arrayContaining(["systemctl mask --runtime ecs.service", "systemctl stop --no-block ecs.service"]));
      expect(run.console).toMatch(/^ecs-imds-guard: FAILED: .*iptables/m);
      expect((await systemctl(host, "is-active", "ecs")).stdout.trim()).toBe("inactive");
    });
  });

  describe("IPv6 IMDS enabled (http_protocol_ipv6)", () => {
    let unguarded: EmulatedInstance;
    let guarded: EmulatedInstance;

    beforeAll(async () => {
      const template = defaultStackLaunchTemplate({ ipv6Imds: true });
      expect(template.ipv6).toBe(true);
      const userData = await trackedSplit(template);
      [unguarded, guarded] = await Promise.all([track(instanceFor(template, "plain6")), track(instanceFor(template, "guard6"))]);
      await unguarded.startDocker();
      await boot(guarded, userData);
    });

    it("lets a bridge container reach IMDS over IPv6 before the user data runs", async () => {
      expect((await imdsAnswer(unguarded.containers[0], "v6")).status).not.toBeNull();
    });

    it("leaves a bridge container with no IMDS answer over IPv6 or IPv4 after the user data ran", async () => {
      const [v6, v4] = await Promise.all([imdsAndNeighbour(guarded.containers[0], "v6"), imdsAndNeighbour(guarded.containers[0], "v4")]);
      expect({ v6: v6.imds, v4: v4.imds }).toEqual({ v6: null, v4: null });
      expect({ v6: v6.neighbour, v4: v4.neighbour }).toEqual({ v6: 401, v4: 401 });
    });

    it("still lets the instance obtain its credentials over IPv6, and the container its task role's", async () => {
      const { credentials } = await instanceRoleCredentials(guarded.instance, "v6");
      expect(credentials?.status).toBe(200);
      expect((await taskRoleCredentials(guarded.containers[0])).status).toBe(200);
    });

    it("puts the ip6tables DROP rule first in DOCKER-USER", async () => {
      expect((await guarded.rules("ip6tables", "DOCKER-USER"))[1]).toBe(DROP_V6);
    });
  });

  describe("the IMDSv2 hop limit without the firewall rule", () => {
    it("with hop limit 1 and tokens required (the default), a bridge container gets no token; the instance does", async () => {
      const template = defaultStackLaunchTemplate();
      expect({ tokens: template.httpTokens, hopLimit: template.hopLimit }).toEqual({ tokens: "required", hopLimit: 1 });
      const host = await track(instanceFor(template, "hop1"));
      await host.startDocker();
      const [container, instance, tokenless] = await Promise.all([
        imdsToken(host.containers[0], "v4"),
        imdsToken(host.instance, "v4"),
        imdsAnswer(host.containers[0], "v4"),
      ]);
      expect(container.status).toBeNull();
      expect(instance.status).toBe(200);
      // Reachable, but IMDSv1 is refused: without a token the container gets nothing.
      expect(tokenless.status).toBe(401);
    });

    it("with hop limit 2 (explicit opt-out), a bridge container gets a token and the instance role's credentials", async () => {
      const template = constructLaunchTemplate({ clusterName: CLUSTER_NAME, httpPutResponseHopLimit: 2, allowRaisedHopLimit: true });
      expect(template.hopLimit).toBe(2);
      const host = await track(instanceFor(template, "hop2"));
      await host.startDocker();
      const { token, credentials } = await instanceRoleCredentials(host.containers[0], "v4");
      expect(token.status).toBe(200);
      expect(JSON.parse(credentials?.body ?? "{}").AccessKeyId).toBe(INSTANCE_ROLE_ACCESS_KEY);
    });
  });

  describe("the article's persistence (AL2, iptables-services)", () => {
    let guarded: EmulatedInstance;
    let boothookRun: Awaited<ReturnType<EmulatedInstance["runPart"]>>;

    beforeAll(async () => {
      const template = defaultStackLaunchTemplate({ platform: "al2", firewallPersistence: "iptables-services" });
      const userData = await trackedSplit(template);
      guarded = await track(instanceFor(template, "al2"));
      boothookRun = await guarded.runPart(onlyPart(userData.parts, "text/cloud-boothook").path);
      await guarded.startDocker();
    });

    it("installs and starts iptables.service, whose rules from /etc/sysconfig/iptables block the container", async () => {
      expect(boothookRun.code).toBe(0);
      expect(boothookRun.calls).toEqual(expect.arrayContaining(["yum install -y iptables-services", "systemctl start --no-block iptables"]));
      expect(guarded.diskFile("/etc/sysconfig/iptables")).toContain(DROP_V4);
      expect(await imdsAndNeighbour(guarded.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
      expect((await taskRoleCredentials(guarded.containers[0])).status).toBe(200);
    });

    it("the saved rules' full restore alone removes Docker's jump to DOCKER-USER and opens the path", async () => {
      // What iptables.service's own ExecStart does (iptables.init): a full iptables-restore.
      await onInstance(guarded, "iptables-restore </etc/sysconfig/iptables");
      expect(await guarded.rules("iptables", "FORWARD")).not.toContain("-A FORWARD -j DOCKER-USER");
      expect((await imdsAnswer(guarded.containers[0], "v4")).status).not.toBeNull();
      await guarded.restartDocker("graceful");
      expect((await imdsAnswer(guarded.containers[0], "v4")).status).toBeNull();
    });

    it.each([["restart"], ["reload"], ["stop"]])(
      "keeps the block when iptables.service is %s-ed while Docker runs (the guard's drop-in runs after it)",
      async (verb) => {
        const run = await systemctl(guarded, verb, "iptables");
        expect(run.code).toBe(0);
        expect((await guarded.rules("iptables", "FORWARD"))[1]).toBe("-A FORWARD -j DOCKER-USER");
        expect((await guarded.rules("iptables", "DOCKER-USER"))[1]).toBe(DROP_V4);
        expect(await imdsAndNeighbour(guarded.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
        if (verb === "stop") expect((await systemctl(guarded, "start", "iptables")).code).toBe(0);
      },
    );
  });
  describe("the capacity stack: cluster name from a Terraform variable, filled in as at apply", () => {
    const planned = "prod-cluster_2";
    let guarded: EmulatedInstance;

    beforeAll(async () => {
      const template = await capacityStackLaunchTemplate(planned);
      const userData = await trackedSplit(template);
      guarded = await track(instanceFor(template, "capa"));
      await boot(guarded, userData);
    });

    it("blocks the bridge container from IMDS and keeps its task role", async () => {
      const get = await imdsAndNeighbour(guarded.containers[0], "v4");
      expect({ imds: get.imds, neighbourAnswered: get.neighbour !== null }).toEqual({ imds: null, neighbourAnswered: true });
      expect((await taskRoleCredentials(guarded.containers[0])).status).toBe(200);
    });

    it("joins the cluster named at plan time, with the awsvpc block on", () => {
      const settings = readAgentSettings([guarded.diskFile("/var/lib/ecs/ecs.config"), guarded.diskFile("/etc/ecs/ecs.config")]);
      expect(settings.get("ECS_CLUSTER")).toBe(planned);
      expect(settings.get("ECS_AWSVPC_BLOCK_IMDS")).toBe("true");
    });
  });
});
