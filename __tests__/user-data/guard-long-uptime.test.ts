/**
 * The installed guard script over a long uptime, run for real with iptables in private network
 * namespaces holding Docker's FORWARD layout: it keeps FORWARD as it found it plus one jump to
 * DOCKER-USER, first; it stays serialized by its lock, which dies with a killed run; and it prints
 * nothing on a healthy run and one line on a run that repairs. The cost of a run over the soak is
 * measured by the benchmark (`npm run bench -- --only guard`), not here.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DOCKER_FILTER_TABLE, GuardedInstanceFirewall, soakGuard } from "../support/guard-on-instance";
import { describeWhen, hasProgram, isRoot } from "../support/tools";

const JUMP = "-A FORWARD -j DOCKER-USER";
/** FORWARD as Docker leaves it, as `iptables -S FORWARD` lists it. */
const DOCKER_FORWARD = ["-P FORWARD DROP", ...DOCKER_FILTER_TABLE.split("\n").filter((line) => line.startsWith("-A FORWARD "))];

describeWhen({ root: isRoot, ip: hasProgram("ip"), iptables: hasProgram("iptables"), ip6tables: hasProgram("ip6tables"), flock: hasProgram("flock") })(
  "the guard over a long uptime",
  () => {
    let firewall: GuardedInstanceFirewall;
    let label = 0;
    beforeEach(() => {
      firewall = new GuardedInstanceFirewall(`uptime${++label}`);
    });
    afterEach(() => firewall.dispose());

    it("keeps FORWARD as it found it plus one jump to DOCKER-USER, first, when a tool's rule comes and goes above the jump", () => {
      expect(firewall.runGuard()).toMatchObject({ status: 0, stderr: "" });
      for (let round = 0; round < 20; round++) {
        for (const [tool, source] of [["iptables", "192.0.2.7"], ["ip6tables", "2001:db8::7"]] as const) {
          firewall.exec([tool, "-w", "30", "-I", "FORWARD", "1", "-s", source, "-j", "ACCEPT"]);
        }
        const repair = firewall.runGuard();
        expect(repair).toMatchObject({ status: 0, stderr: "" });
        // One line for the run that repaired, naming both families' jumps.
        expect(repair.stdout.trimEnd().split("\n")).toEqual([expect.stringMatching(/^ecs-imds-guard: re-applied iptables FORWARD jump to DOCKER-USER iptables removed 1 other FORWARD jump\(s\) to DOCKER-USER ip6tables FORWARD jump/)]);
        for (const [tool, source] of [["iptables", "192.0.2.7/32"], ["ip6tables", "2001:db8::7/128"]] as const) {
          expect(firewall.rules(tool, "FORWARD").slice(0, 3)).toEqual(["-P FORWARD DROP", JUMP, `-A FORWARD -s ${source} -j ACCEPT`]);
          firewall.exec([tool, "-w", "30", "-D", "FORWARD", "-s", source, "-j", "ACCEPT"]);
        }
        // Nothing to repair once the tool's rule is gone: silent.
        expect(firewall.runGuard()).toEqual({ status: 0, stdout: "", stderr: "" });
      }
      for (const tool of ["iptables", "ip6tables"] as const) expect(firewall.rules(tool, "FORWARD")).toEqual(DOCKER_FORWARD);
    });

    it("removes jumps to DOCKER-USER left anywhere in FORWARD, and leaves jumps with conditions and every other rule in their order", () => {
      firewall.runGuard();
      const tool = "iptables";
      // Stale copies below Docker's rules and at the end, beside a jump of someone else's with a condition.
      firewall.exec([tool, "-w", "30", "-I", "FORWARD", "4", "-j", "DOCKER-USER"]);
      firewall.exec([tool, "-w", "30", "-A", "FORWARD", "-i", "eth1", "-j", "DOCKER-USER"]);
      firewall.exec([tool, "-w", "30", "-A", "FORWARD", "-j", "DOCKER-USER"]);
      firewall.exec([tool, "-w", "30", "-A", "FORWARD", "-j", "DOCKER-USER"]);
      const run = firewall.runGuard();
      expect(run).toEqual({ status: 0, stdout: "ecs-imds-guard: re-applied iptables removed 3 other FORWARD jump(s) to DOCKER-USER\n", stderr: "" });
      expect(firewall.rules(tool, "FORWARD")).toEqual([...DOCKER_FORWARD, "-A FORWARD -i eth1 -j DOCKER-USER"]);
    });

    it("never leaves FORWARD without a jump first while it removes the others (insert before delete)", () => {
      firewall.runGuard();
      firewall.exec(["iptables", "-w", "30", "-I", "FORWARD", "1", "-s", "192.0.2.7", "-j", "ACCEPT"]);
      // Every FORWARD the guard's own calls could leave between two of them, recorded by a wrapper.
      const wrapperDir = join(firewall.dir, "bin");
      const real = spawnSync("sh", ["-c", "command -v iptables"], { encoding: "utf8" }).stdout.trim();
      writeFileSync(join(wrapperDir, "iptables"), `#!/bin/bash\n${real} "$@"; status=$?\n${real} -w 30 -S FORWARD | sed -n 2p >>${join(firewall.dir, "first-rules")}\nexit $status\n`, { mode: 0o755 });
      expect(firewall.runGuard()).toMatchObject({ status: 0 });
      const firstRules = readFileSync(join(firewall.dir, "first-rules"), "utf8").trimEnd().split("\n");
      // Before the guard's insert the tool's rule is first; from the insert on, always the jump.
      const inserted = firstRules.indexOf(JUMP);
      expect(inserted).toBeGreaterThan(0);
      expect(new Set(firstRules.slice(inserted))).toEqual(new Set([JUMP]));
    });

    it("stays serialized when four runs start at once: all succeed, one jump, one DROP", async () => {
      firewall.exec(["iptables", "-w", "30", "-F", "DOCKER-USER"]);
      const runs = await Promise.all(
        [1, 2, 3, 4].map(
          () =>
            new Promise<number | null>((resolve) => {
              const child = spawn("ip", ["netns", "exec", firewall.name, firewall.guard], { env: { PATH: firewall.path }, stdio: "ignore" });
              const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
              child.on("exit", (code) => {
                clearTimeout(timer);
                resolve(code);
              });
            }),
        ),
      );
      expect(runs).toEqual([0, 0, 0, 0]);
      expect(firewall.rules("iptables", "FORWARD").filter((rule) => rule === JUMP)).toHaveLength(1);
      expect(firewall.rules("iptables", "DOCKER-USER")).toEqual(["-N DOCKER-USER", "-A DOCKER-USER -d 169.254.169.254/32 -j DROP"]);
    });

    it("frees its lock when a run is killed while holding it: the next run never waits", async () => {
      // A run that stops inside the lock: its iptables hangs until killed.
      const real = spawnSync("sh", ["-c", "command -v iptables"], { encoding: "utf8" }).stdout.trim();
      const holding = join(firewall.dir, "holding");
      writeFileSync(join(firewall.dir, "bin", "iptables"), `#!/bin/bash\ntouch ${holding}\nexec sleep 120\n`, { mode: 0o755 });
      const stuck = spawn("ip", ["netns", "exec", firewall.name, firewall.guard], { env: { PATH: firewall.path }, stdio: "ignore", detached: true });
      try {
        const deadline = Date.now() + 20_000;
        while (!existsSync(holding) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(existsSync(holding)).toBe(true);
        // While it holds the lock, another taker cannot have it at once: the check below can fail.
        expect(spawnSync("flock", ["-n", firewall.lock, "true"]).status).toBe(1);
        // systemd stops a unit by killing its whole control group; here, the run's process group.
        const exited = new Promise((resolve) => stuck.on("exit", resolve));
        process.kill(-(stuck.pid as number), "SIGKILL");
        await exited;
      } finally {
        try {
          process.kill(-(stuck.pid as number), "SIGKILL");
        } catch {
          // already gone
        }
      }
      expect(spawnSync("flock", ["-n", firewall.lock, "true"]).status).toBe(0);
      writeFileSync(join(firewall.dir, "bin", "iptables"), `#!/bin/sh\nexec ${real} "$@"\n`, { mode: 0o755 });
      const started = Date.now();
      expect(firewall.runGuard()).toMatchObject({ status: 0, stderr: "" });
      // Far below the guard's 60 s lock wait: the lock died with the killed run.
      expect(Date.now() - started).toBeLessThan(30_000);
    });

    it("soak: thousands of runs while tools fight the rules leave exactly Docker's FORWARD plus the block, never without it after a run, and print one line per repair", () => {
      const soak = soakGuard(firewall, 2000);
      expect(soak.failures).toEqual([]);
      expect(soak.violations).toEqual([]);
      expect(soak.runMs).toHaveLength(2000);
      // At most one jump outlives a run: the tool's rule above it only ever shifts it, never copies it.
      expect(soak.mostJumps).toBe(1);
      // Silent when nothing was repaired: the first run (it writes ecs.config), then one line per disturbed run at most.
      expect(soak.printed.every((line) => line.startsWith("ecs-imds-guard: re-applied "))).toBe(true);
      expect(soak.printed.length).toBeLessThanOrEqual(soak.disturbedRuns + 1);
      expect(soak.printed.length).toBeGreaterThan(soak.disturbedRuns / 2);
      // The schedule's last tool rule was removed at run 1999.
      for (const tool of ["iptables", "ip6tables"] as const) expect(firewall.rules(tool, "FORWARD")).toEqual(DOCKER_FORWARD);
      expect(firewall.rules("iptables", "DOCKER-USER")).toEqual(["-N DOCKER-USER", "-A DOCKER-USER -d 169.254.169.254/32 -j DROP"]);
      expect(firewall.rules("ip6tables", "DOCKER-USER")).toEqual(["-N DOCKER-USER", "-A DOCKER-USER -d fd00:ec2::254/128 -j DROP"]);
      expect(firewall.systemctlCalls()).toBe("");
    }, 600_000);
  },
);
