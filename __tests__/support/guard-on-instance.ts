/**
 * The guard script as an instance runs it, over days: a private network namespace holding Docker's
 * FORWARD layout, the installed guard script (taken from the rendered boothook, with its lock and
 * ecs.config moved into a scratch folder), and a soak that runs it many times while other programs
 * change the firewall. Used by the tests (the end state and what it printed) and by the benchmark
 * (the cost of a run at the start and the end).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECS_CONFIG_PATH, renderUserData, RenderedUserData } from "../../lib/user-data";
import { GUARD_LOCK_PATH, GUARD_SCRIPT_PATH } from "../../lib/user-data/guard-paths";

/** A file a boothook writes with `install_file <path> <mode> <<'END'`. */
export interface WrittenFile {
  readonly path: string;
  readonly mode: string;
  readonly content: string;
}

/**
 * The files a boothook writes with `install_file <path> <mode> <<'END'`, read as bash reads a
 * quoted heredoc: every line after the command up to the line that is exactly the delimiter.
 */
export function filesWrittenBy(boothook: string): WrittenFile[] {
  const lines = boothook.split("\n");
  const files: WrittenFile[] = [];
  lines.forEach((line, index) => {
    const command = /^install_file (\S+) ([0-7]{4}) <<'([A-Z_]+)'/.exec(line);
    if (!command) return;
    const end = lines.indexOf(command[3], index + 1);
    if (end < 0) throw new Error(`heredoc for ${command[1]} is not closed`);
    files.push({ path: command[1], mode: command[2], content: `${lines.slice(index + 1, end).join("\n")}\n` });
  });
  return files;
}

/** The boothook part of a rendered document. */
export const boothookOf = (r: RenderedUserData): string => r.parts.find((p) => p.contentType === "text/cloud-boothook")!.content;

/** The guard script the boothook installs. */
export const guardScriptOf = (r: RenderedUserData): string => filesWrittenBy(boothookOf(r)).find((f) => f.path === GUARD_SCRIPT_PATH)!.content;

