/** What the readers hand on: launch resources with their address and file, and input errors. */
import { readFileSync, statSync } from "node:fs";
import { SourcedSuppression } from "../suppressions";
import { AuditNetworkMode, Judgement, LaunchDescription } from "../types";

/** The resource types the audit judges. */
export const LAUNCH_RESOURCE_TYPES = ["aws_launch_template", "aws_instance", "aws_launch_configuration"] as const;

/** One launch resource found in an input. */
export interface FoundResource {
  /** Terraform address, with module path and instance keys (`module.asg["a"].aws_launch_template.this[0]`). */
  readonly address: string;
  /** The file it was read from. */
  readonly file: string;
  /** The line where the resource is declared, when the reader knows it (CloudFormation, API outputs). */
  readonly line?: number;
  readonly description: LaunchDescription;
  /**
   * Set when the reader cannot tell what this row launches (a module that is not downloaded, a
   * `for_each` known only at apply time): why, and what to do. Every mode is then `unknown`.
   */
  readonly unresolved?: string;
  /** Suppressions written beside the resource: an HCL comment above it, its `//` comment in Terraform JSON. */
  readonly suppressions?: readonly SourcedSuppression[];
}

/** An input the audit cannot read: the file and what is wrong. */
export class AuditInputError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = "AuditInputError";
  }
}

/** The largest input file read (Terraform JSON of 10,000 templates is about 40 MB). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

export function readText(file: string): string {
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES) throw new AuditInputError(file, `${size} bytes is more than the audit reads (${MAX_FILE_BYTES})`);
  return readFileSync(file, "utf8");
}

/** The description of a row the reader could not follow: every field is unknown for the same reason. */
export function unresolvedDescription(resourceType: string, why: string): LaunchDescription {
  const unknown = { unknown: why };
  return { resourceType, userData: unknown, metadataOptions: { httpEndpoint: unknown, httpTokens: unknown, httpPutResponseHopLimit: unknown }, imageId: unknown };
}

/**
 * The judgement of a row the reader could not follow: `unknown` in every mode, host included (the
 * row may not even launch an instance), with the reader's reason and what to do.
 */
export function unresolvedJudgement(why: string, modes: readonly AuditNetworkMode[]): Judgement {
  const fix = "Let the audit read what this launches: run terraform init so downloaded modules are in .terraform/modules, give the values it needs, or audit a saved plan (terraform show -json).";
  return { modes: Object.fromEntries(modes.map((mode) => [mode, { verdict: "unknown", reasons: [why], fix }])), notes: [] };
}
