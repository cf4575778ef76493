/**
 * The judge on real shapes of ECS user data. Each expected verdict is written from what the
 * instance does with the user data (cloud-init's rules, Docker's firewall, ecs-init's reading of
 * ecs.config), not from what the judge prints.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { judge, JudgeOptions, LaunchDescription, MetadataOptions, Verdict } from "../../lib/audit";

const FIXTURES = join(__dirname, "..", "fixtures", "audit");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");

/** IMDSv1 allowed: only a firewall rule can keep bridge containers out. */
const IMDSV1: MetadataOptions = { httpEndpoint: "enabled", httpTokens: "optional" };
/** IMDSv2 with AL2023's default hop limit: a bridge container one hop away still gets a token. */
const HOP_2: MetadataOptions = { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 2 };
/** IMDSv2 with hop limit 1: the token response dies before a bridge container. */
const HOP_1: MetadataOptions = { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 };

interface Case {
  readonly name: string;
  readonly description: LaunchDescription;
  readonly options?: JudgeOptions;
  readonly expected: Partial<Record<"bridge" | "awsvpc" | "host", Verdict>>;
  /** A phrase the reason of each non-closed mode must hold, so the verdict is for the right cause. */
  readonly because?: Partial<Record<"bridge" | "awsvpc" | "host", RegExp>>;
}

