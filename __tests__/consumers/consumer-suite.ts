import { TerraformStack, Testing } from "cdktf";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { ImdsGuardedLaunchTemplate, ImdsGuardedLaunchTemplateProps, NETWORK_MODES_TAG, renderUserData } from "../../lib";
import {
  ConsumerApp,
  CONSUMERS,
  flavourOf,
  inFlavour,
  installConsumerApp,
  installedCopies,
  readmeExamplesFor,
  readmeInstallLines,
  runAppFile,
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

/**
 * Every case synthesized in this repository with `Testing.synth`, as the construct tests do; once
 * per process and in the order of same-props.ts, so that token numbers (which reach the MIME
 * boundary of a plan-time cluster name) match the app's own run.
 */
let casesSynthesizedHere: Record<string, any> | undefined;
function synthesizedHere(testCase: Case): any {
  casesSynthesizedHere ??= Object.fromEntries(CASES.map((c) => [c.name, synthesizeHere(c)]));
  return casesSynthesizedHere[testCase.name];
}

function synthesizeHere({ name, props, referencedCluster }: Case): any {
  const stack = new TerraformStack(Testing.app(), name);
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  const clusterName = referencedCluster ? new EcsCluster(stack, "cluster", { name: props.clusterName }).name : props.clusterName;
  new ImdsGuardedLaunchTemplate(stack, "guard", { ...props, clusterName });
  return JSON.parse(Testing.synth(stack));
}

/** The Node.js releases the global setup installed: major → folder of its `node`. */
function consumerNodes(): Record<string, string> {
  const nodes = process.env.CONSUMER_NODES;
  if (!nodes) throw new Error("CONSUMER_NODES is not set: run the consumer tests through jest (its global setup installs Node.js 22 and 24)");
  return JSON.parse(nodes);
}

/**
 * The consumer app `name` (a folder of __tests__/consumers as `cdktf init` or `cdktn init
 * --template=typescript` wrote it, with its lock file), on each supported Node.js release: the
 * README's install lines run in it verbatim, in order, and the package is used as a user's app
 * would.
 */
export function describeConsumer(name: string): void {
  const nodes = Object.entries(consumerNodes()).sort(([a], [b]) => Number(a) - Number(b));
  nodes.forEach(([major, nodeBin], index) => describeConsumerOn(name, major, nodeBin, index === 0));
}

function describeConsumerOn(name: string, major: string, nodeBin: string, typeChecks: boolean): void {
  const declared = JSON.parse(readFileSync(join(CONSUMERS, name, "package.json"), "utf8")).dependencies;
  const flavour = flavourOf(name);
  const framework = flavour;
  const provider = flavour === "cdktf" ? "@cdktf/provider-aws" : "@cdktn/provider-aws";
  const other = flavour === "cdktf" ? "cdktn" : "cdktf";
  const title = `a ${framework} app as \`${framework} init\` wrote it (${name}: ${framework} ${declared[framework]}, constructs ${declared.constructs}) on Node.js ${major}`;

  describe(title, () => {
    let workDir: string;
    let app: ConsumerApp;

    beforeAll(() => {
      const tarball = process.env.PACKED_TARBALL;
      if (!tarball) throw new Error("PACKED_TARBALL is not set: run the consumer tests through jest (its global setup packs)");
      workDir = mkdtempSync(join(tmpdir(), `ecs-imds-guard-${name}-node${major}-`));
      app = installConsumerApp(name, tarball, workDir, nodeBin);
    }, 900_000);

    afterAll(() => {
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    /** same-props.ts synthesized once with the app command; several tests read its cdktf.out. */
    let samePropsOut: string | undefined;
    const samePropsOutdir = (): string => {
      if (samePropsOut === undefined) {
        samePropsOut = join(workDir, "out-same-props");
        runAppFile(app, "same-props.ts", samePropsOut);
      }
      return samePropsOut;
    };

    it(`runs node, npm and the app's scripts on Node.js ${major}`, () => {
      expect(app.run("node", ["--version"]).stdout).toMatch(new RegExp(`^v${major}\\.`));
      expect(app.run("npm", ["exec", "--", "node", "--version"]).stdout).toMatch(new RegExp(`^v${major}\\.`));
    });

    it("installs with the README's lines as written, in order, with no warning about peers, engines or install scripts", () => {
      const lines = readmeInstallLines(flavour);
      expect(app.installOutput.length).toBe(lines.length);
      lines.forEach((line, index) => {
        const output = app.installOutput[index];
        // npm 11 names every package of the tree with install scripts (init's own have some): only
        // ecs-imds-guard's would be ours.
        const warnings = `${output.stdout}\n${output.stderr}`
          .split("\n")
          .filter((text) => /ERESOLVE|EBADENGINE|peer dep/i.test(text) || (/install-scripts/.test(text) && /ecs-imds-guard/.test(text)));
        expect({ line, warnings }).toEqual({ line, warnings: [] });
      });
      expect([...app.packagesAfter].filter((pkg) => ["ecs-imds-guard", provider].includes(pkg)).sort()).toEqual([provider, "ecs-imds-guard"].sort());
      const installed = (pkg: string) => JSON.parse(readFileSync(join(app.dir, "node_modules", pkg, "package.json"), "utf8")).version;
      // The app's own framework is the one init locked; the README's lines do not move it.
      expect(installed(framework)).toBe(JSON.parse(readFileSync(join(CONSUMERS, name, "package-lock.json"), "utf8")).packages[`node_modules/${framework}`].version);
      expect(app.run("npx", ["ecs-imds-guard", "--version"]).stdout).toBe(`${installed("ecs-imds-guard")}\n`);
      expect(app.run("npx", ["ecs-imds-guard", "--help"]).stdout).toMatch(/^Usage: ecs-imds-guard audit/);
    });

    it(`adds nothing of ${other}'s to the app${flavour === "cdktf" ? " but the flavour-neutral @cdktn/hcl2json" : ""}`, () => {
      const added = [...app.packagesAfter].filter((pkg) => !app.packagesBefore.has(pkg));
      const ofOther = added.filter((pkg) => pkg === other || pkg.startsWith(`@${other}/`) || pkg.startsWith(`${other}-`));
      // The audit's HCL parser is the maintained fork of @cdktf/hcl2json: Go's HCL parser compiled
      // to WebAssembly, which loads no framework; the same package in both flavours.
      expect(ofOther).toEqual(flavour === "cdktf" ? ["@cdktn/hcl2json"] : []);
    });

    it(`keeps the app's own copy of ${framework}, constructs and the AWS provider, and no second one`, () => {
      for (const pkg of [framework, "constructs", provider]) {
        expect({ pkg, copies: installedCopies(app, pkg) }).toEqual({ pkg, copies: [join(app.dir, "node_modules", pkg)] });
        const probe = `const p=require("path");const pkg=${JSON.stringify(pkg)};` +
          'const fromLib=require.resolve(pkg,{paths:[p.dirname(require.resolve("ecs-imds-guard"))]});' +
          "process.stdout.write(JSON.stringify([require.resolve(pkg),fromLib]))";
        const [fromApp, fromLibrary] = JSON.parse(app.run("node", ["-e", probe]).stdout);
        expect(fromLibrary).toBe(fromApp);
      }
    });

    // TypeScript's checks do not depend on the Node.js release that runs tsc: once, on the first.
    if (typeChecks) {
      it(`type-checks every README example, exactly as written${flavour === "cdktn" ? " but for the cdktn imports" : ""}, under ${framework} init's tsconfig`, () => {
        expect(readmeExamplesFor(flavour).length).toBeGreaterThanOrEqual(flavour === "cdktn" ? 5 : 4);
        const result = app.run("npx", ["tsc", "--noEmit", "-p", "tsconfig.json"], { check: false });
        expect(result.stdout + result.stderr).toBe("");
        expect(result.status).toBe(0);
      });

      it.each([
        ["node16", { module: "node16", moduleResolution: "node16" }],
        ["bundler", { module: "esnext", moduleResolution: "bundler" }],
      ])("resolves both entry points with TypeScript's %s resolution", (label, options) => {
        writeFileSync(
          join(app.dir, `tsconfig.${label}.json`),
          JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { ...options, incremental: false } }),
        );
        const result = app.run("npx", ["tsc", "--noEmit", "-p", `tsconfig.${label}.json`], { check: false });
        expect(result.stdout + result.stderr).toBe("");
      });

      it("type-checks every README example in an ES module app (\"type\": \"module\") under TypeScript's nodenext resolution", () => {
        // ES modules resolve deep imports only by their full path: `.../lib/provider/index.js`.
        const esm = join(app.dir, "esm");
        mkdirSync(esm);
        writeFileSync(join(esm, "package.json"), JSON.stringify({ type: "module" }));
        for (const example of readmeExamplesFor(flavour)) writeFileSync(join(esm, example.file), inFlavour(example.code, flavour));
        writeFileSync(
          join(app.dir, "tsconfig.esm.json"),
          JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { module: "nodenext", moduleResolution: "nodenext", incremental: false }, include: ["esm/*.ts"] }),
        );
        const result = app.run("npx", ["tsc", "--noEmit", "-p", "tsconfig.esm.json"], { check: false });
        expect(result.stdout + result.stderr).toBe("");
      });

    }

    it("runs every README example with the app command of cdktf.json; the app examples synthesize a guarded launch template", () => {
      for (const example of readmeExamplesFor(flavour).filter((e) => !e.test)) {
        const outdir = join(workDir, `out-${example.file}`);
        const result = runAppFile(app, example.file, outdir, false);
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
      const outdir = samePropsOutdir();
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
      const outdir = samePropsOutdir();
      const manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8"));
      const warnings = manifest.stacks["every-option"].annotations
        .filter((annotation: any) => annotation.level === "@cdktf/warn")
        .map((annotation: any) => annotation.message.match(/^ecs-imds-guard \(([a-z0-9-]+)\)/)?.[1]);
      expect(warnings.sort()).toEqual(["al2-end-of-support", "host-network-mode", "raised-hop-limit"]);
    });

    it("audits the app's own cdktf.out with npx ecs-imds-guard audit", () => {
      const outdir = samePropsOutdir();
      const audit = (args: string[]) => app.run("npx", ["ecs-imds-guard", "audit", ...args], { check: false });

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
      const result = runAppFile(app, "bad-input.ts", outdir, false);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('ecs-imds-guard: clusterName = "bad name" is invalid: must be 1-255 characters');
      expect(synthesizedStacks(outdir)).toEqual({});
    });

    it("audits every stack from the App: an open finding stops synth with a non-zero exit, a suppressed one is reported with its reason", () => {
      const outdir = join(workDir, "out-audit-on-app");
      const result = runAppFile(app, "audit-on-app.ts", outdir, false);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain("[legacy/web] ecs-imds-guard audit (ecs-imds-bridge): aws_launch_template legacy/web: bridge mode is open");
      expect(result.stderr).not.toContain("(ecs-imds-awsvpc)");
      // The guarded stack, synthesized before the failing one, is written; the failing one is not.
      const written = (stack: string) => existsSync(join(outdir, "stacks", stack, "cdk.tf.json"));
      expect({ guarded: written("guarded"), legacy: written("legacy") }).toEqual({ guarded: true, legacy: false });
    });

    it("runs the README's unit test examples and a user's own with jest: imdsAuditFindings fails an open stack and passes a guarded one", () => {
      const { files, typecheck, jest } = runJestExamples(app, flavour);
      expect(files.length).toBeGreaterThanOrEqual(1);
      expect(typecheck.stdout + typecheck.stderr).toBe("");
      expect({ status: jest.status, output: jest.stderr.slice(-3000) }).toEqual({ status: 0, output: expect.stringMatching(new RegExp(`Tests:\\s+\\d+ passed, \\d+ total`)) });
      expect(jest.stderr).toContain(`Test Suites: ${files.length} passed, ${files.length} total`);
    });

    it("renders user data from ecs-imds-guard/user-data without loading cdktf", () => {
      const result = runAppFile(app, "user-data-only.ts", join(workDir, "out-user-data"));
      const { base64, frameworkLoaded } = JSON.parse(result.stdout);
      expect(frameworkLoaded).toBe(false);
      expect(base64).toBe(renderUserData({ clusterName: "prod" }).base64);
    });
  });
}
