import { spawnSync } from "node:child_process";

/** Whether a program can be run (found on PATH, or an absolute path that exists). */
export function hasProgram(program: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$1" >/dev/null', "sh", program]).status === 0;
}

/** Whether cloud-init's Python module is importable by the system Python. */
export function hasCloudInit(): boolean {
  return spawnSync("/usr/bin/python3", ["-c", "from cloudinit import user_data"], { timeout: 30_000 }).status === 0;
}

/** Why the requirements do not hold, or null when they all do. */
function unmetReason(requirements: Record<string, boolean>): string | null {
  const missing = Object.entries(requirements)
    .filter(([, met]) => !met)
    .map(([what]) => what);
  if (missing.length === 0) return null;
  return `missing ${missing.join(", ")} (run as root: npm test installs the Debian packages with apt-get when missing; or run bash tools/install-test-tools.sh)`;
}

/**
 * Returns `describe` when every requirement holds. Otherwise, outside CI, a skipped describe whose
 * title says why; in CI (CI=true) a describe whose single test fails with the reason, since CI
 * must never pass by skipping.
 */
export function describeWhen(requirements: Record<string, boolean>): (title: string, body: () => void) => void {
  const reason = unmetReason(requirements);
  if (reason === null) return describe;
  if (process.env.CI === "true") {
    return (title) =>
      describe(title, () => {
        it("has what it needs", () => {
          throw new Error(`${title}: ${reason}`);
        });
      });
  }
  return (title, body) => {
    console.warn(`${title}: skipped, ${reason}`);
    describe.skip(`${title} [skipped: ${reason}]`, body);
  };
}

/** `it` when every requirement holds; otherwise skipped with the reason, or failing in CI, as {@link describeWhen}. */
export function itWhen(requirements: Record<string, boolean>): (title: string, body: () => void) => void {
  const reason = unmetReason(requirements);
  if (reason === null) return it;
  if (process.env.CI === "true") {
    return (title) =>
      it(title, () => {
        throw new Error(`${title}: ${reason}`);
      });
  }
  return (title, body) => {
    console.warn(`${title}: skipped, ${reason}`);
    it.skip(`${title} [skipped: ${reason}]`, body);
  };
}

/** Whether this process runs as root. */
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
