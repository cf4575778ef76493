/**
 * The kernel agrees with the judge: each bridge case of the audit corpus (and this module's own
 * templates) is booted on the emulated instance, and a container's reach of IMDS after the first
 * boot, after a Docker restart and after a reboot matches the verdict: closed holds through all
 * three, fragile fails a later one, open fails the first. The real-world corpus is booted too: every
 * resource whose user data the audit evaluated fully, whose bridge verdict the firewall decides and
 * whose parts the emulated instance runs (real-world-kernel.ts says which, and why not the others),
 * from the very user data the audit's reader produced.
 */
import fc from "fast-check";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { judge, LaunchDescription, ModeJudgement, Verdict } from "../../lib/audit";
import { canonicalSpec, containerReach } from "../../lib/audit/firewall";
import { applyIptables, InstanceState, parseRuleArgs } from "../../lib/audit/instance";
import { renderUserData } from "../../lib/user-data";
import { CORPUS, IMDSV1 } from "../audit/corpus";
import { literalUserData, selectForKernel, unreplayedCalls } from "../audit/real-world-kernel";
import { describeWhen } from "../support/tools";
import { bootUserData, containerReachesImds, scratchNamespace } from "./harness/audit-boot";
import { EmulatedInstance, sweepStaleNamespaces } from "./harness/host";
import { Cleanup, runCleanups } from "./harness/cleanups";
import { missingPrerequisite } from "./harness/preflight";
import { splitUserData, SplitUserData } from "./harness/user-data";
import { mustRun } from "./harness/run";

jest.setTimeout(120_000);

interface KernelCase {
  readonly name: string;
  readonly description: LaunchDescription;
}

function bytesOf(description: LaunchDescription): Buffer {
  const bytes = literalUserData(description);
  if (typeof bytes === "string") throw new Error(`a kernel case needs literal user data: ${bytes}`);
  return bytes;
}

const moduleCase = (name: string, options: Parameters<typeof renderUserData>[0]): KernelCase => ({
  name,
  // IMDSv1 allowed, so only the user data's firewall decides.
  description: { resourceType: "aws_launch_template", userData: { base64: renderUserData(options).base64 as string }, metadataOptions: IMDSV1 },
});

const CASES: readonly KernelCase[] = [
  ...CORPUS.filter((c) => c.kernel).map((c) => ({ name: c.name, description: c.description })),
  moduleCase("ecs-imds-guard's template (boothook persistence)", { clusterName: "prod" }),
  moduleCase("ecs-imds-guard's template (iptables-services persistence, gzip)", { clusterName: "prod", firewallPersistence: "iptables-services", gzip: true }),
];

const MOMENTS = ["after the first boot", "after a Docker restart", "after a reboot"] as const;

/** The verdict the kernel's observations amount to. */
function observedVerdict(blocked: readonly boolean[]): Verdict {
  if (!blocked[0]) return "open";
  return blocked.every(Boolean) ? "closed" : "fragile";
}

/** Maps over the items two at a time, results in the items' order. */
async function inPairs<T, R>(items: readonly T[], map: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index], index);
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

const missing = missingPrerequisite();
const describeProof = describeWhen({ [missing ?? "root and the namespace tools"]: missing === null });

