/**
 * The judge on real shapes of ECS user data (the corpus in corpus.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { judge, runAudit } from "../../lib/audit";
import { CORPUS, corpusTerraformJson, fixture, FIXTURES, IMDSV1, template } from "./corpus";

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

describe("the corpus as Terraform JSON (fixtures/audit/corpus.tf.json, the README's table)", () => {
  it("is the corpus, written out", () => {
    expect(readFileSync(join(FIXTURES, "corpus.tf.json"), "utf8")).toBe(corpusTerraformJson());
  });

  it("gets every expected verdict through the CLI's Terraform JSON reader", async () => {
    let out = "";
    const code = await runAudit(["audit", "--format", "json", "--network-modes", "bridge,awsvpc,host", join(FIXTURES, "corpus.tf.json")], {
      stdout: (text) => (out += text),
      stderr: () => undefined,
    });
    expect(code).toBe(1);
    const byName = new Map((JSON.parse(out).resources as Array<{ address: string; verdicts: Record<string, string> }>).map((r) => [r.address, r.verdicts]));
    for (const corpusCase of CORPUS) {
      expect([corpusCase.id, byName.get(`aws_launch_template.${corpusCase.id}`)]).toEqual([corpusCase.id, expect.objectContaining(corpusCase.expected)]);
    }
  });
});

describe("ecs.config where ecs-init reads it", () => {
  const awsvpc = (script: string) => judge(template({ text: `#!/bin/bash\n${script}` }, IMDSV1)).modes.awsvpc;

  it("takes the setting from /var/lib/ecs/ecs.config when /etc/ecs/ecs.config does not set it", () => {
    expect(awsvpc("echo ECS_AWSVPC_BLOCK_IMDS=true >> /var/lib/ecs/ecs.config\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n")?.verdict).toBe("closed");
  });

  it("lets /etc/ecs/ecs.config override /var/lib/ecs/ecs.config", () => {
    expect(awsvpc("echo ECS_AWSVPC_BLOCK_IMDS=true >> /var/lib/ecs/ecs.config\necho ECS_AWSVPC_BLOCK_IMDS=false >> /etc/ecs/ecs.config\n")?.verdict).toBe("open");
  });

  it("lets a whole line written after content it cannot see decide, but not the rest of that content's line", () => {
    expect(awsvpc('echo "ECS_CLUSTER=$(hostname)" >> /etc/ecs/ecs.config\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n')?.verdict).toBe("closed");
    expect(awsvpc('printf "ECS_CLUSTER=%s" "$(hostname)" >> /etc/ecs/ecs.config\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n')?.verdict).toBe("unknown");
  });
});
