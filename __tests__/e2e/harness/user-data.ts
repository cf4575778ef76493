/**
 * The user data under test, taken from what the project actually synthesizes: the launch template
 * of a synthesized stack's Terraform JSON, its `user_data` decoded and split by cloud-init's own
 * parser.
 */
import { Testing, TerraformStack } from "cdktf";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CAPACITY_STACK_NAME, DEFAULT_CONFIG, DefaultStackConfig, ImdsGuardCapacityStack, ImdsGuardStack, STACK_NAME } from "../../../app";
import { offlineConfiguration, withTerraform } from "../../support/terraform";
import { ImdsGuardedLaunchTemplate, ImdsGuardedLaunchTemplateProps } from "../../../lib/imds-guarded-launch-template";
import { mustRun } from "./run";

/** The fields of one synthesized `aws_launch_template` the emulated host is built from. */
export interface LaunchTemplateUnderTest {
  /** The bytes EC2 hands to cloud-init (`user_data` decoded from base64). */
  readonly userData: Buffer;
  /** `metadata_options.http_tokens`. */
  readonly httpTokens: "required" | "optional";
  /** `metadata_options.http_put_response_hop_limit`. */
  readonly hopLimit: number;
  /** `metadata_options.http_protocol_ipv6 == "enabled"`. */
  readonly ipv6: boolean;
}

/** One part as cloud-init found it, laid out on disk as cloud-init writes it (for boothooks and scripts). */
export interface UserDataPart {
  readonly contentType: string;
  readonly filename: string;
  /** The executable file cloud-init would run, for boothooks and shell scripts. */
  readonly path: string | null;
}

interface SynthesizedLaunchTemplate {
  readonly user_data: string;
  readonly metadata_options: {
    readonly http_tokens: string;
    readonly http_put_response_hop_limit: number;
    readonly http_protocol_ipv6?: string;
  };
}

/** Reads the one guarded launch template out of a stack's synthesized Terraform JSON. */
export function launchTemplateFromJson(terraformJson: string): LaunchTemplateUnderTest {
  const resources = JSON.parse(terraformJson)?.resource?.aws_launch_template as Record<string, SynthesizedLaunchTemplate> | undefined;
  const templates = Object.values(resources ?? {});
  if (templates.length !== 1) throw new Error(`expected one aws_launch_template in the stack, found ${templates.length}`);
  const [template] = templates;
  if (!/^[A-Za-z0-9+/]+=*$/.test(template.user_data)) {
    throw new Error(`user_data is not literal base64 (a Terraform expression?): ${template.user_data.slice(0, 80)}`);
  }
  const tokens = template.metadata_options.http_tokens;
  if (tokens !== "required" && tokens !== "optional") throw new Error(`unexpected http_tokens ${tokens}`);
  return {
    userData: Buffer.from(template.user_data, "base64"),
    httpTokens: tokens,
    hopLimit: template.metadata_options.http_put_response_hop_limit,
    ipv6: template.metadata_options.http_protocol_ipv6 === "enabled",
  };
}

/** The default stack of main.ts (the embedded configuration, optionally changed), synthesized in-process. */
export function defaultStackLaunchTemplate(changes: Partial<DefaultStackConfig> = {}): LaunchTemplateUnderTest {
  const stack = new ImdsGuardStack(Testing.app(), STACK_NAME, { ...DEFAULT_CONFIG, ...changes });
  return launchTemplateFromJson(Testing.synth(stack));
}

/**
 * The capacity stack, whose user data is a Terraform expression over the cluster's name, with the
 * name filled in and encoded by Terraform itself (an offline plan of the stack's locals).
 */
export async function capacityStackLaunchTemplate(clusterName: string): Promise<LaunchTemplateUnderTest> {
  const stack = new ImdsGuardCapacityStack(Testing.app(), CAPACITY_STACK_NAME, DEFAULT_CONFIG);
  const json = JSON.parse(Testing.synth(stack));
  const [template] = Object.values(json.resource.aws_launch_template) as SynthesizedLaunchTemplate[];
  const localName = /^\$\{local\.([A-Za-z0-9_]+)\}$/.exec(template.user_data)?.[1];
  if (!localName) throw new Error(`expected user_data to be a local, got ${template.user_data.slice(0, 80)}`);
  const plan = withTerraform(offlineConfiguration(json), (workspace) =>
    workspace.plan({ cluster_name: clusterName, vpc_id: "vpc-0123456789abcdef0", subnet_ids: ["subnet-0123456789abcdef0"] }),
  );
  if (!plan.ok) throw new Error(`terraform plan of the capacity stack failed: ${plan.diagnostics.map((d) => d.summary).join("; ")}`);
  const literal = launchTemplateFromJson(
    JSON.stringify({ resource: { aws_launch_template: { t: { ...template, user_data: "AA==" } } } }),
  );
  return { ...literal, userData: Buffer.from(plan.outputs[localName] as string, "base64") };
}

/** A stack holding one `ImdsGuardedLaunchTemplate` with the given props, synthesized in-process. */
export function constructLaunchTemplate(props: ImdsGuardedLaunchTemplateProps): LaunchTemplateUnderTest {
  const stack = new TerraformStack(Testing.app(), "variant");
  new ImdsGuardedLaunchTemplate(stack, "guarded", props);
  return launchTemplateFromJson(Testing.synth(stack));
}

/**
 * Splits user data with cloud-init's parser (`/usr/bin/python3`, the Debian package) and writes the
 * boothook and shell-script parts as cloud-init's handlers write them, into a fresh directory.
 */
export async function splitUserData(userData: Buffer): Promise<SplitUserData> {
  const dir = mkdtempSync(join(tmpdir(), "imdsguard-e2e-parts-"));
  const source = join(dir, "user-data");
  writeFileSync(source, userData);
  const { stdout } = await mustRun("/usr/bin/python3", [join(__dirname, "cloud-init-parts.py"), source, dir], { timeoutMs: 30_000 });
  return { directory: dir, parts: JSON.parse(stdout) as UserDataPart[] };
}

/** The parts cloud-init found, and the directory holding their files (remove it when done). */
export interface SplitUserData {
  readonly directory: string;
  readonly parts: readonly UserDataPart[];
}

/** The part of a given content type, which must occur exactly once. */
export function onlyPart(parts: readonly UserDataPart[], contentType: string): UserDataPart & { readonly path: string } {
  const found = parts.filter((part) => part.contentType === contentType);
  if (found.length !== 1 || found[0].path === null) {
    throw new Error(`expected one ${contentType} part, cloud-init found ${found.length}: ${parts.map((p) => p.contentType).join(", ")}`);
  }
  return found[0] as UserDataPart & { readonly path: string };
}

/** A part's text as written for cloud-init to run. */
export function partText(part: UserDataPart & { readonly path: string }): string {
  return readFileSync(part.path, "utf8");
}
