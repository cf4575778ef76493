/**
 * A corpus of real shapes of ECS user data and metadata options, with the verdicts an instance
 * gives them. Each expected verdict is written from what the instance does with the user data
 * (cloud-init's rules, Docker's firewall, ecs-init's reading of ecs.config), not from what the
 * judge prints. `kernel` marks the bridge cases the namespace suite boots for real.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { JudgeOptions, LaunchDescription, MetadataOptions, Verdict } from "../../lib/audit";

export const FIXTURES = join(__dirname, "..", "fixtures", "audit");
export const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

/** IMDSv1 allowed: only a firewall rule can keep bridge containers out. */
export const IMDSV1: MetadataOptions = { httpEndpoint: "enabled", httpTokens: "optional" };
/** IMDSv2 with AL2023's default hop limit: a bridge container one hop away still gets a token. */
export const HOP_2: MetadataOptions = { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 2 };
/** IMDSv2 with hop limit 1: the token response dies before a bridge container. */
export const HOP_1: MetadataOptions = { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 };

export interface Case {
  /** The resource name in corpus.tf.json. */
  readonly id: string;
  readonly name: string;
  readonly description: LaunchDescription;
  readonly options?: JudgeOptions;
  readonly expected: Partial<Record<"bridge" | "awsvpc" | "host", Verdict>>;
  /** A phrase the reason of each non-closed mode must hold, so the verdict is for the right cause. */
  readonly because?: Partial<Record<"bridge" | "awsvpc" | "host", RegExp>>;
  /** Booted on the emulated instance by the namespace suite (bridge, boothook and shell parts). */
  readonly kernel?: boolean;
}

export const template = (userData: LaunchDescription["userData"], metadataOptions?: MetadataOptions, imageId?: string): LaunchDescription => ({
  resourceType: "aws_launch_template",
  ...(userData ? { userData } : {}),
  ...(metadataOptions ? { metadataOptions } : {}),
  ...(imageId ? { imageId } : {}),
});
const text = (name: string) => ({ text: fixture(name) });

