/**
 * `aws_instance` and `aws_launch_configuration` take `user_data` as text, and the AWS provider
 * (verify.Base64Encode) sends text that Go's base64 decoder accepts as is, taking it for already
 * encoded: EC2 decodes it, and the instance gets the decoded script. Both readers (the HCL reader and
 * the reading of a plan, which `--evaluate terraform` uses) must judge that script, not the base64.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAudit } from "../../lib/audit";
import { userDataSentFromText } from "../../lib/audit/read/launch";
import { describePlanned } from "../../lib/audit/read/plan";

const SCRIPT = "#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n";
const ENCODED = Buffer.from(SCRIPT).toString("base64");

describe("text the AWS provider takes for base64", () => {
  it("is decoded as Go's StdEncoding decodes it: padded, line breaks skipped", () => {
    expect(userDataSentFromText(ENCODED)).toEqual({ bytes: Buffer.from(SCRIPT) });
    // base64encode() output wrapped at 76 columns by a tool is still taken as encoded.
    expect(userDataSentFromText(ENCODED.replace(/(.{20})/g, "$1\n"))).toEqual({ bytes: Buffer.from(SCRIPT) });
    // "abcd" is valid base64 to Go: the provider sends it as is and the instance gets three bytes.
    expect(userDataSentFromText("abcd")).toEqual({ bytes: Buffer.from([0x69, 0xb7, 0x1d]) });
  });

  it("leaves other text as the text the instance gets", () => {
    for (const text of [SCRIPT, "abc", "YWJj ZA==", "YWJjZA", "YWJjZA===", "YW_jZA==", ""]) expect(userDataSentFromText(text)).toEqual({ text });
  });

  it("reads a planned aws_instance user_data that is base64 as the script it encodes", () => {
    expect(describePlanned({ type: "aws_instance", values: { user_data: ENCODED } }, {}).userData).toEqual({ bytes: Buffer.from(SCRIPT) });
    expect(describePlanned({ type: "aws_instance", values: { user_data: SCRIPT } }, {}).userData).toEqual({ text: SCRIPT });
  });

  it("judges an aws_instance and a launch configuration given a base64 literal by the script", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-base64-"));
    try {
      writeFileSync(
        join(dir, "main.tf"),
        `resource "aws_instance" "encoded" {
  ami       = "ami-0123456789abcdef0"
  user_data = "${ENCODED}"
}

resource "aws_launch_configuration" "plain" {
  image_id  = "ami-0123456789abcdef0"
  user_data = "${SCRIPT.replace(/\n/g, "\\n")}"
}
`,
      );
      let stdout = "";
      await runAudit(["audit", "--format", "json", "--network-modes", "awsvpc", dir], { stdout: (t) => (stdout += t), stderr: () => undefined });
      const verdicts = Object.fromEntries(JSON.parse(stdout).resources.map((r: { address: string; verdicts: Record<string, string> }) => [r.address, r.verdicts.awsvpc]));
      expect(verdicts).toEqual({ "aws_instance.encoded": "closed", "aws_launch_configuration.plain": "closed" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