describeProof("the kernel agrees with the audit", () => {
  const cleanups: Cleanup[] = [];

  beforeAll(async () => {
    if (missing !== null) throw new Error(`the namespace proof cannot run in CI: ${missing}`);
    await sweepStaleNamespaces();
  });

  afterAll(() => runCleanups(cleanups));

  /** Boots the user data on an emulated instance built from the description's metadata options. */
  async function bootAndObserve(description: LaunchDescription, userData: Buffer, label: string): Promise<{ blocked: boolean[]; calls: string[] }> {
    const metadata = description.metadataOptions ?? {};
    const host = await EmulatedInstance.create({
      label,
      httpTokens: metadata.httpTokens === "required" ? "required" : "optional",
      hopLimit: typeof metadata.httpPutResponseHopLimit === "number" ? metadata.httpPutResponseHopLimit : 2,
      ipv6: metadata.httpProtocolIpv6 === "enabled",
      containers: 1,
    });
    cleanups.push(() => host.teardown());
    const split: SplitUserData = await splitUserData(userData);
    cleanups.push(() => rmSync(split.directory, { recursive: true, force: true }));

    const enabled = new Set<string>();
    const blocked: boolean[] = [];
    const observe = async () => {
      const reach = await containerReachesImds(host);
      // The same path must carry other traffic: "no answer" is the rule, not a broken network.
      expect(reach.neighbourAnswers).toBe(true);
      blocked.push(!reach.reached);
    };
    await bootUserData(host, split, true, enabled);
    await observe();
    await host.restartDocker("graceful");
    await observe();
    await bootUserData(host, split, false, enabled);
    await observe();
    const callsLog = join(host.stateDir, "calls.log");
    const calls = existsSync(callsLog) ? readFileSync(callsLog, "utf8").split("\n").filter((line) => line.length > 0) : [];
    await host.teardown();
    rmSync(split.directory, { recursive: true, force: true });
    return { blocked, calls };
  }

  /** What the kernel showed, beside the verdict it amounts to and the events the judge names. */
  function comparison(judged: ModeJudgement, blocked: readonly boolean[]) {
    const observed = Object.fromEntries(MOMENTS.map((m, i) => [m, blocked[i] ? "blocked" : "reached"]));
    // The judge names the events that lose the block; the kernel loses it at exactly those.
    const named = judged.verdict === "fragile" ? MOMENTS.slice(1).filter((moment) => judged.reasons.some((reason) => reason.startsWith(`${moment} it passes`))) : [];
    const lost = judged.verdict === "fragile" ? MOMENTS.slice(1).filter((_, i) => !blocked[i + 1]) : [];
    return {
      actual: { judged: judged.verdict, observed, lostAt: named },
      expected: { judged: observedVerdict(blocked), observed, lostAt: lost },
    };
  }

  const bridgeOf = (description: LaunchDescription): ModeJudgement => {
    const judged = judge(description, { networkModes: ["bridge"] }).modes.bridge;
    if (!judged) throw new Error("no bridge verdict");
    return judged;
  };

  it.each(CASES.map((c, index) => [c.name, index] as const))("%s", async (_name, index) => {
    const { description } = CASES[index];
    const { blocked } = await bootAndObserve(description, bytesOf(description), `audit${index}`);
    const { actual, expected } = comparison(bridgeOf(description), blocked);
    expect(actual).toEqual(expected);
  });

  it("real-world Terraform: every resource the audit evaluated fully and whose bridge verdict the firewall decides", async () => {
    const actual: Record<string, unknown> = {};
    const expected: Record<string, unknown> = {};
    const unreplayed: Record<string, string[]> = {};
    const { booted, notBooted } = await selectForKernel();
    // Two instances at a time: a boot mostly waits (dockerd's starts and stops, probes that time out).
    const observed = await inPairs(booted, async ({ found, userData }, index) => bootAndObserve(found.description, userData, `real${index}`));
    for (const [index, { folder, address, found }] of booted.entries()) {
      const row = `${folder}: ${address}`;
      const { blocked, calls } = observed[index];
      // A service the parts started that the instance did not replay would void the observation.
      const missed = unreplayedCalls(calls);
      if (missed.length > 0) unreplayed[row] = missed;
      const compared = comparison(bridgeOf(found.description), blocked);
      actual[row] = compared.actual;
      expected[row] = compared.expected;
    }
    console.info(
      `booted ${Object.keys(actual).length} real-world resources:\n  ${Object.keys(actual).join("\n  ")}\n` +
        `not booted:\n  ${Object.entries(notBooted).map(([row, why]) => `${row}: ${why}`).join("\n  ")}`,
    );
    expect(unreplayed).toEqual({});
    expect(actual).toEqual(expected);
  }, 30 * 60_000);

  it("can tell the cases apart: an unguarded instance is reached at once", async () => {
    const host = await EmulatedInstance.create({ label: "auditplain", httpTokens: "optional", hopLimit: 2, ipv6: false, containers: 1 });
    cleanups.push(() => host.teardown());
    const split = await splitUserData(gzipSync("#!/bin/bash\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n"));
    cleanups.push(() => rmSync(split.directory, { recursive: true, force: true }));
    await bootUserData(host, split, true, new Set());
    expect((await containerReachesImds(host)).reached).toBe(true);
  });
});

