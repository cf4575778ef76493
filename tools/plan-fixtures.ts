/**
 * The audit's saved-plan fixtures are real plans: each is `terraform show -json` of a plan that
 * Terraform makes from a committed configuration with the AWS provider from the machine's
 * filesystem mirror, offline. `npm run plan-fixtures` writes them; `--check` only compares and
 * exits 1 when one is not what its configuration gives (__tests__/audit/plan-fixtures.test.ts).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProviderWorkspace } from "../__tests__/support/aws-provider";

const ROOT = join(__dirname, "..");

/** Each plan fixture and the configuration it is made from, relative to the repository root. */
export const PLAN_FIXTURES: ReadonlyArray<{ readonly configuration: string; readonly plan: string }> = [
  { configuration: "__tests__/fixtures/audit/plan", plan: "__tests__/fixtures/audit/plan.json" },
];

/**
 * `terraform show -json` of a fresh plan of `configuration`, as committed: indented (the audit's
 * SARIF points at the line of each address) and without the plan's timestamp, the one field that
 * changes from run to run.
 */
export function planFixtureText(configuration: string): string {
  const workspace = new ProviderWorkspace({}, join(ROOT, configuration));
  try {
    const { timestamp: _timestamp, ...plan } = workspace.plan();
    return `${JSON.stringify(plan, null, 2)}\n`;
  } finally {
    workspace.dispose();
  }
}

if (require.main === module) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const { configuration, plan } of PLAN_FIXTURES) {
    const text = planFixtureText(configuration);
    if (readFileSync(join(ROOT, plan), "utf8") === text) continue;
    if (check) {
      stale += 1;
      console.error(`${plan} is not the plan of ${configuration}: run npm run plan-fixtures`);
    } else {
      writeFileSync(join(ROOT, plan), text);
      console.log(`wrote ${plan}`);
    }
  }
  process.exit(stale === 0 ? 0 : 1);
}
