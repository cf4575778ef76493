/**
 * The proof: the user data that the project synthesizes, run on an emulated ECS container instance
 * built from network namespaces with the real kernel firewall, keeps bridge containers from IMDS
 * and nothing else. See harness/host.ts for the emulated host and the README ("How we prove it").
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { copiesOfKey, readAgentSettings } from "./harness/ecs-config";
import {
  EmulatedInstance,
  HttpOutcome,
  NAMESPACE_PREFIX,
  httpFrom,
  IMDS_V4,
  IMDS_V6,
  NEIGHBOUR_V4,
  NEIGHBOUR_V6,
  sweepStaleNamespaces,
  TASK_CREDENTIALS_ADDRESS,
} from "./harness/host";
import { INSTANCE_ROLE_ACCESS_KEY, INSTANCE_ROLE_NAME, TASK_CREDENTIALS_PATH, TASK_ROLE_ACCESS_KEY } from "./harness/metadata-servers";
import { missingPrerequisite } from "./harness/preflight";
import { describeWhen } from "../support/tools";
import { mustRun } from "./harness/run";
import {
  capacityStackLaunchTemplate,
  constructLaunchTemplate,
  defaultStackLaunchTemplate,
  LaunchTemplateUnderTest,
  onlyPart,
  SplitUserData,
  splitUserData,
} from "./harness/user-data";

jest.setTimeout(60_000);

const CLUSTER_NAME = "default";
const IMDS_URL = { v4: `http://${IMDS_V4}`, v6: `http://[${IMDS_V6}]` } as const;
const DROP_V4 = `-A DOCKER-USER -d ${IMDS_V4}/32 -j DROP`;
const DROP_V6 = `-A DOCKER-USER -d ${IMDS_V6}/128 -j DROP`;
const STANDIN_SYSTEMCTL = join(__dirname, "harness", "standins", "systemctl");

const NEIGHBOUR_URL = { v4: `http://${NEIGHBOUR_V4}`, v6: `http://[${NEIGHBOUR_V6}]` } as const;

type Family = keyof typeof IMDS_URL;

/**
 * What a container gets from IMDS and from a neighbour on the same path past the instance: a
 * block must leave the first unanswered and the second answered.
 */
async function imdsAndNeighbour(namespace: string, family: Family): Promise<{ imds: number | null; neighbour: number | null }> {
  const [imds, neighbour] = await Promise.all([
    imdsAnswer(namespace, family),
    httpFrom(namespace, { url: `${NEIGHBOUR_URL[family]}/latest/meta-data/` }),
  ]);
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
 * A first boot in the order an ECS-optimized AMI runs it: cloud-init's boothook (before Docker),
 * then dockerd and ecs-init, then the once-per-instance shell scripts (cloud-final).
 */
async function boot(host: EmulatedInstance, userData: SplitUserData): Promise<void> {
  const boothook = await host.runPart(onlyPart(userData.parts, "text/cloud-boothook").path);
  if (boothook.code !== 0) throw new Error(`boothook failed (${boothook.code}): ${boothook.stderr}`);
  await host.startDocker();
  const script = await host.runPart(onlyPart(userData.parts, "text/x-shellscript").path);
  if (script.code !== 0) throw new Error(`shell part failed (${script.code}): ${script.stderr}`);
}

const cleanups: Array<() => Promise<void> | void> = [];

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

  afterAll(async () => {
    const errors: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "teardown failed");
  });

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

    it("keeps the block when Docker restarts and re-creates its FORWARD rules", async () => {
      await guarded.startDocker();
      expect((await guarded.rules("iptables", "DOCKER-USER"))[1]).toBe(DROP_V4);
      expect((await imdsAndNeighbour(guarded.containers[0], "v4")).imds).toBeNull();
      expect((await taskRoleCredentials(guarded.containers[0])).status).toBe(200);
    });

    it("leaves exactly one copy of each rule and each setting when the user data runs again", async () => {
      const again = await guarded.runPart(onlyPart(userData.parts, "text/cloud-boothook").path);
      expect(again.code).toBe(0);
      const script = await guarded.runPart(onlyPart(userData.parts, "text/x-shellscript").path);
      expect(script.code).toBe(0);
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
      await guarded.rebootFirewall();
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
      expect(boothookRun.calls).toEqual(expect.arrayContaining(["yum install -y iptables-services", "systemctl start iptables"]));
      expect(guarded.diskFile("/etc/sysconfig/iptables")).toContain(DROP_V4);
      expect(await imdsAndNeighbour(guarded.containers[0], "v4")).toEqual({ imds: null, neighbour: 401 });
      expect((await taskRoleCredentials(guarded.containers[0])).status).toBe(200);
    });

    it("loses the block when iptables.service restarts while Docker runs, until Docker restarts", async () => {
      const restart = await guarded.runOnInstance([STANDIN_SYSTEMCTL, "restart", "iptables"]);
      expect(restart.code).toBe(0);
      // The full restore flushed FORWARD: Docker's jump to DOCKER-USER is gone, the DROP rule unused.
      expect(await guarded.rules("iptables", "FORWARD")).not.toContain("-A FORWARD -j DOCKER-USER");
      expect((await imdsAnswer(guarded.containers[0], "v4")).status).not.toBeNull();
      await guarded.startDocker();
      expect((await imdsAnswer(guarded.containers[0], "v4")).status).toBeNull();
    });
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
