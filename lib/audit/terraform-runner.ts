/**
 * `--evaluate terraform`: Terraform itself evaluates the root module. The audit plans it with
 * `terraform test` on a temporary copy, with only the AWS provider mocked, and judges the planned
 * launch resources. Nothing is written into the user's folders.
 */
import type * as Hcl2Json from "@cdktn/hcl2json";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, parse, relative, resolve, sep } from "node:path";
import { AuditInputError, FoundResource } from "./sources";
import { commentSuppressions } from "./read/hcl";
import { SourcedSuppression, SuppressionError, suppressionsInComment } from "./suppressions";
import {
  describeDiagnostics,
  imageSourceDataSources,
  imageSourcesFile,
  mockedValueProblem,
  moduleKeyOf,
  plannedLaunches,
  readTestOutput,
  replaceVariableReferences,
  resourceTypeAndName,
  RootDataSource,
  terraformVersionOf,
  terraformVersionProblem,
  testFileText,
  unknownVariablesFile,
} from "./terraform-plan";

/** How Terraform is run for one root module. */
export interface TerraformEvaluationOptions {
  /** `NAME=VALUE` as given to `--var` (and to `terraform -var`). @default [] */
  readonly variables?: readonly string[];
  /** Variable files as given to `--var-file`, relative to `cwd`. @default [] */
  readonly variableFiles?: readonly string[];
  /** The Terraform executable. @default "terraform" (found on PATH) */
  readonly terraform?: string;
  /** Terraform's environment (TF_CLI_CONFIG_FILE, TF_PLUGIN_CACHE_DIR, TF_VAR_* are honoured). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** The folder paths are relative to, and rows' files are written relative to. @default process.cwd() */
  readonly cwd?: string;
}

const TEST_FILE = "ecs_imds_guard_audit.tftest.hcl";
const UNKNOWNS_FILE = "ecs_imds_guard_unknown_variables.tf";
const IMAGE_SOURCES_FILE = "ecs_imds_guard_image_sources.tf";
// terraform test also runs the files of its test folder; the audit's copy has none by that name.
const NO_TEST_DIRECTORY = "ecs-imds-guard-no-tests";
/** init with providers already installed takes about 3 s here; the first copy from a mirror longer. */
const INIT_TIMEOUT_MS = 10 * 60_000;
/** One plan with the AWS provider mocked took 5 to 8 s here. */
const TEST_TIMEOUT_MS = 10 * 60_000;

