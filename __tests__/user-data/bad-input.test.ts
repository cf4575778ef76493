import { ExtraUserDataPart, renderUserData, UserDataOptions, UserDataValidationError } from "../../lib/user-data";
import { describeValue } from "../../lib/user-data/errors";
import { chooseBoundary, renderMultipart } from "../../lib/user-data/mime";
import { effectOf, writtenByCloudInit } from "../support/cloud-init-writes";
import { describeWhen, hasCloudInit } from "../support/tools";

const GUARD_SCRIPT = "ecs-imds-guard-ecs-config.sh";
const archive = (content: string, filename?: string): ExtraUserDataPart => ({
  contentType: "text/cloud-config-archive",
  content: `#cloud-config-archive\n${content}\n`,
  ...(filename ? { filename } : {}),
});
const shell = (filename: string): ExtraUserDataPart => ({ contentType: "text/x-shellscript", content: "#!/bin/sh\necho mine\n", filename });

// Each case: the options, then the field, the offending value and words of the rule the message must hold.
const cases: Array<[string, UserDataOptions, string, unknown, RegExp]> = [
  ["cluster name with a space", { clusterName: "my cluster" }, "clusterName", "my cluster", /1-255 characters of letters, digits/],
  ["empty cluster name", { clusterName: "" }, "clusterName", "", /1-255/],
  ["cluster name of 256 characters", { clusterName: "a".repeat(256) }, "clusterName", "a".repeat(256), /1-255/],
  ["cluster name with a newline", { clusterName: "a\nECS_AWSVPC_BLOCK_IMDS=false" }, "clusterName", "a\nECS_AWSVPC_BLOCK_IMDS=false", /letters, digits/],
  ["cluster name with shell", { clusterName: "$(reboot)" }, "clusterName", "$(reboot)", /letters, digits/],
  ["cluster name with NUL", { clusterName: "a\u0000b" }, "clusterName", "a\u0000b", /letters, digits/],
  ["windows", { clusterName: "c", platform: "windows" as never }, "platform", "windows", /Windows is not supported: it has no iptables.*AwsvpcBlockIMDS/],
  ["unknown platform", { clusterName: "c", platform: "ubuntu" as never }, "platform", "ubuntu", /must be one of "al2023", "al2", "bottlerocket"/],
  ["no network mode", { clusterName: "c", networkModes: [] }, "networkModes", [], /at least one of "bridge", "awsvpc", "host"/],
  ["unknown network mode", { clusterName: "c", networkModes: ["nat" as never] }, "networkModes[0]", "nat", /must be one of/],
  ["duplicated network mode", { clusterName: "c", networkModes: ["bridge", "bridge"] }, "networkModes[1]", "bridge", /listed twice/],
  ["lower-case ECS key", { clusterName: "c", ecsSettings: { ecs_loglevel: "info" } }, "ecsSettings key", "ecs_loglevel", /\^ECS_\[A-Z0-9_\]\+\$/],
  ["non-ECS key", { clusterName: "c", ecsSettings: { PATH: "/tmp" } }, "ecsSettings key", "PATH", /\^ECS_/],
  ["value with a newline", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "info\nECS_AWSVPC_BLOCK_IMDS=false" } }, "ecsSettings.ECS_LOGLEVEL", "info\nECS_AWSVPC_BLOCK_IMDS=false", /newlines, NUL/],
  ["value with NUL", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "in\u0000fo" } }, "ecsSettings.ECS_LOGLEVEL", "in\u0000fo", /NUL/],
  ["quoted value", { clusterName: "c", ecsSettings: { ECS_ENABLE_SPOT_INSTANCE_DRAINING: '"true"' } }, "ecsSettings.ECS_ENABLE_SPOT_INSTANCE_DRAINING", '"true"', /must not be quoted/],
  ["value with outer whitespace", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: " info" } }, "ecsSettings.ECS_LOGLEVEL", " info", /whitespace/],
  ["undoing the awsvpc block", { clusterName: "c", ecsSettings: { ECS_AWSVPC_BLOCK_IMDS: "false" } }, "ecsSettings.ECS_AWSVPC_BLOCK_IMDS", "false", /would undo the guard: must be true/],
  ["undoing task roles", { clusterName: "c", ecsSettings: { ECS_ENABLE_TASK_IAM_ROLE: "false" } }, "ecsSettings.ECS_ENABLE_TASK_IAM_ROLE", "false", /would undo the guard/],
  ["undoing host task roles", { clusterName: "c", networkModes: ["host"], ecsSettings: { ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST: "false" } }, "ecsSettings.ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false", /would undo the guard/],
  ["cluster through settings", { clusterName: "c", ecsSettings: { ECS_CLUSTER: "other" } }, "ecsSettings.ECS_CLUSTER", "other", /set clusterName instead/],
  ["unknown part type", { clusterName: "c", extraParts: [{ contentType: "text/html" as never, content: "<p>" }] }, "extraParts[0].contentType", "text/html", /must be a cloud-init part type/],
  ["shell part without interpreter", { clusterName: "c", extraParts: [{ contentType: "text/x-shellscript", content: "echo hi" }] }, "extraParts[0].content", "echo hi", /interpreter line/],
  ["part with NUL", { clusterName: "c", extraParts: [{ contentType: "text/cloud-config", content: "a\u0000" }] }, "extraParts[0].content", "a\u0000", /NUL/],
  ["part file name with a quote", { clusterName: "c", extraParts: [{ contentType: "text/cloud-config", content: "{}", filename: 'a".sh' }] }, "extraParts[0].filename", 'a".sh', /letters, digits/],
  ["part file name taken by the guard", { clusterName: "c", extraParts: [{ contentType: "text/cloud-config", content: "{}", filename: "ecs-imds-guard-boothook.sh" }] }, "extraParts[0].filename", "ecs-imds-guard-boothook.sh", /already used/],
  // File names cloud-init's handlers cannot write as a file in scripts/ or boothooks/.
  ["part file name .", { clusterName: "c", extraParts: [shell(".")] }, "extraParts[0].filename", ".", /must name a file: .* directories/],
  ["part file name ..", { clusterName: "c", extraParts: [shell("..")] }, "extraParts[0].filename", "..", /must name a file/],
  ["part file name of cloud-init's own form", { clusterName: "c", extraParts: [shell("part-003")] }, "extraParts[0].filename", "part-003", /part-<digits>/],
  // ecs-init trims values with Go's strings.TrimSpace, which knows more whitespace than trim().
  ["value ending in NEL", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "info\u0085" } }, "ecsSettings.ECS_LOGLEVEL", "info\u0085", /strings\.TrimSpace/],
  ["value starting with NBSP", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "\u00a0info" } }, "ecsSettings.ECS_LOGLEVEL", "\u00a0info", /start or end with whitespace/],
  ["value ending in an ideographic space", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "info\u3000" } }, "ecsSettings.ECS_LOGLEVEL", "info\u3000", /whitespace/],
  ["value ending in a line separator", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "info\u2028" } }, "ecsSettings.ECS_LOGLEVEL", "info\u2028", /whitespace/],
  // What has no UTF-8 form would arrive as U+FFFD.
  ["value with a lone surrogate", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "in\ud800fo" } }, "ecsSettings.ECS_LOGLEVEL", "in\ud800fo", /lone UTF-16 surrogate/],
  ["key with a lone surrogate", { clusterName: "c", ecsSettings: { ["ECS_\udc00"]: "1" } }, "ecsSettings key", "ECS_\udc00", /lone UTF-16 surrogate/],
  ["part content with a lone surrogate", { clusterName: "c", extraParts: [{ contentType: "text/x-shellscript", content: "#!/bin/sh\necho \udfff\n" }] }, "extraParts[0].content", "#!/bin/sh\necho \udfff\n", /lone UTF-16 surrogate/],
  ["part file name with a lone surrogate", { clusterName: "c", extraParts: [shell("a\ud800.sh")] }, "extraParts[0].filename", "a\ud800.sh", /lone UTF-16 surrogate/],
  // Archive entries become parts of their own; their names must not take another part's file.
  ["archive entry named as the guard's script", { clusterName: "c", extraParts: [archive(`- {type: text/x-shellscript, filename: ${GUARD_SCRIPT}, content: "#!/bin/sh\\necho"}`)] }, "extraParts[0].content[0].filename", GUARD_SCRIPT, /already used .*writes the later one over the earlier/],
  ["archive entry named as an earlier part", { clusterName: "c", extraParts: [shell("mine.sh"), archive('- {filename: mine.sh, content: "#!/bin/sh"}')] }, "extraParts[1].content[0].filename", "mine.sh", /already used/],
  ["part named as an earlier archive entry", { clusterName: "c", extraParts: [archive('- {filename: mine.sh, content: "#!/bin/sh"}'), shell("mine.sh")] }, "extraParts[1].filename", "mine.sh", /already used/],
  ["two archive entries of one name", { clusterName: "c", extraParts: [archive('- {filename: a.sh, content: "#!/bin/sh"}\n- {filename: a.sh, content: "#!/bin/sh"}')] }, "extraParts[0].content[1].filename", "a.sh", /already used/],
  ["archive entry name that cloud-init cleans into the guard's", { clusterName: "c", extraParts: [archive(`- {filename: " ${GUARD_SCRIPT}!", content: "#!/bin/sh"}`)] }, "extraParts[0].content[0].filename", ` ${GUARD_SCRIPT}!`, /letters, digits/],
  ["archive entry name ..", { clusterName: "c", extraParts: [archive('- {filename: "..", content: "#!/bin/sh"}')] }, "extraParts[0].content[0].filename", "..", /must name a file/],
  ["archive entry name YAML reads as a boolean", { clusterName: "c", extraParts: [archive('- {filename: yes, content: "#!/bin/sh"}')] }, "extraParts[0].content[0].filename", true, /must be a YAML string \(quote it/],
  ["archive entry whose content is a number", { clusterName: "c", extraParts: [archive("- {content: 1}")] }, "extraParts[0].content[0].content", 1, /must be a string: cloud-init fails on the whole user data/],
  ["archive entry type without a slash", { clusterName: "c", extraParts: [archive("- {type: shellscript, content: x}")] }, "extraParts[0].content[0].type", "shellscript", /must be one of .*without '\/'/],
  ["archive entry of a nested archive", { clusterName: "c", extraParts: [archive("- {type: text/cloud-config-archive, content: '- a'}")] }, "extraParts[0].content[0].type", "text/cloud-config-archive", /does not process archives/],
  ["archive entry with a header key", { clusterName: "c", extraParts: [archive('- {X-Header: 1, content: "#!/bin/sh"}')] }, "extraParts[0].content[0].X-Header", 1, /only content, type, filename/],
  ["archive entry with a launch index", { clusterName: "c", extraParts: [archive('- {launch-index: 1, content: "#!/bin/sh"}')] }, "extraParts[0].content[0].launch-index", 1, /only content, type, filename/],
  ["archive shell entry without interpreter", { clusterName: "c", extraParts: [archive("- {type: text/x-shellscript, content: echo}")] }, "extraParts[0].content[0].content", "echo", /interpreter line/],
  ["archive that is not YAML", { clusterName: "c", extraParts: [archive("- {content: [")] }, "extraParts[0].content", "#cloud-config-archive\n- {content: [\n", /one YAML document/],
  ["archive that is not a list", { clusterName: "c", extraParts: [archive("content: x")] }, "extraParts[0].content", { content: "x" }, /YAML list of entries/],
  ["archive with an alias", { clusterName: "c", extraParts: [archive('- &a {filename: x.sh, content: "#!/bin/sh"}\n- *a')] }, "extraParts[0].content", '#cloud-config-archive\n- &a {filename: x.sh, content: "#!/bin/sh"}\n- *a\n', /aliases/],
  ["unknown persistence", { clusterName: "c", firewallPersistence: "iptables-save" as never }, "firewallPersistence", "iptables-save", /"boothook", "iptables-services"/],
  ["persistence on Bottlerocket", { clusterName: "c", platform: "bottlerocket", firewallPersistence: "iptables-services" }, "firewallPersistence", "iptables-services", /Amazon Linux only/],
  ["ECS settings on Bottlerocket", { clusterName: "c", platform: "bottlerocket", ecsSettings: { ECS_LOGLEVEL: "info" } }, "ecsSettings", { ECS_LOGLEVEL: "info" }, /TOML settings/],
  ["extra parts on Bottlerocket", { clusterName: "c", platform: "bottlerocket", extraParts: [{ contentType: "text/cloud-config", content: "{}" }] }, "extraParts", "1 part(s)", /single TOML document/],
  ["gzip on Bottlerocket", { clusterName: "c", platform: "bottlerocket", gzip: true }, "gzip", true, /Amazon Linux \(cloud-init\) only/],
  ["non-boolean ipv6Imds", { clusterName: "c", ipv6Imds: "yes" as never }, "ipv6Imds", "yes", /true or false/],
];

