import { spawn } from "node:child_process";

/** What a finished command left behind. */
export interface CommandResult {
  /** Exit status, or null when the command was killed (see `signal`). */
  readonly code: number | null;
  /** Signal that ended the command, if any (SIGKILL after a timeout). */
  readonly signal: NodeJS.Signals | null;
  /** Whether the command ran out of time and was killed. */
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one bounded command. */
export interface RunOptions {
  /** Hard limit; the command is killed with SIGKILL when it is reached. */
  readonly timeoutMs: number;
  /** Text written to the command's standard input. */
  readonly input?: string;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory. */
  readonly cwd?: string;
}

/** Runs a command with a hard time limit; never throws for a non-zero exit (see `mustRun`). */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, stderr });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** Runs a command and throws, with its output, unless it exits 0. */
export async function mustRun(command: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} ${result.timedOut ? `timed out after ${options.timeoutMs} ms` : `exited ${result.code ?? result.signal}`}\n` +
        `stdout: ${result.stdout.trim()}\nstderr: ${result.stderr.trim()}`,
    );
  }
  return result;
}
