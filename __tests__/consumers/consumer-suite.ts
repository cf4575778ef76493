import { TerraformStack, Testing } from "cdktf";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsGuardedLaunchTemplate, ImdsGuardedLaunchTemplateProps, NETWORK_MODES_TAG, renderUserData } from "../../lib";
import {
  CONSUMERS,
  flavourOf,
  installConsumerApp,
  installedCopies,
  readmeExamplesFor,
  runAppFile,
  runIn,
  runJestExamples,
  synthesizedStacks,
} from "../support/consumer-app";
import { withoutFrameworkBlocks } from "../support/terraform-json";

interface Case {
  readonly name: string;
  readonly props: ImdsGuardedLaunchTemplateProps;
  readonly referencedCluster?: boolean;
}

const CASES: Case[] = JSON.parse(readFileSync(join(CONSUMERS, "app-src/cases.json"), "utf8"));

/** The same case synthesized in this repository with `Testing.synth`, as the construct tests do. */
function synthesizedHere({ name, props, referencedCluster }: Case): any {
  const stack = new TerraformStack(Testing.app(), name);
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  const clusterName = referencedCluster ? new EcsCluster(stack, "cluster", { name: props.clusterName }).name : props.clusterName;
  new ImdsGuardedLaunchTemplate(stack, "guard", { ...props, clusterName });
  return JSON.parse(Testing.synth(stack));
}

/**
 * The consumer app `name` (a folder of __tests__/consumers made the way `cdktf init
 * --template=typescript` makes one, with its own lock file) installs the packed tarball and uses it
 * as a user's app would.
 */