describe.each(cases)("bad input: %s", (_name, options, field, value, rule) => {
  it("throws a UserDataValidationError naming the field, the value and the rule", () => {
    let error: unknown;
    try {
      renderUserData(options);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UserDataValidationError);
    const validation = error as UserDataValidationError;
    expect(validation.field).toBe(field);
    expect(validation.value).toEqual(value);
    expect(validation.message).toContain(`ecs-imds-guard: ${field} = `);
    expect(validation.message).toMatch(rule);
  });
});

it("shows control characters escaped in messages", () => {
  expect(() => renderUserData({ clusterName: "a\nb" })).toThrow('clusterName = "a\\nb" is invalid');
});

it("refuses a non-ASCII setting while the cluster name is a Terraform reference", () => {
  // The script that writes ecs.config then holds the reference and would have to travel as base64.
  const isUnresolved = (value: string) => value.startsWith("${");
  expect(() => renderUserData({ clusterName: "${var.cluster_name}", ecsSettings: { ECS_INSTANCE_ATTRIBUTES: '{"team":"é"}' } }, { isUnresolved })).toThrow(
    /ecsSettings\.ECS_INSTANCE_ATTRIBUTES = "\{\\"team\\":\\"é\\"\}" is invalid: must be ASCII while clusterName is a Terraform reference/,
  );
  expect(renderUserData({ clusterName: "prod", ecsSettings: { ECS_INSTANCE_ATTRIBUTES: '{"team":"é"}' } }).ecsConfig).toContainEqual([
    "ECS_INSTANCE_ATTRIBUTES",
    '{"team":"é"}',
  ]);
});

