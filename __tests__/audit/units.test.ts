/**
 * What user data installs to run later: systemd units, Docker's settings, cron and rc.local,
 * judged at the three moments (first boot, Docker restart, reboot). Unit files are checked with
 * systemd-analyze, the real systemd's parser, where it can tell.
 */
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { judge, LaunchDescription, ModeJudgement } from "../../lib/audit";
import { UNKNOWN_END, UNKNOWN_START } from "../../lib/audit/sources";

const AL2 = "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id";
const AL2023 = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
const IMDSV1 = { httpEndpoint: "enabled", httpTokens: "optional" } as const;

const description = (text: string, imageSource: string | undefined): LaunchDescription => ({
  resourceType: "aws_launch_template",
  userData: { text },
  metadataOptions: IMDSV1,
  ...(imageSource ? { imageSource } : {}),
});
const bridge = (text: string, imageSource: string | null = AL2): ModeJudgement => judge(description(text, imageSource ?? undefined)).modes.bridge as ModeJudgement;
const reasons = (j: ModeJudgement) => j.reasons.join("\n");

const DROP_USER = "/usr/sbin/iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP";
const DROP_FORWARD = "/usr/sbin/iptables -I FORWARD 1 -d 169.254.169.254/32 -j DROP";

/** A shell part that writes a unit and runs the given systemctl lines. */
function writesUnit(name: string, unit: string, systemctl: string): string {
  return `#!/bin/bash\ncat > /etc/systemd/system/${name} <<'UNIT'\n${unit}UNIT\n${systemctl}`;
}
const ENABLE_NOW = "systemctl daemon-reload\nsystemctl enable --now imds-block.service\n";

