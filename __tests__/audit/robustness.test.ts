/**
 * Whatever the user data, the judge answers: no exception, no hang, and never `closed` for bridge
 * or awsvpc from user data that holds no rule and no setting.
 */
import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { judge, LaunchDescription } from "../../lib/audit";

const OPEN_METADATA = { httpEndpoint: "enabled", httpTokens: "optional" } as const;
const describeText = (text: string): LaunchDescription => ({ resourceType: "aws_launch_template", userData: { text }, metadataOptions: OPEN_METADATA });

const SHELL_TOKENS = [
  "#!/bin/bash\n", "#cloud-boothook\n", "#cloud-config\n", "Content-Type: multipart/mixed; boundary=\"B\"\nMIME-Version: 1.0\n\n", "--B\n", "--B--\n",
  "iptables", " -I", " -A", " -D", " -N", " -F", " DOCKER-USER", " FORWARD", " 1", " -d", " 169.254.169.254", " -j", " DROP", " ACCEPT",
  "echo", " ECS_AWSVPC_BLOCK_IMDS=true", " >>", " >", " /etc/ecs/ecs.config", " |", " tee -a", " <<EOF", "\nEOF", "\n", ";", " &&", " ||",
  "$(", ")", "${", "}", "\"", "'", "`", "\\", "if ", " then ", " fi", "for x in a b; do", " done", "while true; do", "case $x in", " esac",
  "f() {", " }", "(", ")", "bootcmd:\n  - ", "runcmd: [", "]", "write_files:\n  - path: /etc/ecs/ecs.config\n    content: ", "sed -i 's/a/b/'",
  "[settings.ecs]\n", "awsvpc-block-imds = ", "true", "\u0000", "\u00e9", "\r\n",
];

describe("the judge on any input", () => {
  it("answers every mode for random token soup, quickly, without throwing", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...SHELL_TOKENS), { maxLength: 60 }), (tokens) => {
        const started = Date.now();
        const judgement = judge(describeText(tokens.join("")), { networkModes: ["bridge", "awsvpc", "host"] });
        expect(Date.now() - started).toBeLessThan(1000);
        for (const mode of ["bridge", "awsvpc", "host"] as const) expect(judgement.modes[mode]?.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 400 },
    );
  });

  it("answers for random bytes, raw and gzip", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, zip) => {
        const data = zip ? gzipSync(Buffer.from(bytes)) : Buffer.from(bytes);
        const judgement = judge({ resourceType: "aws_launch_template", userData: { base64: data.toString("base64") }, metadataOptions: OPEN_METADATA });
        expect(judgement.modes.bridge?.verdict).toBeDefined();
      }),
      { numRuns: 200 },
    );
  });

  it("never says closed when nothing in the user data mentions the firewall or ecs.config", () => {
    const harmless = fc.constantFrom("#!/bin/bash\n", "yum update -y\n", "echo hello > /tmp/x\n", "mkdir -p /opt/app\n", "systemctl enable --now amazon-ssm-agent\n", "export A=1\n");
    fc.assert(
      fc.property(fc.array(harmless, { maxLength: 12 }), (lines) => {
        const judgement = judge(describeText(lines.join("")));
        expect(judgement.modes.bridge?.verdict).not.toBe("closed");
        expect(judgement.modes.awsvpc?.verdict).not.toBe("closed");
      }),
      { numRuns: 200 },
    );
  });

  it("reads a 900 KB shell script (gzip of 16 KB can hold one) in bounded time", () => {
    const script = `#!/bin/bash\n${"echo ECS_LOGLEVEL=info >> /etc/ecs/ecs.config\n".repeat(20_000)}`;
    const started = Date.now();
    const judgement = judge({ resourceType: "aws_launch_template", userData: { bytes: gzipSync(script) }, metadataOptions: OPEN_METADATA });
    expect(judgement.modes.awsvpc?.verdict).toBe("open");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
