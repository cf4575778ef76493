/**
 * imdsAuditFindings, the function users call in their own jest tests: it fails a test with the
 * audit's reasons for a stack that leaves IMDS reachable and passes a guarded one.
 */
import { TerraformStack, Testing } from "cdktf";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { ImdsAuditAspect, imdsAuditFindings, ImdsGuardedLaunchTemplate } from "../../lib";

function legacyStack(): { stack: TerraformStack; template: LaunchTemplate } {
  const stack = new TerraformStack(Testing.app(), "legacy");
  // IMDSv2 with hop limit 2 and no firewall rule: bridge and awsvpc tasks reach IMDS.
  const template = new LaunchTemplate(stack, "web", {
    imageId: "ami-0123456789abcdef0",
    metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 },
  });
  return { stack, template };
}

describe("imdsAuditFindings in a user's unit test", () => {
  it("fails the test with each open mode's rule, reasons and fix", async () => {
    const { stack } = legacyStack();
    const failure = await imdsAuditFindings(Testing.synth(stack), { networkModes: ["bridge", "awsvpc"] }).then(
      (found) => expect(found).toEqual([]),
      (error: unknown) => error,
    ).then(() => undefined, (error: Error) => error);
    // jest prints each finding with its rule and reasons (colours aside).
    const printed = failure?.message.replace(/\u001b\[[0-9;]*m/g, "") ?? "";
    expect(printed).toContain('"rule": "ecs-imds-bridge"');
    expect(printed).toContain("the hop limit is 2, which lets a bridge container (one hop away) get an IMDSv2 token");
    const findings = await imdsAuditFindings(Testing.synth(stack));
    expect(findings.map((f) => [f.resource, f.rule, f.mode, f.verdict])).toEqual([
      ["aws_launch_template.web", "ecs-imds-bridge", "bridge", "open"],
      ["aws_launch_template.web", "ecs-imds-awsvpc", "awsvpc", "open"],
    ]);
    expect(findings[1].fix).toMatch(/ECS_AWSVPC_BLOCK_IMDS=true/);
  });

  it("passes a stack whose template this module guards", async () => {
    const stack = new TerraformStack(Testing.app(), "guarded");
    new ImdsGuardedLaunchTemplate(stack, "pool", { clusterName: "prod", imageId: "ami-0123456789abcdef0" });
    await expect(imdsAuditFindings(Testing.synth(stack), { networkModes: ["bridge", "awsvpc"] })).resolves.toEqual([]);
    // Host mode cannot be closed: asking for it is a finding.
    expect((await imdsAuditFindings(Testing.synth(stack), { networkModes: ["host"] })).map((f) => f.rule)).toEqual(["ecs-imds-host"]);
  });

  it("honours the app's suppressions when given the stack, and suppressions passed to it", async () => {
    const { stack, template } = legacyStack();
    ImdsAuditAspect.suppress(template, [{ rule: "ecs-imds-awsvpc", reason: "No awsvpc tasks run on this pool" }]);
    expect((await imdsAuditFindings(stack)).map((f) => f.rule)).toEqual(["ecs-imds-bridge"]);
    const both = await imdsAuditFindings(Testing.synth(stack), { suppressions: [{ resource: "aws_launch_template.web", reason: "Pool retired in March, tracked in OPS-7" }] });
    expect(both).toEqual([]);
  });

  it("counts only verdicts at or above failOn", async () => {
    const { stack } = legacyStack();
    expect(await imdsAuditFindings(Testing.synth(stack), { failOn: "open" })).toHaveLength(2);
  });

  it("rejects a suppression that matches no finding, so a stale one fails the test", async () => {
    const { stack } = legacyStack();
    await expect(imdsAuditFindings(Testing.synth(stack), { suppressions: [{ resource: "aws_launch_template.old", reason: "Deleted last sprint, kept here" }] })).rejects.toThrow(
      "ecs-imds-guard: suppression of aws_launch_template.old (every rule) in imdsAuditFindings options matched no finding: no audited resource has the address aws_launch_template.old",
    );
  });
});
