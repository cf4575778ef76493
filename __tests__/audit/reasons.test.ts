/**
 * Reasons a user reads are true: an open bridge names the rule the container's new connection to
 * IMDS meets in Docker's layout, a drop in the wrong place says why the packet never meets it, and
 * unset metadata options are judged by the defaults of the AMI the configuration names.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { judge, LaunchDescription } from "../../lib/audit";
import { amiName, identifyAmi } from "../../lib/audit/ami";
import { containerReach } from "../../lib/audit/firewall";
import { InstanceState } from "../../lib/audit/instance";
import { bootProgram } from "../../lib/audit/program";
import { describeWhen, hasCloudInit } from "../support/tools";
import { CORPUS, IMDSV1 } from "./corpus";

const NEW_CONNECTION = `Docker's rule "-i docker0 ! -o docker0 -j ACCEPT" in FORWARD accepts its new connection`;

const bridge = (description: Partial<LaunchDescription>) => {
  const judged = judge({ resourceType: "aws_launch_template", ...description }, { networkModes: ["bridge"] }).modes.bridge;
  if (!judged) throw new Error("no bridge judgement");
  return { verdict: judged.verdict, reasons: judged.reasons.join("\n") };
};
const script = (text: string) => ({ text: `#!/bin/bash\n${text}` });
const boothook = (text: string) => ({ text: `#cloud-boothook\n#!/bin/bash\n${text}` });

describe("Docker's layout in the firewall model", () => {
  it("accepts a container's new connection to IMDS at -i docker0 ! -o docker0 -j ACCEPT, not at the rule for answers", () => {
    const state = new InstanceState();
    state.startDocker();
    const reach = containerReach(state.tables.v4);
    expect(reach.result).toBe("passed");
    expect(reach.result === "passed" && reach.rule?.text).toBe("-i docker0 ! -o docker0 -j ACCEPT");
  });
});

describe("an open bridge names the rule that accepts the container's packet", () => {
  it.each([
    ["user data that does nothing to the firewall", script("echo ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n"), undefined],
    ["a drop in INPUT", script("iptables -I INPUT -d 169.254.169.254 -j DROP\n"), /"iptables -I INPUT -d 169\.254\.169\.254 -j DROP" \(part 1 [^)]*\)\) is in INPUT, which sees only traffic addressed to the instance itself/],
    [
      "a drop appended to DOCKER-USER after Docker's RETURN",
      script("iptables -A DOCKER-USER -d 169.254.169.254 -j DROP\n"),
      /"iptables -A DOCKER-USER -d 169\.254\.169\.254 -j DROP" .* sits in DOCKER-USER below "-j RETURN" \(Docker\), which sends it back to the calling chain before it gets there/,
    ],
    [
      "a drop appended to FORWARD, below Docker's accept",
      boothook("iptables -A FORWARD -d 169.254.169.254 -j DROP\n"),
      /sits in FORWARD below "-i docker0 ! -o docker0 -j ACCEPT" \(Docker\), which accepts it before it gets there/,
    ],
    ["a drop in a chain nothing jumps to", script("iptables -N IMDS\niptables -A IMDS -d 169.254.169.254 -j DROP\n"), /is in IMDS, which the packet never enters: no rule on its way jumps there/],
  ])("IMDSv1 with %s", (_name, userData, why) => {
    const { verdict, reasons } = bridge({ userData, metadataOptions: IMDSV1 });
    expect(verdict).toBe("open");
    expect(reasons).toContain(`after the first boot, container traffic to 169.254.169.254 passes: ${NEW_CONNECTION}`);
    expect(reasons).not.toMatch(/RELATED,ESTABLISHED/);
    if (why) expect(reasons).toMatch(why);
  });

  it("IMDSv1 with the IPv6 endpoint on and only an IPv4 drop names the rule for fd00:ec2::254", () => {
    const userData = boothook("iptables -N DOCKER-USER || true\niptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD -j DOCKER-USER\niptables -I DOCKER-USER -d 169.254.169.254 -j DROP\n");
    const { verdict, reasons } = bridge({ userData, metadataOptions: { ...IMDSV1, httpProtocolIpv6: "enabled" } });
    expect(verdict).toBe("open");
    expect(reasons.split("\n")[0]).toBe(`after the first boot, container traffic to fd00:ec2::254 passes: ${NEW_CONNECTION}`);
  });

  it("IMDSv1 without user data says there is no rule at all", () => {
    const { verdict, reasons } = bridge({ metadataOptions: IMDSV1 });
    expect(verdict).toBe("open");
    expect(reasons).toMatch(/^no user data, so no firewall rule; IMDSv1 is allowed/);
  });

  it("a FORWARD drop lost on Docker's restart names the accept Docker puts above it", () => {
    const forward = CORPUS.find((c) => c.id === "cdk_2_232_forward");
    const reasons = judge(forward!.description).modes.bridge!.reasons.join("\n");
    expect(reasons).toContain('after a Docker restart it passes: the rule sits on FORWARD, and Docker re-inserts its own rules above it when it restarts ("-i docker0 ! -o docker0 -j ACCEPT" accepts first)');
    expect(reasons).not.toMatch(/RELATED,ESTABLISHED/);
  });

  it.each([
    ["service docker restart", "service docker restart\n"],
    ["systemctl restart docker", "systemctl restart docker.service\n"],
  ])("a FORWARD drop the script itself undoes with %s says the restart put Docker's rules above it", (_name, restart) => {
    const { verdict, reasons } = bridge({ userData: script(`iptables --insert FORWARD 1 --in-interface docker+ --destination 169.254.169.254/32 --jump DROP\n${restart}`), metadataOptions: IMDSV1 });
    expect(verdict).toBe("open");
    expect(reasons).toMatch(/sits in FORWARD below "-i docker0 ! -o docker0 -j ACCEPT" \(Docker\), which accepts it before it gets there/);
    expect(reasons).toMatch(/part 1 \([^)]*\) restarts Docker after `iptables --insert FORWARD 1 [^`]*` \(part 1 [^)]*\)\) went on FORWARD: Docker's restart puts its own rules above it/);
  });

  it("a FORWARD drop appended after the script restarts Docker does not blame the restart", () => {
    const { verdict, reasons } = bridge({ userData: script("service docker restart\niptables -A FORWARD -d 169.254.169.254 -j DROP\n"), metadataOptions: IMDSV1 });
    expect(verdict).toBe("open");
    expect(reasons).toMatch(/sits in FORWARD below "-i docker0 ! -o docker0 -j ACCEPT" \(Docker\), which accepts it before it gets there/);
    expect(reasons).not.toMatch(/restart/);
  });

  it("a FORWARD policy DROP without Docker's rule for answers blocks IMDS's answer, and names that direction", () => {
    const userData = script("iptables -P FORWARD DROP\niptables -D FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
    const { verdict, reasons } = bridge({ userData, metadataOptions: IMDSV1 });
    // Once, after Docker started: its restart puts the rule for answers back.
    expect(verdict).toBe("fragile");
    expect(reasons).toContain("dropped by FORWARD policy DROP (IMDS's answer to the container)");
    expect(reasons).toMatch(/after a Docker restart it passes: Docker re-inserts its own rules in FORWARD when it restarts, the one that lets IMDS's answers back to containers among them/);
  });
});

describe("the AMI a configuration names", () => {
  it.each([
    ["resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id", undefined, "amazon-linux-2023", "v2.0"],
    ["resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id", undefined, "amazon-linux-2023", "v2.0"],
    ["resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id", undefined, "amazon-linux-2", "unset"],
    ["resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2/kernel-5.10/arm64/recommended/image_id", undefined, "amazon-linux-2", "unset"],
    ["resolve:ssm:/aws/service/bottlerocket/aws-ecs-2/x86_64/latest/image_id", undefined, "bottlerocket", "unknown"],
    [{ unknown: "data.aws_ssm_parameter.ecs.value" }, "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id", "amazon-linux-2023", "v2.0"],
    [{ unknown: "data.aws_ami.ecs.id" }, "al2023-ami-ecs-hvm-*-kernel-6.1-x86_64", "amazon-linux-2023", "v2.0"],
    [{ unknown: "data.aws_ami.ecs.id" }, "amzn2-ami-ecs-hvm-*-x86_64-ebs", "amazon-linux-2", "unset"],
    // The Amazon Linux AMI (2018.03), ECS-optimized or not, released before ImdsSupport existed.
    [{ unknown: "data.aws_ami.ecs.id" }, "amzn-ami-*-amazon-ecs-optimized", "amazon-linux", "unset"],
    [{ unknown: "data.aws_ami.ecs.id" }, "*amazon-ecs-optimized", "amazon-linux", "unset"],
    [{ unknown: "data.aws_ami.ecs.id" }, "amzn-ami-hvm-*-x86_64-gp2", "amazon-linux", "unset"],
    [{ unknown: "data.aws_ssm_parameter.ecs.value" }, "/aws/service/ecs/optimized-ami/amazon-linux/recommended", "amazon-linux", "unset"],
    ["ami-0123456789abcdef0", undefined, undefined, "unknown"],
    [{ unknown: "var.ami" }, undefined, undefined, "unknown"],
  ] as const)("%j (source %j) is %s, ImdsSupport %s", (imageId, imageSource, platform, imdsSupport) => {
    const ami = identifyAmi(imageId, imageSource);
    expect(ami.platform).toBe(platform);
    expect(ami.imdsSupport).toBe(imdsSupport);
  });

  it("names its evidence: the image_id literal, the SSM parameter or the AMI name filter", () => {
    expect(amiName(identifyAmi({ unknown: "data.aws_ami.ecs.id" }, "amzn2-ami-ecs-hvm-*-x86_64-ebs"))).toBe('the Amazon Linux 2 AMI (the AMI name filter "amzn2-ami-ecs-hvm-*-x86_64-ebs")');
    expect(amiName(identifyAmi(undefined, "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"))).toBe(
      "the Amazon Linux 2023 AMI (the SSM parameter /aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id)",
    );
  });
});

describe("unset metadata options judged by the AMI's defaults", () => {
  const AL2023 = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
  const AL2 = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id";

  it("AL2023 with no metadata options: IMDSv2 required by the AMI, but hop limit 2, so bridge is open", () => {
    const { verdict, reasons } = bridge({ imageId: AL2023 });
    expect(verdict).toBe("open");
    expect(reasons).toContain(
      `http_tokens and http_put_response_hop_limit are unset and the Amazon Linux 2023 AMI (image_id = "${AL2023}") is registered with ImdsSupport v2.0: EC2 defaults them to IMDSv2 required with hop limit 2, which lets a bridge container (one hop away) get a token (account defaults may differ)`,
    );
  });

  it("AL2023 with only hop limit 1: closed by the AMI's IMDSv2 default, saying account defaults come first", () => {
    const { verdict, reasons } = bridge({ imageId: AL2023, metadataOptions: { httpPutResponseHopLimit: 1 } });
    expect(verdict).toBe("closed");
    expect(reasons).toContain("IMDSv2 is required (http_tokens unset: the AMI's default) with hop limit 1");
    expect(reasons).toMatch(/account's regional IMDS defaults .* take precedence over the AMI's when set; set http_tokens = "required" in the template to be sure/);
  });

  it("AL2 with no metadata options: IMDSv1 allowed by the AMI, open", () => {
    const { verdict, reasons } = bridge({ imageId: AL2 });
    expect(verdict).toBe("open");
    expect(reasons).toContain("is registered without ImdsSupport v2.0: EC2 defaults it to optional, so IMDSv1 is allowed (account defaults may differ)");
  });

  it("AL2 with IMDSv2 required and no hop limit: hop limit 1 by the AMI's default closes bridge, naming the account defaults", () => {
    const { verdict, reasons } = bridge({ imageId: AL2, metadataOptions: { httpTokens: "required" } });
    expect(verdict).toBe("closed");
    expect(reasons).toContain('IMDSv2 is required (http_tokens = "required") with hop limit 1 (http_put_response_hop_limit unset: the AMI\'s default)');
    expect(reasons).toMatch(/this rests on the defaults of the Amazon Linux 2 AMI .* set http_put_response_hop_limit = 1 in the template to be sure/);
  });

  it("the same from an aws_ami name filter when image_id is only known at apply time", () => {
    const { verdict } = bridge({ imageId: { unknown: "data.aws_ami.ecs.id" }, imageSource: "amzn2-ami-ecs-hvm-*-x86_64-ebs", metadataOptions: { httpTokens: "required" } });
    expect(verdict).toBe("closed");
  });

  it("an AMI it cannot place keeps the cautious wording and verdict", () => {
    const unknownAmi = bridge({ imageId: "ami-0123456789abcdef0", metadataOptions: { httpTokens: "required" } });
    expect(unknownAmi.verdict).toBe("open");
    expect(unknownAmi.reasons).toMatch(/http_put_response_hop_limit is unset: AMIs registered with ImdsSupport v2\.0 \(Amazon Linux 2023 among them\) default to 2/);
    const noTokens = bridge({ imageId: "ami-0123456789abcdef0", metadataOptions: { httpPutResponseHopLimit: 1 } });
    expect(noTokens.verdict).toBe("open");
    expect(noTokens.reasons).toMatch(/http_tokens is unset, so IMDSv1 may be allowed/);
  });

  it("set options win over any AMI default", () => {
    expect(bridge({ imageId: AL2023, metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 } }).verdict).toBe("open");
    expect(bridge({ imageId: AL2, metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 } }).verdict).toBe("open");
    const explicit = bridge({ imageId: AL2023, metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 } });
    expect(explicit.verdict).toBe("closed");
    expect(explicit.reasons).not.toMatch(/account/);
  });

  it("puts the AMI in the judgement's notes", () => {
    expect(judge({ resourceType: "aws_launch_template", imageId: AL2023 }).notes).toContain(`the Amazon Linux 2023 AMI (image_id = "${AL2023}") is registered with ImdsSupport v2.0`);
  });
});

describe("a part cloud-init cannot execute", () => {
  const judged = (userData: LaunchDescription["userData"]) => judge({ resourceType: "aws_launch_template", userData, metadataOptions: IMDSV1 }, { networkModes: ["bridge", "awsvpc"] });
  const mime = (contentType: string, content: string) =>
    `Content-Type: multipart/mixed; boundary="B"\nMIME-Version: 1.0\n\n--B\nContent-Type: ${contentType}\nMIME-Version: 1.0\n\n${content}\n--B--\n`;
  const AWSVPC_LINE = "echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n";
  const GUARD = "iptables -N DOCKER-USER || true\niptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD -j DOCKER-USER\niptables -I DOCKER-USER -d 169.254.169.254 -j DROP\n";

  it.each([
    ["spaces before #! (an indented <<EOF heredoc)", { text: `    #!/bin/bash\n    ${AWSVPC_LINE}` }, /starts with spaces before #! \(an HCL <<EOF heredoc indented in the configuration keeps its indentation; <<-EOF strips it\)/],
    ["no #! line", { text: mime("text/x-shellscript", `# joins the cluster\n${AWSVPC_LINE}`) }, /has no #! line: cloud-init executes the file directly and it fails \(exec format error\)/],
  ])("names it first in awsvpc, whose verdict it would have changed: %s", (_name, userData, why) => {
    const { modes } = judged(userData);
    expect(modes.awsvpc?.verdict).toBe("open");
    expect(modes.awsvpc?.reasons[0]).toMatch(why);
    expect(modes.awsvpc?.reasons[0]).toMatch(/had it run, awsvpc mode would be closed$/);
    // Bridge is open either way: the part is not its reason.
    expect(modes.bridge?.verdict).toBe("open");
    expect(modes.bridge?.reasons.join(" ")).not.toMatch(/#!/);
  });

  it("names a boothook without #! in bridge, whose DOCKER-USER drop never applies", () => {
    const { modes } = judged({ text: mime("text/cloud-boothook", `#cloud-boothook\n${GUARD}`) });
    expect(modes.bridge?.verdict).toBe("open");
    expect(modes.bridge?.reasons[0]).toMatch(/^part 1 \(text\/cloud-boothook "part-001"\) has no #! line: .*; had it run, bridge mode would be closed$/);
    expect(modes.awsvpc?.reasons.join(" ")).not.toMatch(/#!/);
  });

  it("runs with CRLF line endings, which cloud-init makes LF before it writes the file", () => {
    const { modes } = judged({ text: mime("text/x-shellscript", `#!/bin/bash\r\n${AWSVPC_LINE.replace("\n", "\r\n")}`) });
    expect(modes.awsvpc?.verdict).toBe("closed");
  });

  describeWhen({ "cloud-init": hasCloudInit() })("as cloud-init's shell part handler writes and the kernel executes it", () => {
    // Run here for real: the setting goes to ecs.config in the scripts folder, never to /etc/ecs.
    const LOCAL_LINE = "echo ECS_AWSVPC_BLOCK_IMDS=true >> ecs.config\n";
    const texts: Record<string, string> = {
      "#! first": `#!/bin/sh\n${LOCAL_LINE}`,
      "a CRLF #! line": `#!/bin/sh\r\n${LOCAL_LINE.replace("\n", "\r\n")}`,
      "spaces before #!": `    #!/bin/sh\n    ${LOCAL_LINE}`,
      "a tab before #!": `\t#!/bin/sh\n${LOCAL_LINE}`,
      "a blank line before #!": `\n#!/bin/sh\n${LOCAL_LINE}`,
      "a comment, no #!": `# joins the cluster\n${LOCAL_LINE}`,
    };
    it.each(Object.keys(texts))("runs exactly when the audit says it does: %s", (name) => {
      const program = bootProgram([{ contentType: "text/x-shellscript", filename: "part-001", payload: texts[name] }]);
      expect(program.dormant.length === 0).toBe(runsUnderCloudInit(texts[name]));
    });
  });

  it("is not named where it changes nothing", () => {
    const { modes } = judged({ text: mime("text/x-shellscript", "# nothing\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n") });
    for (const mode of ["bridge", "awsvpc"] as const) expect(modes[mode]?.reasons.join(" ")).not.toMatch(/#!/);
  });
});

/**
 * Whether a shell part runs on an instance: cloud-init's own ShellScriptPartHandler writes it to a
 * scripts folder (as scripts_user later finds it) and the file is executed as scripts_user executes it.
 */
function runsUnderCloudInit(payload: string): boolean {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-cloud-init-"));
  try {
    const program = `
import json, subprocess, sys
from cloudinit.handlers.shell_script import ShellScriptPartHandler
class Paths:
    def get_ipath_cur(self, name): return sys.argv[1]
ShellScriptPartHandler(Paths()).handle_part(None, "text/x-shellscript", "part-001", json.load(sys.stdin), None)
try:
    subprocess.run([sys.argv[1] + "/part-001"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, cwd=sys.argv[1])
    print("ran")
except OSError as error:
    print("not run: %s" % error)
`;
    const result = spawnSync("/usr/bin/python3", ["-c", program, dir], { input: JSON.stringify(payload), encoding: "utf8", timeout: 30_000 });
    if (result.status !== 0) throw new Error(`cloud-init's handler failed: ${result.stderr}`);
    return result.stdout.trim() === "ran";
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