describeProof("the audit's firewall model against iptables", () => {
  let scratch: Awaited<ReturnType<typeof scratchNamespace>>;

  beforeAll(async () => {
    if (missing !== null) throw new Error(`the namespace proof cannot run in CI: ${missing}`);
    scratch = await scratchNamespace("fwmodel");
  });
  afterAll(async () => scratch?.remove());

  const chain = fc.constantFrom("FORWARD", "DOCKER-USER");
  const spec = fc.constantFrom(
    "-d 169.254.169.254 -j DROP",
    "-d 169.254.169.254/32 -j DROP",
    "--in-interface docker+ --destination 169.254.169.254/32 --jump DROP",
    "-p tcp --dport 80 -d 169.254.169.254 -j REJECT",
    "-j DOCKER-USER",
    "-j RETURN",
    "-i docker0 ! -o docker0 -j ACCEPT",
    "-m comment --comment guard -d 169.254.169.254/32 -j DROP",
  );
  const command = fc.oneof(
    fc.constantFrom("-N DOCKER-USER", "-X DOCKER-USER", "-F DOCKER-USER", "-F", "-X", "-P FORWARD DROP", "-P FORWARD ACCEPT"),
    fc.tuple(chain, spec).map(([c, s]) => `-A ${c} ${s}`),
    fc.tuple(chain, fc.constantFrom("", " 1", " 2"), spec).map(([c, n, s]) => `-I ${c}${n} ${s}`),
    fc.tuple(chain, spec).map(([c, s]) => `-D ${c} ${s}`),
    fc.tuple(chain, spec).map(([c, s]) => `-C ${c} ${s}`),
    fc.tuple(chain, fc.constantFrom("1", "2")).map(([c, n]) => `-D ${c} ${n}`),
  );

  /** A chain's rules as the model keys them, read from `iptables -S`. */
  const chainsOf = (save: string): Record<string, string[]> => {
    const chains: Record<string, string[]> = {};
    for (const line of save.split("\n")) {
      const declared = /^-N (\S+)$/.exec(line) ?? /^-P (\S+) /.exec(line);
      if (declared) chains[declared[1]] ??= [];
      const rule = /^-A (\S+) (.*)$/.exec(line);
      if (rule) {
        const parsed = parseRuleArgs(rule[2].match(/"[^"]*"|\S+/g)!.map((word) => word.replace(/^"|"$/g, "")));
        (chains[rule[1]] ??= []).push(typeof parsed === "string" ? `unparsed ${rule[2]}` : canonicalSpec(parsed));
      }
    }
    return chains;
  };

  it("ends with the rules iptables ends with, and agrees on which commands fail", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 10 }), async (commands) => {
        const reset = "iptables -P FORWARD ACCEPT; iptables -F; iptables -X";
        const script = `${reset}\n${commands.map((c) => `iptables -w 5 ${c} >/dev/null 2>&1; echo $?`).join("\n")}\niptables -S`;
        const result = await scratch.run(script);
        const lines = result.stdout.split("\n");
        const statuses = lines.slice(0, commands.length).map((s) => (s === "0" ? 0 : 1));
        const real = chainsOf(lines.slice(commands.length).join("\n"));

        const state = new InstanceState();
        const modelStatuses = commands.map((c) => (applyIptables(state, "v4", c.match(/\S+/g)!, "generated", c) === 0 ? 0 : 1));
        const model: Record<string, string[]> = {};
        for (const [name, rules] of state.tables.v4.chains) model[name] = rules.map((rule) => rule.spec);
        expect({ commands, statuses: modelStatuses, chains: model }).toEqual({ commands, statuses, chains: real });
        return true;
      }),
      // Loops: the kernel loads one no built-in chain reaches, and refuses the jump that reaches it.
      {
        numRuns: 60,
        examples: [
          [["-N DOCKER-USER", "-A DOCKER-USER -j DOCKER-USER"]],
          [["-N DOCKER-USER", "-A DOCKER-USER -j DOCKER-USER", "-A FORWARD -j DOCKER-USER"]],
          [["-N DOCKER-USER", "-A FORWARD -j DOCKER-USER", "-I DOCKER-USER -j DOCKER-USER"]],
        ],
      },
    );
  });

  it("says where a container's packet to IMDS goes as the kernel does, after Docker set up its rules", async () => {
    const host = await EmulatedInstance.create({ label: "fwpath", httpTokens: "optional", hopLimit: 2, ipv6: false, containers: 1 });
    try {
      // The rules real dockerd wrote at its start, put back before each run with a full restore
      // (one engine for all runs: restarting dockerd each time would only cost time).
      await host.startDocker();
      const dockerRules = await host.save("iptables");
      expect(dockerRules).toContain("-A FORWARD -j DOCKER-USER");
      await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 6 }), async (commands) => {
        await mustRun("ip", ["netns", "exec", host.instance, "iptables-restore"], { timeoutMs: 10_000, input: dockerRules });
        // The control comes before the commands: they may block every forwarded packet (a DROP
        // policy without Docker's ACCEPT), the neighbour's too, and only iptables changes after it.
        expect((await containerReachesImds(host)).neighbourAnswers).toBe(true);
        await host.inNamespace(host.instance, commands.map((c) => `iptables -w 5 ${c} >/dev/null 2>&1 || true`).join("\n"));
        const state = new InstanceState();
        state.startDocker();
        for (const c of commands) applyIptables(state, "v4", c.match(/\S+/g)!, "generated", c);
        const predicted = containerReach(state.tables.v4).result;
        const reach = await containerReachesImds(host);
        expect({ commands, result: predicted }).toEqual({ commands, result: reach.reached ? "passed" : "blocked" });
        return true;
      }),
      // The first example blocks every forwarded packet, the neighbour's too; the second asks for a
      // loop; the third lets the request out but drops IMDS's answer on its way back.
      {
        numRuns: 20,
        examples: [
          [["-P FORWARD DROP", "-D FORWARD -i docker0 ! -o docker0 -j ACCEPT"]],
          [["-D DOCKER-USER 1", "-A DOCKER-USER -j DOCKER-USER"]],
          [["-D FORWARD 1", "-P FORWARD DROP", "-D FORWARD 2"]],
        ],
      },
      );
    } finally {
      await host.teardown();
    }
  });
});