export function describeConsumer(name: string): void {
  const declared = JSON.parse(readFileSync(join(CONSUMERS, name, "package.json"), "utf8")).dependencies;
  const flavour = flavourOf(name);
  const framework = flavour;
  const provider = flavour === "cdktf" ? "@cdktf/provider-aws" : "@cdktn/provider-aws";
  const other = flavour === "cdktf" ? ["cdktn", "@cdktn/provider-aws"] : ["cdktf", "@cdktf/provider-aws"];
  const title = `a ${framework} app (${framework} ${declared[framework]}, constructs ${declared.constructs}, ${provider} ${declared[provider]})`;

  describe(title, () => {
    let workDir: string;
    let appDir: string;

    beforeAll(() => {
      const tarball = process.env.PACKED_TARBALL;
      if (!tarball) throw new Error("PACKED_TARBALL is not set: run the consumer tests through jest (its global setup packs)");
      workDir = mkdtempSync(join(tmpdir(), `ecs-imds-guard-${name}-`));
      appDir = installConsumerApp(name, tarball, workDir);
    }, 600_000);

    afterAll(() => {
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    it(`installs with the app's own copy of ${framework}, constructs and the AWS provider, and no second one`, () => {
      for (const pkg of other) expect({ pkg, copies: installedCopies(appDir, pkg) }).toEqual({ pkg, copies: [] });
      for (const pkg of [framework, "constructs", provider]) {
        expect({ pkg, copies: installedCopies(appDir, pkg) }).toEqual({ pkg, copies: [join(appDir, "node_modules", pkg)] });
        const probe = `const p=require("path");const pkg=${JSON.stringify(pkg)};` +
          'const fromLib=require.resolve(pkg,{paths:[p.dirname(require.resolve("ecs-imds-guard"))]});' +
          "process.stdout.write(JSON.stringify([require.resolve(pkg),fromLib]))";
        const [fromApp, fromLibrary] = JSON.parse(runIn(appDir, process.execPath, ["-e", probe]).stdout);
        expect(fromLibrary).toBe(fromApp);
      }
      const installed = JSON.parse(readFileSync(join(appDir, "node_modules", framework, "package.json"), "utf8")).version;
      expect(installed).toBe(declared[framework]);
    });

    it(`type-checks every README example, exactly as written${flavour === "cdktn" ? " but for the cdktn imports" : ""}, under ${framework} init's tsconfig`, () => {
      expect(readmeExamplesFor(flavour).length).toBeGreaterThanOrEqual(flavour === "cdktn" ? 5 : 4);
      const result = runIn(appDir, "npx", ["tsc", "--noEmit", "-p", "tsconfig.json"], { check: false });
      expect(result.stdout + result.stderr).toBe("");
      expect(result.status).toBe(0);
    });

    it.each([
      ["node16", { module: "node16", moduleResolution: "node16" }],
      ["bundler", { module: "esnext", moduleResolution: "bundler" }],
    ])("resolves both entry points with TypeScript's %s resolution", (label, options) => {
      writeFileSync(
        join(appDir, `tsconfig.${label}.json`),
        JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { ...options, incremental: false } }),
      );
      const result = runIn(appDir, "npx", ["tsc", "--noEmit", "-p", `tsconfig.${label}.json`], { check: false });
      expect(result.stdout + result.stderr).toBe("");
    });

    it("runs every README example with the app command of cdktf.json; the app examples synthesize a guarded launch template", () => {
      for (const example of readmeExamplesFor(flavour).filter((e) => !e.test)) {
        const outdir = join(workDir, `out-${example.file}`);
        const result = runAppFile(appDir, example.file, outdir, false);
        expect({ example: example.file, status: result.status, stderr: result.stderr }).toEqual({
          example: example.file,
          status: 0,
          stderr: "",
        });
        if (!example.synthesizes) continue;
        const templates = Object.values(synthesizedStacks(outdir)).flatMap((stack) => Object.values(stack.resource?.aws_launch_template ?? {})) as any[];
        expect({ example: example.file, hasTemplate: templates.length > 0 }).toEqual({ example: example.file, hasTemplate: true });
        for (const template of templates.filter((t) => t.tags?.[NETWORK_MODES_TAG] !== undefined)) {
          expect(template.metadata_options).toMatchObject({ http_tokens: "required", http_put_response_hop_limit: 1 });
        }
        if (example.code.includes("ImdsAuditAspect")) {
          // The audit's findings on the template it did not make reach cdktf's manifest.
          const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8"));
          const messages = Object.values(manifest.stacks).flatMap((stack: any) => stack.annotations.map((a: any) => a.message));
          expect(messages).toEqual(expect.arrayContaining([expect.stringMatching(/^ecs-imds-guard audit \(ecs-imds-bridge\): aws_launch_template .*: bridge mode is open/)]));
        }
      }
    });

    it("synthesizes the same Terraform as the repository's own Testing.synth for the same props", () => {
      const outdir = join(workDir, "out-same-props");
      runAppFile(appDir, "same-props.ts", outdir);
      const stacks = synthesizedStacks(outdir);
      expect(Object.keys(stacks).sort()).toEqual(CASES.map((c) => c.name).sort());
      for (const testCase of CASES) {
        expect({ case: testCase.name, terraform: withoutFrameworkBlocks(stacks[testCase.name]) }).toEqual({
          case: testCase.name,
          terraform: withoutFrameworkBlocks(synthesizedHere(testCase)),
        });
      }
      // Sanity: the literal cases carry the renderer's bytes.
      const defaults = Object.values(stacks.defaults.resource.aws_launch_template)[0] as any;
      expect(defaults.user_data).toBe(renderUserData({ clusterName: "prod" }).base64);
    });

    it("hands the guard's warnings to cdktf, which prints them at synth", () => {
      const outdir = join(workDir, "out-warnings");
      runAppFile(appDir, "same-props.ts", outdir);
      const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8"));
      const warnings = manifest.stacks["every-option"].annotations
        .filter((annotation: any) => annotation.level === "@cdktf/warn")
        .map((annotation: any) => annotation.message.match(/^ecs-imds-guard \(([a-z0-9-]+)\)/)?.[1]);
      expect(warnings.sort()).toEqual(["al2-end-of-support", "host-network-mode", "raised-hop-limit"]);
    });

    it("audits the app's own cdktf.out with npx ecs-imds-guard audit", () => {
      const outdir = join(workDir, "out-audit");
      runAppFile(appDir, "same-props.ts", outdir);
      const audit = (args: string[]) => runIn(appDir, "npx", ["ecs-imds-guard", "audit", ...args], { check: false });

      const guarded = audit(["--format", "json", "--fail-on", "unknown", join(outdir, "stacks", "defaults")]);
      expect({ status: guarded.status, stderr: guarded.stderr }).toEqual({ status: 0, stderr: "" });
      const [template] = JSON.parse(guarded.stdout).resources;
      expect(template.verdicts).toEqual({ bridge: "closed", awsvpc: "closed" });

      // Every case is closed for the modes it guards; host mode is always open and fails the run.
      expect(audit([outdir]).status).toBe(0);
      const host = audit(["--network-modes", "host", "--format", "json", outdir]);
      expect(host.status).toBe(1);
      expect(JSON.parse(host.stdout).resources.map((resource: any) => resource.verdicts.host)).toEqual(
        CASES.map(() => "open"),
      );
    });

    it("stops synth on bad input with the field, the value and the rule, and writes no stack", () => {
      const outdir = join(workDir, "out-bad");
      const result = runAppFile(appDir, "bad-input.ts", outdir, false);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('ecs-imds-guard: clusterName = "bad name" is invalid: must be 1-255 characters');
      expect(synthesizedStacks(outdir)).toEqual({});
    });

    it("audits every stack from the App: an open finding stops synth with a non-zero exit, a suppressed one is reported with its reason", () => {
      const outdir = join(workDir, "out-audit-on-app");
      const result = runAppFile(appDir, "audit-on-app.ts", outdir, false);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain("[legacy/web] ecs-imds-guard audit (ecs-imds-bridge): aws_launch_template legacy/web: bridge mode is open");
      expect(result.stderr).not.toContain("(ecs-imds-awsvpc)");
      // The guarded stack, synthesized before the failing one, is written; the failing one is not.
      const written = (stack: string) => existsSync(join(outdir, "stacks", stack, "cdk.tf.json"));
      expect({ guarded: written("guarded"), legacy: written("legacy") }).toEqual({ guarded: true, legacy: false });
    });

    it("runs the README's unit test examples and a user's own with jest: imdsAuditFindings fails an open stack and passes a guarded one", () => {
      const { files, typecheck, jest } = runJestExamples(appDir, flavour);
      expect(files.length).toBeGreaterThanOrEqual(1);
      expect(typecheck.stdout + typecheck.stderr).toBe("");
      expect({ status: jest.status, output: jest.stderr.slice(-3000) }).toEqual({ status: 0, output: expect.stringMatching(new RegExp(`Tests:\\s+\\d+ passed, \\d+ total`)) });
      expect(jest.stderr).toContain(`Test Suites: ${files.length} passed, ${files.length} total`);
    });

    it("renders user data from ecs-imds-guard/user-data without loading cdktf", () => {
      const result = runAppFile(appDir, "user-data-only.ts", join(workDir, "out-user-data"));
      const { base64, frameworkLoaded } = JSON.parse(result.stdout);
      expect(frameworkLoaded).toBe(false);
      expect(base64).toBe(renderUserData({ clusterName: "prod" }).base64);
    });
  });
}
