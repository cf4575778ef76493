/**
 * The Aspect users add to their own cdktf app: it judges every launch template, instance and
 * launch configuration, the ones this module did not make included.
 */
import { AnnotationMetadataEntryType, App, Aspects, TerraformStack, Testing } from "cdktf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { Instance } from "@cdktf/provider-aws/lib/instance";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsAuditAspect, ImdsGuardedLaunchTemplate } from "../../lib";

const FOREIGN_USER_DATA = "#!/bin/bash\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n";

function appWithTemplates(stack: TerraformStack): void {
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  // Written by hand, as many apps have: ECS_CLUSTER only, IMDSv1 allowed.
  new LaunchTemplate(stack, "foreign", {
    namePrefix: "legacy-",
    userData: Buffer.from(FOREIGN_USER_DATA).toString("base64"),
    metadataOptions: { httpTokens: "optional" },
  });
  new ImdsGuardedLaunchTemplate(stack, "guarded", { clusterName: "prod", imageId: "ami-0123456789abcdef0" });
}

function annotations(stack: TerraformStack): Array<{ path: string; level: string; message: string }> {
  return stack.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === AnnotationMetadataEntryType.ERROR || entry.type === AnnotationMetadataEntryType.WARN)
        .map((entry) => ({ path: construct.node.path, level: entry.type === AnnotationMetadataEntryType.ERROR ? "error" : "warning", message: String(entry.data) })),
    )
    .filter((entry) => entry.message.startsWith("ecs-imds-guard audit:"));
}

describe("ImdsAuditAspect", () => {
  it("warns about each open mode of a foreign template and says nothing about this module's template", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "s");
    appWithTemplates(stack);
    Aspects.of(stack).add(new ImdsAuditAspect({ level: "warning" }));
    Testing.synth(stack);
    const found = annotations(stack);
    expect(found.map((a) => [a.path, a.level, /(bridge|awsvpc) mode is (\w+)/.exec(a.message)?.slice(1)])).toEqual([
      ["s/foreign", "warning", ["bridge", "open"]],
      ["s/foreign", "warning", ["awsvpc", "open"]],
    ]);
    expect(found[0].message).toMatch(/IMDSv1 is allowed/);
    expect(found[1].message).toMatch(/Fix: Write ECS_AWSVPC_BLOCK_IMDS=true/);
  });

  it("finds a guarded template closed when its cluster name is a reference known at plan time", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const cluster = new EcsCluster(stack, "cluster", { name: "prod" });
    new ImdsGuardedLaunchTemplate(stack, "guarded", { clusterName: cluster.name, imageId: "ami-0123456789abcdef0" });
    Aspects.of(stack).add(new ImdsAuditAspect({ networkModes: ["bridge", "awsvpc"] }));
    Testing.synth(stack);
    expect(annotations(stack)).toEqual([]);
  });

  it("reports host mode, which nothing closes, even on the guarded template", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    new ImdsGuardedLaunchTemplate(stack, "guarded", { clusterName: "prod", imageId: "ami-0123456789abcdef0", networkModes: ["bridge", "awsvpc", "host"] });
    Aspects.of(stack).add(new ImdsAuditAspect({ networkModes: ["host"], level: "warning" }));
    Testing.synth(stack);
    expect(annotations(stack).map((a) => a.message)).toEqual([expect.stringMatching(/host mode is open/)]);
  });

  it("judges instances by their plain-text user data and says unknown where it holds a reference", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const cluster = new EcsCluster(stack, "cluster", { name: "prod" });
    new Instance(stack, "box", {
      ami: "ami-0123456789abcdef0",
      userData: `#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=${cluster.name} >> /etc/ecs/ecs.config\n`,
      metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
    });
    Aspects.of(stack).add(new ImdsAuditAspect({ level: "warning" }));
    Testing.synth(stack);
    expect(annotations(stack).map((a) => /(\w+) mode is (\w+)/.exec(a.message)?.slice(1))).toEqual([["awsvpc", "unknown"]]);
  });

  it("stops synth with level error", () => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-aspect-"));
    try {
      const app = new App({ outdir });
      const stack = new TerraformStack(app, "s");
      appWithTemplates(stack);
      // cdktf 0.21 applies aspects from each stack down, not from the App.
      Aspects.of(stack).add(new ImdsAuditAspect({ level: "error" }));
      expect(() => app.synth()).toThrow(/ecs-imds-guard audit: aws_launch_template s\/foreign: bridge mode is open/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
