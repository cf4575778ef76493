import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ECS_CONFIG_PATH, readEcsConfig, renderUserData, RenderedUserData, UserDataOptions } from "../../lib/user-data";
import { parseWithCloudInit } from "../support/cloud-init";
import { boothookOf, filesWrittenBy, guardScriptOf, WrittenFile } from "../support/guard-on-instance";
import { describeWhen, hasCloudInit, hasProgram, isRoot } from "../support/tools";

// Every Amazon Linux shape the renderer produces.
const variants: Array<[string, UserDataOptions]> = [];
for (const platform of ["al2023", "al2"] as const) {
  for (const firewallPersistence of ["boothook", "iptables-services"] as const) {
    for (const ipv6Imds of [false, true]) {
      for (const networkModes of [["bridge", "awsvpc"], ["bridge"], ["awsvpc"], ["bridge", "awsvpc", "host"]] as const) {
        variants.push([
          `${platform} ${firewallPersistence} ipv6=${ipv6Imds} ${networkModes.join("+")}`,
          {
            clusterName: "prod_cluster-1",
            platform,
            firewallPersistence,
            ipv6Imds,
            networkModes,
            ecsSettings: { ECS_LOGLEVEL: "debug", ECS_INSTANCE_ATTRIBUTES: '{"team":"a b"}' },
            extraParts: [
              { contentType: "text/cloud-config", content: "#cloud-config\nwrite_files: []\n" },
              { contentType: "text/x-shellscript", content: "#!/bin/bash\necho \"user's $HOSTNAME\"\n" },
            ],
          },
        ]);
      }
    }
  }
}
const rendered = variants.map(([name, options]) => [name, renderUserData(options)] as [string, RenderedUserData]);


const shellParts = rendered.flatMap(([name, r]) => [
  ...r.parts
    .filter((p) => p.contentType === "text/cloud-boothook" || p.contentType === "text/x-shellscript")
    .map((p) => [`${name} ${p.filename}`, p.content] as [string, string]),
  // Scripts the boothook installs: shellcheck does not look inside the heredoc that carries them.
  ...filesWrittenBy(boothookOf(r))
    .filter((f) => f.content.startsWith("#!/bin/bash"))
    .map((f) => [`${name} installs ${f.path}`, f.content] as [string, string]),
]);

describeWhen({ "cloud-init": hasCloudInit() })("cloud-init's parser", () => {
  it("finds exactly the rendered parts, types, names and bodies in every variant", () => {
    const parsed = parseWithCloudInit(rendered.map(([, r]) => r.payload!));
    rendered.forEach(([, r], i) => {
      expect(parsed[i]).toEqual(r.parts.map((p) => ({ contentType: p.contentType, filename: p.filename, payload: p.content })));
    });
  });

  it("reads gzip-compressed user data the same way", () => {
    const options: UserDataOptions = { clusterName: "c", gzip: true, ipv6Imds: true };
    const gzipped = renderUserData(options);
    const [parts] = parseWithCloudInit([gzipped.payload!]);
    expect(parts.map((p) => p.payload)).toEqual(gzipped.parts.map((p) => p.content));
  });
});

describeWhen({ shellcheck: hasProgram("shellcheck") })("bash and shellcheck", () => {
  // Many variants share a script: each distinct one is written once and checked by one shellcheck run.
  const distinct = [...new Set(shellParts.map(([, content]) => content))];
  let dir: string;
  const findings = new Map<string, string[]>();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-sh-"));
    const files = distinct.map((content, index) => {
      const file = join(dir, `part-${index}.sh`);
      writeFileSync(file, content);
      findings.set(file, []);
      return file;
    });
    const lint = spawnSync("shellcheck", ["--shell=bash", "--severity=info", "--format=json1", ...files], {
      encoding: "utf8",
      timeout: 60_000,
    });
    if (lint.status !== 0 && lint.status !== 1) throw new Error(`shellcheck failed to run: ${lint.stderr || lint.error}`);
    for (const comment of JSON.parse(lint.stdout).comments as Array<{ file: string; line: number; code: number; message: string }>) {
      findings.get(comment.file)?.push(`line ${comment.line}: SC${comment.code} ${comment.message}`);
    }
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(shellParts)("%s parses with bash -n and passes shellcheck", (_name, content) => {
    const file = join(dir, `part-${distinct.indexOf(content)}.sh`);
    const syntax = spawnSync("bash", ["-n", file], { encoding: "utf8", timeout: 10_000 });
    expect(syntax.stderr).toBe("");
    expect(syntax.status).toBe(0);
    expect(findings.get(file)).toEqual([]);
  });

  it("reports a finding when there is one (the check can fail)", () => {
    const file = join(dir, "bad.sh");
    writeFileSync(file, "#!/bin/bash\nrm -rf $1/tmp\n");
    const lint = spawnSync("shellcheck", ["--shell=bash", "--format=json1", file], { encoding: "utf8", timeout: 30_000 });
    expect(JSON.parse(lint.stdout).comments.map((c: { code: number }) => c.code)).toContain(2086);
  });
});

