/**
 * The real AWS provider, offline: hashicorp/aws from this machine's filesystem mirror
 * (/opt/tf-plugins, FACTS.md "Real parts that run on these machines"), for `terraform init`,
 * `validate`, `test` and `plan` on configurations the project writes or reads.
 */
import { spawnSync } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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

/** Writes the mirror's CLI configuration into `dir` and returns the file's path. */
export function writeMirrorCliConfiguration(dir: string): string {
  const file = join(dir, ".mirror.tfrc");
  writeFileSync(file, mirrorCliConfiguration());
  return file;
}

/**
 * Points this process's Terraform runs at the mirror (`TF_CLI_CONFIG_FILE`, as a user would set
 * it), for code under test that starts terraform itself, such as the audit's runner. Returns the
 * function that restores the environment and removes the file.
 */
export function useMirrorInThisProcess(): () => void {
  const saved = { TF_CLI_CONFIG_FILE: process.env.TF_CLI_CONFIG_FILE, CHECKPOINT_DISABLE: process.env.CHECKPOINT_DISABLE };
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-tfrc-"));
  process.env.TF_CLI_CONFIG_FILE = writeMirrorCliConfiguration(dir);
  process.env.CHECKPOINT_DISABLE = "1";
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(dir, { recursive: true, force: true });
  };
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

/** One line of `terraform test -json`: its type, message, run and the rest of the record. */
export interface TestMessage {
  readonly type: string;
  readonly "@message": string;
  readonly "@testrun"?: string;
  readonly [key: string]: any;
}

/**
 * A private copy of a configuration, run with the mirror's provider, offline, out of the home folder.
 * It is initialized once: configurations swapped in with `replaceConfiguration` are validated,
 * planned and tested without another init as long as they require the same providers and no
 * modules other than local ones (Terraform reads the lock file and `.terraform` as they are).
 */
export class ProviderWorkspace {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  private initialized = false;

  /** `files` maps file names (which may include a folder) to their text; `from` is a folder copied first (a module, an app's stack output). */
  constructor(files: Readonly<Record<string, string>> = {}, from?: string) {
    this.dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-aws-"));
    if (from !== undefined) cpSync(from, this.dir, { recursive: true });
    this.write(files);
    this.env = {
      PATH: process.env.PATH,
      HOME: this.dir,
      TF_CLI_CONFIG_FILE: writeMirrorCliConfiguration(this.dir),
      CHECKPOINT_DISABLE: "1",
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
      // No credentials of the machine reach a plan: the fixtures carry placeholders and skip_* settings.
      AWS_EC2_METADATA_DISABLED: "true",
    };
  }

  /**
   * Replaces the configuration files at the top of the folder (\*.tf, \*.tf.json, tests/) with
   * `files` (names may include a folder, such as tests/x.tftest.hcl); `.terraform` and the lock
   * file stay.
   */
  replaceConfiguration(files: Readonly<Record<string, string>>): void {
    for (const name of readdirSync(this.dir)) {
      if (/\.tf(\.json)?$/.test(name) || name === "tests") rmSync(join(this.dir, name), { recursive: true, force: true });
    }
    this.write(files);
  }

