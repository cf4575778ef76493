/**
 * `cdktf synth --hcl` (and CDK Terrain's) as a pipeline uses it: the HCL of this repository's two
 * stacks, of the README's examples and of the flavour catalogue, read by the real Terraform CLI
 * with the real AWS provider (`terraform init -backend=false`, `terraform validate`), made canonical
 * by `terraform fmt`, and judged by the audit as the JSON is.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CAPACITY_STACK_NAME, STACK_NAME } from "../app";
import { runAudit } from "../lib/audit";
import { awsProviderRequirements, ProviderWorkspace } from "./support/aws-provider";
import { Flavour, inFlavour, readmeExamples } from "./support/consumer-app";
import { awsPinOverride, errorsOf, mirroredAwsVersion, parsedWithoutLayout, PIN_OVERRIDE_FILE, validateAsModules } from "./support/terraform-hcl";
import type { DiagnosticsByConfiguration } from "./support/terraform-hcl";
import { describeWhen } from "./support/tools";

const ROOT = join(__dirname, "..");
const FLAVOURS: readonly Flavour[] = ["cdktf", "cdktn"];
const REGISTER = { cdktf: ["--require", "./tools/swc-register.cjs"], cdktn: ["--require", "./tools/swc-register.cjs", "--require", "./tools/cdktn-register.cjs"] };

/** Runs node on a TypeScript program of the repository, in `flavour`; throws with its output when it fails. */
function runNode(flavour: Flavour, args: readonly string[], env: Record<string, string> = {}): string {
  const result = spawnSync(process.execPath, [...REGISTER[flavour], ...args], {
    cwd: ROOT,
    env: { ...process.env, CHECKPOINT_DISABLE: "1", ...env },
    encoding: "utf8",
    timeout: 180_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} (${flavour}) ended with ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout;
}

/** The file of each stack (`cdk.tf` or `cdk.tf.json`) a synth wrote under `outdir`, by stack name. */
function writtenStacks(outdir: string, file: string): Record<string, string> {
  const stacks = join(outdir, "stacks");
  if (!existsSync(stacks)) return {};
  return Object.fromEntries(readdirSync(stacks).map((stack) => [stack, readFileSync(join(stacks, stack, file), "utf8")]));
}

/**
 * Each README example that synthesizes, run as written (cdktn imports in the CDK Terrain flavour)
 * against the working tree, as `cdktf synth --hcl` runs an app: with SYNTH_HCL_OUTPUT set, cdktf's
 * App writes cdk.tf; without it, cdk.tf.json.
 */
function readmeStacks(flavour: Flavour, work: string, hcl: boolean): Record<string, string> {
  const stacks: Record<string, string> = {};
  for (const example of readmeExamples().filter((e) => e.synthesizes && (flavour === "cdktn" || e.flavour === "cdktf"))) {
    const dir = join(work, `${flavour}-${hcl ? "hcl" : "json"}-${example.file.replace(/\.ts$/, "")}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "main.ts"), inFlavour(example.code, flavour));
    runNode(flavour, ["--require", "./__tests__/support/self-register.cjs", join(dir, "main.ts")], {
      NODE_PATH: join(ROOT, "node_modules"),
      CDKTF_OUTDIR: join(dir, "out"),
      ...(hcl ? { SYNTH_HCL_OUTPUT: "true" } : {}),
    });
    const written = writtenStacks(join(dir, "out"), hcl ? "cdk.tf" : "cdk.tf.json");
    expect({ example: example.file, stacks: Object.keys(written).length > 0 }).toEqual({ example: example.file, stacks: true });
    for (const [stack, text] of Object.entries(written)) stacks[`${example.file}/${stack}`] = text;
  }
  return stacks;
}

/** Verdicts, reasons and fixes of the audit for each resource it finds in `path`, by address. */
async function auditOf(path: string): Promise<Record<string, unknown>> {
  let stdout = "";
  let stderr = "";
  await runAudit(["audit", "--format", "json", "--network-modes", "bridge,awsvpc,host", path], {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  if (stdout === "") throw new Error(`the audit of ${path} printed nothing: ${stderr}`);
  const report = JSON.parse(stdout);
  return Object.fromEntries(report.resources.map((r: any) => [r.address, { verdicts: r.verdicts, reasons: r.reasons, fixes: r.fixes, notes: r.notes }]));
}

/** Audits each stack written as HCL and as JSON; returns both judgements by stack. */
async function auditBoth(work: string, hcl: Record<string, string>, json: Record<string, string>) {
  const judged: Record<string, { hcl: unknown; json: unknown }> = {};
  for (const [index, name] of Object.keys(hcl).entries()) {
    const dir = join(work, `audit-${index}`);
    mkdirSync(join(dir, "hcl"), { recursive: true });
    writeFileSync(join(dir, "hcl", "cdk.tf"), hcl[name]);
    writeFileSync(join(dir, "cdk.tf.json"), json[name]);
    judged[name] = { hcl: await auditOf(join(dir, "hcl")), json: await auditOf(join(dir, "cdk.tf.json")) };
  }
  return judged;
}

/** Diagnostics that are not the one a child module's backend block draws (see validateAsModules). */
function besidesIgnoredBackend(diagnostics: DiagnosticsByConfiguration, names: readonly string[]) {
  return names.map((name) => ({
    name,
    diagnostics: (diagnostics[name] ?? []).filter((d) => d.summary !== "Backend configuration ignored").map((d) => `${d.severity}: ${d.summary}: ${d.detail} (${d.at})`),
  }));
}

describeWhen(awsProviderRequirements())("HCL from cdktf synth --hcl, read by Terraform and the AWS provider", () => {
  let work: string;
  const catalogue: Record<Flavour, Record<string, string>> = { cdktf: {}, cdktn: {} };
  let catalogueJson: Record<string, string> = {};
  const readme: Record<Flavour, Record<string, string>> = { cdktf: {}, cdktn: {} };
  let readmeJson: Record<string, string> = {};
  let diagnostics: DiagnosticsByConfiguration;
  const all = () => ({
    ...Object.fromEntries(FLAVOURS.flatMap((flavour) => Object.entries(catalogue[flavour]).map(([name, hcl]) => [`${flavour}/catalogue/${name}`, hcl]))),
    ...Object.fromEntries(FLAVOURS.flatMap((flavour) => Object.entries(readme[flavour]).map(([name, hcl]) => [`${flavour}/readme/${name}`, hcl]))),
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "ecs-imds-guard-hcl-"));
    for (const flavour of FLAVOURS) {
      catalogue[flavour] = JSON.parse(runNode(flavour, ["__tests__/flavours/catalogue.ts", "--hcl"])).stacks;
      readme[flavour] = readmeStacks(flavour, work, true);
    }
    catalogueJson = Object.fromEntries(
      Object.entries(JSON.parse(runNode("cdktf", ["__tests__/flavours/catalogue.ts"])).stacks).map(([name, stack]) => [name, JSON.stringify(stack)]),
    );
    readmeJson = readmeStacks("cdktf", work, false);
    // One init and one validate for every configuration (see validateAsModules).
    diagnostics = await validateAsModules(all());
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("terraform validate accepts the HCL of every catalogue stack, from cdktf and from CDK Terrain, with no warning", () => {
    const names = Object.keys(all()).filter((name) => name.includes("/catalogue/"));
    expect(names).toHaveLength(2 * Object.keys(catalogue.cdktf).length);
    expect(besidesIgnoredBackend(diagnostics, names)).toEqual(names.map((name) => ({ name, diagnostics: [] })));
    expect(diagnostics["(root)"] ?? []).toEqual([]);
  });

  it("terraform validate accepts the HCL of every README example that synthesizes, in both flavours", () => {
    const names = Object.keys(all()).filter((name) => name.includes("/readme/"));
    // Today the construct (clusterName a reference), the capacity and the audit Aspect; CDK Terrain
    // also runs the example written for it.
    expect(Object.keys(readme.cdktf).length).toBeGreaterThanOrEqual(3);
    expect(Object.keys(readme.cdktn).length).toBeGreaterThan(Object.keys(readme.cdktf).length);
    expect(besidesIgnoredBackend(diagnostics, names)).toEqual(names.map((name) => ({ name, diagnostics: [] })));
  });

  // Each construct whose HCL Terraform rejected before, named by the catalogue stack that shows it.
  it.each([
    ["ImdsGuardedLaunchTemplate: precondition blocks when clusterName is a reference", "case-referenced-cluster", /^precondition \{$/m],
    ["EcsCapacity: the sizes' precondition block and ignore_changes unquoted", `app-${CAPACITY_STACK_NAME}`, /^ignore_changes = \[desired_capacity\]$/m],
    ["EcsInstanceRole: the trust policy as jsonencode", "capacity-pieces", /^assume_role_policy = "\$\{jsonencode\(\{/m],
    ["the capacity stack: variable defaults 0 and false", `app-${CAPACITY_STACK_NAME}`, /^default = 0$/m],
  ])("%s: Terraform accepts it in both flavours", (_construct, stack, shape) => {
    for (const flavour of FLAVOURS) {
      expect(catalogue[flavour][stack]).toMatch(shape);
      expect(errorsOf(diagnostics[`${flavour}/catalogue/${stack}`])).toEqual([]);
    }
  });

  it("the audit gives the HCL of every catalogue stack and README example the verdicts it gives the JSON", async () => {
    const judged = await auditBoth(work, { ...catalogue.cdktf, ...readme.cdktf }, { ...catalogueJson, ...readmeJson });
    const templates = Object.values(judged).reduce((count, { json }) => count + Object.keys(json as object).length, 0);
    expect(templates).toBeGreaterThanOrEqual(Object.keys(judged).length);
    for (const [name, { hcl, json }] of Object.entries(judged)) expect({ name, audit: hcl }).toEqual({ name, audit: json });
  }, 300_000);

  it("cdktf synth --hcl of this repository: both stacks pass init and validate as root modules, after terraform fmt, which makes the layout canonical and changes nothing else", async () => {
    const outdir = join(work, "cli");
    const cli = spawnSync("npx", ["cdktf", "synth", "--hcl", "--output", outdir], {
      cwd: ROOT,
      env: { ...process.env, CHECKPOINT_DISABLE: "1", CI: "true" },
      encoding: "utf8",
      timeout: 180_000,
    });
    expect({ status: cli.status, signal: cli.signal, stderr: cli.status === 0 ? "" : cli.stderr }).toEqual({ status: 0, signal: null, stderr: "" });
    const written = writtenStacks(outdir, "cdk.tf");
    expect(Object.keys(written).sort()).toEqual([STACK_NAME, CAPACITY_STACK_NAME].sort());
    // CDK Terrain's `synth --hcl` runs the app with SYNTH_HCL_OUTPUT set; so does this.
    const cdktn = join(work, "cdktn-app");
    runNode("cdktn", ["main.ts"], { CDKTF_OUTDIR: cdktn, SYNTH_HCL_OUTPUT: "true" });
    // The same configuration as Terraform's parser reads it (the CLI aligns the layout, the app alone
    // does not), apart from the terraform block, where each flavour pins its own AWS provider.
    const withoutTerraformBlock = async (hcl: string) => {
      const { terraform, ...rest } = await parsedWithoutLayout(hcl);
      expect(terraform).toBeDefined();
      return rest;
    };
    const cdktnStacks = writtenStacks(cdktn, "cdk.tf");
    expect(Object.keys(cdktnStacks).sort()).toEqual(Object.keys(written).sort());
    for (const [stack, hcl] of Object.entries(cdktnStacks)) {
      expect({ stack, hcl: await withoutTerraformBlock(hcl) }).toEqual({ stack, hcl: await withoutTerraformBlock(written[stack]) });
    }

    const workspace = new ProviderWorkspace({ [PIN_OVERRIDE_FILE]: awsPinOverride(mirroredAwsVersion()) });
    try {
      for (const [stack, hcl] of Object.entries(written)) {
        writeFileSync(join(workspace.dir, "cdk.tf"), hcl);
        // The renderer's layout is not canonical: fmt -check lists the file and exits 3.
        expect({ stack, check: workspace.run(["fmt", "-check", "-no-color"]).status }).toEqual({ stack, check: 3 });
        expect(workspace.run(["fmt", "-no-color"]).status).toBe(0);
        expect({ stack, check: workspace.run(["fmt", "-check", "-no-color"]) }).toEqual({ stack, check: { status: 0, stdout: "", stderr: "" } });
        const formatted = readFileSync(join(workspace.dir, "cdk.tf"), "utf8");
        expect(formatted).not.toBe(hcl);
        // Same configuration as Terraform's parser reads it: fmt changed layout only.
        expect(await parsedWithoutLayout(formatted)).toEqual(await parsedWithoutLayout(hcl));
        expect({ stack, diagnostics: workspace.validate() }).toEqual({ stack, diagnostics: [] });
      }
    } finally {
      workspace.dispose();
    }

    // `npx ecs-imds-guard audit` on the folder of cdk.tf judges as on the JSON of the same stacks.
    const jsonOut = join(work, "cli-json");
    runNode("cdktf", ["main.ts"], { CDKTF_OUTDIR: jsonOut });
    const judged = await auditBoth(join(work, "cli-audit"), written, writtenStacks(jsonOut, "cdk.tf.json"));
    for (const [name, { hcl, json }] of Object.entries(judged)) expect({ name, audit: hcl }).toEqual({ name, audit: json });
  }, 300_000);
});
