import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withoutFrameworkBlocks } from "../support/terraform-json";
import { CATALOGUE } from "./catalogue";

const ROOT = join(__dirname, "../..");
const CDKTN = ["--require", "./tools/cdktn-register.cjs"];

function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ["--require", "./tools/swc-register.cjs", ...args], {
    cwd: ROOT,
    env: { ...process.env, CHECKPOINT_DISABLE: "1", ...env },
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} ended with ${result.status}: ${result.stderr}`);
  return result.stdout;
}

describe("the cdktf and the CDK Terrain (cdktn) flavour", () => {
  it("synthesize every stack of the catalogue to the same Terraform, apart from the terraform block", () => {
    const cdktf = JSON.parse(run(["__tests__/flavours/catalogue.ts"]));
    const cdktn = JSON.parse(run([...CDKTN, "__tests__/flavours/catalogue.ts"]));
    expect([cdktf.framework, cdktn.framework]).toEqual(["cdktf", "cdktn"]);
    expect(Object.keys(cdktn.stacks)).toEqual(Object.keys(CATALOGUE));
    for (const name of Object.keys(CATALOGUE)) {
      expect({ name, terraform: withoutFrameworkBlocks(cdktn.stacks[name]) }).toEqual({
        name,
        terraform: withoutFrameworkBlocks(cdktf.stacks[name]),
      });
    }
    // The blocks left out really are the provider constraints: each flavour pins its own AWS provider.
    const constraint = (stacks: any) => stacks["case-defaults"].terraform.required_providers.aws.version;
    const pinned = (pkg: string) => JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).cdktf.provider.version;
    expect([constraint(cdktf.stacks), constraint(cdktn.stacks)]).toEqual([pinned("@cdktf/provider-aws"), pinned("@cdktn/provider-aws")]);
  }, 120_000);

  it("npm run synth:cdktn writes this repository's two stacks as npm run synth does, apart from the terraform block", () => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-flavours-"));
    try {
      for (const [flavour, args] of [["cdktf", []], ["cdktn", CDKTN]] as const) {
        run([...args, "main.ts"], { CDKTF_OUTDIR: join(outdir, flavour) });
      }
      const scripts = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts;
      expect(scripts["synth:cdktn"]).toBe(`node --require ./tools/swc-register.cjs ${CDKTN.join(" ")} main.ts`);
      const stacks = readdirSync(join(outdir, "cdktf", "stacks")).sort();
      expect(readdirSync(join(outdir, "cdktn", "stacks")).sort()).toEqual(stacks);
      for (const stack of stacks) {
        const read = (flavour: string) => JSON.parse(readFileSync(join(outdir, flavour, "stacks", stack, "cdk.tf.json"), "utf8"));
        expect({ stack, terraform: withoutFrameworkBlocks(read("cdktn")) }).toEqual({ stack, terraform: withoutFrameworkBlocks(read("cdktf")) });
        // Same backend and same logical ids: state written by one flavour is read by the other.
        expect(read("cdktn").terraform.backend).toEqual(read("cdktf").terraform.backend);
      }
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);
});
