/** Terraform JSON (`cdk.tf.json`, `*.tf.json`): the shape of HCL, with expressions as "${...}" strings. */
import { AuditInputError, readText } from "./found";
import { ParsedFile } from "./hcl";

/** A JSON file's top-level object, or an input error naming what it is not. */
export function readJsonObject(file: string): Record<string, unknown> {
  const text = readText(file);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new AuditInputError(file, `not JSON (${(error as Error).message}); expected Terraform JSON (cdk.tf.json), terraform show -json output, a CloudFormation template, an AWS CLI output, or .tf files`);
  }
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new AuditInputError(file, "not a JSON object; expected Terraform JSON or terraform show -json output");
  }
  return document as Record<string, unknown>;
}

/** Whether a JSON object is `terraform show -json` output rather than configuration. */
export function isPlan(document: Record<string, unknown>): boolean {
  return "format_version" in document && ("planned_values" in document || "terraform_version" in document || "resource_changes" in document);
}

/** Checks that a JSON object is Terraform configuration. */
export function asTerraformJson(file: string, document: Record<string, unknown>): ParsedFile {
  if (!("resource" in document) && !("terraform" in document) && !("provider" in document) && !("module" in document) && !("data" in document) && !("variable" in document) && !("locals" in document)) {
    throw new AuditInputError(file, "JSON without resource, data, module, variable, locals, terraform or provider keys (Terraform), Resources (CloudFormation), LaunchTemplateVersions, LaunchConfigurations or InstanceId with UserData (AWS CLI output): not an input the audit reads");
  }
  return { file, body: document };
}

/** A `.tf.json` file of a module folder. */
export function parseTerraformJson(file: string): ParsedFile {
  return asTerraformJson(file, readJsonObject(file));
}
