/**
 * The audit on real-world shapes of ECS-on-EC2 Terraform (real-world.ts): every resource it reports
 * is expected, and every expected verdict comes with reasons that name its cause.
 */
import { join } from "node:path";
import { runAudit } from "../../lib/audit";
import { Expected, REAL_WORLD, REAL_WORLD_FIXTURES } from "./real-world";

interface ReportedResource {
  readonly address: string;
  readonly verdicts: Record<string, string | undefined>;
  readonly reasons: Record<string, readonly string[]>;
}

async function audit(folder: string, modes: readonly string[]): Promise<readonly ReportedResource[]> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", "--format", "json", "--network-modes", modes.join(","), join(REAL_WORLD_FIXTURES, folder)], {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  if (code === 2) throw new Error(`the audit could not read ${folder}: ${stderr}`);
  return (JSON.parse(stdout) as { resources: ReportedResource[] }).resources;
}

/** A verdict and whether its reasons hold the phrase, in one comparable value. */
const shown = (verdict: string | undefined, reasons: readonly string[], because: RegExp) =>
  `${verdict}, ${because.test(reasons.join(" ")) ? `because ${because}` : `not ${because}: ${reasons.join(" | ")}`}`;
const wanted = (expected: Expected) => `${expected.verdict}, because ${expected.because}`;

describe("the audit on real-world Terraform", () => {
  it.each(REAL_WORLD.map((c) => [c.folder, c] as const))("%s", async (_folder, realWorldCase) => {
    const reported = await audit(realWorldCase.folder, realWorldCase.modes);
    // Every row is checked: nothing reported that is not expected, nothing expected missing.
    expect(reported.map((resource) => resource.address).sort()).toEqual(Object.keys(realWorldCase.expected).sort());
    const actual: Record<string, Record<string, string>> = {};
    const expected: Record<string, Record<string, string>> = {};
    for (const resource of reported) {
      const modes = realWorldCase.expected[resource.address] ?? {};
      actual[resource.address] = {};
      expected[resource.address] = {};
      for (const mode of realWorldCase.modes) {
        const want = modes[mode];
        if (!want) throw new Error(`${realWorldCase.folder}: ${resource.address} has no expected verdict for ${mode}`);
        actual[resource.address][mode] = shown(resource.verdicts[mode], resource.reasons[mode] ?? [], want.because);
        expected[resource.address][mode] = wanted(want);
      }
    }
    expect(actual).toEqual(expected);
  });

  it("names every public shape and judges every listed mode", () => {
    for (const realWorldCase of REAL_WORLD) {
      expect(realWorldCase.shape.length).toBeGreaterThan(40);
      for (const modes of Object.values(realWorldCase.expected)) expect(Object.keys(modes).sort()).toEqual([...realWorldCase.modes].sort());
    }
    expect(REAL_WORLD.length).toBeGreaterThanOrEqual(20);
  });
});
