import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECS_CONFIG_PATH, readEcsConfig, renderUserData, RenderedUserData, UserDataOptions } from "../../lib/user-data";
import { parseWithCloudInit } from "../support/cloud-init";
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
const shellParts = rendered.flatMap(([name, r]) =>
  r.parts
    .filter((p) => p.contentType === "text/cloud-boothook" || p.contentType === "text/x-shellscript")
    .map((p) => [`${name} ${p.filename}`, p.content] as [string, string]),
);

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

describe("ecs.config as ecs-init reads it", () => {
  /** Runs the ecs.config part with its path moved into a scratch directory. */
  function runEcsConfigScript(script: string, config: string): void {
    const occurrences = script.split(`config=${ECS_CONFIG_PATH}\n`).length - 1;
    expect(occurrences).toBe(1);
    const relocated = script.replace(`config=${ECS_CONFIG_PATH}\n`, `config=${config}\n`);
    const result = spawnSync("bash", ["--norc", "--noprofile", "-c", relocated], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH },
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  }

  it("yields exactly the managed and user settings, once each, even when run twice over an old file", () => {
    const options: UserDataOptions = {
      clusterName: "prod",
      ecsSettings: { ECS_LOGLEVEL: "debug", ECS_AVAILABLE_LOGGING_DRIVERS: '["json-file","awslogs"]' },
    };
    const r = renderUserData(options);
    const script = r.parts.find((p) => p.filename === "ecs-imds-guard-ecs-config.sh")!.content;
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-ecs-"));
    try {
      const config = join(dir, "ecs.config");
      // What an AMI or an earlier script may have left: an old cluster, a disabled block, another key.
      writeFileSync(config, "ECS_CLUSTER=old\n  ECS_AWSVPC_BLOCK_IMDS=false\nECS_RESERVED_MEMORY=256\n");
      runEcsConfigScript(script, config);
      runEcsConfigScript(script, config);
      const text = readFileSync(config, "utf8");
      const settings = readEcsConfig(text);
      expect(Object.fromEntries(settings)).toEqual({
        ECS_CLUSTER: "prod",
        ECS_ENABLE_TASK_IAM_ROLE: "true",
        ECS_AWSVPC_BLOCK_IMDS: "true",
        ECS_LOGLEVEL: "debug",
        ECS_AVAILABLE_LOGGING_DRIVERS: '["json-file","awslogs"]',
        ECS_RESERVED_MEMORY: "256",
      });
      // One line per key: no key relies on "last one wins".
      const keys = text.split("\n").filter((l) => l.includes("=")).map((l) => l.trim().split("=")[0]);
      expect(new Set(keys).size).toBe(keys.length);
      expect(text).not.toMatch(/^\s*#.*=/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads like ecs-init: trimmed lines, first '=' splits, last key wins, quotes kept", () => {
    const settings = readEcsConfig('  ECS_A=1 \nnoequals\nECS_B="true"\nECS_A=x=y\n#ECS_C=1\n');
    expect(Object.fromEntries(settings)).toEqual({ ECS_A: "x=y", ECS_B: '"true"', "#ECS_C": "1" });
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
