/**
 * The Aspect users add to their own cdktf app: it judges every launch template, instance and
 * launch configuration, the ones this module did not make included.
 */
import { AnnotationMetadataEntryType, App, Aspects, TerraformStack, Testing } from "cdktf";
import { Construct } from "constructs";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { Instance } from "@cdktf/provider-aws/lib/instance";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsAuditAspect, ImdsGuardedLaunchTemplate, runAudit } from "../../lib";

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

const LEVELS: Record<string, string> = {
  [AnnotationMetadataEntryType.ERROR]: "error",
  [AnnotationMetadataEntryType.WARN]: "warning",
  [AnnotationMetadataEntryType.INFO]: "info",
};

function annotations(scope: Construct): Array<{ path: string; level: string; message: string }> {
  return scope.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type in LEVELS)
        .map((entry) => ({ path: construct.node.path, level: LEVELS[entry.type], message: String(entry.data) })),
    )
    .filter((entry) => entry.message.startsWith("ecs-imds-guard audit"));
}

/** Runs `app.synth()` into a fresh folder; gives the folder to `check`, then removes it. */
function synthIn(build: (app: App) => void, check: (outdir: string, app: App) => void | Promise<void>): Promise<void> | void {
  const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-aspect-"));
  const done = () => rmSync(outdir, { recursive: true, force: true });
  try {
    const app = new App({ outdir });
    build(app);
    const result = check(outdir, app);
    if (result instanceof Promise) return result.finally(done);
    done();
  } catch (error) {
    done();
    throw error;
  }
}