it("accepts values with inner Unicode spaces, which ecs-init keeps", () => {
  expect(renderUserData({ clusterName: "c", ecsSettings: { ECS_X: "a\u00a0b\u0085c" } }).ecsConfig).toContainEqual(["ECS_X", "a\u00a0b\u0085c"]);
});

describe("values in messages", () => {
  const cycle: Record<string, unknown> = { name: "a" };
  cycle.self = cycle;
  const throwing = {
    get broken(): string {
      throw new Error("getter");
    },
  };
  it.each<[string, unknown, string]>([
    ["NaN", NaN, "NaN"],
    ["Infinity", Infinity, "Infinity"],
    ["-Infinity", -Infinity, "-Infinity"],
    ["-0", -0, "-0"],
    ["a bigint", 10n, "10n"],
    ["undefined", undefined, "undefined"],
    ["null", null, "null"],
    ["a function", function build() {}, "[function build]"],
    ["a symbol", Symbol("s"), "Symbol(s)"],
    ["numbers in a list", [NaN, -0, 1], "[NaN,-0,1]"],
    ["an object with a cycle", cycle, '{"name":"a","self":[circular]}'],
    ["a getter that throws", throwing, "[object Object]"],
    ["a class instance", new Map(), "Map {}"],
    ["NEL, NBSP and a zero-width space", "a\u0085b\u00a0c\u200bd", '"a\\u0085b\\u00a0c\\u200bd"'],
    ["a lone surrogate", "a\ud800b", '"a\\ud800b"'],
    ["control characters", "a\nb\u0000", '"a\\nb\\u0000"'],
  ])("shows %s as it is", (_what, value, shown) => {
    expect(describeValue(value)).toBe(shown);
  });

  it("cuts long strings at a whole character and long lists after ten entries", () => {
    expect(describeValue("😀".repeat(100))).toBe(`"${"😀".repeat(77)}..."`);
    expect(describeValue(Array.from({ length: 12 }, (_, i) => i))).toBe("[0,1,2,3,4,5,6,7,8,9,... 2 more]");
  });

  it("never throws, whatever the value", () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(typeof describeValue(revoked.proxy)).toBe("string");
    expect(new UserDataValidationError("f", revoked.proxy, "rule").message).toMatch(/^ecs-imds-guard: f = .+ is invalid: rule$/);
  });
});

