/**
 * `ecs-imds-guard audit`: judges every launch template, instance and launch configuration in
 * Terraform JSON, HCL, a saved plan, CloudFormation, an AWS CDK cloud assembly or AWS CLI output, and exits 0 (nothing reaches --fail-on), 1 (something
 * does) or 2 (bad usage or unreadable input).
 */
import { judgeAll } from "./parallel";
import { readFileSync } from "node:fs";
import { AuditedResource, formatJson, formatSarif, formatTable, reaches, unmatchedLine } from "./report";
import { matchSuppressions, parseSuppressionFile, SourcedSuppression, SuppressionError } from "./suppressions";
import { AuditInputError, FoundResource, launchesWithoutInstances, readAuditInputs, unresolvedJudgement, VariableArgument } from "./read";
import { evaluateWithTerraform } from "./terraform-runner";
import { AUDIT_NETWORK_MODES, AuditNetworkMode, DEFAULT_AUDIT_NETWORK_MODES, Verdict } from "./types";

/** Where the CLI writes. */
export interface AuditIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const FORMATS = ["table", "json", "sarif"] as const;
type Format = (typeof FORMATS)[number];
const EVALUATIONS = ["static", "terraform"] as const;
type Evaluation = (typeof EVALUATIONS)[number];

export const USAGE = `Usage: ecs-imds-guard audit [options] PATH...

Judges whether containers can reach the EC2 instance metadata service (IMDS) on instances
launched from each aws_launch_template, aws_instance and aws_launch_configuration in PATH:
a cdktf.out folder, a cdk.tf.json (Terraform JSON), a folder or file of .tf HCL, or the
output of \`terraform show -json\` for a saved plan; each AWS::EC2::LaunchTemplate,
AWS::AutoScaling::LaunchConfiguration and AWS::EC2::Instance of a CloudFormation template
(JSON or YAML) or an AWS CDK cdk.out folder (or the app folder holding it); and what is
deployed, as the AWS CLI prints it (JSON): aws ec2 describe-launch-template-versions,
aws autoscaling describe-launch-configurations, aws ec2 describe-instances and
aws ec2 describe-instance-attribute --attribute userData (given together, joined by instance).

Options:
  --network-modes LIST  modes your tasks use, comma-separated: bridge, awsvpc, host
                        (default: bridge,awsvpc)
  --format FORMAT       table (default), json, or sarif (SARIF 2.1.0 for code scanning)
  --fail-on VERDICT     exit 1 when a mode is at least this bad: open (default), fragile
                        (open or fragile) or unknown (anything not closed)
  --evaluate HOW        static (default): the audit reads the files itself; terraform:
                        Terraform (1.9 or later, on PATH) plans each PATH, a root module
                        folder, with \`terraform test\` on a temporary copy, the AWS provider
                        mocked and the folder's .terraform reused; values Terraform would
                        read from AWS and variables not given stay unknown
  --var NAME=VALUE      a root variable's value, as terraform -var takes it: a string,
                        or an HCL expression when the variable's type is not a string,
                        number or bool (repeatable); for CloudFormation, a parameter's
                        value over its default, as --parameter-overrides takes it
  --var-file FILE       a variable file (HCL or .tfvars.json), as terraform -var-file
                        takes it (repeatable)
                        As in Terraform, a later source overrides an earlier one: TF_VAR_name
                        environment variables, terraform.tfvars, terraform.tfvars.json,
                        *.auto.tfvars(.json) in name order, then --var and --var-file in the
                        order given; variables given no value stay unknown
  --suppressions FILE   acknowledged findings, each with its reason (repeatable):
                        {"suppressions": [{"resource": "aws_launch_template.web",
                        "rule": "ecs-imds-bridge", "reason": "..."}]}; rule left out: every
                        rule of the resource. A comment above a resource in HCL does the same:
                        # ecs-imds-guard:suppress rule=ecs-imds-bridge reason="..."
                        Suppressed findings are reported with their reason and do not count
                        for --fail-on; a suppression that matches no finding is reported
  -h, --help            this text
  -V, --version         the version of ecs-imds-guard

Verdicts: closed (cannot reach IMDS, for a named reason), fragile (blocked, but lost on a
Docker restart or a reboot), open (can reach it), unknown (the audit cannot see enough).
Rules, one per mode: ecs-imds-bridge, ecs-imds-awsvpc, ecs-imds-host (SARIF's ruleId).
Exit codes: 0 nothing reaches --fail-on, 1 something does, 2 bad usage or unreadable input.
`;

