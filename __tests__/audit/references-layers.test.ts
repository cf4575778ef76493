/**
 * Values Terraform knows only at apply time (U+E000 reference U+E001) in the layers around the
 * shell: MIME headers, #! lines, cloud-config, Bottlerocket TOML and systemd unit files. Each is
 * unknown for exactly the concerns it could change, never read as text, and the reason names it.
 */
import fc from "fast-check";
import { judge, LaunchDescription, ModeJudgement } from "../../lib/audit";
import { UNKNOWN_END, UNKNOWN_START } from "../../lib/audit/sources";
import { parseWithCloudInit } from "../support/cloud-init";

const ref = (expression: string) => `${UNKNOWN_START}${expression}${UNKNOWN_END}`;
const IMDSV1 = { httpEndpoint: "enabled", httpTokens: "optional" } as const;
const AL2 = "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id";
const describeText = (text: string, imageId?: string): LaunchDescription => ({
  resourceType: "aws_launch_template",
  userData: { text },
  metadataOptions: IMDSV1,
  imageSource: AL2,
  ...(imageId ? { imageId } : {}),
});
const modes = (text: string, imageId?: string) => judge(describeText(text, imageId)).modes as Record<"bridge" | "awsvpc", ModeJudgement>;
const all = (j: ModeJudgement) => j.reasons.join("\n");

const BOOTHOOK = "#!/bin/sh\niptables -N DOCKER-USER || true\niptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD 1 -j DOCKER-USER\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n";
const ECS_SCRIPT = "#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n";
const mime = (boundary: string, parts: ReadonlyArray<readonly [string, string]>) =>
  `Content-Type: multipart/mixed; boundary="${boundary}"\nMIME-Version: 1.0\n\n${parts.map(([headers, body]) => `--B\n${headers}\n\n${body}`).join("")}--B--\n`;

describe("references in the MIME layer", () => {
  const PARTS = [
    ["Content-Type: text/cloud-boothook", BOOTHOOK],
    ["Content-Type: text/x-shellscript", ECS_SCRIPT],
  ] as const;

  it("both modes are closed with every header literal", () => {
    const judged = modes(mime("B", PARTS));
    expect([judged.bridge.verdict, judged.awsvpc.verdict]).toEqual(["closed", "closed"]);
  });

  it("a boundary known only at apply time makes every part unknown; cloud-init's own parser shows the value decides the parts", () => {
    const judged = modes(mime(ref("var.boundary"), PARTS));
    for (const mode of ["bridge", "awsvpc"] as const) {
      expect(judged[mode].verdict).toBe("unknown");
      expect(all(judged[mode])).toMatch(/holds a value known only at apply time \(var\.boundary\): where its parts begin and end cannot be told/);
    }
    const [matching, other] = parseWithCloudInit([Buffer.from(mime("B", PARTS)), Buffer.from(mime("X", PARTS))]);
    expect(matching.map((p) => p.contentType)).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
    expect(other.map((p) => p.contentType)).not.toEqual(matching.map((p) => p.contentType));
  });

  it("a part's Content-Type known only at apply time makes that part's concerns unknown, not the other part's", () => {
    const judged = modes(mime("B", [["Content-Type: " + ref("var.hook_type"), BOOTHOOK], PARTS[1]]));
    expect(judged.bridge.verdict).toBe("unknown");
    expect(judged.bridge.reasons[0]).toMatch(/part 1 .*: its content-type header holds a value known only at apply time \(var\.hook_type\): what cloud-init does with the part cannot be told/);
    expect(judged.awsvpc.verdict).toBe("closed");
  });

  it("a Content-Transfer-Encoding known only at apply time could decode to anything", () => {
    const judged = modes(mime("B", [PARTS[0], [`Content-Type: text/x-shellscript\nContent-Transfer-Encoding: ${ref("local.encoding")}`, ECS_SCRIPT]]));
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(judged.bridge.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/content-transfer-encoding header holds a value known only at apply time \(local\.encoding\)/);
  });

  it("a script's file name known only at apply time leaves the order of the scripts unknown", () => {
    const flush = "#!/bin/bash\nsed -i '/ECS_AWSVPC_BLOCK_IMDS/d' /etc/ecs/ecs.config\n";
    const judged = modes(
      mime("B", [
        [`Content-Type: text/x-shellscript\nContent-Disposition: attachment; filename="${ref("var.script_name")}"`, ECS_SCRIPT],
        ['Content-Type: text/x-shellscript\nContent-Disposition: attachment; filename="50-cleanup.sh"', flush],
      ]),
    );
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/its file name is known only at apply time \(var\.script_name\): the order cloud-init runs the scripts in, by name, cannot be told/);
  });

  it("a header line that is wholly a reference makes the layout unknown", () => {
    const text = `Content-Type: multipart/mixed; boundary="B"\n${ref("var.extra_headers")}\nMIME-Version: 1.0\n\n--B\nContent-Type: text/x-shellscript\n\n${ECS_SCRIPT}--B--\n`;
    const judged = modes(text);
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/a MIME header line is known only at apply time \(var\.extra_headers\)/);
  });

  it("a part that is wholly a reference can hold anything its type runs", () => {
    for (const type of ["text/cloud-config", "text/x-shellscript", "text/cloud-boothook"]) {
      const judged = modes(mime("B", [["Content-Type: text/x-shellscript", ECS_SCRIPT], [`Content-Type: ${type}`, `${type === "text/cloud-config" ? "#cloud-config\n" : ""}${ref("var.cloud_config")}\n`]]));
      expect(judged.awsvpc.verdict).toBe("unknown");
      expect(judged.awsvpc.reasons[0]).toMatch(/part 2 .* is wholly a value known only at apply time \(var\.cloud_config\)/);
    }
  });

  it("user data that begins with a reference could be any kind of user data", () => {
    const judged = modes(`${ref("var.preamble")}\n${ECS_SCRIPT}`);
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/starts with a value known only at apply time \(var\.preamble\)/);
  });
});

