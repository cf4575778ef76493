/**
 * The real AWS provider, offline: hashicorp/aws from this machine's filesystem mirror
 * (/opt/tf-plugins, FACTS.md "Real parts that run on these machines"), for `terraform init`,
 * `validate`, `test` and `plan` on configurations the project writes or reads.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TERRAFORM } from "./terraform";
import { hasProgram } from "./tools";

/** The filesystem mirror that holds hashicorp/aws on these machines. */
export const AWS_PROVIDER_MIRROR = "/opt/tf-plugins";
const AWS_IN_MIRROR = join(AWS_PROVIDER_MIRROR, "registry.terraform.io/hashicorp/aws");

/** The hashicorp/aws versions the mirror holds, oldest first; empty without a mirror. */
export function mirroredAwsProviderVersions(): string[] {
  if (!existsSync(AWS_IN_MIRROR)) return [];
  const parts = (version: string) => version.split(".").map(Number);
  return readdirSync(AWS_IN_MIRROR)
    .filter((name) => /^\d+\.\d+\.\d+$/.test(name))
    .sort((a, b) => {
      const [x, y] = [parts(a), parts(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
}

/** The requirements a suite that runs the real provider states to `describeWhen`. */
export function awsProviderRequirements(): Record<string, boolean> {
  return {
    terraform: hasProgram(TERRAFORM),
    [`the AWS provider in the filesystem mirror ${AWS_PROVIDER_MIRROR}`]: mirroredAwsProviderVersions().length > 0,
  };
}

/** A Terraform CLI configuration that installs hashicorp providers from the mirror and nothing from the network. */
export function mirrorCliConfiguration(): string {
  return `provider_installation {
  filesystem_mirror {
    path    = "${AWS_PROVIDER_MIRROR}"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
`;
}

/**
 * A synthesized stack (cdk.tf.json) whose AWS provider pin is replaced by `version`, for a check
 * with the provider the mirror holds when the stack's flavour pins another release. Nothing else
 * of the stack changes.
 */
export function withAwsProviderPin(stack: any, version: string): any {
  const aws = stack?.terraform?.required_providers?.aws;
  if (aws === undefined) return stack;
  return {
    ...stack,
    terraform: { ...stack.terraform, required_providers: { ...stack.terraform.required_providers, aws: { ...aws, version } } },
  };
}

/** One diagnostic of `terraform validate -json`. */
export interface ValidateDiagnostic {
  readonly severity: "error" | "warning";
  readonly summary: string;
  readonly detail: string;
  /** File and line the diagnostic points at, when it points somewhere. */
  readonly at?: string;
}

/** A private copy of a configuration, run with the mirror's provider, offline, out of the home folder. */
export class ProviderWorkspace {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  /** `files` maps file names to their text; `from` is a folder copied first (a module, an app's stack output). */
  constructor(files: Readonly<Record<string, string>> = {}, from?: string) {
    this.dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-aws-"));
    if (from !== undefined) cpSync(from, this.dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(this.dir, name), text);
    const cliConfig = join(this.dir, ".mirror.tfrc");
    writeFileSync(cliConfig, mirrorCliConfiguration());
    this.env = {
      PATH: process.env.PATH,
      HOME: this.dir,
      TF_CLI_CONFIG_FILE: cliConfig,
      CHECKPOINT_DISABLE: "1",
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
    };
  }

  /** Runs `terraform <args>` in the copy; throws when it cannot run or times out (init of the provider takes seconds). */
  run(args: readonly string[]): { status: number; stdout: string; stderr: string } {
    const result = spawnSync(TERRAFORM, args, { cwd: this.dir, env: this.env, encoding: "utf8", timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
    if (result.error || result.status === null) {
      throw new Error(`terraform ${args.join(" ")} did not finish: ${result.error?.message ?? `signal ${result.signal}`}`);
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** `terraform init -backend=false`; throws with Terraform's words when it fails. */
  init(): void {
    const init = this.run(["init", "-backend=false", "-input=false", "-no-color"]);
    if (init.status !== 0) throw new Error(`terraform init failed in ${this.dir}:\n${init.stderr || init.stdout}`);
  }

  /** `terraform validate -json` after init: its diagnostics, empty when the configuration is valid. */
  validate(): ValidateDiagnostic[] {
    this.init();
    const result = this.run(["validate", "-json", "-no-color"]);
    const report = JSON.parse(result.stdout);
    return (report.diagnostics ?? []).map((diagnostic: any) => ({
      severity: diagnostic.severity,
      summary: diagnostic.summary,
      detail: diagnostic.detail ?? "",
      ...(diagnostic.range ? { at: `${diagnostic.range.filename}:${diagnostic.range.start.line}` } : {}),
    }));
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `use` with a fresh provider workspace and removes the folder afterwards. */
export function withProviderWorkspace<T>(files: Readonly<Record<string, string>>, use: (workspace: ProviderWorkspace) => T, from?: string): T {
  const workspace = new ProviderWorkspace(files, from);
  try {
    return use(workspace);
  } finally {
    workspace.dispose();
  }
}