/** systemd-analyze verify of a unit, with a stand-in docker.service so its dependencies load. */
function verify(name: string, unit: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "units-"));
  try {
    writeFileSync(join(dir, "docker.service"), "[Service]\nExecStart=/bin/true\n");
    writeFileSync(join(dir, name), unit);
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", join(dir, name)], { env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` }, encoding: "utf8" });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BOUND = `[Unit]
Description=Drop container traffic to IMDS
After=docker.service
BindsTo=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${DROP_USER}

[Install]
WantedBy=docker.service
`;

const multiUser = (exec: string, wantedBy = "multi-user.target") => `[Unit]
After=docker.service

[Service]
Type=oneshot
ExecStart=${exec}

[Install]
WantedBy=${wantedBy}
`;

describe("systemd units the user data writes and enables", () => {
  it("a oneshot bound to docker.service keeps the DOCKER-USER drop across Docker restarts and reboots", () => {
    expect(verify("imds-block.service", BOUND).status).toBe(0);
    const judgement = bridge(writesUnit("imds-block.service", BOUND, ENABLE_NOW));
    expect(judgement.verdict).toBe("closed");
    expect(judgement.reasons[0]).toMatch(/dropped by \/usr\/sbin\/iptables -I DOCKER-USER 1 -d 169\.254\.169\.254\/32 -j DROP in DOCKER-USER, from ExecStart of imds-block\.service \(started by part 1/);
    expect(judgement.reasons[0]).toMatch(/after a Docker restart \(re-applied by ExecStart of imds-block\.service \(restarted with docker\.service, to which it is bound/);
    expect(judgement.reasons[0]).toMatch(/after a reboot \(re-applied by ExecStart of imds-block\.service \(started at boot \(enabled for docker\.service\)\)\)/);
  });

  it("a unit enabled for multi-user.target with After=docker.service is not run again when Docker restarts", () => {
    // Its FORWARD rule is pushed below Docker's by the restart, and nothing puts it back.
    const forward = bridge(writesUnit("imds-block.service", multiUser(DROP_FORWARD), ENABLE_NOW));
    expect(forward.verdict).toBe("fragile");
    expect(reasons(forward)).toMatch(/after a Docker restart it passes: the rule sits on FORWARD, and Docker re-inserts its own rules above it/);
    expect(reasons(forward)).not.toMatch(/after a reboot it passes/);
    // In DOCKER-USER the rule outlives the restart on its own.
    const user = bridge(writesUnit("imds-block.service", multiUser(DROP_USER), ENABLE_NOW));
    expect(user.verdict).toBe("closed");
    expect(user.reasons[0]).toMatch(/after a Docker restart \(Docker never flushes DOCKER-USER\) and after a reboot \(re-applied by ExecStart of imds-block\.service \(started at boot \(enabled for multi-user\.target\)\)\)/);
  });

  it("a finished oneshot wanted by docker.service runs again when Docker restarts", () => {
    const unit = multiUser(DROP_FORWARD, "docker.service");
    expect(verify("imds-block.service", unit).status).toBe(0);
    const judgement = bridge(writesUnit("imds-block.service", unit, ENABLE_NOW));
    expect(judgement.verdict).toBe("closed");
    expect(judgement.reasons[0]).toMatch(/after a Docker restart \(re-applied by ExecStart of imds-block\.service \(started again by docker\.service, which wants it/);
  });

  it("a unit wanted by docker.service without After= races Docker's start at boot", () => {
    const unit = `[Service]\nType=oneshot\nExecStart=${DROP_USER}\n\n[Install]\nWantedBy=docker.service\n`;
    const judgement = bridge(writesUnit("imds-block.service", unit, ENABLE_NOW));
    expect(judgement.verdict).toBe("fragile");
    expect(reasons(judgement)).toMatch(/after a reboot it passes: at boot the rule is not re-applied in time/);
    expect(reasons(judgement)).toMatch(/imds-block\.service is not ordered against docker\.service \(no After= or Before=\): at boot it races Docker's start/);
    expect(reasons(judgement)).toMatch(/the chain DOCKER-USER does not exist at that moment/);
  });

  it("Requires=docker.service without After= still races Docker: requiring is not ordering", () => {
    const unit = `[Unit]\nRequires=docker.service\n\n[Service]\nType=oneshot\nExecStart=${DROP_USER}\n\n[Install]\nWantedBy=multi-user.target\n`;
    const judgement = bridge(writesUnit("imds-block.service", unit, ENABLE_NOW));
    expect(judgement.verdict).toBe("fragile");
    expect(reasons(judgement)).toMatch(/races Docker's start/);
  });

  it("a unit Docker starts that restarts Docker: the start job Docker queues for it merges with the one running", () => {
    const unit = `[Unit]\nAfter=docker.service\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/systemctl restart docker\nExecStart=${DROP_USER}\n\n[Install]\nWantedBy=docker.service\n`;
    const judgement = bridge(writesUnit("imds-block.service", unit, ENABLE_NOW));
    expect(judgement.verdict).toBe("closed");
  });

  it("a WantedBy= outside [Install] is ignored, as systemd ignores it: the unit runs once, when started", () => {
    const unit = `[Unit]\nAfter=docker.service\n\n[Service]\nType=oneshot\nExecStart=${DROP_USER}\nWantedBy=multi-user.target\n`;
    expect(verify("imds-block.service", unit).output).toMatch(/Unknown key 'WantedBy' in section \[Service\], ignoring/);
    const judgement = bridge(writesUnit("imds-block.service", unit, ENABLE_NOW));
    expect(judgement.verdict).toBe("fragile");
    expect(reasons(judgement)).toMatch(/no WantedBy= or RequiredBy= in \[Install\]: systemctl enable links it nowhere/);
  });

  it("a unit written but never enabled or started changes nothing, and the reason says so", () => {
    const judgement = bridge(writesUnit("imds-block.service", multiUser(DROP_USER), ""));
    expect(judgement.verdict).toBe("open");
    expect(reasons(judgement)).toMatch(/\/etc\/systemd\/system\/imds-block\.service is written, but nothing enables or starts imds-block\.service: its `\/usr\/sbin\/iptables -I DOCKER-USER/);
  });

  it("a unit enabled without --now first runs at the next boot", () => {
    const judgement = bridge(writesUnit("imds-block.service", multiUser(DROP_USER), "systemctl enable imds-block.service\n"));
    expect(judgement.verdict).toBe("open");
    expect(judgement.reasons[0]).toMatch(/^after the first boot, container traffic to 169\.254\.169\.254 passes/);
  });

  it("a unit whose ExecStart runs a script the user data does not write is unknown", () => {
    const judgement = bridge(writesUnit("imds-block.service", multiUser("/usr/local/bin/block-imds.sh"), ENABLE_NOW));
    expect(judgement.verdict).toBe("unknown");
    expect(judgement.reasons[0]).toMatch(/ExecStart of imds-block\.service .*runs \/usr\/local\/bin\/block-imds\.sh, which the audit cannot see/);
    // The same unit with the script written by the user data is followed into it.
    const script = `cat > /usr/local/bin/block-imds.sh <<'SH'\n#!/bin/sh\n${DROP_USER}\nSH\nchmod +x /usr/local/bin/block-imds.sh\n`;
    const followed = bridge(writesUnit("imds-block.service", multiUser("/usr/local/bin/block-imds.sh"), `${script}${ENABLE_NOW}`));
    expect(followed.verdict).toBe("closed");
  });

  it("a system program in ExecStartPre= that touches nothing is read as the same command in a script", () => {
    const unit = multiUser(DROP_USER).replace("[Service]\n", "[Service]\nExecStartPre=/usr/bin/docker network ls\n");
    expect(bridge(writesUnit("imds-block.service", unit, ENABLE_NOW)).verdict).toBe("closed");
  });

  it("systemd refuses a unit with two ExecStart= that is not Type=oneshot, and so does the audit", () => {
    const unit = `[Unit]\nAfter=docker.service\n\n[Service]\nExecStart=${DROP_USER}\nExecStart=${DROP_FORWARD}\n\n[Install]\nWantedBy=multi-user.target\n`;
    const checked = verify("imds-block.service", unit);
    expect(checked.status).not.toBe(0);
    expect(checked.output).toMatch(/more than one ExecStart= setting/);
    const judgement = bridge(writesUnit("imds-block.service", unit, ENABLE_NOW));
    expect(judgement.verdict).toBe("open");
    expect(reasons(judgement)).toMatch(/more than one ExecStart= without Type=oneshot, which systemd refuses to load: its `\/usr\/sbin\/iptables -I DOCKER-USER/);
  });

  it("a command without a path runs on AL2023 (systemd 252) and is ignored by Amazon Linux 2's systemd 219", () => {
    const unit = multiUser("iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP");
    // systemd 252 here accepts it, as AL2023's does.
    expect(verify("imds-block.service", unit).status).toBe(0);
    expect(bridge(writesUnit("imds-block.service", unit, ENABLE_NOW), AL2023).verdict).toBe("closed");
    const al2 = bridge(writesUnit("imds-block.service", unit, ENABLE_NOW), AL2);
    expect(al2.verdict).toBe("open");
    expect(reasons(al2)).toMatch(/without a path: systemd 219 on Amazon Linux 2 ignores the line/);
    expect(bridge(writesUnit("imds-block.service", unit, ENABLE_NOW), null).verdict).toBe("unknown");
  });

  it("a docker.service drop-in's ExecStartPost= runs at every start of Docker, once systemd has read it", () => {
    const dropIn = `mkdir -p /etc/systemd/system/docker.service.d\ncat > /etc/systemd/system/docker.service.d/10-imds.conf <<'UNIT'\n[Service]\nExecStartPost=${DROP_FORWARD}\nUNIT\n`;
    const reloaded = bridge(`#!/bin/bash\n${dropIn}systemctl daemon-reload\nsystemctl restart docker\n`);
    expect(reloaded.verdict).toBe("closed");
    expect(reloaded.reasons[0]).toMatch(/from ExecStartPost of docker\.service \(docker\.service's drop-ins \(restarted by part 1/);
    // Without daemon-reload the running manager keeps docker.service as it read it at boot.
    const stale = bridge(`#!/bin/bash\n${dropIn}systemctl restart docker\n`);
    expect(stale.verdict).toBe("open");
  });
});

describe("units written by cloud-config and drop-ins of the agent's unit", () => {
  it("a unit from write_files enabled by runcmd is followed like one written by a script", () => {
    const config = `#cloud-config\nwrite_files:\n  - path: /etc/systemd/system/imds-block.service\n    content: |\n${BOUND.split("\n").map((l) => `      ${l}`).join("\n")}\nruncmd:\n  - systemctl daemon-reload\n  - systemctl enable --now imds-block.service\n`;
    const judgement = bridge(config);
    expect(judgement.verdict).toBe("closed");
    expect(judgement.reasons[0]).toMatch(/from ExecStart of imds-block\.service \(started by part 1 \(text\/cloud-config "part-001"\) runcmd\)/);
  });

  it("an ecs.service drop-in's ExecStartPre= writes ecs.config before every start of the agent", () => {
    const text = `#!/bin/bash\nmkdir -p /etc/systemd/system/ecs.service.d\ncat > /etc/systemd/system/ecs.service.d/imds.conf <<'UNIT'\n[Service]\nExecStartPre=/bin/sh -c 'grep -qx ECS_AWSVPC_BLOCK_IMDS=true /etc/ecs/ecs.config || echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config'\nUNIT\nsystemctl daemon-reload\n`;
    const judgement = judge(description(text, AL2)).modes.awsvpc as ModeJudgement;
    expect(judgement.verdict).toBe("closed");
    // Without daemon-reload the agent's first start uses the unit as systemd read it at boot.
    expect((judge(description(text.replace("systemctl daemon-reload\n", ""), AL2)).modes.awsvpc as ModeJudgement).verdict).toBe("open");
  });
});

describe("other places that run later", () => {
  it("an executable script in cloud-init's per-boot folder runs at every boot", () => {
    const script = `#!/bin/sh\niptables -N DOCKER-USER || true\niptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD 1 -j DOCKER-USER\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n`;
    const config = (permissions: string) =>
      `#cloud-config\nwrite_files:\n  - path: /var/lib/cloud/scripts/per-boot/10-imds.sh\n    permissions: '${permissions}'\n    content: |\n${script.split("\n").map((l) => `      ${l}`).join("\n")}\n`;
    const judgement = bridge(config("0755"));
    expect(judgement.verdict).toBe("closed");
    expect(judgement.reasons[0]).toMatch(/after a reboot \(re-applied by \/var\/lib\/cloud\/scripts\/per-boot\/10-imds\.sh \(run by cloud-init at every boot\)\)/);
    const skipped = bridge(config("0644"));
    expect(skipped.verdict).toBe("open");
    expect(reasons(skipped)).toMatch(/10-imds\.sh is not executable: cloud-init skips it/);
  });

  it("a unit linked into docker.service.wants by hand is started with Docker", () => {
    const unit = multiUser(DROP_FORWARD, "docker.service");
    const text = writesUnit("imds-block.service", unit, "mkdir -p /etc/systemd/system/docker.service.wants\nln -s /etc/systemd/system/imds-block.service /etc/systemd/system/docker.service.wants/imds-block.service\nsystemctl daemon-reload\nsystemctl restart docker\n");
    expect(bridge(text).verdict).toBe("closed");
  });
});

describe("systemd timers", () => {
  it("a timer that starts the heal every 30 s leaves a 30 s window after each event that undoes the rule", () => {
    const service = `[Service]\nType=oneshot\nExecStart=${DROP_FORWARD}\n`;
    const timer = "[Timer]\nOnBootSec=30s\nOnUnitActiveSec=30s\n\n[Install]\nWantedBy=timers.target\n";
    expect(verify("imds-heal.timer", timer).status).toBe(0);
    const text = `#!/bin/bash\ncat > /etc/systemd/system/imds-heal.service <<'UNIT'\n${service}UNIT\ncat > /etc/systemd/system/imds-heal.timer <<'UNIT'\n${timer}UNIT\nsystemctl enable --now imds-heal.timer\n${DROP_FORWARD}\n`;
    const judgement = bridge(text);
    expect(judgement.verdict).toBe("fragile");
    expect(reasons(judgement)).toMatch(/after a Docker restart container traffic to 169\.254\.169\.254 passes for up to 30 s .*until imds-heal\.timer \(starting imds-heal\.service\) runs again/);
    expect(reasons(judgement)).toMatch(/after a reboot container traffic to 169\.254\.169\.254 passes for up to 30 s/);
  });
});

describe("rules files loaded by iptables.service", () => {
  it("the package's own rules file is loaded when the user data writes none: its FORWARD REJECT sits below Docker's rules", () => {
    const judgement = bridge("#!/bin/bash\nyum install -y iptables-services\nsystemctl enable --now iptables ip6tables\n");
    // Started while Docker runs, the load flushes Docker's rules and rejects everything forwarded,
    // until Docker restarts and puts its ACCEPT rules above the REJECT; at boot it loads first.
    expect(judgement.verdict).toBe("fragile");
    expect(judgement.reasons[0]).toMatch(/dropped by -A FORWARD -j REJECT --reject-with icmp-host-prohibited in FORWARD, from \/etc\/sysconfig\/iptables loaded by iptables\.service/);
    expect(reasons(judgement)).toMatch(/after a reboot it passes/);
  });
});

describe("Docker's own firewall settings", () => {
  const daemonJson = (json: string) => `#cloud-config\nwrite_files:\n  - path: /etc/docker/daemon.json\n    content: '${json}'\n`;

  it('with "iptables": false Docker makes no DOCKER-USER chain: a rule meant for it fails and the FORWARD policy lets traffic through', () => {
    const judgement = bridge(`${daemonJson('{"iptables": false}')}runcmd:\n  - iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n`);
    expect(judgement.verdict).toBe("open");
    expect(reasons(judgement)).toMatch(/dockerd starts with its iptables and ip6tables rules off \("iptables": false in \/etc\/docker\/daemon\.json\): it creates no DOCKER-USER chain/);
    expect(reasons(judgement)).toMatch(/the chain DOCKER-USER does not exist at that moment/);
  });

  it('with "iptables": false a FORWARD drop applied at every boot stays first', () => {
    const boothook = "Content-Type: multipart/mixed; boundary=\"B\"\nMIME-Version: 1.0\n\n--B\nContent-Type: text/cloud-boothook\n\n#!/bin/sh\niptables -I FORWARD 1 -d 169.254.169.254/32 -j DROP\n";
    const config = `--B\nContent-Type: text/cloud-config\n\n${daemonJson('{"iptables": false}')}--B--\n`;
    const judgement = bridge(`${boothook}${config}`);
    expect(judgement.verdict).toBe("closed");
    expect(judgement.reasons[0]).toMatch(/it holds after a Docker restart \(Docker puts no rule above it in FORWARD\)/);
    // With Docker's rules on, the same boothook's rule is pushed below Docker's ACCEPT.
    expect(bridge(`${boothook}--B--\n`).verdict).toBe("open");
  });

  it('"ip6tables": false alone leaves IPv6 container traffic to the FORWARD policy while IPv4 keeps Docker\'s chains', () => {
    const text = `${daemonJson('{"ip6tables": false}')}runcmd:\n  - iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n  - ip6tables -I DOCKER-USER 1 -d fd00:ec2::254/128 -j DROP\n`;
    const judgement = judge({ ...description(text, AL2), metadataOptions: { ...IMDSV1, httpProtocolIpv6: "enabled" } }).modes.bridge as ModeJudgement;
    expect(judgement.verdict).toBe("open");
    expect(judgement.reasons[0]).toMatch(/fd00:ec2::254 passes/);
    expect(reasons(judgement)).toMatch(/dockerd starts with its ip6tables rules off \("ip6tables": false in \/etc\/docker\/daemon\.json\)/);
    expect(reasons(judgement)).toMatch(/169\.254\.169\.254 is dropped by iptables -I DOCKER-USER/);
  });

  it("a drop-in that replaces dockerd's command line with --iptables=false counts as daemon.json does", () => {
    const text = `#!/bin/bash\nmkdir -p /etc/systemd/system/docker.service.d\ncat > /etc/systemd/system/docker.service.d/10-no-iptables.conf <<EOF\n[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --iptables=false\nEOF\nsystemctl daemon-reload\nsystemctl restart docker\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n`;
    const judgement = bridge(text);
    // Docker's chains from its first start stay until the reboot; after it nothing makes DOCKER-USER.
    expect(judgement.verdict).toBe("fragile");
    expect(reasons(judgement)).toMatch(/--iptables=false in docker\.service's ExecStart=/);
  });

  it("a daemon.json the audit cannot see is unknown", () => {
    const judgement = bridge(`#!/bin/bash\ncurl -o /etc/docker/daemon.json https://example.com/daemon.json\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\nsystemctl restart docker\n`);
    expect(judgement.verdict).toBe("unknown");
    expect(reasons(judgement)).toMatch(/\/etc\/docker\/daemon\.json holds content the audit cannot see/);
  });
});

describe("cron", () => {
  const SCRIPT = `cat > /usr/local/sbin/imds.sh <<'SH'\n#!/bin/sh\niptables -N DOCKER-USER || true\niptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD 1 -j DOCKER-USER\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\nSH\nchmod +x /usr/local/sbin/imds.sh\n/usr/local/sbin/imds.sh\n`;
  const REBOOT = `#!/bin/bash\n${SCRIPT}echo '@reboot root /usr/local/sbin/imds.sh' > /etc/cron.d/imds\n`;

  it("an @reboot line that makes the chain itself re-applies the drop at every boot where cron runs", () => {
    const judgement = bridge(REBOOT, AL2);
    expect(judgement.verdict).toBe("closed");
    expect(judgement.reasons[0]).toMatch(/after a reboot \(re-applied by .*the @reboot line of \/etc\/cron\.d\/imds, run by cron at boot/);
  });

  it("cron is on Amazon Linux 2, not on AL2023 unless the user data installs cronie", () => {
    const al2023 = bridge(REBOOT, AL2023);
    expect(al2023.verdict).toBe("fragile");
    expect(reasons(al2023)).toMatch(/the @reboot line of \/etc\/cron\.d\/imds never runs \(AL2023 has no cron unless the user data installs cronie\)/);
    expect(bridge(REBOOT.replace("#!/bin/bash\n", "#!/bin/bash\ndnf install -y cronie\n"), AL2023).verdict).toBe("closed");
    const unknownImage = bridge(REBOOT, null);
    expect(unknownImage.verdict).toBe("unknown");
    expect(reasons(unknownImage)).toMatch(/runs only where cron is installed: Amazon Linux 2 has cronie, AL2023 does not/);
  });

  it("a table piped into crontab is read as root's crontab", () => {
    expect(bridge(`#!/bin/bash\n${SCRIPT}echo '@reboot /usr/local/sbin/imds.sh' | crontab -\n`).verdict).toBe("closed");
  });

  it("cron ignores a last line without its newline", () => {
    const judgement = bridge(`#!/bin/bash\n${SCRIPT}printf '@reboot root /usr/local/sbin/imds.sh' > /etc/cron.d/imds\n`);
    expect(judgement.verdict).toBe("fragile");
  });

  it("a periodic heal closes the gap only after its period: the window is named and the verdict is fragile", () => {
    const heal = (schedule: string) =>
      `#!/bin/bash\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\necho '${schedule} root ${DROP_USER.replace("-I", "-C").replace(" 1 ", " ")} || ${DROP_USER}' > /etc/cron.d/imds\n`;
    const everyMinute = bridge(heal("* * * * *"));
    expect(everyMinute.verdict).toBe("fragile");
    expect(reasons(everyMinute)).toMatch(/after a reboot container traffic to 169\.254\.169\.254 passes for up to 1 min \(.*\), until the cron line `\* \* \* \* \* root/);
    expect(reasons(everyMinute)).not.toMatch(/after a Docker restart/); // DOCKER-USER outlives the restart
    expect(reasons(bridge(heal("*/5 * * * *")))).toMatch(/passes for up to 5 min/);
    // A heal of a FORWARD rule has a window after every Docker restart too.
    const forward = bridge(`#!/bin/bash\niptables -I FORWARD 1 -d 169.254.169.254/32 -j DROP\necho '* * * * * root ${DROP_FORWARD}' > /etc/cron.d/imds\n`);
    expect(forward.verdict).toBe("fragile");
    expect(reasons(forward)).toMatch(/after a Docker restart container traffic to 169\.254\.169\.254 passes for up to 1 min/);
  });

  describe("a script cron runs that holds a value known only at apply time", () => {
    const ref = (expression: string) => `${UNKNOWN_START}${expression}${UNKNOWN_END}`;
    // The helper is written with echo, so the value sits where Terraform spliced it in the echo's word.
    const hourly = (helper: string) => `#!/bin/bash\necho "${helper}" > /home/ubuntu/h.sh\nchmod +x /home/ubuntu/h.sh\necho "0 * * * * ubuntu /home/ubuntu/h.sh" >> /etc/crontab\n`;

    it("inside an argument it stays that argument: a helper that touches neither the firewall nor ecs.config changes nothing, on any image", () => {
      for (const image of [AL2, null]) {
        for (const helper of [
          `aws ecr get-login-password | docker login --password-stdin ${ref("var.account_id")}.dkr.ecr.example.com`,
          // A shell's command string is a script of its own, read the same way.
          `sudo -u jenkins -H sh -c 'aws ecr get-login-password | docker login --password-stdin ${ref("var.account_id")}.dkr.ecr.example.com'`,
        ]) {
          const judgement = bridge(hourly(helper), image);
          expect(judgement.verdict).toBe("open");
          expect(reasons(judgement)).not.toMatch(/cron/);
        }
      }
    });

    it("on a line of its own, in a command's place, given to a shell or naming a file written, it may be any commands", () => {
      for (const helper of [ref("var.hook"), `/opt/${ref("var.tool")}/run`, `sh -c '${ref("var.x")}'`, `sudo -u ${ref("var.user")} sh -c 'date'`, `eval 'date ${ref("var.x")}'`, `date > /etc/${ref("var.file")}`]) {
        const judgement = bridge(hourly(helper), null);
        expect(judgement.verdict).toBe("unknown");
        expect(reasons(judgement)).toMatch(/the cron line `0 \* \* \* \* ubuntu \/home\/ubuntu\/h\.sh` .* runs only where cron is installed.*; \/home\/ubuntu\/h\.sh holds `\$\{var\.\w+\}`, known only at apply time/);
      }
    });
  });
});

describe("rc.local", () => {
  const LINES = "iptables -N DOCKER-USER || true\niptables -C FORWARD -j DOCKER-USER || iptables -I FORWARD 1 -j DOCKER-USER\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n";

  it("lines appended to Amazon Linux 2's rc.local and made executable run at every boot", () => {
    const judgement = bridge(`#!/bin/bash\n${LINES}cat >> /etc/rc.d/rc.local <<'RC'\n${LINES}RC\nchmod +x /etc/rc.d/rc.local\n`);
    expect(judgement.verdict).toBe("closed");
    expect(judgement.reasons[0]).toMatch(/after a reboot \(re-applied by \/etc\/rc\.d\/rc\.local \(run by rc-local\.service at boot\)\)/);
  });

  it("rc.local left without the execute bit never runs", () => {
    const judgement = bridge(`#!/bin/bash\n${LINES}cat >> /etc/rc.d/rc.local <<'RC'\n${LINES}RC\n`);
    expect(judgement.verdict).toBe("fragile");
    expect(reasons(judgement)).toMatch(/\/etc\/rc\.d\/rc\.local is written but never made executable/);
  });

  it("a DOCKER-USER insert in rc.local races Docker's start", () => {
    const judgement = bridge(`#!/bin/bash\n${LINES}echo '${DROP_USER}' >> /etc/rc.d/rc.local\nchmod 755 /etc/rc.d/rc.local\n`);
    expect(judgement.verdict).toBe("fragile");
    expect(reasons(judgement)).toMatch(/rc-local\.service\) is not ordered against docker\.service/);
  });
});

describe("the units model on any input", () => {
  const LINES = [
    "[Unit]", "[Service]", "[Install]", "[Timer]", "After=docker.service", "Before=docker.service", "BindsTo=docker.service", "PartOf=docker.service",
    "Requires=docker.service", "Wants=other.service", "Type=oneshot", "Type=simple", "RemainAfterExit=yes", `ExecStart=${DROP_USER}`, `ExecStartPre=-${DROP_FORWARD}`,
    "ExecStart=/usr/bin/systemctl restart docker", "ExecStop=/usr/sbin/iptables -F DOCKER-USER", "ExecStart=", "WantedBy=docker.service",
    "WantedBy=multi-user.target", "OnUnitActiveSec=1min", "Environment=X=1", "ExecStart=/bin/sh -c 'echo $X >> /etc/ecs/ecs.config'", "ExecStart=\\",
  ];
  const COMMANDS = ["systemctl enable --now a.service", "systemctl start b", "systemctl restart docker", "systemctl daemon-reload", "systemctl stop a", "systemctl enable --now a.timer", "chmod +x /etc/rc.d/rc.local", "echo '* * * * * root /usr/local/bin/a' > /etc/cron.d/a"];
  it("answers every mode quickly, without throwing, for random units and systemctl lines", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...LINES), { maxLength: 14 }), fc.array(fc.constantFrom(...LINES), { maxLength: 8 }), fc.array(fc.constantFrom(...COMMANDS), { maxLength: 6 }), (a, b, commands) => {
        const text = `#!/bin/bash\ncat > /etc/systemd/system/a.service <<'U'\n${a.join("\n")}\nU\ncat > /etc/systemd/system/b.service <<'U'\n${b.join("\n")}\nU\ncp /etc/systemd/system/a.service /etc/systemd/system/a.timer\n${commands.join("\n")}\n`;
        const started = Date.now();
        const judgement = judge(description(text, AL2), { networkModes: ["bridge", "awsvpc", "host"] });
        expect(Date.now() - started).toBeLessThan(1000);
        for (const mode of ["bridge", "awsvpc", "host"] as const) expect(judgement.modes[mode]?.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});