/** Plans the root module at `path` (a folder, or a .tf file in it) and returns its launch resources. */
export async function evaluateWithTerraform(path: string, options: TerraformEvaluationOptions = {}): Promise<FoundResource[]> {
  const cwd = options.cwd ?? process.cwd();
  const given = resolve(cwd, path);
  if (!existsSync(given)) throw new AuditInputError(path, "no such file or folder");
  const root = realpathSync(statSync(given).isDirectory() ? given : dirname(given));
  const env = terraformEnvironment(options.env ?? process.env);
  const terraform = options.terraform ?? "terraform";
  await checkTerraformVersion(terraform, env, path);

  const rootDocuments = await readModuleDocuments(root);
  const declared = declaredVariables(rootDocuments);
  const givenNames = await givenVariableNames(root, options, cwd, env);
  const unknownVariables = declared.filter((variable) => !variable.hasDefault && !givenNames.has(variable.name)).map((variable) => variable.name);

  const temp = mkdtempSync(join(tmpdir(), "ecs-imds-guard-terraform-"));
  try {
    const copy = mirrorRootModule(temp, root, (name, text) => (name.endsWith(".tf") || name.endsWith(".tf.json") ? replaceVariableReferences(text, unknownVariables) : text));
    if (unknownVariables.length > 0) writeFileSync(join(copy, UNKNOWNS_FILE), unknownVariablesFile(unknownVariables));

    const init = await run(terraform, ["init", "-backend=false", "-input=false", "-no-color"], copy, env, INIT_TIMEOUT_MS);
    if (init.code !== 0) throw new AuditInputError(path, initProblem(init.stderr || init.stdout, root));

    const moduleDirs = moduleDirectories(copy);
    const dataTypes = awsDataSourceTypes([...moduleDirs.values()]);
    const dataSourceAttributes = dataTypes.length > 0 ? await computedStringAttributes(terraform, copy, env, dataTypes, path) : {};
    const rootDataSources = declaredDataSources(rootDocuments);
    writeFileSync(join(copy, TEST_FILE), testFileText({ awsAliases: awsProviderAliases(rootDocuments), dataSourceAttributes, unknownVariables, rootDataSources }));
    if (imageSourceDataSources(rootDataSources).length > 0) writeFileSync(join(copy, IMAGE_SOURCES_FILE), imageSourcesFile(rootDataSources));

    const variableArgs = [
      ...(options.variables ?? []).map((assignment) => `-var=${assignment}`),
      ...(options.variableFiles ?? []).map((file) => `-var-file=${resolve(cwd, file)}`),
    ];
    const test = await run(terraform, ["test", "-json", "-verbose", "-no-color", `-test-directory=${NO_TEST_DIRECTORY}`, ...variableArgs], copy, env, TEST_TIMEOUT_MS);
    const output = readTestOutput(test.stdout);
    if (!output.resourceChanges) {
      const why = output.errors.length > 0 ? describeDiagnostics(output.errors) : (test.stderr || test.stdout).trim().slice(0, 2000);
      const mocked = mockedValueProblem(output.errors);
      const hint = mocked
        ? ` (${mocked})`
        : unknownVariables.length > 0
          ? ` (variables given no value, left unknown: ${unknownVariables.join(", ")}; give them with --var or --var-file)`
          : "";
      throw new AuditInputError(path, `terraform test could not plan this root module: ${why}${hint}`);
    }
    return plannedLaunches(output.resourceChanges, unknownVariables).map((launch) => {
      const declared = declaringFile(launch.address, moduleDirs, temp);
      const file = relative(cwd, declared?.file ?? root) || ".";
      return { ...launch, file, ...(declared?.suppressions.length ? { suppressions: declared.suppressions.map((s) => ({ ...s, source: s.source.replace(declared.file, file) })) } : {}) };
    });
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/** The caller's environment, without what would move Terraform's data or add arguments. */
function terraformEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = Object.fromEntries(Object.entries(env).filter(([name]) => name !== "TF_DATA_DIR" && name !== "TF_WORKSPACE" && !name.startsWith("TF_CLI_ARGS")));
  return { ...kept, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_INPUT: "0" };
}

async function checkTerraformVersion(terraform: string, env: NodeJS.ProcessEnv, path: string): Promise<void> {
  let version: string;
  try {
    const result = await run(terraform, ["version", "-json"], process.cwd(), env, 60_000);
    version = terraformVersionOf(result.stdout);
  } catch (error) {
    throw new AuditInputError(path, `--evaluate terraform needs Terraform on PATH (${(error as Error).message})`);
  }
  const problem = terraformVersionProblem(version);
  if (problem) throw new AuditInputError(path, problem);
}

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs Terraform; rejects when it cannot start or outlives `timeout`. */
function run(terraform: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeout: number): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(terraform, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      fail(new Error(`${terraform} ${args[0]}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === null) return fail(new Error(`terraform ${args[0]} stopped (${signal}) after at most ${timeout / 1000} s`));
      done({ code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
    });
  });
}

/**
 * A copy of the root module in `temp` at its own absolute path, so every relative path in it
 * (`source = "../modules/x"`, `file("${path.module}/../scripts/a.sh")`) reaches the same file: each
 * folder from `/` down to the root is real and holds links to its other entries. In the root, files
 * are links (or rewritten copies, `transform`), the user's tests are left out, the lock file is
 * copied and `.terraform` is rebuilt from links to the user's modules and providers.
 */
function mirrorRootModule(temp: string, root: string, transform: (name: string, text: string) => string): string {
  const { root: fsRoot } = parse(root);
  const chain = root.slice(fsRoot.length).split(sep).filter(Boolean);
  let original = fsRoot;
  for (const step of chain) {
    const copy = join(temp, original);
    mkdirSync(copy, { recursive: true });
    for (const entry of readdirSync(original)) if (entry !== step) symlinkSync(join(original, entry), join(copy, entry));
    original = join(original, step);
  }
  const copy = join(temp, root);
  mkdirSync(copy, { recursive: true });
  for (const entry of readdirSync(root)) {
    const from = join(root, entry);
    if (entry === ".terraform" || /\.tftest\.(hcl|json)$/.test(entry)) continue;
    if (entry === ".terraform.lock.hcl") {
      copyFileSync(from, join(copy, entry));
      continue;
    }
    if (statSync(from).isFile() && /\.tf(\.json)?$/.test(entry)) {
      const text = readFileSync(from, "utf8");
      const changed = transform(entry, text);
      if (changed !== text) {
        writeFileSync(join(copy, entry), changed);
        continue;
      }
    }
    symlinkSync(from, join(copy, entry));
  }
  const data = join(root, ".terraform");
  if (existsSync(data)) mirrorDataDirectory(data, join(copy, ".terraform"));
  return copy;
}

/**
 * The user's `.terraform`: modules and providers linked (init finds them installed and needs no
 * network), everything init may write (the manifest, new providers) real and in the copy.
 */
function mirrorDataDirectory(data: string, copy: string): void {
  mkdirSync(copy);
  const modules = join(data, "modules");
  if (existsSync(modules)) {
    mkdirSync(join(copy, "modules"));
    for (const entry of readdirSync(modules)) {
      if (entry === "modules.json") copyFileSync(join(modules, entry), join(copy, "modules", entry));
      else symlinkSync(join(modules, entry), join(copy, "modules", entry));
    }
  }
  // providers/<host>/<namespace>/<type>/<version>/<platform>: links at the platform level.
  const linkProviders = (from: string, to: string, depth: number) => {
    if (!lstatSync(from).isDirectory() && depth < 5) return;
    if (depth === 5) return symlinkSync(from, to);
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from)) linkProviders(join(from, entry), join(to, entry), depth + 1);
  };
  const providers = join(data, "providers");
  if (existsSync(providers)) linkProviders(providers, join(copy, "providers"), 0);
}

function initProblem(output: string, root: string): string {
  const text = output.replace(/[│╷╵]/g, "").replace(/\s+/g, " ").trim();
  const provider = /provider ((?:registry\.terraform\.io\/)?[\w.-]+\/[\w.-]+)/.exec(text)?.[1];
  const module = /module "?([\w.-]+)"?/i.exec(text)?.[1];
  const advice = `run terraform init in ${root} (where the registry or a mirror is reachable), then audit again: --evaluate terraform reuses its .terraform, or audit without --evaluate terraform`;
  if (provider) return `terraform init could not install provider ${provider.replace(/^registry\.terraform\.io\//, "")}, which this configuration needs (only the AWS provider is mocked; others run for real): ${advice}. Terraform said: ${text.slice(0, 600)}`;
  if (module) return `terraform init could not install module ${module}: ${advice}. Terraform said: ${text.slice(0, 600)}`;
  return `terraform init failed: ${text.slice(0, 800)}`;
}

// HashiCorp's HCL parser, loaded when a root module is read.
let hclParser: typeof Hcl2Json | undefined;
function hcl(): typeof Hcl2Json {
  hclParser ??= require("@cdktn/hcl2json") as typeof Hcl2Json;
  return hclParser;
}

type Document = Record<string, unknown>;

/** The root module's .tf (parsed) and .tf.json files. */
async function readModuleDocuments(dir: string): Promise<Document[]> {
  const documents: Document[] = [];
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name);
    if (!statSync(file).isFile()) continue;
    if (name.endsWith(".tf")) {
      try {
        documents.push((await hcl().parse(name, readFileSync(file, "utf8"))) as Document);
      } catch (error) {
        throw new AuditInputError(file, `HCL does not parse: ${(error as Error).message.split("\n")[0]}`);
      }
    } else if (name.endsWith(".tf.json")) {
      try {
        documents.push(JSON.parse(readFileSync(file, "utf8")) as Document);
      } catch (error) {
        throw new AuditInputError(file, `not JSON: ${(error as Error).message}`);
      }
    }
  }
  return documents;
}

const blocks = (value: unknown): Record<string, unknown>[] => ([] as unknown[]).concat(value ?? []) as Record<string, unknown>[];

function declaredVariables(documents: readonly Document[]): Array<{ name: string; hasDefault: boolean }> {
  return documents.flatMap((document) =>
    Object.entries((document.variable ?? {}) as Record<string, unknown>).map(([name, body]) => ({ name, hasDefault: blocks(body).some((block) => block && "default" in block) })),
  );
}

function declaredDataSources(documents: readonly Document[]): RootDataSource[] {
  return documents.flatMap((document) =>
    Object.entries((document.data ?? {}) as Record<string, Record<string, unknown>>).flatMap(([type, named]) =>
      Object.entries(named ?? {}).map(([name, body]) => ({ type, name, repeated: blocks(body).some((block) => block && ("count" in block || "for_each" in block)) })),
    ),
  );
}

function awsProviderAliases(documents: readonly Document[]): string[] {
  const aliases = documents.flatMap((document) => blocks((document.provider as Record<string, unknown> | undefined)?.aws).map((block) => block?.alias));
  return [...new Set(aliases.filter((alias): alias is string => typeof alias === "string"))];
}

/** Variables with a value as Terraform takes them: -var, -var-file, the root's auto files, TF_VAR_*. */
async function givenVariableNames(root: string, options: TerraformEvaluationOptions, cwd: string, env: NodeJS.ProcessEnv): Promise<Set<string>> {
  const names = new Set<string>();
  for (const assignment of options.variables ?? []) names.add(assignment.slice(0, assignment.indexOf("=")));
  for (const name of Object.keys(env)) if (name.startsWith("TF_VAR_")) names.add(name.slice("TF_VAR_".length));
  const autoFiles = readdirSync(root)
    .filter((name) => name === "terraform.tfvars" || name === "terraform.tfvars.json" || /\.auto\.tfvars(\.json)?$/.test(name))
    .map((name) => join(root, name));
  for (const file of [...autoFiles, ...(options.variableFiles ?? []).map((file) => resolve(cwd, file))]) {
    if (!existsSync(file)) throw new AuditInputError(file, "--var-file: no such file");
    const text = readFileSync(file, "utf8");
    let values: Record<string, unknown>;
    try {
      values = file.endsWith(".json") ? (JSON.parse(text) as Record<string, unknown>) : ((await hcl().parse(file, text)) as Record<string, unknown>);
    } catch (error) {
      throw new AuditInputError(file, `not a variable file Terraform reads (${(error as Error).message.split("\n")[0]})`);
    }
    for (const name of Object.keys(values)) names.add(name);
  }
  return names;
}

/** Module key → folder (in the copy), from the manifest init wrote; the root is "". */
function moduleDirectories(copy: string): Map<string, string> {
  const dirs = new Map<string, string>([["", copy]]);
  const manifest = join(copy, ".terraform", "modules", "modules.json");
  if (!existsSync(manifest)) return dirs;
  const { Modules } = JSON.parse(readFileSync(manifest, "utf8")) as { Modules?: Array<{ Key: string; Dir: string }> };
  for (const module of Modules ?? []) dirs.set(module.Key, resolve(copy, module.Dir));
  return dirs;
}

function configurationFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /\.tf(\.json)?$/.test(name))
    .map((name) => join(dir, name))
    .filter((file) => statSync(file).isFile());
}

/** The AWS data source types any module declares (`data "aws_ssm_parameter" "x"`). */
function awsDataSourceTypes(dirs: readonly string[]): string[] {
  const types = new Set<string>();
  for (const file of [...new Set(dirs)].flatMap(configurationFiles)) {
    const text = readFileSync(file, "utf8");
    if (file.endsWith(".json")) {
      try {
        for (const type of Object.keys(((JSON.parse(text) as Document).data ?? {}) as object)) if (type.startsWith("aws_")) types.add(type);
      } catch {
        /* Terraform reports it */
      }
    } else {
      for (const match of text.matchAll(/^\s*data\s+"?(aws_[\w-]+)"?\s/gm)) types.add(match[1]);
    }
  }
  return [...types].sort();
}

/** The computed string attributes of each data source type, from the AWS provider's own schema. */
async function computedStringAttributes(terraform: string, copy: string, env: NodeJS.ProcessEnv, types: readonly string[], path: string): Promise<Record<string, string[]>> {
  const result = await run(terraform, ["providers", "schema", "-json"], copy, env, INIT_TIMEOUT_MS);
  if (result.code !== 0) throw new AuditInputError(path, `terraform providers schema failed: ${result.stderr.trim().slice(0, 800)}`);
  const schemas = (JSON.parse(result.stdout) as { provider_schemas?: Record<string, { data_source_schemas?: Record<string, { block: { attributes?: Record<string, { type: unknown; computed?: boolean }> } }> }> }).provider_schemas ?? {};
  const aws = Object.entries(schemas).find(([address]) => address.endsWith("/aws"))?.[1];
  return Object.fromEntries(
    types.map((type) => [
      type,
      Object.entries(aws?.data_source_schemas?.[type]?.block.attributes ?? {})
        .filter(([, attribute]) => attribute.computed && attribute.type === "string")
        .map(([name]) => name),
    ]),
  );
}

/** The user's file that declares the resource at `address`, and the suppressions written beside it. */
function declaringFile(address: string, moduleDirs: Map<string, string>, temp: string): { file: string; suppressions: SourcedSuppression[] } | undefined {
  const dir = moduleDirs.get(moduleKeyOf(address));
  if (!dir) return undefined;
  const { type, name } = resourceTypeAndName(address);
  const declaration = new RegExp(`resource\\s+"?${type}"?\\s+"?${name}"?\\s*\\{`);
  for (const copied of configurationFiles(dir)) {
    const text = readFileSync(copied, "utf8");
    const found = copied.endsWith(".json") ? hasJsonResource(text, type, name) : declaration.test(text);
    if (!found) continue;
    // The copy sits at the user's own path under temp: strip temp to name the user's file.
    const file = realpathSync(copied.startsWith(temp) ? copied.slice(temp.length) : copied);
    try {
      const suppressions = copied.endsWith(".json")
        ? suppressionsInComment(((JSON.parse(text) as Document).resource as Record<string, Record<string, Record<string, unknown>>>)[type][name]["//"], file, `${type}.${name}`)
        : (commentSuppressions(file, text).get(`${type}.${name}`) ?? []);
      return { file, suppressions };
    } catch (error) {
      if (error instanceof SuppressionError) throw new AuditInputError(file, error.message.replace(/^ecs-imds-guard: /, ""));
      throw error;
    }
  }
  return undefined;
}

function hasJsonResource(text: string, type: string, name: string): boolean {
  try {
    const resources = ((JSON.parse(text) as Document).resource ?? {}) as Record<string, Record<string, unknown>>;
    return name in (resources[type] ?? {});
  } catch {
    return false;
  }
}
