/**
 * The audit's saved-plan fixtures are real plans of committed configurations (tools/plan-fixtures.ts),
 * made by Terraform with the AWS provider from the machine's filesystem mirror: each committed plan
 * is still what its configuration gives today. One init and plan take about 10 s here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PLAN_FIXTURES, planFixtureText } from "../../tools/plan-fixtures";
import { awsProviderRequirements } from "../support/aws-provider";
import { describeWhen } from "../support/tools";

const ROOT = join(__dirname, "..", "..");

describeWhen(awsProviderRequirements())("the saved-plan fixtures", () => {
  it.each(PLAN_FIXTURES.map((fixture) => [fixture.plan, fixture.configuration]))(
    "%s is terraform show -json of a plan of %s today (npm run plan-fixtures rewrites it)",
    (plan, configuration) => {
      const committed = readFileSync(join(ROOT, plan), "utf8");
      expect(JSON.parse(committed).terraform_version).toMatch(/^1\.\d+\.\d+$/);
      expect(planFixtureText(configuration)).toBe(committed);
    },
    180_000,
  );
});