export const CORPUS: readonly Case[] = [
  {
    // cloud-init strips "#cloud-boothook" and executes the rest directly; it has no #! line, so
    // the kernel refuses it and no rule is installed; ecs.config gets nothing.
    id: "article_boothook",
    name: "the seed article's #cloud-boothook recipe (AL2), IMDSv1",
    kernel: true,
    description: template(text("article-boothook.txt"), IMDSV1),
    expected: { bridge: "open", awsvpc: "open" },
    because: { bridge: /Docker's rule "-i docker0 ! -o docker0 -j ACCEPT" in FORWARD accepts its new connection/, awsvpc: /does not set ECS_AWSVPC_BLOCK_IMDS/ },
  },
  {
    // Same boothook without #! inside the MIME example; the shell part only sets ECS_CLUSTER.
    id: "article_mime",
    name: "the seed article's MIME example, IMDSv1",
    kernel: true,
    description: template(text("article-mime.txt"), IMDSV1),
    expected: { bridge: "open", awsvpc: "open" },
  },
  {
    // The rule sits on top of FORWARD after Docker started: it drops now; Docker's restart puts
    // its ACCEPT above it; `service iptables save` fails without iptables-services, so a reboot
    // loses it too. ECS_AWSVPC_BLOCK_IMDS=true unquoted closes awsvpc.
    id: "cdk_2_232_forward",
    name: "AWS CDK before 2.233, default FORWARD path, hop limit 2",
    kernel: true,
    description: template(text("cdk-2.232-forward.sh"), HOP_2),
    expected: { bridge: "fragile", awsvpc: "closed" },
    because: { bridge: /Docker re-inserts its own rules above it/ },
  },
  {
    // DOCKER-USER survives Docker restarts; iptables-save to /etc/sysconfig/iptables with the
    // service enabled reloads it at every boot before Docker.
    id: "cdk_2_232_docker_user",
    name: "AWS CDK before 2.233, opt-in DOCKER-USER path with iptables-services, hop limit 2",
    kernel: true,
    description: template(text("cdk-2.232-docker-user.sh"), HOP_2),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    id: "cdk_2_233",
    name: "AWS CDK 2.233 and later: ECS_CLUSTER only, hop limit 2",
    kernel: true,
    description: template(text("cdk-2.233.sh"), HOP_2),
    expected: { bridge: "open", awsvpc: "open" },
    because: { bridge: /hop limit is 2/ },
  },
  {
    // ecs-init keeps the quotes: the agent reads "true" (with quotes), not a boolean.
    id: "quoted_true",
    name: 'ECS_AWSVPC_BLOCK_IMDS="true" (quoted)',
    description: template(text("quoted-true.sh"), HOP_1),
    expected: { bridge: "closed", awsvpc: "open" },
    because: { awsvpc: /keeps the quotes/ },
  },
  {
    id: "later_false",
    name: "a later ECS_AWSVPC_BLOCK_IMDS=false line",
    description: template(text("later-false.sh"), HOP_1),
    expected: { bridge: "closed", awsvpc: "open" },
    because: { awsvpc: /last of 2/ },
  },
  {
    id: "imdsv1_no_user_data",
    name: "IMDSv1 template with no user data",
    description: template(undefined, IMDSV1),
    expected: { bridge: "open", awsvpc: "open", host: "open" },
    options: { networkModes: ["bridge", "awsvpc", "host"] },
    because: { bridge: /IMDSv1 is allowed/, host: /share the instance's network namespace/ },
  },
  {
    // The template sets no metadata options: AL2023 AMIs default to hop limit 2.
    id: "no_metadata_options",
    name: "no metadata options at all",
    description: template(text("cdk-2.233.sh")),
    expected: { bridge: "open" },
    because: { bridge: /IMDSv1 may be allowed|default to 2/ },
  },
  {
    id: "boothook_every_boot",
    name: "a boothook that re-applies the DOCKER-USER drop every boot, IPv4 IMDS only",
    kernel: true,
    description: template(text("boothook-v4-only.txt"), IMDSV1),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    // fd00:ec2::254 is reachable over IPv6 and nothing drops it.
    id: "ipv6_without_v6_drop",
    name: "IPv6 endpoint on without the v6 drop",
    kernel: true,
    description: template(text("boothook-v4-only.txt"), { ...IMDSV1, httpProtocolIpv6: "enabled" }),
    expected: { bridge: "open", awsvpc: "closed" },
    because: { bridge: /fd00:ec2::254/ },
  },
  {
    // Before Docker starts DOCKER-USER does not exist; -I into it fails, nothing else drops.
    id: "boothook_without_chain",
    name: "a boothook inserting into DOCKER-USER without creating it",
    kernel: true,
    description: template(text("boothook-without-chain.txt"), IMDSV1),
    expected: { bridge: "open" },
    because: { bridge: /does not exist/ },
  },
  {
    // Inserted after Docker started, into DOCKER-USER: survives Docker restarts, not a reboot.
    id: "docker_user_once",
    name: "a shell part inserting the drop into DOCKER-USER once",
    kernel: true,
    description: template(text("docker-user-once.sh"), IMDSV1),
    expected: { bridge: "fragile", awsvpc: "open" },
    because: { bridge: /after a reboot it passes/ },
  },
  {
    // runcmd runs once per instance: the rule is gone after a reboot.
    id: "cloud_config_runcmd_once",
    name: "cloud-config runcmd inserting the drop once, write_files of ecs.config",
    description: template(text("runcmd-once.yaml"), IMDSV1),
    expected: { bridge: "fragile", awsvpc: "closed" },
    because: { bridge: /after a reboot it passes/ },
  },
  {
    id: "cloud_config_bootcmd",
    name: "cloud-config bootcmd re-applying a REJECT every boot, base64 write_files of ecs.config",
    description: template(text("bootcmd-every-boot.yaml"), IMDSV1),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    id: "gzip_mime",
    name: "gzip-compressed MIME with a boothook and a shell part",
    kernel: true,
    description: template({ base64: fixture("gzip-mime.b64").trim() }, IMDSV1),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    id: "bottlerocket_block",
    name: "Bottlerocket TOML with awsvpc-block-imds = true, hop limit 1",
    description: template(text("bottlerocket-block.toml"), HOP_1, "resolve:ssm:/aws/service/bottlerocket/aws-ecs-2/x86_64/latest/image_id"),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    // Bottlerocket has no firewall hook: with hop limit 2 bridge containers get tokens.
    id: "bottlerocket_default",
    name: "Bottlerocket TOML without the setting, hop limit 2",
    description: template(text("bottlerocket-default.toml"), HOP_2),
    expected: { bridge: "open", awsvpc: "open" },
    because: { awsvpc: /not set/ },
  },
  {
    id: "include_url",
    name: "#include of a URL: cloud-init downloads the real user data at boot",
    description: template(text("include-url.txt"), IMDSV1),
    expected: { bridge: "unknown", awsvpc: "unknown" },
    because: { bridge: /download/ },
  },
  {
    id: "fetched_from_s3",
    name: "a script fetched from S3 and run",
    description: template(text("fetched-script.sh"), HOP_2),
    expected: { bridge: "unknown", awsvpc: "unknown" },
    because: { bridge: /cannot see/ },
  },
  {
    id: "fetched_hop_limit_1",
    name: "hop limit 1 closes bridge whatever the user data",
    description: template(text("fetched-script.sh"), HOP_1),
    expected: { bridge: "closed" },
  },
  {
    id: "computed_at_apply",
    name: "user data computed at apply time",
    description: template({ unknown: "${data.template_file.user_data.rendered}" }, HOP_2),
    expected: { bridge: "unknown", awsvpc: "unknown" },
  },
  {
    id: "endpoint_disabled",
    name: "the metadata endpoint disabled",
    description: template(undefined, { httpEndpoint: "disabled" }),
    options: { networkModes: ["bridge", "awsvpc", "host"] },
    expected: { bridge: "closed", awsvpc: "closed", host: "closed" },
  },
];


/** A UserDataInput as Terraform JSON's user_data (base64), or an expression for an unknown one. */
function userDataJson(description: LaunchDescription): string | undefined {
  const input = description.userData;
  if (input === undefined) return undefined;
  if ("unknown" in input) return input.unknown;
  if ("base64" in input) return input.base64;
  if ("text" in input) return Buffer.from(input.text, "utf8").toString("base64");
  if ("bytes" in input) return input.bytes.toString("base64");
  throw new Error("no Terraform form for a hash");
}

const METADATA_KEYS: Readonly<Record<string, string>> = {
  httpEndpoint: "http_endpoint",
  httpTokens: "http_tokens",
  httpPutResponseHopLimit: "http_put_response_hop_limit",
  httpProtocolIpv6: "http_protocol_ipv6",
};

/** The corpus's launch templates as one Terraform JSON file (fixtures/audit/corpus.tf.json). */
export function corpusTerraformJson(): string {
  const resources: Record<string, unknown> = {};
  for (const corpusCase of CORPUS) {
    const { description } = corpusCase;
    const userData = userDataJson(description);
    const metadata = description.metadataOptions;
    resources[corpusCase.id] = {
      ...(description.imageId !== undefined ? { image_id: description.imageId } : {}),
      ...(userData !== undefined ? { user_data: userData } : {}),
      ...(metadata ? { metadata_options: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [METADATA_KEYS[k], v])) } : {}),
    };
  }
  return `${JSON.stringify({ resource: { aws_launch_template: resources } }, null, 2)}\n`;
}