  private write(files: Readonly<Record<string, string>>): void {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, name)), { recursive: true });
      writeFileSync(join(this.dir, name), text);
    }
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
    this.initialized = true;
  }

  /** `terraform validate -json` (after init, the first time): its diagnostics, empty when the configuration is valid. */
  validate(): ValidateDiagnostic[] {
    if (!this.initialized) this.init();
    const result = this.run(["validate", "-json", "-no-color"]);
    const report = JSON.parse(result.stdout);
    return (report.diagnostics ?? []).map((diagnostic: any) => ({
      severity: diagnostic.severity,
      summary: diagnostic.summary,
      detail: diagnostic.detail ?? "",
      ...(diagnostic.range ? { at: `${diagnostic.range.filename}:${diagnostic.range.start.line}` } : {}),
    }));
  }

  /**
   * `terraform plan -out` then `terraform show -json` of the plan (after init, the first time); throws
   * with Terraform's words when the plan fails. `args` are further plan arguments (-var, -var-file).
   */
  plan(args: readonly string[] = []): any {
    if (!this.initialized) this.init();
    const plan = this.run(["plan", "-input=false", "-lock=false", "-no-color", "-out=plan.bin", ...args]);
    if (plan.status !== 0) throw new Error(`terraform plan failed in ${this.dir}:\n${plan.stderr || plan.stdout}`);
    const shown = this.run(["show", "-json", "plan.bin"]);
    if (shown.status !== 0) throw new Error(`terraform show -json failed in ${this.dir}:\n${shown.stderr}`);
    return JSON.parse(shown.stdout);
  }

  /**
   * `terraform test -json -verbose` (after init, the first time): every message it printed; the
   * "test_plan" messages hold each run's plan. Their copy of the provider's schemas (megabytes per
   * run) is dropped; the output goes through a file, being too large for a pipe buffer.
   */
  test(args: readonly string[] = []): TestMessage[] {
    if (!this.initialized) this.init();
    const output = join(this.dir, ".test-output.jsonl");
    const fd = openSync(output, "w");
    let result;
    try {
      result = spawnSync(TERRAFORM, ["test", "-json", "-verbose", "-no-color", ...args], {
        cwd: this.dir,
        env: this.env,
        stdio: ["ignore", fd, "pipe"],
        encoding: "utf8",
        timeout: 600_000,
      });
    } finally {
      closeSync(fd);
    }
    if (result.error || result.status === null) {
      throw new Error(`terraform test did not finish: ${result.error?.message ?? `signal ${result.signal}`}`);
    }
    const messages = readFileSync(output, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => {
        const message = JSON.parse(line);
        if (message.test_plan) delete message.test_plan.provider_schemas;
        return message as TestMessage;
      });
    if (messages.length === 0) throw new Error(`terraform test printed nothing in ${this.dir}:\n${result.stderr}`);
    return messages;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Validates many synthesized stacks with one `terraform validate` (one run costs seconds of provider
 * start-up; thirty runs cost minutes): each stack becomes a child module of one root in `workspace`,
 * and its diagnostics come back under its name. A child module differs from a root in two ways,
 * both bridged here: a backend belongs to the root only (Terraform warns and ignores one in a child,
 * and validate after `init -backend=false` never reads it), so it is left out; a variable without a
 * default is given one of the root's, of the same type, whose value validate never needs.
 * Diagnostics that point at no stack's file (the root's) come back under "".
 */
export function validateStacks(workspace: ProviderWorkspace, stacks: Readonly<Record<string, any>>): Record<string, ValidateDiagnostic[]> {
  const files: Record<string, string> = {};
  const root: any = { module: {}, variable: {} };
  const folders = new Map<string, string>();
  Object.entries(stacks).forEach(([name, stack], index) => {
    const folder = `stacks/stack_${index}`;
    folders.set(`${folder}/main.tf.json`, name);
    const { backend: _backend, ...terraform } = stack.terraform ?? {};
    files[`${folder}/main.tf.json`] = JSON.stringify({ ...stack, ...(stack.terraform ? { terraform } : {}) }, null, 2);
    const call: Record<string, string> = { source: `./${folder}` };
    for (const [variable, declared] of Object.entries<any>(stack.variable ?? {})) {
      if ("default" in declared) continue;
      root.variable[`stack_${index}_${variable}`] = declared.type === undefined ? {} : { type: declared.type };
      call[variable] = `\${var.stack_${index}_${variable}}`;
    }
    root.module[`stack_${index}`] = call;
  });
  rmSync(join(workspace.dir, "stacks"), { recursive: true, force: true });
  workspace.replaceConfiguration({ ...files, "main.tf.json": JSON.stringify(root, null, 2) });
  // Local modules are recorded by init; the providers and the lock file stay as they are.
  workspace.init();
  const found: Record<string, ValidateDiagnostic[]> = Object.fromEntries(Object.keys(stacks).map((name) => [name, []]));
  found[""] = [];
  for (const diagnostic of workspace.validate()) {
    const file = diagnostic.at?.replace(/:\d+$/, "");
    found[(file !== undefined && folders.get(file)) || ""].push(diagnostic);
  }
  return found;
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