describeWhen({ root: isRoot, "iptables-restore": hasProgram("iptables-restore"), unshare: hasProgram("unshare") })(
  "iptables-restore --test",
  () => {
    const files: Array<[string, string, string]> = rendered.flatMap(([name, r]) => {
      if (!r.iptablesRulesFiles) return [];
      const { ipv4, ipv6 } = r.iptablesRulesFiles;
      return [[`${name} ipv4`, "iptables-restore", ipv4] as [string, string, string]].concat(
        ipv6 ? [[`${name} ipv6`, "ip6tables-restore", ipv6]] : [],
      );
    });

    it("has rules files to check", () => {
      expect(files.length).toBeGreaterThanOrEqual(8);
    });

    it.each(files)("%s is accepted", (_name, tool, rules) => {
      // A fresh network namespace, so nothing on this machine is read or changed.
      const result = spawnSync("unshare", ["--net", tool, "--test"], { input: rules, encoding: "utf8", timeout: 30_000 });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
    });

    it("rejects a broken rules file (the check can fail)", () => {
      const result = spawnSync("unshare", ["--net", "iptables-restore", "--test"], {
        input: "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -d 169.254.169.254/33 -j DROP\nCOMMIT\n",
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(result.status).not.toBe(0);
    });
  },
);

describeWhen({ "systemd-analyze": hasProgram("systemd-analyze") })("systemd-analyze verify", () => {
  /**
   * The AMI's own units that the guard's drop-ins extend, with executables where the AMIs have
   * them: ecs-init's ecs.service, and iptables-services' iptables.service and ip6tables.service.
   */
  const AMI_UNITS: Record<string, string> = {
    "ecs.service":
      "[Unit]\nDescription=Amazon Elastic Container Service - container agent\nAfter=cloud-final.service docker.service\nRequires=docker.service\n\n" +
      "[Service]\nType=simple\nRestart=on-failure\nExecStartPre=/usr/libexec/amazon-ecs-init pre-start\nExecStart=/usr/libexec/amazon-ecs-init start\n\n" +
      "[Install]\nWantedBy=multi-user.target\n",
    "docker.service": "[Unit]\nDescription=Docker\n\n[Service]\nExecStart=/usr/bin/dockerd\n",
    "iptables.service":
      "[Unit]\nDescription=IPv4 firewall with iptables\nBefore=network-pre.target\n\n" +
      "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/libexec/iptables/iptables.init start\nExecReload=/usr/libexec/iptables/iptables.init reload\nExecStop=/usr/libexec/iptables/iptables.init stop\n",
    "ip6tables.service":
      "[Unit]\nDescription=IPv6 firewall with ip6tables\nBefore=network-pre.target\n\n" +
      "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/libexec/iptables/ip6tables.init start\nExecReload=/usr/libexec/iptables/ip6tables.init reload\nExecStop=/usr/libexec/iptables/ip6tables.init stop\n",
  };
  const AMI_EXECUTABLES = ["/usr/libexec/amazon-ecs-init", "/usr/bin/dockerd", "/usr/libexec/iptables/iptables.init", "/usr/libexec/iptables/ip6tables.init"];

  /** An instance root holding the AMI's units and what the boothook writes, for `--root`. */
  function instanceRoot(files: readonly WrittenFile[]): string {
    const root = mkdtempSync(join(tmpdir(), "ecs-imds-guard-units-"));
    const write = (path: string, content: string, mode: number) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
      chmodSync(join(root, path), mode);
    };
    // systemd's own targets and slices, which every unit's default dependencies name.
    const targets = spawnSync("sh", ["-c", `mkdir -p "$1" && cp -a /lib/systemd/system/*.target /lib/systemd/system/*.slice "$1"/`, "sh", join(root, "usr/lib/systemd/system")]);
    if (targets.status !== 0) throw new Error(`could not copy systemd's targets: ${targets.stderr}`);
    for (const [unit, content] of Object.entries(AMI_UNITS)) write(`/usr/lib/systemd/system/${unit}`, content, 0o644);
    for (const executable of AMI_EXECUTABLES) write(executable, "#!/bin/sh\n", 0o755);
    for (const file of files) write(file.path, file.content, parseInt(file.mode, 8));
    return root;
  }

  /** The units to verify: each unit file written, and the unit each drop-in extends. */
  function unitsOf(files: readonly WrittenFile[]): string[] {
    const units = files.flatMap((f) => {
      const dropIn = /\/([^/]+)\.d\/[^/]+\.conf$/.exec(f.path);
      if (dropIn) return [dropIn[1]];
      return /^\/etc\/systemd\/system\/[^/]+\.(service|timer)$/.test(f.path) ? [f.path.split("/").pop()!] : [];
    });
    return [...new Set(units)];
  }

  const written = [...new Map(rendered.map(([name, r]) => [JSON.stringify(filesWrittenBy(boothookOf(r))), name])).entries()].map(
    ([files, name]) => [name, JSON.parse(files) as WrittenFile[]] as [string, WrittenFile[]],
  );

  it.each(written)("%s: every unit the boothook writes loads without a warning", (_name, files) => {
    const units = unitsOf(files);
    expect(units).toContain("ecs.service");
    const root = instanceRoot(files);
    try {
      const verify = spawnSync("systemd-analyze", ["verify", `--root=${root}`, "--man=no", ...units], { encoding: "utf8", timeout: 60_000 });
      expect({ units, status: verify.status, output: `${verify.stdout}${verify.stderr}` }).toEqual({ units, status: 0, output: "" });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("reports a unit it cannot load (the check can fail)", () => {
    const root = instanceRoot([
      { path: "/etc/systemd/system/broken.service", mode: "0644", content: "[Service]\nType=oneshot\nExecStart=/usr/local/libexec/absent\n" },
      { path: "/etc/systemd/system/broken.timer", mode: "0644", content: "[Timer]\nOnUnitActiveSec=thirty\n" },
    ]);
    try {
      const verify = spawnSync("systemd-analyze", ["verify", `--root=${root}`, "--man=no", "broken.service", "broken.timer"], { encoding: "utf8", timeout: 60_000 });
      expect(verify.status).not.toBe(0);
      expect(verify.stderr).toContain("is not executable");
      expect(verify.stderr).toContain("Failed to parse timer value");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describeWhen({ root: isRoot, unshare: hasProgram("unshare"), iptables: hasProgram("iptables"), flock: hasProgram("flock") })(
  "the installed guard script, run as the instance runs it",
  () => {
    /**
     * Runs the guard script of a rendered document in a fresh network namespace (its iptables
     * calls touch nothing of this machine's), with ecs.config and the lock moved into a scratch
     * directory and a systemctl that records its calls there.
     */
    function runGuard(r: RenderedUserData, dir: string) {
      const script = guardScriptOf(r);
      expect(script.split(`config=${ECS_CONFIG_PATH} `)).toHaveLength(2);
      expect(script).toContain("exec 9>>/run/ecs-imds-guard.lock ");
      const relocated = script
        .replace(`config=${ECS_CONFIG_PATH} `, `config=${join(dir, "ecs.config")} `)
        .split("/run/ecs-imds-guard.lock")
        .join(join(dir, "lock"));
      const file = join(dir, "ensure");
      writeFileSync(file, relocated, { mode: 0o755 });
      mkdirSync(join(dir, "bin"), { recursive: true });
      writeFileSync(join(dir, "bin", "systemctl"), `#!/bin/sh\necho "systemctl $*" >>${join(dir, "systemctl.log")}\n`, { mode: 0o755 });
      return spawnSync("unshare", ["--net", file], {
        encoding: "utf8",
        timeout: 30_000,
        env: { PATH: `${join(dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin` },
      });
    }

    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-ensure-"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("leaves exactly the managed and user settings last in ecs.config, once each, when run twice over an old file", () => {
      const options: UserDataOptions = {
        clusterName: "prod",
        ecsSettings: { ECS_LOGLEVEL: "debug", ECS_AVAILABLE_LOGGING_DRIVERS: '["json-file","awslogs"]', ECS_INSTANCE_ATTRIBUTES: '{"cmd":"$(reboot) `id` \'x\'"}' },
      };
      const r = renderUserData(options);
      const config = join(dir, "ecs.config");
      // What an AMI or an earlier script may have left: an old cluster, a disabled block, another key.
      writeFileSync(config, "ECS_CLUSTER=old\n  ECS_AWSVPC_BLOCK_IMDS=false\nECS_RESERVED_MEMORY=256\n");
      const first = runGuard(r, dir);
      expect({ status: first.status, stderr: first.stderr }).toEqual({ status: 0, stderr: "" });
      expect(first.stdout).toContain(`re-applied`);
      const second = runGuard(r, dir);
      // Each run has a fresh network namespace, so the rule is re-applied; the file is left alone.
      expect({ status: second.status, stderr: second.stderr }).toEqual({ status: 0, stderr: "" });
      expect(second.stdout).not.toContain(config);
      const text = readFileSync(config, "utf8");
      expect(Object.fromEntries(readEcsConfig(text))).toEqual({
        ECS_CLUSTER: "prod",
        ECS_ENABLE_TASK_IAM_ROLE: "true",
        ECS_AWSVPC_BLOCK_IMDS: "true",
        ECS_LOGLEVEL: "debug",
        ECS_AVAILABLE_LOGGING_DRIVERS: '["json-file","awslogs"]',
        ECS_INSTANCE_ATTRIBUTES: '{"cmd":"$(reboot) `id` \'x\'"}',
        ECS_RESERVED_MEMORY: "256",
      });
      // One line per key: no key relies on "last one wins", and the guard's lines come last.
      const keys = text.split("\n").filter((l) => l.includes("=")).map((l) => l.trim().split("=")[0]);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.slice(-r.ecsConfig.length)).toEqual(r.ecsConfig.map(([key]) => key));
      expect(text).not.toMatch(/^\s*#.*=/m);
    });

    it.each([
      ["two listings (a Docker restart in progress)", 2, 0],
      ["every listing (FORWARD stays without the jump)", 1000, 1],
    ])("when FORWARD misses the jump to DOCKER-USER in %s, it retries before failing closed", (_case, listings, status) => {
      // An iptables whose first listings of FORWARD lack the jump, as while dockerd re-creates its rules.
      const real = spawnSync("sh", ["-c", "command -v iptables"], { encoding: "utf8" }).stdout.trim();
      const counter = join(dir, "forward-listings");
      mkdirSync(join(dir, "bin"), { recursive: true });
      writeFileSync(
        join(dir, "bin", "iptables"),
        `#!/bin/bash\ncount=$(cat ${counter} 2>/dev/null || echo 0)\n` +
          `if [ "$*" = "-w 30 -S FORWARD" ] && [ "$count" -lt ${listings} ]; then\n` +
          `  echo $((count + 1)) >${counter}\n  ${real} "$@" | grep -vxF -- "-A FORWARD -j DOCKER-USER"\n  exit "\${PIPESTATUS[0]}"\nfi\n` +
          `exec ${real} "$@"\n`,
        { mode: 0o755 },
      );
      const run = runGuard(renderUserData({ clusterName: "prod" }), dir);
      expect(run.status).toBe(status);
      if (status === 0) {
        expect(run.stderr).toBe("");
        expect(readFileSync(counter, "utf8").trim()).toBe("2");
      } else {
        expect(run.stderr).toMatch(/^ecs-imds-guard: FAILED: iptables: the first rule of FORWARD does not jump to DOCKER-USER;/m);
        // Three tries: each lists FORWARD to apply, to find other jumps, and to verify.
        expect(readFileSync(counter, "utf8").trim()).toBe("9");
        expect(readFileSync(join(dir, "systemctl.log"), "utf8")).toContain("systemctl mask --runtime ecs.service\n");
      }
    });

    it("puts its settings back after a later line turns the block off, and fails closed when it cannot write", () => {
      const r = renderUserData({ clusterName: "prod", networkModes: ["awsvpc"] });
      const config = join(dir, "ecs.config");
      expect(runGuard(r, dir).status).toBe(0);
      writeFileSync(config, `${readFileSync(config, "utf8")}ECS_AWSVPC_BLOCK_IMDS=false\n`);
      expect(runGuard(r, dir).status).toBe(0);
      expect(readEcsConfig(readFileSync(config, "utf8")).get("ECS_AWSVPC_BLOCK_IMDS")).toBe("true");

      // A directory where the file should be: the guard cannot write it, so the agent is kept down.
      rmSync(config);
      mkdirSync(config);
      const broken = runGuard(r, dir);
      expect(broken.status).toBe(1);
      expect(broken.stderr).toMatch(/^ecs-imds-guard: FAILED: .*ecs\.config/m);
      expect(readFileSync(join(dir, "systemctl.log"), "utf8")).toBe("systemctl mask --runtime ecs.service\nsystemctl stop --no-block ecs.service\n");
    });
  },
);

describe("ecs.config as ecs-init reads it", () => {
  it("reads like ecs-init: trimmed lines, first '=' splits, last key wins, quotes kept", () => {
    const settings = readEcsConfig('  ECS_A=1 \nnoequals\nECS_B="true"\nECS_A=x=y\n#ECS_C=1\n');
    expect(Object.fromEntries(settings)).toEqual({ ECS_A: "x=y", ECS_B: '"true"', "#ECS_C": "1" });
  });

  it("trims as Go's strings.TrimSpace does, not as JavaScript's trim()", () => {
    // U+0085 is Unicode White_Space (Go strips it, JavaScript keeps it); U+FEFF is not (the reverse).
    const settings = readEcsConfig("ECS_A=info\u0085\n\ufeffECS_B=1\u00a0\n");
    expect(Object.fromEntries(settings)).toEqual({ ECS_A: "info", "\ufeffECS_B": "1" });
  });
});

describeWhen({ "cloud-init": hasCloudInit() })("fidelity with the article", () => {
  const article = readFileSync(join(__dirname, "../fixtures/ecs-imds-article.txt"), "utf8");

  it("renders the article's rules file and the same part types in the same order", () => {
    const r = renderUserData({ clusterName: "my-ecs-cluster", platform: "al2", firewallPersistence: "iptables-services" });
    const articleRules = article.split("cat <<EOF > /etc/sysconfig/iptables \n")[1].split("EOF\n")[0];
    expect(articleRules).toContain("-A DOCKER-USER -d 169.254.169.254/32 -j DROP");
    expect(r.iptablesRulesFiles!.ipv4).toBe(articleRules);

    const mimeStart = article.indexOf('Content-Type: multipart/mixed; boundary="==BOUNDARY=="');
    const mimeEnd = article.indexOf("--==BOUNDARY==--") + "--==BOUNDARY==--\n".length;
    const articleDocument = Buffer.from(article.slice(mimeStart, mimeEnd));
    const [articleParts, ourParts] = parseWithCloudInit([articleDocument, r.payload!]);
    expect(articleParts.map((p) => p.contentType)).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
    expect(ourParts.map((p) => p.contentType)).toEqual(articleParts.map((p) => p.contentType));
    expect(r.ecsConfig).toContainEqual(["ECS_CLUSTER", "my-ecs-cluster"]);
  });
});
