// The app of app.js with the audit Aspect of ecs-imds-guard/aws-cdk on the App, as a team adds it:
// and on its Stage (aws-cdk-lib runs an App's aspects on its own stacks only). ASPECT_LEVEL sets its
// level, SUPPRESS (JSON: [{ path, suppressions }]) its suppressions; HARDEN_AFTER=1 adds, after it, a
// team's own aspect that requires IMDSv2 with hop limit 1 on the Standard capacity. Writes cdk.out (CDK_OUTDIR) and
// prints, as JSON, what `cdk synth` reads from the cloud assembly: the messages of every stack
// (nested assemblies included); the launch resources with their logical ids; whether cdktf was loaded.
const { App, Aspects, Stack, Stage } = require("aws-cdk-lib");
const { ImdsAuditAspect } = require("ecs-imds-guard/aws-cdk");
const { build } = require("./app");

const app = new App();
build(app);
const aspect = new ImdsAuditAspect(process.env.ASPECT_LEVEL ? { level: process.env.ASPECT_LEVEL } : {});
Aspects.of(app).add(aspect);
for (const stage of app.node.findAll().filter((construct) => Stage.isStage(construct) && construct !== app)) Aspects.of(stage).add(aspect);
if (process.env.HARDEN_AFTER) {
  Aspects.of(app).add({
    visit(node) {
      if (node.node.path === "EcsCapacity/Cluster/Standard/LaunchConfig") node.metadataOptions = { httpTokens: "required", httpPutResponseHopLimit: 1 };
    },
  });
}
for (const { path, suppressions } of JSON.parse(process.env.SUPPRESS || "[]")) {
  ImdsAuditAspect.suppress(path === "" ? app : app.node.findAll().find((construct) => construct.node.path === path), suppressions);
}

const messages = [];
const collect = (assembly) => {
  for (const stack of assembly.stacks) {
    for (const { level, id, entry } of stack.messages) messages.push({ stack: stack.hierarchicalId, level, id, data: entry.data });
  }
  for (const nested of assembly.nestedAssemblies) collect(nested.nestedAssembly);
};
collect(app.synth());
const launchResources = app.node
  .findAll()
  .filter((construct) => ["AWS::EC2::LaunchTemplate", "AWS::AutoScaling::LaunchConfiguration", "AWS::EC2::Instance"].includes(construct.cfnResourceType))
  .map((resource) => ({ path: resource.node.path, logicalId: Stack.of(resource).resolve(resource.logicalId) }));
const frameworkLoaded = Object.keys(require.cache).some((path) => /[\\/]node_modules[\\/](cdktf|cdktn|@cdktf|@cdktn)[\\/]/.test(path));
process.stdout.write(JSON.stringify({ messages, launchResources, frameworkLoaded }));