class UsageError extends Error {}

interface Options {
  readonly modes: readonly AuditNetworkMode[];
  readonly format: Format;
  readonly failOn: Verdict;
  readonly evaluate: Evaluation;
  /** --var and --var-file in the order given: a later one overrides an earlier one. */
  readonly variableArguments: readonly VariableArgument[];
  readonly suppressionFiles: readonly string[];
  readonly paths: readonly string[];
}

function parseArgs(args: readonly string[]): Options | "help" | "version" {
  let modes: readonly AuditNetworkMode[] = DEFAULT_AUDIT_NETWORK_MODES;
  let format: Format = "table";
  let failOn: Verdict = "open";
  let evaluate: Evaluation = "static";
  const variableArguments: VariableArgument[] = [];
  const suppressionFiles: string[] = [];
  const paths: string[] = [];
  const rest = [...args];
  if (rest.length === 0 || rest[0] === "-h" || rest[0] === "--help" || rest[0] === "help") return "help";
  if (rest[0] === "-V" || rest[0] === "--version" || rest[0] === "version") return "version";
  const command = rest.shift();
  if (command !== "audit") throw new UsageError(`unknown command "${command}": the command is audit`);
  while (rest.length > 0) {
    const arg = rest.shift() as string;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? rest.shift();
      if (next === undefined || next === "") throw new UsageError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "-h":
      case "--help":
        return "help";
      case "-V":
      case "--version":
        return "version";
      case "--network-modes": {
        const list = value().split(",").map((m) => m.trim());
        const bad = list.filter((m) => !(AUDIT_NETWORK_MODES as readonly string[]).includes(m));
        if (bad.length > 0) throw new UsageError(`--network-modes: "${bad.join(", ")}" is not a network mode (bridge, awsvpc, host)`);
        if (new Set(list).size !== list.length) throw new UsageError("--network-modes: a mode is listed twice");
        modes = AUDIT_NETWORK_MODES.filter((m) => list.includes(m));
        break;
      }
      case "--format": {
        const chosen = value();
        if (!(FORMATS as readonly string[]).includes(chosen)) throw new UsageError(`--format: "${chosen}" is not one of ${FORMATS.join(", ")}`);
        format = chosen as Format;
        break;
      }
      case "--fail-on": {
        const chosen = value();
        if (!["open", "fragile", "unknown"].includes(chosen)) throw new UsageError(`--fail-on: "${chosen}" is not one of open, fragile, unknown`);
        failOn = chosen as Verdict;
        break;
      }
      case "--evaluate": {
        const chosen = value();
        if (!(EVALUATIONS as readonly string[]).includes(chosen)) throw new UsageError(`--evaluate: "${chosen}" is not one of ${EVALUATIONS.join(", ")}`);
        evaluate = chosen as Evaluation;
        break;
      }
      case "--var": {
        const assignment = value();
        // Terraform's own rule for -var: a name, "=", then the value (which may be empty).
        if (!/^[A-Za-z_][\w-]*=/.test(assignment)) throw new UsageError(`--var: "${assignment}" is not NAME=VALUE with NAME a Terraform variable name (letters, digits, _ and -, not starting with a digit)`);
        variableArguments.push({ flag: "--var", assignment });
        break;
      }
      case "--var-file":
        variableArguments.push({ flag: "--var-file", file: value() });
        break;
      case "--suppressions":
        suppressionFiles.push(value());
        break;
      default:
        if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option ${arg}`);
        paths.push(arg);
    }
  }
  if (paths.length === 0) throw new UsageError("no PATH given");
  return { modes, format, failOn, evaluate, variableArguments, suppressionFiles, paths };
}

/**
 * Runs the CLI with arguments after the program name; resolves to the exit code. `environment` is
 * where `TF_VAR_name` values come from, as Terraform reads them.
 */
export async function runAudit(args: readonly string[], io: AuditIo, environment: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let options: Options | "help" | "version";
  try {
    options = parseArgs(args);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`ecs-imds-guard: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  if (options === "help") {
    io.stdout(USAGE);
    return 0;
  }
  if (options === "version") {
    io.stdout(`${packageVersion()}\n`);
    return 0;
  }
  let resources: AuditedResource[];
  let external: SourcedSuppression[];
  try {
    external = options.suppressionFiles.flatMap((file) => parseSuppressionFile(readSuppressionFile(file), file));
  } catch (error) {
    if (error instanceof SuppressionError) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  try {
    const found =
      options.evaluate === "terraform"
        ? await evaluateAll(options)
        : await readAuditInputs(options.paths, { variableArguments: options.variableArguments, environment });
    const judgements = await judgeAll(found.map((resource) => resource.description), options.modes, (message) => io.stderr(`ecs-imds-guard: ${message}\n`));
    // A row the reader could not follow (a module not downloaded) is unknown in every mode, host included.
    resources = found.map((resource, index) => ({ ...resource, judgement: resource.unresolved ? unresolvedJudgement(resource.unresolved, options.modes) : judgements[index] }));
  } catch (error) {
    if (error instanceof AuditInputError) {
      io.stderr(`ecs-imds-guard: cannot read ${error.file}: ${error.problem}\n`);
      return 2;
    }
    io.stderr(`ecs-imds-guard: ${(error as Error).message}\n`);
    return 2;
  }
  const { byResource, unmatched } = matchSuppressions(resources, options.modes, external);
  resources = resources.map((resource, index) => (Object.keys(byResource[index]).length > 0 ? { ...resource, suppressed: byResource[index] } : resource));
  const output =
    options.format === "json"
      ? formatJson(resources, options.modes, options.failOn, unmatched)
      : options.format === "sarif"
        ? formatSarif(resources, options.modes, packageVersion(), unmatched)
        : formatTable(resources, options.modes, unmatched);
  io.stdout(output);
  for (const entry of unmatched) io.stderr(`ecs-imds-guard: warning: ${unmatchedLine(entry)}\n`);
  if (resources.length === 0) {
    const declared = options.evaluate === "terraform" ? [] : await launchesWithoutInstances(options.paths, { variableArguments: options.variableArguments, environment });
    if (declared.length > 0) {
      io.stderr(`ecs-imds-guard: no launch resource has an instance with these inputs: give the values that create them (--var, --var-file) or audit a configuration that calls this module:\n${declared.map((line) => `  ${line}\n`).join("")}`);
    } else io.stderr("ecs-imds-guard: no aws_launch_template, aws_instance or aws_launch_configuration found (nor AWS::EC2::LaunchTemplate, AWS::AutoScaling::LaunchConfiguration or AWS::EC2::Instance)\n");
  }
  const failing = resources.some((resource) =>
    options.modes.some((mode) => {
      const judged = resource.judgement.modes[mode];
      return judged !== undefined && reaches(judged.verdict, options.failOn) && !resource.suppressed?.[mode];
    }),
  );
  return failing ? 1 : 0;
}

function readSuppressionFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new SuppressionError(`ecs-imds-guard: --suppressions ${file}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`);
  }
}

