import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  FAILURE_PREFIX,
  readEcsConfig,
  renderUserData,
  USER_DATA_LIMIT_BYTES,
  UserDataOptions,
} from "../../lib/user-data";

const partTypes = (options: UserDataOptions) => renderUserData(options).parts.map((p) => p.contentType);
const boothookOf = (options: UserDataOptions) => {
  const part = renderUserData(options).parts.find((p) => p.contentType === "text/cloud-boothook");
  if (!part) throw new Error("no boothook part");
  return part.content;
};

describe("Amazon Linux defaults", () => {
  const rendered = renderUserData({ clusterName: "prod" });

  it("guards bridge and awsvpc on AL2023: a boothook, then the ecs.config script", () => {
    expect(rendered.format).toBe("mime");
    expect(rendered.parts.map((p) => [p.contentType, p.filename])).toEqual([
      ["text/cloud-boothook", "ecs-imds-guard-boothook.sh"],
      ["text/x-shellscript", "ecs-imds-guard-ecs-config.sh"],
    ]);
    expect(rendered.warnings).toEqual([]);
  });

  it("drops IMDS in DOCKER-USER, never with a DROP rule in FORWARD, and leaves task roles alone", () => {
    const boothook = rendered.parts[0].content;
    expect(boothook).toContain('ensure_first_drop iptables 169.254.169.254/32');
    expect(boothook).toContain('"$tool" -w 30 -I DOCKER-USER 1 -d "$destination" -j DROP');
    expect(boothook).not.toMatch(/FORWARD[^\n]*-j DROP/);
    expect(boothook).not.toContain("169.254.170.2");
    expect(boothook).not.toContain("fd00:ec2::254");
    expect(boothook).not.toMatch(/\b(yum|dnf)\b/);
  });

  it("fails closed: every failure path masks the ECS agent and reports on the console", () => {
    const boothook = rendered.parts[0].content;
    const failFunction = boothook.slice(boothook.indexOf("fail() {"), boothook.indexOf("\n}\n", boothook.indexOf("fail() {")));
    expect(failFunction).toContain(FAILURE_PREFIX);
    expect(failFunction).toContain("systemctl mask --runtime ecs.service");
    expect(failFunction).toContain(">/dev/console");
    expect(failFunction).toContain("exit 1");
    // Every iptables call that changes or lists state is followed by `|| fail`.
    const unchecked = boothook
      .split("\n")
      .filter((line) => /"\$tool" -w 30 -(N|I|D|S) /.test(line) && !/(\|\| fail|\\$|^\s*if |\$\(|\) \|\| fail)/.test(line));
    expect(unchecked).toEqual([]);
  });

  it("writes the managed ecs.config keys in ecs-init's format, from the guard script the boothook installs", () => {
    expect(rendered.ecsConfig).toEqual([
      ["ECS_CLUSTER", "prod"],
      ["ECS_ENABLE_TASK_IAM_ROLE", "true"],
      ["ECS_AWSVPC_BLOCK_IMDS", "true"],
    ]);
    const script = rendered.parts[0].content;
    expect(script).toContain("\nECS_CLUSTER=prod\nECS_ENABLE_TASK_IAM_ROLE=true\nECS_AWSVPC_BLOCK_IMDS=true\n");
    // Written through a quoted heredoc: the shell expands nothing in the values.
    expect(script).toMatch(/<<'ECS_IMDS_GUARD_SETTINGS'\n/);
    const written = script.split("<<'ECS_IMDS_GUARD_SETTINGS'\n")[1].split("\nECS_IMDS_GUARD_SETTINGS\n")[0];
    expect(written.split("\n").every((line) => /^ECS_[A-Z0-9_]+=[^"'\s]/.test(line))).toBe(true);
  });

  it("is pure: the same options give the same bytes", () => {
    const options: UserDataOptions = { clusterName: "x", ipv6Imds: true, ecsSettings: { ECS_LOGLEVEL: "debug" } };
    expect(renderUserData(options).text).toBe(renderUserData({ ...options }).text);
    expect(renderUserData(options).base64).toBe(renderUserData({ ...options }).base64);
  });

  it("returns the payload EC2 receives in base64", () => {
    expect(Buffer.from(rendered.base64!, "base64").toString("utf8")).toBe(rendered.text);
    expect(rendered.byteLength).toBe(Buffer.byteLength(rendered.text));
    expect(rendered.unresolved).toBe(false);
  });
});

describe("the agent never starts unguarded, and the block heals", () => {
  const HEAL_TIMER = "install_file /etc/systemd/system/ecs-imds-guard-heal.timer 0644";

  it("on every Amazon Linux shape: a boothook that installs the guard script and ecs.service's ExecStartPre drop-in, then runs the script", () => {
    for (const networkModes of [["bridge"], ["awsvpc"], ["host"], ["bridge", "awsvpc", "host"]] as const) {
      for (const platform of ["al2023", "al2"] as const) {
        const boothook = boothookOf({ clusterName: "c", networkModes, platform });
        expect(boothook).toContain("install_file /usr/local/libexec/ecs-imds-guard/ensure 0755 <<'ECS_IMDS_GUARD_FILE'");
        expect(boothook).toContain(
          "install_file /etc/systemd/system/ecs.service.d/ecs-imds-guard.conf 0644 <<'ECS_IMDS_GUARD_FILE' || fail \"could not write /etc/systemd/system/ecs.service.d/ecs-imds-guard.conf\"\n" +
            "# ecs-imds-guard: the ECS agent starts only when the guard holds; if it cannot, the start fails.\n[Service]\nExecStartPre=/usr/local/libexec/ecs-imds-guard/ensure\nECS_IMDS_GUARD_FILE\n",
        );
        // Loaded before anything can start the agent, then applied.
        const reload = boothook.indexOf("\nsystemctl daemon-reload || fail");
        expect(reload).toBeGreaterThan(boothook.lastIndexOf("\nECS_IMDS_GUARD_FILE\n"));
        expect(boothook.indexOf("\n/usr/local/libexec/ecs-imds-guard/ensure || exit 1\n")).toBeGreaterThan(reload);
        // The heal timer comes with the firewall rule it heals.
        expect(boothook.includes(HEAL_TIMER)).toBe((networkModes as readonly string[]).includes("bridge"));
      }
    }
  });

  it("starts units without waiting for them: cloud-init's boothook stage runs before sysinit.target, which they wait for", () => {
    const boothook = boothookOf({ clusterName: "c" });
    expect(boothook).toContain("\nsystemctl start --no-block ecs-imds-guard-heal.timer || fail");
    for (const options of [{}, { platform: "al2" as const, firewallPersistence: "iptables-services" as const, ipv6Imds: true }]) {
      expect(boothookOf({ clusterName: "c", ...options })).not.toMatch(/systemctl (start|restart|enable --now) (?!--no-block )/);
    }
  });

  it("runs the heal timer as often as the README's bound says", () => {
    const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");
    const stated = /within (\d+) seconds/.exec(readme)?.[1];
    const boothook = boothookOf({ clusterName: "c" });
    const timer = boothook.slice(boothook.indexOf(HEAL_TIMER), boothook.indexOf("\nECS_IMDS_GUARD_FILE\n", boothook.indexOf(HEAL_TIMER)));
    const seconds = (key: string) => Number(new RegExp(`^${key}=(\\d+)s$`, "m").exec(timer)?.[1]);
    expect(stated).toBeDefined();
    // The period plus the timer's accuracy, at most.
    expect(seconds("OnUnitActiveSec") + seconds("AccuracySec")).toBeLessThanOrEqual(Number(stated));
    expect(seconds("OnBootSec")).toBeLessThanOrEqual(Number(stated));
  });

  it("writes user values into the guard script only inside quoted heredocs", () => {
    const value = "$(reboot) `id` ${HOME} 'q' \"d\" \\ ECS_IMDS_GUARD_FILE ECS_IMDS_GUARD_SETTINGS";
    const boothook = boothookOf({ clusterName: "c", ecsSettings: { ECS_INSTANCE_ATTRIBUTES: value } });
    const line = `ECS_INSTANCE_ATTRIBUTES=${value}`;
    const at = boothook.indexOf(`\n${line}\n`);
    expect(at).toBeGreaterThan(0);
    // Inside the settings heredoc, itself inside the file heredoc: both quoted, neither closed by the value.
    const before = boothook.slice(0, at);
    expect(before.lastIndexOf("<<'ECS_IMDS_GUARD_SETTINGS'\n")).toBeGreaterThan(before.lastIndexOf("\nECS_IMDS_GUARD_SETTINGS\n"));
    expect(before.lastIndexOf("<<'ECS_IMDS_GUARD_FILE'")).toBeGreaterThan(before.lastIndexOf("\nECS_IMDS_GUARD_FILE\n"));
  });
});

describe("network modes", () => {
  it("IPv6 IMDS adds the fd00:ec2::254 drop for bridge containers", () => {
    expect(boothookOf({ clusterName: "c", ipv6Imds: true })).toContain("ensure_first_drop ip6tables fd00:ec2::254/128");
  });

  it("awsvpc only: a boothook that guards ecs.config and no firewall rule, ECS_AWSVPC_BLOCK_IMDS=true", () => {
    const rendered = renderUserData({ clusterName: "c", networkModes: ["awsvpc"] });
    expect(rendered.parts.map((p) => p.contentType)).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
    expect(rendered.ecsConfig).toContainEqual(["ECS_AWSVPC_BLOCK_IMDS", "true"]);
    const boothook = rendered.parts[0].content;
    expect(boothook).toContain("\nExecStartPre=/usr/local/libexec/ecs-imds-guard/ensure\n");
    expect(boothook).not.toMatch(/iptables|DOCKER-USER|\.timer/);
  });

  it("bridge only: the boothook, and ECS_AWSVPC_BLOCK_IMDS is not managed", () => {
    const rendered = renderUserData({ clusterName: "c", networkModes: ["bridge"], ecsSettings: { ECS_AWSVPC_BLOCK_IMDS: "false" } });
    expect(partTypes({ clusterName: "c", networkModes: ["bridge"] })).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
    expect(rendered.ecsConfig.filter(([k]) => k === "ECS_AWSVPC_BLOCK_IMDS")).toEqual([["ECS_AWSVPC_BLOCK_IMDS", "false"]]);
  });

  it("host mode is a warning naming ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST, which is set", () => {
    const rendered = renderUserData({ clusterName: "c", networkModes: ["bridge", "awsvpc", "host"] });
    expect(rendered.warnings.map((w) => w.code)).toEqual(["host-network-mode"]);
    expect(rendered.warnings[0].message).toContain("ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST");
    expect(rendered.ecsConfig).toContainEqual(["ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "true"]);
  });
});

describe("platforms", () => {
  it("AL2 works and warns about its end of support", () => {
    const rendered = renderUserData({ clusterName: "c", platform: "al2" });
    expect(rendered.parts.map((p) => p.contentType)).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
    expect(rendered.warnings.map((w) => w.code)).toEqual(["al2-end-of-support"]);
    expect(rendered.warnings[0].message).toContain("2026-06-30");
  });

  it("iptables-services persistence installs the package, writes the rules files and starts the services", () => {
    const rendered = renderUserData({ clusterName: "c", platform: "al2", firewallPersistence: "iptables-services", ipv6Imds: true });
    const boothook = rendered.parts[0].content;
    expect(boothook).toContain("yum install -y iptables-services");
    expect(boothook).toContain(`install_file /etc/sysconfig/iptables 0600 <<'ECS_IMDS_GUARD_FILE'`);
    expect(boothook).toContain(`\n${rendered.iptablesRulesFiles!.ipv4}ECS_IMDS_GUARD_FILE\n`);
    expect(boothook).toContain(`\n${rendered.iptablesRulesFiles!.ipv6}ECS_IMDS_GUARD_FILE\n`);
    expect(boothook).toContain("systemctl enable iptables && systemctl start --no-block iptables;");
    expect(boothook).toContain("systemctl enable ip6tables && systemctl start --no-block ip6tables;");
    // Loading the saved rules drops Docker's jump to DOCKER-USER: a drop-in per service restores it.
    for (const service of ["iptables", "ip6tables"]) {
      expect(boothook).toContain(`install_file /etc/systemd/system/${service}.service.d/ecs-imds-guard.conf 0644`);
    }
    expect(boothook).toContain("ExecStartPost=/usr/local/libexec/ecs-imds-guard/ensure\nExecReload=/usr/local/libexec/ecs-imds-guard/ensure\nExecStopPost=/usr/local/libexec/ecs-imds-guard/ensure\n");
    // The drop-ins are in place and loaded before the service first starts.
    expect(boothook.indexOf("systemctl daemon-reload")).toBeLessThan(boothook.indexOf("systemctl start --no-block iptables"));
    expect(boothook).toContain("ensure_first_drop iptables 169.254.169.254/32");
    expect(rendered.iptablesRulesFiles!.ipv6).toContain("-A DOCKER-USER -d fd00:ec2::254/128 -j DROP");
  });

  it("Bottlerocket gets TOML settings with the cluster and awsvpc-block-imds", () => {
    const rendered = renderUserData({ clusterName: "c-1", platform: "bottlerocket", networkModes: ["awsvpc"] });
    expect(rendered.format).toBe("toml");
    expect(rendered.text).toBe('[settings.ecs]\ncluster = "c-1"\nawsvpc-block-imds = true\n');
    expect(rendered.warnings).toEqual([]);
  });

  it("Bottlerocket bridge mode warns that the hop limit is the only lever", () => {
    const rendered = renderUserData({ clusterName: "c", platform: "bottlerocket" });
    expect(rendered.warnings.map((w) => w.code)).toEqual(["bottlerocket-bridge-mode"]);
    expect(rendered.warnings[0].message).toContain("hop limit 1");
  });
});

describe("extra settings and parts", () => {
  it("appends user ECS settings after the managed ones, repeated managed values once", () => {
    const rendered = renderUserData({
      clusterName: "c",
      ecsSettings: { ECS_LOGLEVEL: "debug", ECS_AWSVPC_BLOCK_IMDS: "true", ECS_AVAILABLE_LOGGING_DRIVERS: '["json-file","awslogs"]' },
    });
    expect(rendered.ecsConfig.map(([k]) => k)).toEqual([
      "ECS_CLUSTER",
      "ECS_ENABLE_TASK_IAM_ROLE",
      "ECS_AWSVPC_BLOCK_IMDS",
      "ECS_LOGLEVEL",
      "ECS_AVAILABLE_LOGGING_DRIVERS",
    ]);
    const lines = rendered.parts[0].content;
    expect(readEcsConfig(lines).get("ECS_AVAILABLE_LOGGING_DRIVERS")).toBe('["json-file","awslogs"]');
  });

  it("appends extra parts in order with default file names", () => {
    const rendered = renderUserData({
      clusterName: "c",
      extraParts: [
        { contentType: "text/cloud-config", content: "#cloud-config\npackages: [jq]\n" },
        { contentType: "text/x-shellscript", content: "#!/bin/sh\necho one\n", filename: "one.sh" },
      ],
    });
    expect(rendered.parts.slice(2).map((p) => [p.contentType, p.filename])).toEqual([
      ["text/cloud-config", "user-part-1.yaml"],
      ["text/x-shellscript", "one.sh"],
    ]);
  });
});

describe("MIME document", () => {
  it("declares a quoted boundary that occurs in no part, and closes it", () => {
    const rendered = renderUserData({ clusterName: "c" });
    const boundary = rendered.boundary!;
    expect(rendered.text.startsWith(`Content-Type: multipart/mixed; boundary="${boundary}"\nMIME-Version: 1.0\n\n`)).toBe(true);
    expect(rendered.text.endsWith(`\n--${boundary}--\n`)).toBe(true);
    for (const part of rendered.parts) expect(part.content).not.toContain(boundary);
    expect(rendered.text.split(`--${boundary}\n`)).toHaveLength(rendered.parts.length + 1);
  });

  it("picks another boundary when a part contains the first choice", () => {
    const first = renderUserData({ clusterName: "c", extraParts: [{ contentType: "text/x-shellscript", content: "#!/bin/sh\n" }] });
    // A part that embeds the boundary the renderer would otherwise pick for it.
    const poisoned = (boundary: string) => `#!/bin/sh\n# --${boundary}\n`;
    let content = poisoned(first.boundary!);
    let rendered = renderUserData({ clusterName: "c", extraParts: [{ contentType: "text/x-shellscript", content }] });
    for (let i = 0; i < 3 && !content.includes(rendered.boundary!); i++) {
      content = poisoned(rendered.boundary!);
      rendered = renderUserData({ clusterName: "c", extraParts: [{ contentType: "text/x-shellscript", content }] });
    }
    for (const part of rendered.parts) expect(part.content).not.toContain(rendered.boundary!);
  });

  it("refuses raw user data over 16384 bytes, naming the size and the gzip option", () => {
    const content = `#!/bin/sh\n${"echo padding-padding-padding\n".repeat(600)}`;
    expect(() => renderUserData({ clusterName: "c", extraParts: [{ contentType: "text/x-shellscript", content }] })).toThrow(
      /userData = "\d+ bytes \(raw\)" is invalid: EC2 accepts at most 16384 bytes .*set gzip: true/,
    );
  });

  it("with gzip, compresses and applies the limit to the compressed size", () => {
    const content = `#!/bin/sh\n${"echo padding-padding-padding\n".repeat(600)}`;
    const rendered = renderUserData({ clusterName: "c", gzip: true, extraParts: [{ contentType: "text/x-shellscript", content }] });
    expect(rendered.byteLength).toBeGreaterThan(USER_DATA_LIMIT_BYTES);
    expect(rendered.payload!.length).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    expect(gunzipSync(rendered.payload!).toString("utf8")).toBe(rendered.text);

    // Incompressible content still fails, and the message gives the compressed size.
    let noise = "";
    for (let i = 0; noise.length < 30000; i++) noise += ((i * 2654435761) >>> 0).toString(36);
    expect(() =>
      renderUserData({ clusterName: "c", gzip: true, extraParts: [{ contentType: "text/x-shellscript", content: `#!/bin/sh\n# ${noise}\n` }] }),
    ).toThrow(/bytes \(gzip-compressed, \d+ bytes raw\)/);
  });
});

describe("Terraform tokens", () => {
  const token = "${TfToken[TOKEN.7]}";
  const isUnresolved = (s: string) => s.includes("${TfToken[");

  it("lets a token cluster name flow through unchanged, without encoding", () => {
    const rendered = renderUserData({ clusterName: token }, { isUnresolved });
    expect(rendered.unresolved).toBe(true);
    expect(rendered.base64).toBeUndefined();
    expect(rendered.ecsConfig[0]).toEqual(["ECS_CLUSTER", token]);
    expect(rendered.parts[0].content).toContain(`\nECS_CLUSTER=${token}\n`);
  });

  it("gives the same document whichever placeholder the token got (the tokens an app made before it do not matter)", () => {
    const [first, later] = ["${TfToken[TOKEN.7]}", "${TfToken[TOKEN.1042]}"].map((placeholder) =>
      renderUserData({ clusterName: placeholder, networkModes: ["bridge", "awsvpc"] }, { isUnresolved }),
    );
    expect(later.boundary).toBe(first.boundary);
    // Two different names still give two documents, each with its own boundary.
    expect(renderUserData({ clusterName: "a" }).boundary).not.toBe(renderUserData({ clusterName: "b" }).boundary);
  });

  it("refuses tokens anywhere else", () => {
    expect(() => renderUserData({ clusterName: "c", ecsSettings: { ECS_LOGLEVEL: token } }, { isUnresolved })).toThrow(
      /ecsSettings.ECS_LOGLEVEL = .* only clusterName may be a Terraform token/,
    );
  });
});
