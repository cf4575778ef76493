// Every construct of ecs-imds-guard in one stack of a user's app on @cdktf/provider-aws 20.1.0,
// which pins hashicorp/aws 5.100.0: the launch template with each case of cases.json, the one-step
// capacity, and its pieces wired by hand.
import { readFileSync } from "fs";
import { App, TerraformStack } from "cdktf";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import {
  EcsCapacity,
  EcsInstanceRole,
  EcsInstanceSecurityGroup,
  ImdsGuardedCapacity,
  ImdsGuardedLaunchTemplate,
  ImdsGuardedLaunchTemplateProps,
} from "ecs-imds-guard";

interface Case {
  readonly name: string;
  readonly props: ImdsGuardedLaunchTemplateProps;
  readonly referencedCluster?: boolean;
}

const cases: Case[] = JSON.parse(readFileSync(`${__dirname}/cases.json`, "utf8"));
const app = new App();
const stack = new TerraformStack(app, "every-construct");
new AwsProvider(stack, "aws", { region: "eu-west-1" });
for (const { name, props, referencedCluster } of cases) {
  const clusterName = referencedCluster ? new EcsCluster(stack, `cluster-${name}`, { name: props.clusterName }).name : props.clusterName;
  new ImdsGuardedLaunchTemplate(stack, `guard-${name}`, { ...props, clusterName });
}

const cluster = new EcsCluster(stack, "cluster", { name: "prod" });
new ImdsGuardedCapacity(stack, "fleet", {
  clusterName: cluster.name,
  vpcId: "vpc-0123456789abcdef0",
  subnetIds: ["subnet-0123456789abcdef0"],
  ssmManagedInstanceCore: true,
  minSize: 1,
  maxSize: 4,
  tags: { team: "platform" },
});

const role = new EcsInstanceRole(stack, "role");
const group = new EcsInstanceSecurityGroup(stack, "group", { vpcId: "vpc-0123456789abcdef0" });
const template = new ImdsGuardedLaunchTemplate(stack, "template", {
  clusterName: "batch",
  iamInstanceProfile: role.instanceProfileName,
  securityGroupIds: [group.securityGroupId],
});
new EcsCapacity(stack, "capacity", {
  clusterName: "batch",
  launchTemplateId: template.launchTemplateId,
  launchTemplateVersion: template.latestVersion,
  subnetIds: ["subnet-0123456789abcdef0"],
  otherClusterCapacityProviders: ["FARGATE"],
});
app.synth();
