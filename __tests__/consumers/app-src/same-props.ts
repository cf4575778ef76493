// Synthesizes the launch templates of cases.json with the installed package, one stack per case, as a
// user's app would. The consumer test synthesizes the same cases with the repository's own sources
// and compares the Terraform both produce.
import { readFileSync } from "fs";
import { App, TerraformStack } from "cdktf";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsGuardedLaunchTemplate, ImdsGuardedLaunchTemplateProps } from "ecs-imds-guard";

interface Case {
  readonly name: string;
  readonly props: ImdsGuardedLaunchTemplateProps;
  /** Take clusterName from an aws_ecs_cluster of the stack, so Terraform fills it in at plan time. */
  readonly referencedCluster?: boolean;
}

const cases: Case[] = JSON.parse(readFileSync(`${__dirname}/cases.json`, "utf8"));
const app = new App();
for (const { name, props, referencedCluster } of cases) {
  const stack = new TerraformStack(app, name);
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  const clusterName = referencedCluster ? new EcsCluster(stack, "cluster", { name: props.clusterName }).name : props.clusterName;
  new ImdsGuardedLaunchTemplate(stack, "guard", { ...props, clusterName });
}
app.synth();