const template = (userData: LaunchDescription["userData"], metadataOptions?: MetadataOptions, imageId?: string): LaunchDescription => ({
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
    name: "the seed article's #cloud-boothook recipe (AL2), IMDSv1",
    description: template(text("article-boothook.txt"), IMDSV1),
    expected: { bridge: "open", awsvpc: "open" },
    because: { bridge: /accepts it first/, awsvpc: /does not set ECS_AWSVPC_BLOCK_IMDS/ },
  },
  {
    // Same boothook without #! inside the MIME example; the shell part only sets ECS_CLUSTER.
    name: "the seed article's MIME example, IMDSv1",
    description: template(text("article-mime.txt"), IMDSV1),
    expected: { bridge: "open", awsvpc: "open" },
  },
  {
    // The rule sits on top of FORWARD after Docker started: it drops now; Docker's restart puts
    // its ACCEPT above it; `service iptables save` fails without iptables-services, so a reboot
    // loses it too. ECS_AWSVPC_BLOCK_IMDS=true unquoted closes awsvpc.
    name: "AWS CDK before 2.233, default FORWARD path, hop limit 2",
    description: template(text("cdk-2.232-forward.sh"), HOP_2),
    expected: { bridge: "fragile", awsvpc: "closed" },
    because: { bridge: /Docker re-inserts its own rules above it/ },
  },
  {
    // DOCKER-USER survives Docker restarts; iptables-save to /etc/sysconfig/iptables with the
    // service enabled reloads it at every boot before Docker.
    name: "AWS CDK before 2.233, opt-in DOCKER-USER path with iptables-services, hop limit 2",
    description: template(text("cdk-2.232-docker-user.sh"), HOP_2),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    name: "AWS CDK 2.233 and later: ECS_CLUSTER only, hop limit 2",
    description: template(text("cdk-2.233.sh"), HOP_2),
    expected: { bridge: "open", awsvpc: "open" },
    because: { bridge: /hop limit is 2/ },
  },
  {
    // ecs-init keeps the quotes: the agent reads "true" (with quotes), not a boolean.
    name: 'ECS_AWSVPC_BLOCK_IMDS="true" (quoted)',
    description: template(text("quoted-true.sh"), HOP_1),
    expected: { bridge: "closed", awsvpc: "open" },
    because: { awsvpc: /keeps the quotes/ },
  },
  {
    name: "a later ECS_AWSVPC_BLOCK_IMDS=false line",
    description: template(text("later-false.sh"), HOP_1),
    expected: { bridge: "closed", awsvpc: "open" },
    because: { awsvpc: /last of 2/ },
  },
  {
    name: "IMDSv1 template with no user data",
    description: template(undefined, IMDSV1),
    expected: { bridge: "open", awsvpc: "open", host: "open" },
    options: { networkModes: ["bridge", "awsvpc", "host"] },
    because: { bridge: /IMDSv1 is allowed/, host: /share the instance's network namespace/ },
  },
  {
    // The template sets no metadata options: AL2023 AMIs default to hop limit 2.
    name: "no metadata options at all",
    description: template(text("cdk-2.233.sh")),
    expected: { bridge: "open" },
    because: { bridge: /IMDSv1 may be allowed|default to 2/ },
  },
  {
    name: "a boothook that re-applies the DOCKER-USER drop every boot, IPv4 IMDS only",
    description: template(text("boothook-v4-only.txt"), IMDSV1),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    // fd00:ec2::254 is reachable over IPv6 and nothing drops it.
    name: "IPv6 endpoint on without the v6 drop",
    description: template(text("boothook-v4-only.txt"), { ...IMDSV1, httpProtocolIpv6: "enabled" }),
    expected: { bridge: "open", awsvpc: "closed" },
    because: { bridge: /fd00:ec2::254/ },
  },
  {
    // Before Docker starts DOCKER-USER does not exist; -I into it fails, nothing else drops.
    name: "a boothook inserting into DOCKER-USER without creating it",
    description: template(text("boothook-without-chain.txt"), IMDSV1),
    expected: { bridge: "open" },
    because: { bridge: /does not exist/ },
  },
  {
    // runcmd runs once per instance: the rule is gone after a reboot.
    name: "cloud-config runcmd inserting the drop once, write_files of ecs.config",
    description: template(text("runcmd-once.yaml"), IMDSV1),
    expected: { bridge: "fragile", awsvpc: "closed" },
    because: { bridge: /after a reboot it passes/ },
  },
  {
    name: "cloud-config bootcmd re-applying a REJECT every boot, base64 write_files of ecs.config",
    description: template(text("bootcmd-every-boot.yaml"), IMDSV1),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    name: "gzip-compressed MIME with a boothook and a shell part",
    description: template({ base64: fixture("gzip-mime.b64").trim() }, IMDSV1),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    name: "Bottlerocket TOML with awsvpc-block-imds = true, hop limit 1",
    description: template(text("bottlerocket-block.toml"), HOP_1, "resolve:ssm:/aws/service/bottlerocket/aws-ecs-2/x86_64/latest/image_id"),
    expected: { bridge: "closed", awsvpc: "closed" },
  },
  {
    // Bottlerocket has no firewall hook: with hop limit 2 bridge containers get tokens.
    name: "Bottlerocket TOML without the setting, hop limit 2",
    description: template(text("bottlerocket-default.toml"), HOP_2),
    expected: { bridge: "open", awsvpc: "open" },
    because: { awsvpc: /not set/ },
  },
  {
    name: "#include of a URL: cloud-init downloads the real user data at boot",
    description: template(text("include-url.txt"), IMDSV1),
    expected: { bridge: "unknown", awsvpc: "unknown" },
    because: { bridge: /download/ },
  },
  {
    name: "a script fetched from S3 and run",
    description: template(text("fetched-script.sh"), HOP_2),
    expected: { bridge: "unknown", awsvpc: "unknown" },
    because: { bridge: /cannot see/ },
  },
  {
    name: "hop limit 1 closes bridge whatever the user data",
    description: template(text("fetched-script.sh"), HOP_1),
    expected: { bridge: "closed" },
  },
  {
    name: "user data computed at apply time",
    description: template({ unknown: "${data.template_file.user_data.rendered}" }, HOP_2),
    expected: { bridge: "unknown", awsvpc: "unknown" },
  },
  {
    name: "the metadata endpoint disabled",
    description: template(undefined, { httpEndpoint: "disabled" }),
    options: { networkModes: ["bridge", "awsvpc", "host"] },
    expected: { bridge: "closed", awsvpc: "closed", host: "closed" },
  },
];

describe("the judge on the corpus", () => {
  it.each(CORPUS.map((c) => [c.name, c] as const))("%s", (_name, corpusCase) => {
    const judgement = judge(corpusCase.description, corpusCase.options);
    const verdicts = Object.fromEntries(Object.entries(judgement.modes).map(([mode, j]) => [mode, j?.verdict]));
    expect(verdicts).toEqual(expect.objectContaining(corpusCase.expected));
    for (const [mode, pattern] of Object.entries(corpusCase.because ?? {})) {
      expect(judgement.modes[mode as "bridge"]?.reasons.join(" ")).toMatch(pattern as RegExp);
    }
    for (const [mode, j] of Object.entries(judgement.modes)) {
      if (j && j.verdict !== "closed") expect(j.fix.length).toBeGreaterThan(20);
      expect(j?.reasons.length).toBeGreaterThan(0);
      void mode;
    }
  });
});

describe("never closed by default", () => {
  it("judges an empty launch template open for bridge and awsvpc, not closed", () => {
    const judgement = judge({ resourceType: "aws_launch_template" });
    expect(judgement.modes.bridge?.verdict).toBe("open");
    expect(judgement.modes.awsvpc?.verdict).toBe("open");
  });

  it("says unknown, not closed, for a line that adds the rule through a variable it cannot see", () => {
    const script = "#cloud-boothook\n#!/bin/bash\niptables -N DOCKER-USER || true\niptables -I DOCKER-USER -d $IMDS -j DROP\n";
    expect(judge(template({ text: script }, IMDSV1)).modes.bridge?.verdict).toBe("unknown");
  });

  it("follows a variable set in the same script", () => {
    const script = "#cloud-boothook\n#!/bin/bash\nIMDS=169.254.169.254\niptables -N DOCKER-USER || true\niptables -I DOCKER-USER -d \"$IMDS\" -j DROP\n";
    expect(judge(template({ text: script }, IMDSV1)).modes.bridge?.verdict).toBe("closed");
  });

  it("sees a later flush of DOCKER-USER undo the rule", () => {
    const script = `${fixture("boothook-v4-only.txt")}iptables -F DOCKER-USER\n`;
    expect(judge(template({ text: script }, IMDSV1)).modes.bridge?.verdict).toBe("open");
  });

  it("reads gzip and plain text of the same document alike", () => {
    const raw = fixture("boothook-v4-only.txt");
    const gz = judge(template({ bytes: gzipSync(raw) }, IMDSV1));
    expect(gz.modes).toEqual(judge(template({ text: raw }, IMDSV1)).modes);
  });
});