/** FORWARD and its chains as Docker 20.10 leaves them with one bridge (docker0), before any guard. */
export const DOCKER_FILTER_TABLE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
`;

/** A private network namespace with Docker's layout in both families, and the guard installed in a scratch folder. */
export class GuardedInstanceFirewall {
  readonly name: string;
  readonly dir: string;
  readonly guard: string;
  readonly lock: string;

  constructor(label: string, rendered: RenderedUserData = renderUserData({ clusterName: "prod", ipv6Imds: true })) {
    this.name = `imdsguard-fw-${process.pid}-${label}`;
    this.dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-fw-"));
    // A namespace left by a crashed run of the same pid is replaced.
    spawnSync("ip", ["netns", "delete", this.name]);
    const added = spawnSync("ip", ["netns", "add", this.name], { encoding: "utf8" });
    if (added.status !== 0) throw new Error(`ip netns add ${this.name}: ${added.stderr}`);
    for (const tool of ["iptables-restore", "ip6tables-restore"]) this.exec([tool], DOCKER_FILTER_TABLE);
    this.lock = join(this.dir, "lock");
    const script = guardScriptOf(rendered);
    if (script.split(`config=${ECS_CONFIG_PATH} `).length !== 2 || !script.includes(`exec 9>>${GUARD_LOCK_PATH} `)) {
      throw new Error("the guard script no longer names ecs.config and its lock as this harness expects");
    }
    this.guard = join(this.dir, "ensure");
    writeFileSync(this.guard, script.replace(`config=${ECS_CONFIG_PATH} `, `config=${join(this.dir, "ecs.config")} `).split(GUARD_LOCK_PATH).join(this.lock), { mode: 0o755 });
    // The agent's unit is what fail-closed stops: record it instead of touching this machine's systemd.
    mkdirSync(join(this.dir, "bin"));
    writeFileSync(join(this.dir, "bin", "systemctl"), `#!/bin/sh\necho "systemctl $*" >>${join(this.dir, "systemctl.log")}\n`, { mode: 0o755 });
  }

  /** PATH for commands in the namespace: the recording systemctl first. */
  get path(): string {
    return `${join(this.dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`;
  }

  /** Runs a command in the namespace; throws unless it succeeds. */
  exec(command: readonly string[], input?: string, timeoutMs = 30_000): string {
    const result = spawnSync("ip", ["netns", "exec", this.name, ...command], { input, encoding: "utf8", timeout: timeoutMs, env: { PATH: this.path } });
    if (result.status !== 0) throw new Error(`${command.join(" ")} in ${this.name}: ${result.error?.message ?? result.stderr}`);
    return result.stdout;
  }

  /** Runs the guard script once, as the heal timer's service does. */
  runGuard(): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync("ip", ["netns", "exec", this.name, this.guard], { encoding: "utf8", timeout: 120_000, env: { PATH: this.path } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** `<tool> -S <chain>` as lines. */
  rules(tool: "iptables" | "ip6tables", chain: string): string[] {
    return this.exec([tool, "-w", "30", "-S", chain]).trimEnd().split("\n");
  }

  /** What the recording systemctl was asked, in order. */
  systemctlCalls(): string {
    try {
      return readFileSync(join(this.dir, "systemctl.log"), "utf8");
    } catch {
      return "";
    }
  }

  dispose(): void {
    spawnSync("ip", ["netns", "delete", this.name]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What a soak of the guard left and printed. */
export interface SoakResult {
  readonly runs: number;
  /** Each run's wall time in milliseconds, in order. */
  readonly runMs: readonly number[];
  /** Runs after which FORWARD's first rule was not the jump, or DOCKER-USER's first rule not the only DROP (by family). */
  readonly violations: readonly string[];
  /** Runs that exited non-zero, with what they printed. */
  readonly failures: readonly string[];
  /** Every line the runs printed on stdout and stderr (what the journal gets). */
  readonly printed: readonly string[];
  /** How many runs followed a change by another program (the runs that may print one line). */
  readonly disturbedRuns: number;
  /** Most jumps to DOCKER-USER FORWARD held after any run, by family. */
  readonly mostJumps: number;
}

/**
 * Runs the guard `runs` times in the namespace, one bash process driving it (as the heal timer
 * would, without its 30 s pauses), while other programs act between runs on a fixed schedule:
 * a tool inserts its own rule above the jump and removes it later, DOCKER-USER is flushed, a
 * duplicate DROP is appended, Docker restarts (re-creating its jump first, as libnetwork's
 * ensureJumpRule does: delete it, insert it at the top), and every 50th run three guards start at
 * once (timer, ExecStartPre and the iptables.service drop-in overlapping). After each run the
 * invariants are checked in both families.
 */
export function soakGuard(firewall: GuardedInstanceFirewall, runs: number): SoakResult {
  const log = join(firewall.dir, "soak.log");
  const script = `
set -u
guard=${firewall.guard}
log=${log}
: >"$log"
check() {
  local tool=$1 destination=$2 all forward user jumps
  # One listing of the whole table per family: FORWARD's and DOCKER-USER's rules in order.
  all=$($tool -w 30 -S)
  forward=$(printf '%s\n' "$all" | grep -e '^-A FORWARD ')
  user=$(printf '%s\n' "$all" | grep -e '^-A DOCKER-USER ')
  jumps=$(printf '%s\n' "$forward" | grep -cxF -- "-A FORWARD -j DOCKER-USER")
  echo "jumps $jumps" >>"$log"
  [ "$(printf '%s\n' "$forward" | sed -n 1p)" = "-A FORWARD -j DOCKER-USER" ] || echo "violation $run $tool FORWARD" >>"$log"
  [ "$(printf '%s\n' "$user" | sed -n 1p)" = "-A DOCKER-USER -d $destination -j DROP" ] || echo "violation $run $tool DOCKER-USER first" >>"$log"
  [ "$(printf '%s\n' "$user" | grep -cxF -- "-A DOCKER-USER -d $destination -j DROP")" -eq 1 ] || echo "violation $run $tool DOCKER-USER count" >>"$log"
}
both() { iptables -w 30 "$@" && ip6tables -w 30 "$@"; }
for ((run = 1; run <= ${runs}; run++)); do
  disturbed=0
  # Another program's rule above the jump, removed three runs later.
  if (( run % 7 == 1 )); then iptables -w 30 -I FORWARD 1 -s 192.0.2.7 -j ACCEPT; ip6tables -w 30 -I FORWARD 1 -s 2001:db8::7 -j ACCEPT; disturbed=1; fi
  if (( run % 7 == 4 )); then iptables -w 30 -D FORWARD -s 192.0.2.7 -j ACCEPT; ip6tables -w 30 -D FORWARD -s 2001:db8::7 -j ACCEPT; fi
  if (( run % 11 == 0 )); then both -F DOCKER-USER; disturbed=1; fi
  if (( run % 13 == 0 )); then iptables -w 30 -A DOCKER-USER -d 169.254.169.254/32 -j DROP; ip6tables -w 30 -A DOCKER-USER -d fd00:ec2::254/128 -j DROP; disturbed=1; fi
  if (( run % 17 == 0 )); then both -D FORWARD -j DOCKER-USER; both -I FORWARD -j DOCKER-USER; fi
  (( disturbed )) && echo disturbed >>"$log"
  start=$(date +%s%N)
  if (( run % 50 == 0 )); then
    "$guard" >"$log.out.1" 2>&1 & a=$!
    "$guard" >"$log.out.2" 2>&1 & b=$!
    "$guard" >"$log.out.3" 2>&1; c=$?
    wait "$a"; a=$?; wait "$b"; b=$?
    status=$(( a | b | c ))
    cat "$log.out.1" "$log.out.2" "$log.out.3" >"$log.out"
  else
    "$guard" >"$log.out" 2>&1; status=$?
  fi
  end=$(date +%s%N)
  echo "ms $(( (end - start) / 1000 ))" >>"$log"
  [ "$status" -eq 0 ] || { echo "failure $run: $(tr '\\n' ' ' <"$log.out")" >>"$log"; }
  sed 's/^/printed /' "$log.out" >>"$log"
  check iptables 169.254.169.254/32
  check ip6tables fd00:ec2::254/128
done
`;
  const result = spawnSync("ip", ["netns", "exec", firewall.name, "bash", "-c", script], {
    encoding: "utf8",
    timeout: Math.max(120_000, runs * 500),
    env: { PATH: firewall.path },
  });
  if (result.status !== 0) throw new Error(`soak driver failed: ${result.error?.message ?? result.stderr}`);
  const lines = readFileSync(log, "utf8").split("\n");
  const field = (prefix: string) => lines.filter((line) => line.startsWith(prefix)).map((line) => line.slice(prefix.length));
  return {
    runs,
    runMs: field("ms ").map((micros) => Number(micros) / 1000),
    violations: field("violation "),
    failures: field("failure "),
    printed: field("printed "),
    disturbedRuns: field("disturbed").length,
    mostJumps: Math.max(...field("jumps ").map(Number)),
  };
}