/** The document the renderer would give if it did not check the last extra part. */
function documentWithUncheckedPart(options: UserDataOptions, unchecked: Required<ExtraUserDataPart>): string {
  const parts = [...renderUserData(options).parts, unchecked];
  return renderMultipart(parts, chooseBoundary(parts));
}

describeWhen({ "cloud-init": hasCloudInit() })("what the part-name rules protect, shown by cloud-init", () => {
  const entry = (yaml: string): Required<ExtraUserDataPart> => ({ ...archive(yaml), filename: "user-part-9.yaml" }) as Required<ExtraUserDataPart>;
  // Each refused input, unchecked, and what cloud-init then does to the user data.
  const refused: Array<[string, UserDataOptions, Required<ExtraUserDataPart>, "overwrites" | "fails" | "cannot write"]> = [
    ["an archive entry named as the guard's script", { clusterName: "c" }, entry(`- {type: text/x-shellscript, filename: ${GUARD_SCRIPT}, content: "#!/bin/sh\\necho"}`), "overwrites"],
    ["an archive entry named as an earlier part", { clusterName: "c", extraParts: [shell("mine.sh")] }, entry('- {filename: mine.sh, content: "#!/bin/sh"}'), "overwrites"],
    ["an archive entry that cleans into the guard's name", { clusterName: "c" }, entry(`- {filename: " ${GUARD_SCRIPT}!", content: "#!/bin/sh"}`), "overwrites"],
    ["an archive entry named part-003 after an unnamed one, which cloud-init names so", { clusterName: "c" }, entry('- "#!/bin/sh"\n- {filename: part-003, content: "#!/bin/sh"}'), "overwrites"],
    ["an archive entry whose content is a number", { clusterName: "c" }, entry("- {content: 1}"), "fails"],
    ["an archive entry type without a slash", { clusterName: "c" }, entry("- {type: shellscript, content: x}"), "fails"],
    ["an archive entry with a number in a header", { clusterName: "c" }, entry('- {X-Header: 1, content: "#!/bin/sh"}'), "fails"],
    ["a part named ..", { clusterName: "c" }, shell("..") as Required<ExtraUserDataPart>, "cannot write"],
    ["a part named .", { clusterName: "c" }, shell(".") as Required<ExtraUserDataPart>, "cannot write"],
    ["an archive entry named ..", { clusterName: "c" }, entry('- {filename: "..", content: "#!/bin/sh"}'), "cannot write"],
  ];

  it("refused inputs really overwrite another part's file, break cloud-init's processing, or cannot be written", () => {
    for (const [, options, part] of refused) {
      expect(() => renderUserData({ ...options, extraParts: [...(options.extraParts ?? []), part] })).toThrow(UserDataValidationError);
    }
    const results = writtenByCloudInit(refused.map(([, options, part]) => documentWithUncheckedPart(options, part)));
    refused.forEach(([name, , , effect], index) => {
      expect([name, effectOf(results[index])]).toEqual([name, effect]);
    });
  });

  it("accepts an archive entry name only when cloud-init reads the same name", () => {
    // Plain YAML scalars that YAML 1.1 may read as numbers, booleans, dates or null.
    const scalars = ["a.sh", "--", "_", "-_", "0o17", "017", "0_1", "y", "n", "yes", "1e3", "+1", "0.", "._", "-1", "1_0.5", "0b11", "0x1f", "E1", "-.5", ".inf", "null", "2001-12-14", "190:20", "'0755'", '"yes"'];
    const accepted: Array<[string, string]> = [];
    for (const scalar of scalars) {
      try {
        const r = renderUserData({ clusterName: "c", extraParts: [archive(`- {filename: ${scalar}, content: "#!/bin/sh"}`)] });
        accepted.push([scalar, r.text]);
      } catch (error) {
        expect([scalar, (error as Error).message]).toEqual([scalar, expect.stringMatching(/content\[0\]\.filename = .* is invalid/)]);
      }
    }
    expect(accepted.map(([scalar]) => scalar)).toEqual(["a.sh", "--", "_", "-_", "0o17", "'0755'", '"yes"']);
    const results = writtenByCloudInit(accepted.map(([, text]) => text));
    accepted.forEach(([scalar], index) => {
      const named = (results[index].parts ?? []).map((p) => p.filename);
      expect([scalar, named[named.length - 1]]).toEqual([scalar, scalar.replace(/^['"]|['"]$/g, "")]);
    });
  });

  it("accepted archives give every part a file of its own, named as given", () => {
    const accepted: UserDataOptions[] = [
      { clusterName: "c", extraParts: [archive('- "#!/bin/sh\\necho unnamed"\n- {type: text/x-shellscript, filename: a.sh, content: "#!/bin/sh"}\n- {type: text/cloud-boothook, filename: b.sh, content: "#!/bin/sh"}\n- {type: text/cloud-config, content: "#cloud-config\\n{}"}')] },
      { clusterName: "c", extraParts: [shell("mine.sh"), archive('- {filename: "mine-2.sh", content: "#!/bin/sh"}\n- "#!/bin/sh"\n- "#!/bin/sh"'), shell("z.sh")] },
      { clusterName: "c", networkModes: ["awsvpc"], extraParts: [archive("- {filename: '0755', content: \"#!/bin/sh\"}\n- {filename: \"no.sh\", content: \"#!/bin/sh\"}")] },
    ];
    const rendered = accepted.map((options) => renderUserData(options));
    const results = writtenByCloudInit(rendered.map((r) => r.text));
    results.forEach((result, index) => {
      expect(effectOf(result)).toBe("separate");
      const parts = result.parts ?? [];
      // The guard's parts are written under their own names, once.
      for (const guard of rendered[index].parts.filter((p) => p.filename.startsWith("ecs-imds-guard-"))) {
        expect(parts.filter((p) => p.filename === guard.filename)).toHaveLength(1);
      }
      // Every name the archive gives is the file cloud-init writes.
      for (const p of parts.filter((p) => p.file !== null)) expect(p.file!.split("/")[1]).toBe(p.filename);
    });
    expect(results[2].parts!.map((p) => p.filename)).toEqual(expect.arrayContaining(["0755", "no.sh"]));
  });
});
