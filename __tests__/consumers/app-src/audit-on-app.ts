// A user's app with the audit on the App, as cdk-nag users add theirs: every stack is judged, the
// acknowledged finding is reported with its reason, and the open one stops synth with exit code 1.
import { App, Aspects, TerraformStack } from "cdktf";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsAuditAspect, ImdsGuardedLaunchTemplate } from "ecs-imds-guard";

const app = new App();
const guarded = new TerraformStack(app, "guarded");
new AwsProvider(guarded, "aws", { region: "eu-west-1" });
new ImdsGuardedLaunchTemplate(guarded, "guard", { clusterName: "prod" });
const legacy = new TerraformStack(app, "legacy");
new AwsProvider(legacy, "aws", { region: "eu-west-1" });
const web = new LaunchTemplate(legacy, "web", {
  imageId: "ami-0123456789abcdef0",
  metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 },
});
ImdsAuditAspect.suppress(web, [{ rule: "ecs-imds-awsvpc", reason: "No awsvpc tasks run on the legacy pool" }]);
Aspects.of(app).add(new ImdsAuditAspect({ level: "error" }));
app.synth();