describe("references in a #! line", () => {
  it("an interpreter known only at apply time makes the part's concerns unknown", () => {
    const judged = modes(mime("B", [["Content-Type: text/cloud-boothook", BOOTHOOK.replace("#!/bin/sh", `#!${ref("var.shell")}`)], ["Content-Type: text/x-shellscript", ECS_SCRIPT]]));
    expect(judged.bridge.verdict).toBe("unknown");
    expect(judged.bridge.reasons[0]).toMatch(/#! line holds a value known only at apply time \(var\.shell\): which interpreter runs the part, with which options, cannot be told/);
    expect(judged.awsvpc.verdict).toBe("closed");
  });
});

describe("references in cloud-config", () => {
  const config = (body: string) => `#cloud-config\n${body}`;

  it("a runcmd entry that is wholly a reference can run anything", () => {
    const judged = modes(config(`runcmd:\n  - echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n  - "${ref("var.extra_runcmd")}"\n`));
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(judged.awsvpc.reasons[0]).toMatch(/runcmd entry 2 is known only at apply time \(var\.extra_runcmd\): it can run anything/);
  });

  it("a bootcmd entry in list form whose program is a reference can run anything", () => {
    const judged = modes(config(`bootcmd:\n  - ["${ref("var.tool")}", "-F"]\nruncmd:\n  - echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n`));
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/bootcmd entry 1 is known only at apply time \(var\.tool\)/);
  });

  it("a reference inside an entry's word leaves the rest of the entry and the others readable", () => {
    const judged = modes(config(`runcmd:\n  - echo ECS_CLUSTER=${ref("var.cluster")} >> /etc/ecs/ecs.config\n  - echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n`));
    expect(judged.awsvpc.verdict).toBe("closed");
  });

  it("write_files content: a reference inside a line is that value; a reference standing for lines after the setting makes it unknown", () => {
    const file = (content: string) => config(`write_files:\n  - path: /etc/ecs/ecs.config\n    content: |\n${content.split("\n").map((l) => `      ${l}`).join("\n")}\n`);
    expect(modes(file(`ECS_CLUSTER=${ref("var.cluster")}\nECS_AWSVPC_BLOCK_IMDS=true`)).awsvpc.verdict).toBe("closed");
    const after = modes(file(`ECS_AWSVPC_BLOCK_IMDS=true\n${ref("var.extra_config")}`)).awsvpc;
    expect(after.verdict).toBe("unknown");
    expect(all(after)).toMatch(/var\.extra_config, known only at apply time/);
  });

  it("a write_files path known only at apply time could be any file", () => {
    const judged = modes(config(`runcmd:\n  - echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\nwrite_files:\n  - path: ${ref("var.config_path")}\n    content: ECS_CLUSTER=prod\n    defer: true\n`));
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/write_files path ".*" is known only at apply time \(var\.config_path\): the file it writes could be any/);
  });

  it("a write_files encoding known only at apply time hides the content", () => {
    const judged = modes(config(`write_files:\n  - path: /etc/ecs/ecs.config\n    encoding: ${ref("var.encoding")}\n    content: RUNTX0FXU1ZQQ19CTE9DS19JTURTPXRydWUK\n`));
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/whose encoding is known only at apply time \(var\.encoding\)/);
  });

  it("a key known only at apply time could be any module", () => {
    const judged = modes(config(`runcmd:\n  - echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n"${ref("var.module")}":\n  - x\n`));
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/has a key known only at apply time \(var\.module\)/);
  });

  it("a reference that breaks the YAML names itself as the cause", () => {
    const judged = modes(config(`runcmd:\n  - echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n${ref("var.more_config")}\n`));
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/not valid YAML with the values known only at apply time in place \(var\.more_config\)/);
  });

  it("a package known only at apply time could be iptables-services, which loads saved rules", () => {
    const judged = modes(config(`packages:\n  - ${ref("var.firewall_package")}\nbootcmd:\n  - ${BOOTHOOK.split("\n").slice(1, 4).join("\n  - ")}\n`));
    expect(judged.bridge.verdict).toBe("unknown");
    expect(all(judged.bridge)).toMatch(/packages holds a name known only at apply time \(var\.firewall_package\)/);
  });
});

