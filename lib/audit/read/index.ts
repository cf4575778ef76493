/**
 * Readers of the places launch descriptions live: Terraform JSON (`cdk.tf.json`, a `cdktf.out`
 * folder), a root module of `.tf` / `.tf.json` files with the modules it calls, and the output of
 * `terraform show -json` for a saved plan. Each yields the EC2 launch resource instances with their
 * Terraform address and file.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { Value } from "../evaluate/expression";
import { cloudAssemblyIn, isCloudAssembly, isCloudFormation, parameterValues, parseTemplateFile, readCloudAssembly, readTemplate } from "./cloudformation";
import { isDeployedOutput, joinInstances, readDeployed } from "./deployed";
import { AuditInputError, FoundResource } from "./found";
import { parseHclFiles } from "./hcl";
import { ModuleConfig, ModuleInstance } from "./module";
import { ModuleLoader } from "./modules";
import { readPlan } from "./plan";
import { asTerraformJson, isPlan, readJsonObject } from "./terraform-json";
import { rootVariableValues, VariableSources } from "./variables";

export { AuditInputError, LAUNCH_RESOURCE_TYPES, unresolvedJudgement } from "./found";
export type { FoundResource } from "./found";
export { describePlanned, readPlan, resourceAddressParts } from "./plan";
export { describeUnknowns } from "./values";
export { UNKNOWN_START, UNKNOWN_END } from "../evaluate/expression";
export type { VariableArgument, VariableSources } from "./variables";

/**
 * How the root module is read. Its variables take their values as Terraform gives them
 * (`environment`'s `TF_VAR_name`, a folder's `terraform.tfvars` and `*.auto.tfvars`, then
 * `variableArguments`); others keep their default or stay unknown.
 */
export interface ReadOptions extends VariableSources {
  /** Values of root variables, already evaluated: they override every other source. */
  readonly variables?: Readonly<Record<string, Value>>;
}

/** Reads every launch resource instance from a path: a file or a folder. */
export async function readAuditPath(path: string, options: ReadOptions = {}): Promise<FoundResource[]> {
  if (!existsSync(path)) throw new AuditInputError(path, "no such file or folder");
  if (statSync(path).isDirectory()) {
    // An AWS CDK cloud assembly (cdk.out), or the app folder holding one.
    if (isCloudAssembly(path)) return readCloudAssembly(path, parameterValues(path, options.variableArguments));
    // A cdktf project folder: its synthesized output.
    if (!existsSync(join(path, "stacks")) && existsSync(join(path, "cdktf.out", "stacks"))) return readAuditPath(join(path, "cdktf.out"), options);
    const stacks = join(path, "stacks");
    if (existsSync(stacks) && statSync(stacks).isDirectory()) {
      const files = readdirSync(stacks)
        .sort()
        .map((stack) => join(stacks, stack, "cdk.tf.json"))
        .filter((file) => existsSync(file));
      if (files.length === 0) throw new AuditInputError(path, "a cdktf.out folder without stacks/*/cdk.tf.json: run cdktf synth first");
      const found: FoundResource[] = [];
      for (const file of files) found.push(...(await readJsonFile(file, options)));
      return found;
    }
    if (existsSync(join(path, "cdk.tf.json"))) return readJsonFile(join(path, "cdk.tf.json"), options);
    const names = readdirSync(path);
    if (!names.some((name) => name.endsWith(".tf") || name.endsWith(".tf.json"))) {
      const assembly = cloudAssemblyIn(path);
      if (assembly !== undefined) return readCloudAssembly(assembly, parameterValues(path, options.variableArguments));
      throw new AuditInputError(
        path,
        "no cdk.out or cdktf.out folder, cdk.tf.json, .tf or .tf.json files in this folder (an AWS CDK app: run cdk synth first; a CloudFormation template or an AWS API output: give the file)",
      );
    }
    const loader = new ModuleLoader(path);
    return readRoot(await loader.load(path), loader, options, path);
  }
  if (path.endsWith(".tf")) {
    const loader = new ModuleLoader(dirname(path));
    return readRoot(loader.fromFiles(dirname(path), await parseHclFiles([path])), loader, options);
  }
  // CloudFormation in YAML; JSON is told apart by its content.
  if (/\.(ya?ml|template)$/i.test(path)) return readCloudFormation(path, options);
  return readJsonFile(path, options);
}

async function readJsonFile(file: string, options: ReadOptions): Promise<FoundResource[]> {
  return readJsonDocument(readJsonObject(file), file, options);
}

/**
 * Reads Terraform JSON or a plan already in memory (`Testing.synth`'s output, parsed). `file` names
 * it in the results; local module sources resolve from its folder.
 */
export async function readJsonDocument(document: Record<string, unknown>, file: string, options: ReadOptions = {}): Promise<FoundResource[]> {
  if (isPlan(document)) return readPlan(file, document);
  if (isCloudFormation(document)) return readCloudFormation(file, options);
  if (isDeployedOutput(document)) return readDeployed(file, document);
  const loader = new ModuleLoader(dirname(file));
  return readRoot(loader.fromFiles(dirname(file), [asTerraformJson(file, document)]), loader, options);
}

function readCloudFormation(file: string, options: ReadOptions): FoundResource[] {
  const parameters = parameterValues(file, options.variableArguments);
  return readTemplate(parseTemplateFile(file), parameters !== undefined ? { parameters } : {});
}

/** `automaticFilesDir`: the root folder, whose `terraform.tfvars` and `*.auto.tfvars` Terraform loads. */
async function readRoot(config: ModuleConfig, loader: ModuleLoader, options: ReadOptions, automaticFilesDir?: string): Promise<FoundResource[]> {
  return (await rootInstance(config, loader, options, automaticFilesDir)).rows();
}

async function rootInstance(config: ModuleConfig, loader: ModuleLoader, options: ReadOptions, automaticFilesDir?: string): Promise<ModuleInstance> {
  const values = { ...(await rootVariableValues(config, options, automaticFilesDir)), ...options.variables };
  const inputs = new Map(Object.entries(values).map(([name, value]) => [name, () => Promise.resolve(value)] as const));
  return new ModuleInstance(config, loader, [], "", inputs);
}

/**
 * For root modules of `.tf` files among the paths: the launch resources and module calls that have
 * no instance at these inputs (count = 0, an empty for_each), each with the argument that says so.
 */
export async function launchesWithoutInstances(paths: readonly string[], options: ReadOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    if (!existsSync(path) || !statSync(path).isDirectory() || !readdirSync(path).some((name) => name.endsWith(".tf"))) continue;
    const loader = new ModuleLoader(path);
    out.push(...(await (await rootInstance(await loader.load(path), loader, options, path)).withoutInstances()));
  }
  return out;
}

/** Reads paths: the whole input of one audit. */
export async function readAuditInputs(paths: readonly string[], options: ReadOptions = {}): Promise<FoundResource[]> {
  const found: FoundResource[] = [];
  for (const path of paths) found.push(...(await readAuditPath(path, options)));
  return joinInstances(found);
}

