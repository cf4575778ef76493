import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The Terraform CLI the tests run; machines of this kind have it at /usr/local/bin/terraform. */
export const TERRAFORM = "terraform";
/** No single Terraform command here needs more than a second; a hang must not hold the suite. */
const COMMAND_TIMEOUT_MS = 60_000;

/** One message Terraform reports about a configuration or a value (`-json` diagnostics). */
export interface TerraformDiagnostic {
  readonly severity: "error" | "warning";
  readonly summary: string;
  readonly detail: string;
  /** The references the failing expression read, with Terraform's description of their values. */
  readonly values: ReadonlyArray<{ readonly traversal: string; readonly statement: string }>;
}

/** What `terraform plan` made of a configuration and variable values. */
export interface TerraformPlan {
  /** Whether the plan succeeded. */
  readonly ok: boolean;
  /** Planned output values, by output name (only when ok). */
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly diagnostics: readonly TerraformDiagnostic[];
}

/**
 * A private folder for one Terraform configuration, with the environment that keeps Terraform
 * offline and out of the home folder: an empty CLI configuration (no ~/.terraformrc, no plugin
 * cache), no checkpoint call, data and home in the folder. Nothing else of the caller's
 * environment reaches Terraform (no TF_VAR_*, no TF_CLI_ARGS).
 */
export class TerraformWorkspace {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(configuration: object = {}) {
    this.dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-tf-"));
    const cliConfig = join(this.dir, "empty.tfrc");
    writeFileSync(cliConfig, "");
    writeFileSync(join(this.dir, "main.tf.json"), JSON.stringify(configuration, null, 1));
    this.env = {
      PATH: process.env.PATH,
      HOME: this.dir,
      TF_CLI_CONFIG_FILE: cliConfig,
      TF_DATA_DIR: join(this.dir, ".terraform"),
      CHECKPOINT_DISABLE: "1",
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
    };
    // As a pipeline would; offline, it succeeds only because terraform_data needs no provider.
    const init = this.run(["init", "-input=false", "-no-color"]);
    if (init.status !== 0 || init.stderr !== "") throw new Error(`terraform init failed: ${init.stderr || init.stdout}`);
  }