describe("references in Bottlerocket settings", () => {
  const BOTTLEROCKET = "bottlerocket-aws-ecs-2-x86_64";

  it("awsvpc-block-imds = <reference> is unknown, naming it", () => {
    const judged = modes(`[settings.ecs]\ncluster = "prod"\nawsvpc-block-imds = ${ref("var.block_imds")}\n`, BOTTLEROCKET);
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(judged.awsvpc.reasons[0]).toBe("Bottlerocket settings.ecs.awsvpc-block-imds is known only at apply time (var.block_imds)");
  });

  it("a reference inside another string value changes nothing", () => {
    const judged = modes(`[settings.ecs]\ncluster = "${ref("var.cluster")}"\nawsvpc-block-imds = true\n`, BOTTLEROCKET);
    expect(judged.awsvpc.verdict).toBe("closed");
  });

  it("a reference standing for lines of settings could set anything", () => {
    const judged = modes(`[settings.ecs]\nawsvpc-block-imds = true\n${ref("var.extra_settings")}\n`, BOTTLEROCKET);
    expect(judged.awsvpc.verdict).toBe("unknown");
    expect(all(judged.awsvpc)).toMatch(/Bottlerocket settings hold a value known only at apply time outside any value \(var\.extra_settings\)/);
  });

  it("a quoted key known only at apply time could be awsvpc-block-imds", () => {
    const judged = modes(`[settings.ecs]\nawsvpc-block-imds = true\n"${ref("var.key")}" = false\n`, BOTTLEROCKET);
    expect(judged.awsvpc.verdict).toBe("unknown");
  });
});

describe("references in a systemd unit file", () => {
  const unitScript = (unit: string) => `#!/bin/bash\ncat > /etc/systemd/system/imds-block.service <<'UNIT'\n${unit}UNIT\nsystemctl daemon-reload\nsystemctl enable --now imds-block.service\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n`;
  const UNIT_LINES = ["[Unit]", "After=docker.service", "BindsTo=docker.service", "", "[Service]", "Type=oneshot", "RemainAfterExit=yes", "ExecStart=/usr/sbin/iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP", "", "[Install]", "WantedBy=docker.service"];
  const UNIT = `${UNIT_LINES.join("\n")}\n`;

  it("the literal unit closes bridge mode", () => {
    expect(modes(unitScript(UNIT)).bridge.verdict).toBe("closed");
  });

  it("an ExecStart= argument known only at apply time makes the firewall unknown, not ecs.config", () => {
    const judged = modes(unitScript(UNIT.replace("169.254.169.254/32", ref("var.imds_cidr"))));
    expect(judged.bridge.verdict).toBe("unknown");
    expect(judged.bridge.reasons[0]).toMatch(/ExecStart=.* of imds-block\.service holds a value known only at apply time \(`?(\$\{)?var\.imds_cidr\}?`?\)/);
    expect(judged.awsvpc.verdict).toBe("closed");
  });

  it("WantedBy= known only at apply time leaves when the unit runs unknown", () => {
    const judged = modes(unitScript(UNIT.replace("WantedBy=docker.service", `WantedBy=${ref("var.target")}`)));
    expect(judged.bridge.verdict).toBe("unknown");
    expect(all(judged.bridge)).toMatch(/WantedBy= in \/etc\/systemd\/system\/imds-block\.service is known only at apply time \(`?(\$\{)?var\.target\}?`?\): when or how imds-block\.service runs cannot be told/);
  });

  it("a line of the unit that is wholly a reference can add any directive, so nothing it could touch is closed", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: UNIT_LINES.length }), (at) => {
        const lines = [...UNIT_LINES];
        lines.splice(at, 0, ref("var.extra_directives"));
        const judged = modes(unitScript(`${lines.join("\n")}\n`));
        expect(judged.bridge.verdict).not.toBe("closed");
        expect(judged.awsvpc.verdict).not.toBe("closed");
        expect(all(judged.bridge)).toMatch(/var\.extra_directives/);
      }),
      { numRuns: UNIT_LINES.length * 2 },
    );
  });
});
