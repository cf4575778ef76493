// Fleet-scale app for the benchmark: `fleet.ts N` synthesizes N guarded launch templates, each for
// its own cluster (so every user data is rendered anew), spread over stacks of at most
// TEMPLATES_PER_STACK templates, each stack with its provider and local backend.
import { App, LocalBackend, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsGuardedLaunchTemplate } from "../lib/imds-guarded-launch-template";

/** Templates per stack: about what one team's stack of ECS capacity providers would hold. */
export const TEMPLATES_PER_STACK = 50;

/** Builds the fleet app; the outdir comes from CDKTF_OUTDIR as with any cdktf app. */
export function buildFleetApp(templateCount: number): App {
  if (!Number.isInteger(templateCount) || templateCount < 1) {
    throw new Error(`fleet: template count ${JSON.stringify(templateCount)} is invalid: must be a positive integer`);
  }
  const app = new App();
  for (let first = 0; first < templateCount; first += TEMPLATES_PER_STACK) {
    const stackIndex = first / TEMPLATES_PER_STACK;
    const stack = new TerraformStack(app, `fleet-${stackIndex}`);
    new AwsProvider(stack, "aws", { region: "us-east-1" });
    new LocalBackend(stack, { path: `terraform.fleet-${stackIndex}.tfstate` });
    const last = Math.min(first + TEMPLATES_PER_STACK, templateCount);
    for (let index = first; index < last; index++) {
      new ImdsGuardedLaunchTemplate(stack, `guarded_${index}`, { clusterName: `fleet-cluster-${index}` });
    }
  }
  return app;
}

if (require.main === module) {
  buildFleetApp(Number(process.argv[2])).synth();
}
