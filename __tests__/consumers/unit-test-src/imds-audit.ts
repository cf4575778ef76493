// A user's own unit test of their stacks with the package's test helper: a template written without
// the guard has findings, each with its rule and reasons; the guarded one has none.
import { TerraformStack, Testing } from "cdktf";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { imdsAuditFindings, ImdsGuardedLaunchTemplate } from "ecs-imds-guard";

describe("my stacks", () => {
  it("finds the open modes of a template written by hand", async () => {
    const stack = new TerraformStack(Testing.app(), "legacy");
    new LaunchTemplate(stack, "web", { imageId: "ami-0123456789abcdef0", metadataOptions: { httpTokens: "optional" } });
    const findings = await imdsAuditFindings(Testing.synth(stack), { networkModes: ["bridge", "awsvpc"] });
    expect(findings.map((finding) => [finding.resource, finding.rule, finding.verdict])).toEqual([
      ["aws_launch_template.web", "ecs-imds-bridge", "open"],
      ["aws_launch_template.web", "ecs-imds-awsvpc", "open"],
    ]);
    expect(findings[0].reasons.join(" ")).toContain("IMDSv1 is allowed");
  });

  it("finds nothing open in a guarded template", async () => {
    const stack = new TerraformStack(Testing.app(), "guarded");
    new ImdsGuardedLaunchTemplate(stack, "pool", { clusterName: "prod", imageId: "ami-0123456789abcdef0" });
    expect(await imdsAuditFindings(Testing.synth(stack), { networkModes: ["bridge", "awsvpc"] })).toEqual([]);
  });
});
