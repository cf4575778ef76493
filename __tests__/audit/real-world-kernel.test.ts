/**
 * The rules that choose which real-world resources the kernel proof boots (real-world-kernel.ts):
 * a row is booted only when the kernel's answer can confirm or refute its bridge verdict.
 */
import { judge, LaunchDescription } from "../../lib/audit";
import { FoundResource, UNKNOWN_START, UNKNOWN_END } from "../../lib/audit/read";
import { describeWhen, hasCloudInit } from "../support/tools";
import { HOP_1, HOP_2, IMDSV1 } from "./corpus";
import { literalUserData, selectForKernel, unreplayedCalls, whyNotBooted, whyPartsNotExecuted } from "./real-world-kernel";

const found = (description: LaunchDescription): FoundResource => ({ address: "aws_launch_template.t", file: "main.tf", description });
const launchTemplate = (text: string, metadataOptions = IMDSV1): LaunchDescription => ({ resourceType: "aws_launch_template", userData: { text }, metadataOptions });
const OPEN_SCRIPT = "#!/bin/bash\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n";
const BOOTHOOK_DROP = "#cloud-boothook\n#!/bin/bash\niptables -N DOCKER-USER || true\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n";

describe("which real-world rows the kernel proof boots", () => {
  it("leaves out a row closed only by hop limit 1: the firewall lets the packet through", () => {
    expect(whyNotBooted(found(launchTemplate(OPEN_SCRIPT, HOP_1)))).toMatch(/rests on the metadata options: with IMDSv1 allowed it would be open/);
  });

  it("boots a row the firewall closes, whatever the metadata options add", () => {
    expect(whyNotBooted(found(launchTemplate(BOOTHOOK_DROP, HOP_1)))).toBeNull();
    expect(whyNotBooted(found(launchTemplate(BOOTHOOK_DROP, HOP_2)))).toBeNull();
    expect(whyNotBooted(found(launchTemplate(OPEN_SCRIPT, HOP_2)))).toBeNull();
  });

  it("leaves out user data holding a value known only at apply time, or none at all", () => {
    const marked = `#!/bin/bash\necho ECS_CLUSTER=${UNKNOWN_START}var.cluster${UNKNOWN_END} >> /etc/ecs/ecs.config\n`;
    expect(whyNotBooted(found(launchTemplate(marked)))).toMatch(/known only at apply time/);
    expect(whyNotBooted(found({ resourceType: "aws_launch_template", userData: { unknown: "var.user_data" }, metadataOptions: IMDSV1 }))).toMatch(/var\.user_data/);
    expect(whyNotBooted({ ...found(launchTemplate(OPEN_SCRIPT)), unresolved: "module.asg is not downloaded" })).toMatch(/module\.asg/);
  });

  it("boots the bytes EC2 hands cloud-init, base64 decoded", () => {
    const bytes = literalUserData({ resourceType: "aws_launch_template", userData: { base64: Buffer.from(OPEN_SCRIPT).toString("base64") } });
    expect(bytes).toEqual(Buffer.from(OPEN_SCRIPT));
  });

  it("runs only boothooks and shell scripts, and only services the emulated instance replays", () => {
    const shell = (text: string) => [{ contentType: "text/x-shellscript", text }];
    expect(whyPartsNotExecuted([{ contentType: "text/cloud-config", text: "runcmd: [iptables -F]\n" }])).toMatch(/part 1 \(text\/cloud-config\) is not a boothook or shell script/);
    expect(whyPartsNotExecuted(shell("#!/bin/bash\nservice docker stop\n"))).toMatch(/runs "service docker stop": the harness does not replay stop of docker/);
    expect(whyPartsNotExecuted(shell("#!/bin/bash\niptables -I FORWARD 1 -d 169.254.169.254 -j DROP\nservice docker restart\n"))).toBeNull();
    expect(whyPartsNotExecuted(shell("#!/bin/bash\nsystemctl enable --now imds-block.service\n"))).toMatch(/does not replay enable of imds-block/);
    expect(whyPartsNotExecuted([{ contentType: "text/cloud-boothook", text: "#!/bin/bash\nsystemctl start docker\n" }])).toMatch(/does not replay start of docker/);
    expect(whyPartsNotExecuted([{ contentType: "text/cloud-boothook", text: "#!/bin/bash\nsystemctl enable iptables && systemctl start iptables\n" }])).toBeNull();
    expect(whyPartsNotExecuted(shell("#!/bin/bash\nsystemctl daemon-reload\nsystemctl enable --now --no-block docker.service\n"))).toBeNull();
  });

  it("finds services the parts started that the instance did not replay, in the stand-ins' log", () => {
    const calls = ["systemctl daemon-reload", "systemctl enable iptables", "systemctl restart docker", "yum install iptables-services -y", "systemctl stop docker", "systemctl enable --now imds-block.service"];
    expect(unreplayedCalls(calls)).toEqual(["systemctl stop docker", "systemctl enable --now imds-block.service"]);
  });
});

describeWhen({ "cloud-init's Python module": hasCloudInit() })("the real-world rows the kernel proof boots", () => {
  it("include closed, fragile and open bridge verdicts, so the proof cannot shrink to nothing unnoticed", async () => {
    const { booted } = await selectForKernel();
    const verdicts = booted.map(({ found: resource }) => judge(resource.description, { networkModes: ["bridge"] }).modes.bridge?.verdict);
    expect([...new Set(verdicts)].sort()).toEqual(["closed", "fragile", "open"]);
  }, 120_000);
});
