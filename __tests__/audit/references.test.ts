/**
 * Values Terraform knows only at apply time reach the judge as U+E000 expression U+E001 marks in
 * the user data. `closed` must never rest on text such a value could change: whatever a mark
 * turns into at apply time, a `closed` verdict stays `closed`.
 */
import fc from "fast-check";
import { judge, LaunchDescription } from "../../lib/audit";
import { UNKNOWN_END, UNKNOWN_START } from "../../lib/audit/sources";

const OPEN_METADATA = { httpEndpoint: "enabled", httpTokens: "optional" } as const;
const MODES = ["bridge", "awsvpc"] as const;

const mark = (expression: string) => `${UNKNOWN_START}${expression}${UNKNOWN_END}`;

/** Where a mark sits, and so what it can turn into. */
type Slot = "line" | "data" | "word";

/** Lines the user data is made of; `{data}` and `{word}` are marks inside a word. */
const LINES = [
  "iptables -N DOCKER-USER || true",
  "iptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD 1 -j DOCKER-USER",
  "iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP",
  "iptables -F DOCKER-USER",
  "iptables -D DOCKER-USER -d 169.254.169.254/32 -j DROP",
  "echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config",
  "echo ECS_AWSVPC_BLOCK_IMDS=false >> /etc/ecs/ecs.config",
  'echo "ECS_CLUSTER={data}" >> /etc/ecs/ecs.config',
  "echo ECS_CLUSTER={word} >> /etc/ecs/ecs.config",
  "cat <<'EOF' >> /etc/ecs/ecs.config\nECS_CLUSTER={data}\nECS_AWSVPC_BLOCK_IMDS=true\nEOF",
  "cat <<EOF >> /etc/ecs/ecs.config\nECS_AWSVPC_BLOCK_IMDS=true\nECS_LOGLEVEL={data}\nEOF",
  "iptables -I DOCKER-USER -i docker+ -d {word} -j DROP",
  "until iptables -L DOCKER-USER >/dev/null 2>&1; do sleep 1; done",
  // Scripts handed to another shell: their marks are read by the inner parse.
  "sudo /bin/su -c 'echo ECS_CLUSTER={word} >> /etc/ecs/ecs.config'",
  "bash -c \"iptables -I DOCKER-USER 1 -d {word} -j DROP\"",
  "sh -c '{line}'",
  "su -c 'echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config'",
  // Shell variables assigned from a word holding a mark.
  'cluster="{word}"; echo ECS_CLUSTER=$cluster >> /etc/ecs/ecs.config',
  "flag={word}\necho ECS_AWSVPC_BLOCK_IMDS=$flag >> /etc/ecs/ecs.config",
  'imds="{word}"\niptables -I DOCKER-USER 1 -d "$imds" -j DROP',
];

/** What a mark may be at apply time. Inside a word a value is taken to stay one word (see the README). */
const ADVERSARIAL: Record<Slot, readonly string[]> = {
  line: [
    "iptables -F DOCKER-USER",
    "echo ECS_AWSVPC_BLOCK_IMDS=false >> /etc/ecs/ecs.config",
    "iptables -D DOCKER-USER 1",
    "iptables -D DOCKER-USER -d 169.254.169.254/32 -j DROP",
    "iptables -I DOCKER-USER -j ACCEPT",
    "",
  ],
  data: ["", "prod", "prod\nECS_AWSVPC_BLOCK_IMDS=false", "x\necho ECS_AWSVPC_BLOCK_IMDS=false >> /etc/ecs/ecs.config"],
  word: ["", "prod", "169.254.169.253", "-j"],
};

interface Piece {
  readonly text: string;
  readonly slots: readonly Slot[];
}

const GUARD: readonly Piece[] = [LINES[0], LINES[1], LINES[2], LINES[5]].map((text) => ({ text, slots: [] }));

const piece: fc.Arbitrary<Piece> = fc.oneof(
  fc.constantFrom(...LINES).map((line) => ({ text: line, slots: [...line.matchAll(/\{(data|word)\}/g)].map((m) => m[1] as Slot) })),
  fc.constant({ text: "{line}", slots: ["line" as Slot] }),
);

/** A script: lines with marks numbered in order. */
function assemble(pieces: readonly Piece[], fill: (slot: Slot, index: number) => string, start: number): { text: string; next: number } {
  let index = start;
  const text = pieces.map((p) => p.text.replace(/\{(line|data|word)\}/g, (_, slot: Slot) => fill(slot, index++))).join("\n");
  return { text, next: index };
}

const shell = (body: string) => `#!/bin/bash\n${body}\n`;
const mime = (parts: ReadonlyArray<readonly [string, string]>) =>
  `Content-Type: multipart/mixed; boundary="==B=="\nMIME-Version: 1.0\n\n${parts
    .map(([type, body]) => `--==B==\nContent-Type: ${type}; charset="us-ascii"\nMIME-Version: 1.0\n\n${body}`)
    .join("\n")}\n--==B==--\n`;

