/**
 * Every stack the project synthesizes, read by the real AWS provider: `terraform validate` against
 * hashicorp/aws from the machine's filesystem mirror, offline. Both flavours pin a provider release
 * the mirror does not hold (cdktf's @cdktf/provider-aws 21.22.1 pins 6.25.0, @cdktn/provider-aws
 * 25.7.0 pins 6.66.0), so the pin is rewritten to the mirror's version for the check and nothing
 * else changes. A consumer app on @cdktf/provider-aws 20.1.0, which pins the mirror's version,
 * validates its output unmodified (__tests__/consumers/cdktf-provider-aws-5.test.ts).
 *
 * One init and one validate for all: each stack is a child module of one root (see validateStacks).
 * One validate per stack took 458 s for the 64 distinct configurations (cdktn writes the provider
 * source as hashicorp/aws, cdktf as aws) on a busy 2-core machine; one for all takes 45 to 80 s there.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  awsProviderRequirements,
  mirroredAwsProviderVersions,
  ProviderWorkspace,
  ValidateDiagnostic,
  validateStacks,
  withAwsProviderPin,
} from "../support/aws-provider";
import { describeWhen } from "../support/tools";
import { CATALOGUE } from "../flavours/catalogue";
import { CAPACITY_STACK_NAME, STACK_NAME } from "../../app";

const ROOT = join(__dirname, "../..");
const FLAVOURS = { cdktf: [], cdktn: ["--require", "./tools/cdktn-register.cjs"] } as const;
type Flavour = keyof typeof FLAVOURS;

function node(args: readonly string[], env: Record<string, string> = {}): string {
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

/** Every stack of one flavour by name: the catalogue (Testing.synth) and this repository's two stacks as `main.ts` writes them. */
function synthesized(flavour: Flavour, outdir: string): Record<string, any> {
  const { framework, stacks } = JSON.parse(node([...FLAVOURS[flavour], "__tests__/flavours/catalogue.ts"]));
  expect(framework).toBe(flavour);
  node([...FLAVOURS[flavour], "main.ts"], { CDKTF_OUTDIR: join(outdir, flavour) });
  const written = Object.fromEntries(
    readdirSync(join(outdir, flavour, "stacks")).map((stack) => [
      `main.ts ${stack}`,
      JSON.parse(readFileSync(join(outdir, flavour, "stacks", stack, "cdk.tf.json"), "utf8")),
    ]),
  );
  return { ...stacks, ...written };
}

describeWhen(awsProviderRequirements())("every synthesized stack, read by the real AWS provider", () => {
  const version = mirroredAwsProviderVersions().at(-1) as string;
  const stacks: Record<string, any> = {};
  let found: Record<string, ValidateDiagnostic[]>;
  const BROKEN = "a copy of main.ts's default stack with a hop limit and http_tokens the provider refuses";

  beforeAll(() => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-validate-"));
    const workspace = new ProviderWorkspace({
      "main.tf.json": JSON.stringify({ terraform: { required_providers: { aws: { source: "hashicorp/aws", version } } } }),
    });
    try {
      for (const flavour of Object.keys(FLAVOURS) as Flavour[]) {
        for (const [name, stack] of Object.entries(synthesized(flavour, outdir))) stacks[`${flavour} ${name}`] = stack;
      }
      // Identical configurations (the stacks without an AwsProvider, the same bytes in both
      // flavours) are validated once: Terraform's answer depends on the bytes only.
      const distinct = new Map<string, { stack: any; names: string[] }>();
      for (const [name, stack] of Object.entries(stacks)) {
        const pinned = withAwsProviderPin(stack, version);
        const text = JSON.stringify(pinned);
        distinct.set(text, { stack: pinned, names: [...(distinct.get(text)?.names ?? []), name] });
      }
      // The control: a stack the provider must refuse, validated in the same run.
      const broken = structuredClone(withAwsProviderPin(stacks[`cdktf main.ts ${STACK_NAME}`], version));
      const [template] = Object.values(broken.resource.aws_launch_template) as any[];
      Object.assign(template.metadata_options, { http_put_response_hop_limit: 65, http_tokens: "always" });
      const groups = [...distinct.values()];
      const byGroup = validateStacks(workspace, { ...Object.fromEntries(groups.map((group, index) => [String(index), group.stack])), [BROKEN]: broken });
      found = { "": byGroup[""], [BROKEN]: byGroup[BROKEN] };
      groups.forEach((group, index) => group.names.forEach((name) => (found[name] = byGroup[String(index)])));
    } finally {
      workspace.dispose();
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 600_000);

  it("holds the whole catalogue and both of this repository's stacks, in both flavours, each pinning its flavour's provider", () => {
    for (const flavour of Object.keys(FLAVOURS)) {
      const names = Object.keys(stacks).filter((name) => name.startsWith(`${flavour} `));
      expect(names.sort()).toEqual(
        [...Object.keys(CATALOGUE), `main.ts ${STACK_NAME}`, `main.ts ${CAPACITY_STACK_NAME}`].map((name) => `${flavour} ${name}`).sort(),
      );
    }
    // The pin is what the rewrite replaces. Stacks without an AwsProvider (the construct-only ones)
    // require no version: Terraform takes the lock file's.
    const pins = (flavour: Flavour) =>
      [...new Set(Object.entries(stacks).filter(([name]) => name.startsWith(`${flavour} `)).map(([, stack]) => stack.terraform?.required_providers?.aws?.version))].sort();
    const pinned = (pkg: string) => JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).cdktf.provider.version;
    expect([pins("cdktf"), pins("cdktn")]).toEqual([
      [pinned("@cdktf/provider-aws"), undefined],
      [pinned("@cdktn/provider-aws"), undefined],
    ]);
  });

  it(`passes terraform validate with hashicorp/aws ${version}: no error, no warning`, () => {
    expect(Object.keys(found).filter((name) => name !== "" && name !== BROKEN).sort()).toEqual(Object.keys(stacks).sort());
    expect(Object.entries(found).filter(([name, diagnostics]) => name !== BROKEN && diagnostics.length > 0)).toEqual([]);
  });

  it("would say so: a stack the provider refuses fails validate with the provider's words, under its own name", () => {
    expect(found[BROKEN].map((d) => `${d.severity}: ${d.summary}`).sort()).toEqual([
      'error: expected http_tokens to be one of ["optional" "required"], got always',
      "error: expected metadata_options.0.http_put_response_hop_limit to be in the range (1 - 64), got 65",
    ]);
  });
});