  /** Runs `terraform <args>` in the folder; throws when it cannot run or times out. */
  run(args: readonly string[], input?: string): { status: number; stdout: string; stderr: string } {
    const result = spawnSync(TERRAFORM, args, {
      cwd: this.dir,
      env: this.env,
      input,
      encoding: "utf8",
      timeout: COMMAND_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.error || result.status === null) {
      throw new Error(`terraform ${args[0]} did not finish: ${result.error?.message ?? `signal ${result.signal}`}`);
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /**
   * Plans the configuration with `variables` (given as a JSON variable file, so any string, newlines
   * included, reaches Terraform as it is) and returns the planned outputs or Terraform's diagnostics.
   */
  plan(variables: Readonly<Record<string, unknown>> = {}): TerraformPlan {
    writeFileSync(join(this.dir, "plan.tfvars.json"), JSON.stringify(variables));
    rmSync(join(this.dir, "plan.bin"), { force: true });
    const plan = this.run(["plan", "-json", "-input=false", "-lock=false", "-var-file=plan.tfvars.json", "-out=plan.bin"]);
    const diagnostics = plan.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line))
      .filter((message) => message.type === "diagnostic")
      .map(({ diagnostic }): TerraformDiagnostic => ({
        severity: diagnostic.severity,
        summary: diagnostic.summary,
        detail: diagnostic.detail ?? "",
        values: diagnostic.snippet?.values ?? [],
      }));
    if (plan.status !== 0) {
      if (diagnostics.length === 0) throw new Error(`terraform plan failed without a diagnostic: ${plan.stderr}`);
      return { ok: false, outputs: {}, diagnostics };
    }
    const shown = this.run(["show", "-json", "plan.bin"]);
    if (shown.status !== 0) throw new Error(`terraform show failed: ${shown.stderr}`);
    const outputs = JSON.parse(shown.stdout).planned_values?.outputs ?? {};
    return {
      ok: true,
      outputs: Object.fromEntries(Object.entries(outputs).map(([name, output]) => [name, (output as { value: unknown }).value])),
      diagnostics,
    };
  }

  /**
   * Evaluates each expression (native syntax) with `terraform console` in the context of the
   * configuration and returns their values; throws with Terraform's message if any fails. The
   * expressions go into a file of locals: the console prints only its last result when its input
   * is not a terminal, and reads lines of at most 64 KiB.
   */
  console(expressions: readonly string[], variables: Readonly<Record<string, unknown>> = {}): unknown[] {
    const file = join(this.dir, "console.tf");
    const name = (index: number) => `console_expression_${index}`;
    writeFileSync(file, `locals {\n${expressions.map((expression, i) => `  ${name(i)} = ${expression}\n`).join("")}}\n`);
    writeFileSync(join(this.dir, "console.tfvars.json"), JSON.stringify(variables));
    try {
      // base64 of the JSON: one line of plain characters, whatever the values hold.
      const query = `base64encode(jsonencode([${expressions.map((_, i) => `local.${name(i)}`).join(", ")}]))\n`;
      const result = this.run(["console", "-no-color", "-var-file=console.tfvars.json"], query);
      if (result.status !== 0) throw new Error(`terraform console failed: ${result.stderr}`);
      const values = JSON.parse(Buffer.from(JSON.parse(result.stdout.trim()), "base64").toString("utf8"));
      if (!Array.isArray(values) || values.length !== expressions.length) {
        throw new Error(`terraform console gave ${JSON.stringify(values).slice(0, 200)} for ${expressions.length} expressions`);
      }
      return values;
    } finally {
      rmSync(file, { force: true });
    }
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `use` with a fresh workspace for `configuration` and removes the folder afterwards. */
export function withTerraform<T>(configuration: object, use: (workspace: TerraformWorkspace) => T): T {
  const workspace = new TerraformWorkspace(configuration);
  try {
    return use(workspace);
  } finally {
    workspace.dispose();
  }
}

/** The expression inside a JSON-syntax value `"${...}"`. */
export function unwrapInterpolation(value: string): string {
  const match = /^\$\{([\s\S]*)\}$/.exec(value);
  if (!match) throw new Error(`not a single interpolation: ${value.slice(0, 80)}`);
  return match[1];
}

// A quoted HCL string (skipped: its text is data, not references), or a reference to an attribute
// of a resource of a provider (`aws_ecs_cluster.cluster.name`). The literals this project writes
// escape every `${`, so no template nests inside them.
const STRING_OR_PROVIDER_REFERENCE = /"(?:[^"\\]|\\.)*"|\b([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)\.([a-z_][a-z0-9_]*)\b/g;

/** The local that stands for a provider resource's attribute in an offline configuration. */
function standInName(type: string, name: string, attribute: string): string {
  return `provider_${type}__${name}__${attribute}`;
}

/**
 * Rewrites a JSON-syntax value so that it needs no provider: each reference to a provider
 * resource's attribute (`aws_ecs_cluster.cluster.name`) becomes a reference to a local that holds
 * the value that attribute is configured with in the same stack, which is what Terraform knows of
 * it at plan time. `standIns` collects those locals. An attribute with no configured value (an id,
 * an ARN) cannot be planned offline and throws.
 */
export function withoutProviderReferences(
  value: string,
  resources: Readonly<Record<string, any>>,
  standIns: Record<string, string>,
): string {
  if (typeof value !== "string" || !value.includes("${")) return value;
  const replaced = unwrapInterpolation(value).replace(STRING_OR_PROVIDER_REFERENCE, (match, type?: string, name?: string, attribute?: string) => {
    if (type === undefined) return match;
    const configured = resources[type]?.[name as string]?.[attribute as string];
    if (typeof configured !== "string") {
      throw new Error(`${type}.${name}.${attribute} has no configured value that Terraform knows at plan time`);
    }
    const local = standInName(type, name as string, attribute as string);
    standIns[local] = configured;
    return `local.${local}`;
  });
  return `\${${replaced}}`;
}

/**
 * A configuration Terraform plans offline from a synthesized stack (`Testing.synth` JSON): the
 * stack's variables as they are, its locals with provider references replaced (see
 * withoutProviderReferences), one `terraform_data` per provider resource that has preconditions,
 * carrying those preconditions, and each local as an output of the same name.
 */
export function offlineConfiguration(stack: any): object {
  const resources: Record<string, any> = stack.resource ?? {};
  const standIns: Record<string, string> = {};
  const locals = Object.fromEntries(
    Object.entries((stack.locals ?? {}) as Record<string, string>).map(([name, value]) => [
      name,
      withoutProviderReferences(value, resources, standIns),
    ]),
  );
  const checked: Record<string, object> = {};
  for (const [type, byName] of Object.entries(resources)) {
    for (const [name, resource] of Object.entries(byName as Record<string, any>)) {
      const preconditions: any[] = resource.lifecycle?.precondition ?? [];
      if (preconditions.length === 0) continue;
      checked[`${type}__${name}`] = {
        lifecycle: {
          precondition: preconditions.map((check) => ({
            condition: withoutProviderReferences(check.condition, resources, standIns),
            error_message: check.error_message,
          })),
        },
      };
    }
  }
  const allLocals = { ...locals, ...standIns };
  return {
    ...(stack.variable ? { variable: stack.variable } : {}),
    ...(Object.keys(allLocals).length > 0 ? { locals: allLocals } : {}),
    ...(Object.keys(checked).length > 0 ? { resource: { terraform_data: checked } } : {}),
    ...(Object.keys(locals).length > 0
      ? { output: Object.fromEntries(Object.keys(locals).map((name) => [name, { value: `\${local.${name}}` }])) }
      : {}),
  };
}
