// The stacks both flavours must synthesize alike: every option family of the constructs and this
// repository's own two stacks. Run as a program, it prints each stack's Testing.synth JSON by name;
// the flavour test runs it once as is and once with tools/cdktn-register.cjs.
import { App, TerraformStack, Testing } from "cdktf";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { CAPACITY_STACK_NAME, DEFAULT_CONFIG, ImdsGuardCapacityStack, ImdsGuardStack, STACK_NAME } from "../../app";
import {
  EcsCapacity,
  EcsInstanceRole,
  EcsInstanceSecurityGroup,
  ImdsGuardedCapacity,
  ImdsGuardedLaunchTemplate,
  ImdsGuardedLaunchTemplateProps,
  NETWORK_MODES,
  NetworkMode,
  PLATFORMS,
} from "../../lib";

type Build = (app: App) => TerraformStack;

function guardedTemplate(name: string, props: ImdsGuardedLaunchTemplateProps, referencedCluster = false): Build {
  return (app) => {
    const stack = new TerraformStack(app, name);
    new AwsProvider(stack, "aws", { region: "eu-west-1" });
    const clusterName = referencedCluster ? new EcsCluster(stack, "cluster", { name: props.clusterName }).name : props.clusterName;
    new ImdsGuardedLaunchTemplate(stack, "guard", { ...props, clusterName });
    return stack;
  };
}

/** Every non-empty list of network modes, in the order NETWORK_MODES gives. */
function modeSets(): NetworkMode[][] {
  return [1, 2, 3, 4, 5, 6, 7].map((mask) => NETWORK_MODES.filter((_, bit) => mask & (1 << bit)));
}

const consumerCases: Array<{ name: string; props: ImdsGuardedLaunchTemplateProps; referencedCluster?: boolean }> = JSON.parse(
  readFileSync(join(__dirname, "../consumers/app-src/cases.json"), "utf8"),
);

/** The catalogue, by stack name. */
export const CATALOGUE: Record<string, Build> = {
  ...Object.fromEntries(consumerCases.map((c) => [`case-${c.name}`, guardedTemplate(c.name, c.props, c.referencedCluster)])),
  ...Object.fromEntries(
    PLATFORMS.flatMap((platform) =>
      modeSets().map((networkModes) => {
        const name = `${platform}-${networkModes.join("-")}`;
        return [name, guardedTemplate(name, { clusterName: "c", platform, networkModes })];
      }),
    ),
  ),
  "capacity-one-step": (app) => {
    const stack = new TerraformStack(app, "capacity-one-step");
    new ImdsGuardedCapacity(stack, "fleet", {
      clusterName: new EcsCluster(stack, "cluster", { name: "prod" }).name,
      vpcId: "vpc-0123456789abcdef0",
      subnetIds: ["subnet-0123456789abcdef0"],
      ssmManagedInstanceCore: true,
      minSize: 1,
      maxSize: 4,
      tags: { team: "platform" },
    });
    return stack;
  },
  "capacity-pieces": (app) => {
    const stack = new TerraformStack(app, "capacity-pieces");
    const role = new EcsInstanceRole(stack, "role");
    const group = new EcsInstanceSecurityGroup(stack, "group", { vpcId: "vpc-0123456789abcdef0" });
    const template = new ImdsGuardedLaunchTemplate(stack, "template", {
      clusterName: "prod",
      iamInstanceProfile: role.instanceProfileName,
      securityGroupIds: [group.securityGroupId],
    });
    new EcsCapacity(stack, "capacity", {
      clusterName: "prod",
      launchTemplateId: template.launchTemplateId,
      launchTemplateVersion: template.latestVersion,
      subnetIds: ["subnet-0123456789abcdef0"],
      otherClusterCapacityProviders: ["FARGATE"],
    });
    return stack;
  },
  [`app-${STACK_NAME}`]: (app) => new ImdsGuardStack(app, STACK_NAME, DEFAULT_CONFIG),
  [`app-${CAPACITY_STACK_NAME}`]: (app) => new ImdsGuardCapacityStack(app, CAPACITY_STACK_NAME, DEFAULT_CONFIG),
  [`app-${CAPACITY_STACK_NAME}-existing`]: (app) =>
    new ImdsGuardCapacityStack(app, CAPACITY_STACK_NAME, {
      ...DEFAULT_CONFIG,
      platform: "bottlerocket",
      networkModes: ["awsvpc"],
      createCluster: false,
      iamInstanceProfile: "ecsInstanceRole",
      backend: { kind: "s3", bucket: "state-bucket", keyPrefix: "ecs/", region: "eu-west-1" },
    }),
};

/** Each stack of the catalogue, synthesized by whichever cdktf the process resolves. */
export function synthesizeCatalogue(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(CATALOGUE).map(([name, build]) => [name, JSON.parse(Testing.synth(build(Testing.app())))]),
  );
}

/** Each stack of the catalogue as HCL, written by the renderer of `cdktf synth --hcl`. */
export function synthesizeCatalogueHcl(): Record<string, string> {
  return Object.fromEntries(Object.entries(CATALOGUE).map(([name, build]) => [name, Testing.synthHcl(build(Testing.app()))]));
}

if (require.main === module) {
  // With --hcl, the HCL of each stack instead of its JSON.
  const stacks = process.argv.includes("--hcl") ? synthesizeCatalogueHcl() : synthesizeCatalogue();
  process.stdout.write(JSON.stringify({ framework: require("cdktf/package.json").name, stacks }));
}