type Shape = "shell" | "boothook" | "both";

function userData(shape: Shape, boothook: readonly Piece[], script: readonly Piece[], fill: (slot: Slot, index: number) => string): string {
  const first = assemble(boothook, fill, 0);
  const second = assemble(script, fill, first.next);
  switch (shape) {
    case "shell":
      return shell(first.text);
    case "boothook":
      return mime([["text/cloud-boothook", shell(first.text)]]);
    case "both":
      return mime([
        ["text/cloud-boothook", shell(first.text)],
        ["text/x-shellscript", shell(second.text)],
      ]);
  }
}

const describeText = (text: string): LaunchDescription => ({ resourceType: "aws_launch_template", userData: { text }, metadataOptions: OPEN_METADATA });

describe("references in user data", () => {
  it("closed never rests on text a reference could change", () => {
    let closed = 0;
    fc.assert(
      fc.property(
        fc.constantFrom<Shape>("shell", "boothook", "both"),
        // Random lines around the lines that close both modes, so that closed verdicts are common.
        fc.tuple(fc.array(piece, { maxLength: 3 }), fc.boolean(), fc.array(piece, { maxLength: 4 })),
        fc.array(piece, { minLength: 0, maxLength: 4 }),
        fc.array(fc.nat(), { minLength: 20, maxLength: 20 }),
        (shape, [before, guarded, after], script, choices) => {
          const boothook = [...before, ...(guarded ? GUARD : []), ...after];
          if (boothook.length === 0) return;
          const marked = judge(describeText(userData(shape, boothook, script, (_, i) => mark(`var.v${i}`))), { networkModes: [...MODES] });
          const substituted = userData(shape, boothook, script, (slot, i) => {
            const options = ADVERSARIAL[slot];
            return options[choices[i % choices.length] % options.length];
          });
          const applied = judge(describeText(substituted), { networkModes: [...MODES] });
          for (const mode of MODES) {
            if (marked.modes[mode]?.verdict !== "closed") continue;
            closed++;
            expect({ mode, substituted, verdict: applied.modes[mode]?.verdict }).toEqual({ mode, substituted, verdict: "closed" });
          }
        },
      ),
      { numRuns: 600 },
    );
    // The property is about closed verdicts: the generator must reach them often.
    expect(closed).toBeGreaterThan(30);
  });

  const bootstrap = (extra: string) =>
    mime([
      [
        "text/cloud-boothook",
        shell(
          [
            "iptables -N DOCKER-USER || true",
            "iptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD 1 -j DOCKER-USER",
            "iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP",
            extra,
            "echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config",
          ].join("\n"),
        ),
      ],
    ]);

  it("a reference alone on a line makes every concern unknown, naming it", () => {
    const judgement = judge(describeText(bootstrap(`  ${mark("var.extra_bootstrap")}`)));
    for (const mode of MODES) {
      expect(judgement.modes[mode]?.verdict).toBe("unknown");
      expect(judgement.modes[mode]?.reasons[0]).toBe(
        'not followed: part 1 (text/cloud-boothook "part-001"): `${var.extra_bootstrap}` is spliced in as whole lines, known only at apply time: it may flush DOCKER-USER or append ECS_AWSVPC_BLOCK_IMDS=false',
      );
    }
  });

  it("a reference inside a word leaves the other lines of ecs.config readable", () => {
    const text = shell(`echo ECS_CLUSTER=${mark("var.name")} >> /etc/ecs/ecs.config\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config`);
    expect(judge(describeText(text)).modes.awsvpc?.verdict).toBe("closed");
    const unset = shell(`echo ECS_CLUSTER=${mark("var.name")} >> /etc/ecs/ecs.config`);
    expect(judge(describeText(unset)).modes.awsvpc).toMatchObject({
      verdict: "open",
      reasons: ["after the first boot: /etc/ecs/ecs.config does not set ECS_AWSVPC_BLOCK_IMDS; the agent's default is false"],
    });
  });

  it("a script given to su -c or sh -c reads a reference inside a word as that word only", () => {
    // The shape of a public module's template: each ecs.config line written through su -c.
    const unset = shell(`sudo /bin/su -c 'echo ECS_CLUSTER=${mark("var.ecs_cluster_name")} >> /etc/ecs/ecs.config'`);
    expect(judge(describeText(unset)).modes.awsvpc).toMatchObject({
      verdict: "open",
      reasons: ["after the first boot: /etc/ecs/ecs.config does not set ECS_AWSVPC_BLOCK_IMDS; the agent's default is false"],
    });
    const set = shell(`su -c 'echo ECS_CLUSTER=${mark("var.name")} >> /etc/ecs/ecs.config'\nbash -c "echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config"`);
    expect(judge(describeText(set)).modes.awsvpc?.verdict).toBe("closed");
    const flag = shell(`sh -c 'echo ECS_AWSVPC_BLOCK_IMDS=${mark("var.block")} >> /etc/ecs/ecs.config'`);
    expect(judge(describeText(flag)).modes.awsvpc).toMatchObject({ verdict: "unknown", reasons: ["ECS_AWSVPC_BLOCK_IMDS is set from a value known only at apply time"] });
  });

  it("a shell variable assigned from a reference reads as that reference where it is expanded", () => {
    // The shape of a public template: cluster="${cluster_name}" then echo ECS_CLUSTER=$cluster.
    const unset = shell(`cluster="${mark("var.cluster_name")}"\necho ECS_CLUSTER=$cluster >> /etc/ecs/ecs.config`);
    expect(judge(describeText(unset)).modes.awsvpc).toMatchObject({
      verdict: "open",
      reasons: ["after the first boot: /etc/ecs/ecs.config does not set ECS_AWSVPC_BLOCK_IMDS; the agent's default is false"],
    });
    const flag = shell(`flag=${mark("var.block")}\necho ECS_AWSVPC_BLOCK_IMDS=$flag >> /etc/ecs/ecs.config`);
    expect(judge(describeText(flag)).modes.awsvpc).toMatchObject({ verdict: "unknown", reasons: ["ECS_AWSVPC_BLOCK_IMDS is set from a value known only at apply time"] });
  });

  it("a script given to sh -c that is wholly a reference makes every concern unknown, naming it", () => {
    const judgement = judge(describeText(bootstrap(`sh -c "${mark("var.extra")}"`)));
    for (const mode of MODES) {
      expect(judgement.modes[mode]?.verdict).toBe("unknown");
      expect(judgement.modes[mode]?.reasons[0]).toMatch(/`\$\{var\.extra\}` is spliced in as whole lines/);
    }
  });

  it("ECS_AWSVPC_BLOCK_IMDS=true before a line holding a reference is not closed: the value could end the line", () => {
    const text = shell(`cat <<EOF >> /etc/ecs/ecs.config\nECS_AWSVPC_BLOCK_IMDS=true\nECS_CLUSTER=${mark("var.name")}\nEOF`);
    expect(judge(describeText(text)).modes.awsvpc).toMatchObject({
      verdict: "unknown",
      reasons: [
        "/etc/ecs/ecs.config sets ECS_AWSVPC_BLOCK_IMDS=true, but a later line holds `${var.name}`, known only at apply time, which could end the line and set ECS_AWSVPC_BLOCK_IMDS again",
      ],
    });
  });

  it("a reference as the value of ECS_AWSVPC_BLOCK_IMDS is unknown", () => {
    const text = shell(`echo ECS_AWSVPC_BLOCK_IMDS=${mark("var.block")} >> /etc/ecs/ecs.config`);
    expect(judge(describeText(text)).modes.awsvpc).toMatchObject({ verdict: "unknown", reasons: ["ECS_AWSVPC_BLOCK_IMDS is set from a value known only at apply time"] });
  });

  it("a reference in a rule makes the firewall unknown, not the ECS setting", () => {
    const judgement = judge(describeText(bootstrap("").replace("-d 169.254.169.254/32", `-d ${mark("local.imds")}`)));
    expect(judgement.modes.bridge?.verdict).toBe("unknown");
    expect(judgement.modes.bridge?.reasons[0]).toMatch(/^not followed: part 1 .*`iptables -I DOCKER-USER 1 -d \$\{local\.imds\} -j DROP`: part of it is only known when the instance runs it$/);
    expect(judgement.modes.awsvpc?.verdict).toBe("closed");
  });

  it("a command named by a reference makes every concern unknown", () => {
    const judgement = judge(describeText(bootstrap(`${mark("var.tool")} --configure`)));
    expect(judgement.modes.awsvpc).toMatchObject({
      verdict: "unknown",
      reasons: ['not followed: part 1 (text/cloud-boothook "part-001"): `${var.tool} --configure` runs a command named by `${var.tool}`, known only at apply time'],
    });
  });

  it("a write to a path known only at apply time makes every concern unknown", () => {
    const judgement = judge(describeText(bootstrap(`echo ECS_LOGLEVEL=debug >> ${mark("var.config_path")}`)));
    expect(judgement.modes.awsvpc).toMatchObject({
      verdict: "unknown",
      reasons: [
        'not followed: part 1 (text/cloud-boothook "part-001"): `echo ECS_LOGLEVEL=debug >> ${var.config_path}` writes to a path known only at apply time (`${var.config_path}`): it may be /etc/ecs/ecs.config or a rules file',
      ],
    });
  });

  it("a mark is never read as script text, even when it holds shell syntax", () => {
    // The expression text of a reference is not code: `; iptables -F DOCKER-USER` inside it runs nothing.
    const judgement = judge(describeText(bootstrap(`echo "ECS_CLUSTER=${mark('var.x; iptables -F DOCKER-USER; echo "')}" >/dev/null`)));
    expect(judgement.modes.bridge?.verdict).toBe("closed");
  });
});