async function evaluateAll(options: Options): Promise<FoundResource[]> {
  const found: FoundResource[] = [];
  for (const path of options.paths) {
    if (/\.(json|tfplan|ya?ml|template)$/i.test(path)) throw new AuditInputError(path, "--evaluate terraform plans a root module: give its folder (a plan, Terraform JSON, a CloudFormation template or an AWS CLI output is read without --evaluate terraform)");
    // The runner hands Terraform every -var before every -var-file.
    const variables = options.variableArguments.flatMap((argument) => (argument.flag === "--var" ? [argument.assignment] : []));
    const variableFiles = options.variableArguments.flatMap((argument) => (argument.flag === "--var-file" ? [argument.file] : []));
    found.push(...(await evaluateWithTerraform(path, { variables, variableFiles })));
  }
  return found;
}

function packageVersion(): string {
  try {
    // lib/audit/cli.ts and dist/lib/audit/cli.js both find the package's own package.json.
    for (const candidate of ["../../package.json", "../../../package.json"]) {
      try {
        const pkg = require(candidate) as { name?: string; version?: string };
        if (pkg.name === "ecs-imds-guard" && pkg.version) return pkg.version;
      } catch {
        /* try the next */
      }
    }
  } catch {
    /* unknown */
  }
  return "0.0.0";
}

