/**
 * Where a module call's code is: a local folder, or what `terraform init` downloaded into
 * `.terraform/modules` (its `modules.json` maps each call's key, `a.b` for nested calls, to a
 * folder). A registry or git module that is not downloaded cannot be read: the call gets a row of
 * its own saying so.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { AuditInputError } from "./found";
import { parseHclFiles, ParsedFile } from "./hcl";
import { Declaration, ModuleConfig, moduleConfig } from "./module";
import { parseTerraformJson } from "./terraform-json";

/** Module calls nest at most this deep (a module that calls itself would never end). */
const MAX_MODULE_DEPTH = 10;

/** Reads module folders once each, and finds the folder of each module call. */
export class ModuleLoader {
  private readonly configs = new Map<string, Promise<ModuleConfig>>();
  private manifest: Map<string, string> | undefined;

  constructor(readonly rootDir: string) {}

  /** The module in a folder: its `.tf` and `.tf.json` files. */
  load(dir: string): Promise<ModuleConfig> {
    const key = resolve(dir);
    let config = this.configs.get(key);
    if (!config) {
      config = readModuleFolder(dir);
      this.configs.set(key, config);
    }
    return config;
  }

  /** A module made of given files (one `.tf` file, one Terraform JSON file). */
  fromFiles(dir: string, files: readonly ParsedFile[]): ModuleConfig {
    // Other files of the folder may declare what these refer to.
    return moduleConfig(dir, files, false);
  }

  private downloaded(): Map<string, string> {
    if (this.manifest) return this.manifest;
    this.manifest = new Map();
    const file = join(this.rootDir, ".terraform", "modules", "modules.json");
    if (!existsSync(file)) return this.manifest;
    let document: { Modules?: Array<{ Key?: string; Dir?: string }> };
    try {
      document = JSON.parse(readFileSync(file, "utf8")) as typeof document;
    } catch (error) {
      throw new AuditInputError(file, `not JSON (${(error as Error).message}): run terraform init again`);
    }
    for (const module of document.Modules ?? []) {
      if (typeof module.Key === "string" && module.Key !== "" && typeof module.Dir === "string") this.manifest.set(module.Key, resolve(this.rootDir, module.Dir));
    }
    return this.manifest;
  }

  /** The module a call names, or why it cannot be read here. */
  async moduleOf(call: Declaration, callerDir: string, callPath: readonly string[]): Promise<{ config: ModuleConfig } | { why: string }> {
    const source = call.body.source;
    const address = `module.${callPath.join(".module.")}`;
    if (typeof source !== "string") return { why: `${address} has no literal source (Terraform requires one)` };
    if (callPath.length > MAX_MODULE_DEPTH) return { why: `${address} nests modules more than ${MAX_MODULE_DEPTH} deep: not followed` };
    const dir = this.downloaded().get(callPath.join("."));
    if (dir && existsSync(dir) && statSync(dir).isDirectory()) return { config: await this.load(dir) };
    if (/^\.\.?[\\/]/.test(source)) {
      const local = resolve(callerDir, source);
      if (!existsSync(local) || !statSync(local).isDirectory()) throw new AuditInputError(call.file, `module "${call.name}" has source ${source}, which is not a folder here`);
      return { config: await this.load(local) };
    }
    if (refusedSource(source)) {
      const folder = existsSync(resolve(callerDir, source)) ? `; for the folder ${source} next to it, write ./${source}` : "";
      return { why: `${address} has source "${source}", which Terraform 0.12 and later refuse (a path relative to the module starts with ./ or ../; a registry address has three parts)${folder}` };
    }
    const version = typeof call.body.version === "string" ? ` version ${call.body.version}` : "";
    const root = relative(process.cwd(), this.rootDir) || ".";
    return {
      why: `${address} comes from ${source}${version}, which is not downloaded here: run terraform init in ${root} so .terraform/modules holds it, or audit a saved plan (terraform show -json)`,
    };
  }
}

/**
 * A source Terraform cannot place: no scheme or forced getter (`git::`, `s3::`, `https://`), not a
 * known host (`github.com/...`, `bitbucket.org/...`, `git@...`), and not a registry address
 * (`namespace/name/provider`, optionally after a hostname). Terraform 0.11 read such a source as a
 * relative path.
 */
export function refusedSource(source: string): boolean {
  if (/::|:\/\/|@/.test(source) || /^(github\.com|bitbucket\.org)\//.test(source) || /^\.\.?[\\/]/.test(source) || source.startsWith("/")) return false;
  const parts = source.split("//")[0].split("/");
  return !(parts.length === 3 || (parts.length === 4 && parts[0].includes(".")));
}

async function readModuleFolder(dir: string): Promise<ModuleConfig> {
  const names = readdirSync(dir).sort();
  const hcl = await parseHclFiles(names.filter((name) => name.endsWith(".tf")).map((name) => join(dir, name)));
  const json = names.filter((name) => name.endsWith(".tf.json")).map((name) => parseTerraformJson(join(dir, name)));
  return moduleConfig(dir, [...hcl, ...json], true);
}
