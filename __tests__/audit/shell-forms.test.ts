/**
 * The shell forms real user data is written in, followed over the instance model: wait loops,
 * case, functions, subshells, here-strings and every heredoc form. Each test reads the verdict and
 * the reason a user sees.
 */
import { judge, Judgement } from "../../lib/audit";

const shell = (body: string) => `#!/bin/bash\n${body}\n`;
const part = (type: string, body: string) =>
  `Content-Type: multipart/mixed; boundary="==B=="\nMIME-Version: 1.0\n\n--==B==\nContent-Type: ${type}; charset="us-ascii"\nMIME-Version: 1.0\n\n${shell(body)}\n--==B==--\n`;
const boothook = (body: string) => part("text/cloud-boothook", body);
const perBoot = (body: string) => part("text/x-shellscript-per-boot", body);

const judged = (text: string): Judgement =>
  judge({ resourceType: "aws_launch_template", userData: { text }, metadataOptions: { httpEndpoint: "enabled", httpTokens: "optional" } }, { networkModes: ["bridge", "awsvpc"] });

const CHAIN = "iptables -N DOCKER-USER 2>/dev/null || true\niptables -C FORWARD -j DOCKER-USER 2>/dev/null || iptables -I FORWARD 1 -j DOCKER-USER";
const DROP = "iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP";
const BLOCK = "echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config";
const droppedBy = (rule: string, origin: string) =>
  `container traffic to 169.254.169.254 is dropped by ${rule} in DOCKER-USER, from ${origin}; it holds after a Docker restart (Docker never flushes DOCKER-USER) and after a reboot (re-applied by ${origin})`;
const BLOCKED = "/etc/ecs/ecs.config sets ECS_AWSVPC_BLOCK_IMDS=true, which the agent reads as true: the agent blackholes IMDS in each task's namespace (/etc/ecs/ecs.config is on disk, read again at every start)";

describe("wait loops", () => {
  it("a loop waiting for DOCKER-USER in a per-boot script ends at once: Docker runs in cloud-final", () => {
    const judgement = judged(perBoot(`until iptables -L DOCKER-USER; do sleep 1; done\n${DROP}`));
    expect(judgement.modes.bridge).toMatchObject({ verdict: "closed", reasons: [droppedBy(DROP, 'part 1 (text/x-shellscript-per-boot "part-001")')] });
  });

  it("the `while ! iptables -nL DOCKER-USER` form is followed the same way", () => {
    const judgement = judged(perBoot(`while ! iptables -nL DOCKER-USER >/dev/null 2>&1; do sleep 1; done\n${DROP}`));
    expect(judgement.modes.bridge?.verdict).toBe("closed");
  });

  it("a loop waiting for DOCKER-USER in a boothook never ends: every concern is unknown and the reason says what it does to boot", () => {
    const judgement = judged(boothook(`until iptables -L DOCKER-USER; do sleep 1; done\n${DROP}\n${BLOCK}`));
    const why =
      'not followed: part 1 (text/cloud-boothook "part-001"): `until iptables -L DOCKER-USER; do sleep 1; done` waits for DOCKER-USER, which only Docker creates, ' +
      "but it runs before Docker starts (a boothook or bootcmd): the loop never ends by itself, so cloud-init waits on this part and nothing after it in the user data runs, " +
      "nor the ECS agent, which starts after cloud-final";
    expect(judgement.modes.bridge).toMatchObject({ verdict: "unknown", reasons: [why, "without it, container traffic to 169.254.169.254 would pass", expect.any(String)] });
    expect(judgement.modes.awsvpc).toMatchObject({ verdict: "unknown", reasons: [why] });
  });

  it("a loop on a test the audit cannot evaluate marks only what it touches unknown", () => {
    const judgement = judged(perBoot(`until [[ $(iptables -S DOCKER-USER | wc -l) -gt 1 ]]; do sleep 1; done\n${BLOCK}`));
    expect(judgement.modes.bridge?.reasons[0]).toBe(
      'not followed: part 1 (text/x-shellscript-per-boot "part-001"): `until [[ $(iptables -S DOCKER-USER | wc -l) -gt 1 ]]; do sleep 1; done`: it loops on a test the audit cannot evaluate',
    );
    expect(judgement.modes.bridge?.verdict).toBe("unknown");
    expect(judgement.modes.awsvpc).toMatchObject({ verdict: "closed", reasons: [BLOCKED] });
  });

  it("a loop that waits on something outside the model marks what it touches, and the script goes on after it", () => {
    const judgement = judged(shell(`until [ -f /run/ecs-ready ] && iptables -C DOCKER-USER -j RETURN; do sleep 1; done\n${BLOCK}`));
    expect(judgement.modes.bridge?.reasons[0]).toBe(
      'not followed: part 1 (text/x-shellscript "part-001"): `until [ -f /run/ecs-ready ] && iptables -C DOCKER-USER -j RETURN; do sleep 1; done`: it does not end in 64 rounds over what the audit models',
    );
    expect(judgement.modes.awsvpc).toMatchObject({ verdict: "closed", reasons: [BLOCKED] });
  });

  it("break ends a bounded retry loop", () => {
    const judgement = judged(shell(`for i in {1..30}; do\n  ${BLOCK}\n  if [ -f /etc/ecs/ecs.config ]; then break; fi\n  echo ECS_AWSVPC_BLOCK_IMDS=false >> /etc/ecs/ecs.config\ndone`));
    expect(judgement.modes.awsvpc).toMatchObject({ verdict: "closed", reasons: [BLOCKED] });
  });
});

