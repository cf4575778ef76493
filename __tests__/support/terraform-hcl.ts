/**
 * HCL written by cdktf's renderer (`cdktf synth --hcl`), read by the real Terraform CLI and the real
 * AWS provider from the machine's mirror (./aws-provider.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "@cdktn/hcl2json";
import { mirroredAwsProviderVersions, ProviderWorkspace, ValidateDiagnostic } from "./aws-provider";

/** The hashicorp/aws release the mirror holds, which every check here pins. */
export function mirroredAwsVersion(): string {
  const versions = mirroredAwsProviderVersions();
  if (versions.length === 0) throw new Error("no hashicorp/aws in the filesystem mirror");
  return versions[versions.length - 1];
}

/**
 * A Terraform override file (`*_override.tf`) that pins hashicorp/aws to `version`: Terraform
 * replaces the `aws` entry of the configuration's `required_providers` with this one, so the HCL
 * under test is read exactly as written, only checked against the provider the mirror holds.
 */
export function awsPinOverride(version: string): string {
  return `terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n      version = "${version}"\n    }\n  }\n}\n`;
}

/** The file name the pin is written under, beside the configuration. */
export const PIN_OVERRIDE_FILE = "aws_pin_override.tf";

/**
 * An HCL text as Terraform's own parser reads it (hashicorp/hcl, compiled into @cdktn/hcl2json):
 * blocks become lists of objects, expressions `${...}` strings. Throws where Terraform would not parse.
 */
export async function parseHcl(hcl: string): Promise<any> {
  return parse("cdk.tf", hcl);
}

/**
 * An HCL configuration as {@link parseHcl} reads it, with the layout inside expressions taken out:
 * whitespace outside quoted strings is dropped from every `${...}` value (hcl2json gives an
 * expression as its source text, and `terraform fmt` or cdktf's CLI respace it). What is left is
 * what Terraform evaluates.
 */
export async function parsedWithoutLayout(hcl: string): Promise<any> {
  const compact = (expression: string) => {
    let out = "";
    let quoted = false;
    for (let i = 0; i < expression.length; i++) {
      const char = expression[i];
      if (quoted && char === "\\") {
        out += char + expression[++i];
        continue;
      }
      if (char === '"') quoted = !quoted;
      if (quoted || !/\s/.test(char)) out += char;
    }
    return out;
  };
  const walk = (value: any): any =>
    typeof value === "string" && value.startsWith("${")
      ? compact(value)
      : Array.isArray(value)
        ? value.map(walk)
        : typeof value === "object" && value !== null
          ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, walk(inner)]))
          : value;
  return walk(await parseHcl(hcl));
}

/**
 * Names of the variables an HCL configuration declares without a default; none when the text does
 * not parse, so that `terraform validate` reports why.
 */
export async function requiredVariables(hcl: string): Promise<string[]> {
  const parsed: any = await parseHcl(hcl).catch(() => ({}));
  return Object.entries<any[]>(parsed.variable ?? {})
    .filter(([, [declaration]]) => !("default" in (declaration ?? {})))
    .map(([name]) => name);
}

/** What `terraform validate` said about each configuration of {@link validateAsModules}. */
export type DiagnosticsByConfiguration = Record<string, ValidateDiagnostic[]>;

/**
 * Validates many HCL configurations with one `terraform init` and one `terraform validate`: each is
 * a child module of one root, with the AWS pin override beside it. `validate` loads the AWS
 * provider's schema once per run (about 10 s on a busy 2-core machine), so one run for all instead
 * of one per configuration. A child module's variables without default are fed from root variables,
 * which `validate` holds unknown, as it holds a root module's own; its `backend` block is ignored
 * there (Terraform warns), so the backend is checked by validating a configuration as the root
 * ({@link validateAsRoot}).
 */
export async function validateAsModules(configurations: Readonly<Record<string, string>>): Promise<DiagnosticsByConfiguration> {
  const version = mirroredAwsVersion();
  const names = Object.keys(configurations);
  const folder = mkdtempSync(join(tmpdir(), "ecs-imds-guard-hcl-modules-"));
  try {
    const root: string[] = [awsPinOverride(version).replace(/\n$/, "")];
    for (const [index, name] of names.entries()) {
      const dir = join(folder, "stacks", `s${index}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "cdk.tf"), configurations[name]);
      writeFileSync(join(dir, PIN_OVERRIDE_FILE), awsPinOverride(version));
      const inputs = await requiredVariables(configurations[name]);
      root.push(...inputs.map((input) => `variable "s${index}_${input}" {}`));
      root.push(`module "s${index}" {\n  source = "./stacks/s${index}"\n${inputs.map((input) => `  ${input} = var.s${index}_${input}\n`).join("")}}`);
    }
    const workspace = new ProviderWorkspace({ "main.tf": `${root.join("\n\n")}\n` }, folder);
    try {
      const byIndex = new Map(names.map((name, index) => [`stacks/s${index}/`, name]));
      const found: DiagnosticsByConfiguration = Object.fromEntries(names.map((name) => [name, []]));
      for (const diagnostic of workspace.validate()) {
        const owner = [...byIndex.entries()].find(([prefix]) => diagnostic.at?.startsWith(prefix))?.[1] ?? "(root)";
        (found[owner] ??= []).push(diagnostic);
      }
      return found;
    } finally {
      workspace.dispose();
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Errors among diagnostics, as `summary: detail (at)` lines, for an assertion that prints them. */
export function errorsOf(diagnostics: readonly ValidateDiagnostic[]): string[] {
  return diagnostics.filter((d) => d.severity === "error").map((d) => `${d.summary}: ${d.detail} (${d.at ?? "no position"})`);
}
