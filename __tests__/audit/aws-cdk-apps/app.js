// An AWS CDK app with the ECS capacity shapes teams deploy, synthesized into cdk.out (CDK_OUTDIR) when
// run; aspect-app.js builds the same app with the audit Aspect.
const { App, NestedStack, Stack, Stage } = require("aws-cdk-lib");
const ec2 = require("aws-cdk-lib/aws-ec2");
const ecs = require("aws-cdk-lib/aws-ecs");
const autoscaling = require("aws-cdk-lib/aws-autoscaling");

function build(app) {
  const stack = new Stack(app, "EcsCapacity");
  const vpc = new ec2.Vpc(stack, "Vpc", { maxAzs: 2, natGateways: 0 });
  const cluster = new ecs.Cluster(stack, "Cluster", { vpc });

  // The default capacity: the ECS-optimized Amazon Linux 2 AMI in an Auto Scaling group.
  cluster.addCapacity("Standard", { instanceType: new ec2.InstanceType("t3.small"), maxCapacity: 1 });

  // Bottlerocket capacity.
  cluster.addCapacity("Bottlerocket", {
    instanceType: new ec2.InstanceType("t3.small"),
    machineImage: new ecs.BottleRocketImage(),
    maxCapacity: 1,
  });

  // A capacity provider over a launch template with IMDSv2 required and hop limit 1, on Amazon Linux 2023.
  const launchTemplate = new ec2.LaunchTemplate(stack, "Hardened", {
    instanceType: new ec2.InstanceType("t3.small"),
    machineImage: ecs.EcsOptimizedImage.amazonLinux2023(),
    userData: ec2.UserData.forLinux(),
    requireImdsv2: true,
    httpPutResponseHopLimit: 1,
    role: new (require("aws-cdk-lib/aws-iam").Role)(stack, "HardenedRole", {
      assumedBy: new (require("aws-cdk-lib/aws-iam").ServicePrincipal)("ec2.amazonaws.com"),
    }),
  });
  const group = new autoscaling.AutoScalingGroup(stack, "HardenedGroup", { vpc, launchTemplate, maxCapacity: 1 });
  cluster.addAsgCapacityProvider(new ecs.AsgCapacityProvider(stack, "HardenedProvider", { autoScalingGroup: group, enableManagedTerminationProtection: false }));

  // A plain instance, its user data joining the cluster by hand, IMDSv2 required through its launch template.
  const instanceUserData = ec2.UserData.forLinux();
  instanceUserData.addCommands(`echo ECS_CLUSTER=${cluster.clusterName} >> /etc/ecs/ecs.config`);
  new ec2.Instance(stack, "Plain", {
    vpc,
    instanceType: new ec2.InstanceType("t3.small"),
    machineImage: ecs.EcsOptimizedImage.amazonLinux2023(),
    userData: instanceUserData,
    requireImdsv2: true,
  });

  // A stage with a nested stack: its template is found through the nested cloud assembly.
  const stage = new Stage(app, "Staging");
  const staged = new Stack(stage, "Workers");
  const nested = new NestedStack(staged, "Pool");
  const nestedVpc = new ec2.Vpc(nested, "Vpc", { maxAzs: 1, natGateways: 0 });
  const nestedCluster = new ecs.Cluster(nested, "Cluster", { vpc: nestedVpc });
  nestedCluster.addCapacity("Pool", { instanceType: new ec2.InstanceType("t3.small"), maxCapacity: 1 });
}

module.exports = { build };

if (require.main === module) {
  const app = new App();
  build(app);
  app.synth();
}