describe("ImdsAuditAspect", () => {
  it("warns about each open mode of a foreign template and says nothing about this module's template", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "s");
    appWithTemplates(stack);
    Aspects.of(stack).add(new ImdsAuditAspect({ level: "warning" }));
    Testing.synth(stack);
    const found = annotations(stack);
    expect(found.map((a) => [a.path, a.level, /^ecs-imds-guard audit \((ecs-imds-\w+)\): aws_launch_template s\/foreign: (bridge|awsvpc) mode is (\w+)/.exec(a.message)?.slice(1)])).toEqual([
      ["s/foreign", "warning", ["ecs-imds-bridge", "bridge", "open"]],
      ["s/foreign", "warning", ["ecs-imds-awsvpc", "awsvpc", "open"]],
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
    synthIn(
      (app) => {
        const stack = new TerraformStack(app, "s");
        appWithTemplates(stack);
        Aspects.of(stack).add(new ImdsAuditAspect({ level: "error" }));
      },
      (_, app) => expect(() => app.synth()).toThrow(/ecs-imds-guard audit \(ecs-imds-bridge\): aws_launch_template s\/foreign: bridge mode is open/),
    );
  });

  it("audits every stack when added to the App, and to a construct that holds stacks", () => {
    synthIn(
      (app) => {
        appWithTemplates(new TerraformStack(app, "one"));
        const group = new Construct(app, "group");
        appWithTemplates(new TerraformStack(group, "two"));
        Aspects.of(app).add(new ImdsAuditAspect({ networkModes: ["bridge"], level: "warning" }));
        Aspects.of(group).add(new ImdsAuditAspect({ networkModes: ["awsvpc"], level: "warning" }));
      },
      (_, app) => {
        app.synth();
        expect(annotations(app).map((a) => [a.path, /\((ecs-imds-\w+)\)/.exec(a.message)?.[1]])).toEqual([
          ["one/foreign", "ecs-imds-bridge"],
          ["group/two/foreign", "ecs-imds-bridge"],
          ["group/two/foreign", "ecs-imds-awsvpc"],
        ]);
      },
    );
  });

  it("stops app.synth() with level error when added to the App, after writing the stacks before the failing one", () => {
    synthIn(
      (app) => {
        new TerraformStack(app, "clean");
        appWithTemplates(new TerraformStack(app, "legacy"));
        Aspects.of(app).add(new ImdsAuditAspect({ level: "error" }));
      },
      (outdir, app) => {
        expect(() => app.synth()).toThrow(/\[legacy\/foreign\] ecs-imds-guard audit \(ecs-imds-bridge\)/);
        expect(() => readFileSync(join(outdir, "stacks/clean/cdk.tf.json"))).not.toThrow();
        expect(() => readFileSync(join(outdir, "stacks/legacy/cdk.tf.json"))).toThrow(/ENOENT/);
      },
    );
  });

  it("reports a suppressed finding as info with its reason and lets synth through; the rest still stop it", () => {
    const build = (both: boolean) => (app: App) => {
      const stack = new TerraformStack(app, "s");
      appWithTemplates(stack);
      const foreign = stack.node.findChild("foreign");
      ImdsAuditAspect.suppress(foreign, [{ rule: "ecs-imds-bridge", reason: "Only the platform team's tasks run in bridge mode here" }]);
      if (both) ImdsAuditAspect.suppress(stack, [{ rule: "ecs-imds-awsvpc", reason: "No awsvpc tasks run on this legacy pool" }]);
      Aspects.of(app).add(new ImdsAuditAspect({ level: "error" }));
    };
    synthIn(build(false), (_, app) => expect(() => app.synth()).toThrow(/ecs-imds-awsvpc/));
    synthIn(build(true), (_, app) => {
      app.synth();
      expect(annotations(app).map((a) => [a.level, a.message.replace(/\. .*$/s, "")])).toEqual([
        ["info", "ecs-imds-guard audit (ecs-imds-bridge): aws_launch_template s/foreign: bridge mode is open, suppressed: Only the platform team's tasks run in bridge mode here (suppression of s/foreign (ecs-imds-bridge) in ImdsAuditAspect.suppress(s/foreign))"],
        ["info", "ecs-imds-guard audit (ecs-imds-awsvpc): aws_launch_template s/foreign: awsvpc mode is open, suppressed: No awsvpc tasks run on this legacy pool (suppression of s (ecs-imds-awsvpc) in ImdsAuditAspect.suppress(s))"],
      ]);
    });
  });

  it("writes suppressions into cdk.tf.json, where ecs-imds-guard audit reports them suppressed and passes", async () => {
    await synthIn(
      (app) => {
        const stack = new TerraformStack(app, "s");
        appWithTemplates(stack);
        ImdsAuditAspect.suppress(stack.node.findChild("foreign"), [{ reason: "Retired with the legacy pool in March" }]);
        Aspects.of(app).add(new ImdsAuditAspect({ level: "error" }));
      },
      async (outdir, app) => {
        app.synth();
        let stdout = "";
        let stderr = "";
        const code = await runAudit(["audit", "--format", "json", outdir], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
        expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
        const foreign = JSON.parse(stdout).resources.find((r: { address: string }) => r.address.startsWith("aws_launch_template.foreign"));
        expect(foreign.verdicts).toEqual({ bridge: "open", awsvpc: "open" });
        expect(foreign.suppressions.bridge).toMatchObject({ reason: "Retired with the legacy pool in March" });
        expect(foreign.suppressions.awsvpc).toMatchObject({ reason: "Retired with the legacy pool in March" });
      },
    );
  });

  it("warns about a suppression that acknowledges nothing", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const guarded = new ImdsGuardedLaunchTemplate(stack, "guarded", { clusterName: "prod", imageId: "ami-0123456789abcdef0" });
    ImdsAuditAspect.suppress(guarded, [{ rule: "ecs-imds-bridge", reason: "Kept from before the guard was added" }]);
    ImdsAuditAspect.suppress(stack, [{ rule: "ecs-imds-host", reason: "Host tasks are trusted in this pool" }]);
    Aspects.of(stack).add(new ImdsAuditAspect({ level: "error" }));
    Testing.synth(stack);
    expect(annotations(stack).map((a) => [a.path, a.level, a.message])).toEqual([
      ["s", "warning", "ecs-imds-guard audit: suppression of s (ecs-imds-host) in ImdsAuditAspect.suppress(s) matched no finding: host mode is not judged (network modes: bridge, awsvpc)"],
      ["s/guarded", "warning", "ecs-imds-guard audit: suppression of s/guarded (ecs-imds-bridge) in ImdsAuditAspect.suppress(s/guarded) matched no finding: nothing to acknowledge: bridge mode is closed"],
    ]);
  });

  it("refuses a suppression without a reason or naming an unknown rule, naming the field, the value and the rule", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    expect(() => ImdsAuditAspect.suppress(stack, [{ reason: "  " }])).toThrow(
      'ecs-imds-guard: ImdsAuditAspect.suppress(s)[0].reason = "  " is invalid: a suppression needs a written reason of at least 10 characters',
    );
    expect(() => ImdsAuditAspect.suppress(stack, [{ rule: "ecs-imds-bridges" as never, reason: "A good long reason" }])).toThrow(
      'ecs-imds-guard: ImdsAuditAspect.suppress(s)[0].rule = "ecs-imds-bridges" is invalid: must be one of ecs-imds-bridge, ecs-imds-awsvpc, ecs-imds-host, or left out for every rule of the resource',
    );
  });
});
