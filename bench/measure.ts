// Runs shell commands and records their wall time and peak resident memory. Commands that are
// compared run interleaved (one of each per round, order alternating) so that the noise of a shared
// machine hits every side alike; figures are medians over the rounds.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";

const GNU_TIME = "/usr/bin/time";
const RSS_PROBE = resolve(__dirname, "rss-probe.cjs");

/** How peak memory is read: GNU time's getrusage of the children, else the node probe. */
export const memorySource: "gnu-time" | "node-probe" = hasGnuTime() ? "gnu-time" : "node-probe";

/** A command to measure. */
export interface CommandSpec {
  /** Stable key in results.json. */
  readonly id: string;
  /** What the table shows. */
  readonly label: string;
  /** Shell command, run with `/bin/sh -c`. */
  readonly command: string;
  /** Working directory. */
  readonly cwd: string;
  /** Extra environment for the command; a fresh temporary directory is passed as BENCH_TMP. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Checks the work was really done, given the command's BENCH_TMP directory and stdout; throws
   * otherwise. Runs after every run so a fast failure is never reported as a fast success.
   */
  readonly verify?: (tmp: string, stdout: string) => void;
  /** Give up after this long. */
  readonly timeoutMs?: number;
}

/** One run. */
export interface Sample {
  readonly wallMs: number;
  /** Peak RSS of the largest process of the command, in MiB. */
  readonly peakRssMiB: number;
}

/** Medians of the runs of one command. */
export interface Measurement {
  readonly id: string;
  readonly label: string;
  readonly command: string;
  readonly wallMs: number;
  readonly peakRssMiB: number;
  readonly samples: readonly Sample[];
}

function hasGnuTime(): boolean {
  if (!existsSync(GNU_TIME)) return false;
  const probe = spawnSync(GNU_TIME, ["-v", "true"], { encoding: "utf8" });
  return probe.status === 0 && /Maximum resident set size/.test(probe.stderr);
}

/** Runs a command once and measures it; throws with its output if it fails. */
export function runOnce(spec: CommandSpec): Sample {
  const tmp = mkdtempSync(join(tmpdir(), "imds-guard-bench-"));
  try {
    const statsFile = join(tmp, ".bench-stats");
    const env: NodeJS.ProcessEnv = { ...process.env, ...spec.env, BENCH_TMP: tmp };
    // Measured commands must not inherit the runner's own loader or a CI colour setting.
    delete env.NODE_OPTIONS;
    const argv = ["/bin/sh", "-c", spec.command];
    if (memorySource === "gnu-time") {
      argv.unshift(GNU_TIME, "-v", "-o", statsFile);
    } else {
      env.NODE_OPTIONS = `--require ${RSS_PROBE}`;
      env.BENCH_RSS_FILE = statsFile;
    }
    const started = performance.now();
    const run = spawnSync(argv[0]!, argv.slice(1), {
      cwd: spec.cwd,
      env,
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
      timeout: spec.timeoutMs ?? 300_000,
    });
    const wallMs = performance.now() - started;
    if (run.error || run.status !== 0) {
      const output = `${run.stdout ?? ""}\n${run.stderr ?? ""}`.trim().split("\n").slice(-40).join("\n");
      const why = run.error ? run.error.message : `exit status ${run.status}`;
      throw new Error(`benchmark command failed (${why}): ${spec.command}\n  in ${spec.cwd}\n${output}`);
    }
    spec.verify?.(tmp, run.stdout);
    return { wallMs, peakRssMiB: readPeakKiB(statsFile) / 1024 };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function readPeakKiB(statsFile: string): number {
  const text = existsSync(statsFile) ? readFileSync(statsFile, "utf8") : "";
  if (memorySource === "gnu-time") {
    const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
    if (!match) throw new Error(`no peak memory in ${statsFile}: ${text}`);
    return Number(match[1]);
  }
  const values = text.split("\n").filter(Boolean).map(Number);
  if (values.length === 0) throw new Error("the memory probe saw no node process");
  return Math.max(...values);
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Measures several commands against each other: one discarded warm-up run each (file caches,
 * transform caches), then `rounds` rounds that run every command once, forward and backward in turn.
 */
export function measureInterleaved(
  specs: readonly CommandSpec[],
  rounds: number,
  log: (line: string) => void,
): Measurement[] {
  const samples = new Map<string, Sample[]>(specs.map((spec) => [spec.id, []]));
  for (const spec of specs) {
    const warm = runOnce(spec);
    log(`  warm-up ${spec.label}: ${formatMs(warm.wallMs)}, ${warm.peakRssMiB.toFixed(0)} MiB`);
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? specs : [...specs].reverse();
    for (const spec of order) samples.get(spec.id)!.push(runOnce(spec));
    log(`  round ${round + 1}/${rounds} done`);
  }
  return specs.map((spec) => {
    const runs = samples.get(spec.id)!;
    return {
      id: spec.id,
      label: spec.label,
      command: spec.command,
      wallMs: median(runs.map((run) => run.wallMs)),
      peakRssMiB: median(runs.map((run) => run.peakRssMiB)),
      samples: runs,
    };
  });
}

/** `1234.5` ms as `1.23 s`, small values in ms. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}