describe("case, functions and subshells", () => {
  it("case takes the branch the value matches", () => {
    const judgement = judged(boothook(`MODE=bridge\n${CHAIN}\ncase "$MODE" in\n  bridge|both) ${DROP} ;;\n  *) iptables -F DOCKER-USER ;;\nesac`));
    expect(judgement.modes.bridge).toMatchObject({ verdict: "closed", reasons: [droppedBy(DROP, 'part 1 (text/cloud-boothook "part-001")')] });
  });

  it("case on a value seen only on the instance is unknown for what its branches touch", () => {
    const judgement = judged(boothook(`${CHAIN}\ncase "$(uname -m)" in\n  x86_64) ${DROP} ;;\nesac\n${BLOCK}`));
    expect(judgement.modes.bridge?.reasons[0]).toBe(
      'not followed: part 1 (text/cloud-boothook "part-001"): `case "$(uname -m)" in x86_64) iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP ;; esac`: it branches on a value the audit cannot see',
    );
    expect(judgement.modes.awsvpc?.verdict).toBe("closed");
  });

  it("a function's body runs where it is called, with its arguments", () => {
    const judgement = judged(boothook(`block() {\n  iptables -I DOCKER-USER 1 -d "$1" -j DROP\n}\n${CHAIN}\nblock 169.254.169.254/32`));
    expect(judgement.modes.bridge).toMatchObject({
      verdict: "closed",
      reasons: [droppedBy('iptables -I DOCKER-USER 1 -d "$1" -j DROP', 'part 1 (text/cloud-boothook "part-001")')],
    });
  });

  it("a flush in a subshell still flushes the kernel's chain", () => {
    const judgement = judged(boothook(`${CHAIN}\n${DROP}\n( iptables -F DOCKER-USER )`));
    expect(judgement.modes.bridge?.verdict).toBe("open");
    expect(judgement.modes.bridge?.reasons[0]).toMatch(/^after the first boot, container traffic to 169\.254\.169\.254 passes: Docker's rule/);
  });

  it("exit in a subshell leaves the script running", () => {
    expect(judged(shell(`( exit 1 )\n${BLOCK}`)).modes.awsvpc).toMatchObject({ verdict: "closed", reasons: [BLOCKED] });
  });
});

describe("here-strings and heredocs", () => {
  it("a here-string is the command's input", () => {
    expect(judged(shell('tee -a /etc/ecs/ecs.config <<< "ECS_AWSVPC_BLOCK_IMDS=true" >/dev/null')).modes.awsvpc).toMatchObject({ verdict: "closed", reasons: [BLOCKED] });
  });

  it("<<- strips the leading tabs of the body and of the closing line", () => {
    expect(judged(shell("cat <<-EOF > /etc/ecs/ecs.config\n\tECS_CLUSTER=prod\n\tECS_AWSVPC_BLOCK_IMDS=true\n\tEOF")).modes.awsvpc).toMatchObject({ verdict: "closed", reasons: [BLOCKED] });
  });

  it("an unquoted delimiter expands variables; \\$ and a quoted delimiter keep them as text", () => {
    const write = (heredoc: string) => judged(shell(`BLOCK=true\ncat ${heredoc}`)).modes.awsvpc;
    expect(write("<<EOF >> /etc/ecs/ecs.config\nECS_AWSVPC_BLOCK_IMDS=$BLOCK\nEOF")).toMatchObject({ verdict: "closed", reasons: [BLOCKED] });
    const literal = { verdict: "open", reasons: ["after the first boot: /etc/ecs/ecs.config sets ECS_AWSVPC_BLOCK_IMDS=$BLOCK, which the agent reads as false"] };
    expect(write("<<EOF >> /etc/ecs/ecs.config\nECS_AWSVPC_BLOCK_IMDS=\\$BLOCK\nEOF")).toMatchObject(literal);
    expect(write("<<'EOF' >> /etc/ecs/ecs.config\nECS_AWSVPC_BLOCK_IMDS=$BLOCK\nEOF")).toMatchObject(literal);
    expect(write('<<"EOF" >> /etc/ecs/ecs.config\nECS_AWSVPC_BLOCK_IMDS=$BLOCK\nEOF')).toMatchObject(literal);
  });

  it("iptables-restore reads its rules from a heredoc; the reason names the command, not the body", () => {
    const judgement = judged(boothook("iptables-restore --noflush <<'RULES'\n*filter\n:DOCKER-USER - [0:0]\n-I FORWARD 1 -j DOCKER-USER\n-I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\nCOMMIT\nRULES"));
    expect(judgement.modes.bridge).toMatchObject({
      verdict: "closed",
      reasons: [droppedBy("-I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP", "part 1 (text/cloud-boothook \"part-001\"): iptables-restore --noflush <<'RULES'")],
    });
  });
});

describe("scripts written by the user data and run later", () => {
  const mark = (expression: string) => `\ue000${expression}\ue001`;

  it("a script echoed into a file and run reads a Terraform reference inside a word as that word", () => {
    // A public NAT-instance template: /bin/echo '...' | sudo tee FILE, then sudo FILE.
    const script = (line: string) =>
      shell(
        `/bin/echo '#!/bin/bash\necho ECS_CLUSTER=${mark("var.cluster")} >> /etc/ecs/ecs.config\nfor s in ${mark('join(" ", private_subnets_cidr_blocks)')}; do\n  /usr/sbin/iptables -t nat -A POSTROUTING -s $s -j MASQUERADE\ndone\n${line}\n' | sudo /usr/bin/tee /sbin/ifup-local\nsudo chmod +x /sbin/ifup-local\nsudo /sbin/ifup-local`,
      );
    const plain = judged(script("true"));
    expect(plain.modes.awsvpc).toMatchObject({ verdict: "open", reasons: ["after the first boot: /etc/ecs/ecs.config does not set ECS_AWSVPC_BLOCK_IMDS; the agent's default is false"] });
    expect(plain.modes.bridge?.verdict).toBe("open");
    expect(judged(script(BLOCK)).modes.awsvpc?.verdict).toBe("closed");
    // A reference on a line of its own in the written script is still any lines.
    expect(judged(script(mark("var.extra"))).modes.awsvpc?.verdict).toBe("unknown");
  });

  it("source NAT in the nat table's POSTROUTING, or listing it, cannot change the verdict; NAT that names IMDS can", () => {
    const test = (rule: string) => shell(`if [[ $(iptables -t nat -L) != *"MASQUERADE"* ]]; then\n  ${rule}\nfi`);
    expect(judged(test("iptables -t nat -A POSTROUTING -s 10.0.0.0/16 -j MASQUERADE")).modes.bridge?.verdict).toBe("open");
    expect(judged(test("iptables -t nat -I PREROUTING -d 169.254.169.254 -j DNAT --to-destination 127.0.0.1:9")).modes.bridge?.verdict).toBe("unknown");
  });

  it("a rule for IMDS in a table the audit does not model is unknown, never open", () => {
    const rule = "iptables -t raw -I PREROUTING -i docker0 -d 169.254.169.254/32 -j DROP";
    const bridge = judged(shell(rule)).modes.bridge;
    expect(bridge?.verdict).toBe("unknown");
    expect(bridge?.reasons[0]).toBe(`not followed: part 1 (text/x-shellscript "part-001"): \`${rule}\` changes the raw table for IMDS, which the audit does not model`);
  });
});
