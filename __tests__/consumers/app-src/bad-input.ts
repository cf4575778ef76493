// A user's app with a cluster name ECS would refuse: synth must stop with the field, value and rule.
import { App, TerraformStack } from "cdktf";
import { ImdsGuardedLaunchTemplate } from "ecs-imds-guard";

const app = new App();
const stack = new TerraformStack(app, "bad");
new ImdsGuardedLaunchTemplate(stack, "guard", { clusterName: "bad name" });
app.synth();
