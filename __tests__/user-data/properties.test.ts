import fc from "fast-check";
import {
  CLUSTER_NAME_PATTERN,
  ExtraUserDataPart,
  readEcsConfig,
  renderUserData,
  UserDataOptions,
  UserDataValidationError,
} from "../../lib/user-data";
import { parseWithCloudInit } from "../support/cloud-init";
import { effectOf, writtenByCloudInit } from "../support/cloud-init-writes";
import { describeWhen, hasCloudInit } from "../support/tools";

const MANAGED_KEYS = ["ECS_CLUSTER", "ECS_ENABLE_TASK_IAM_ROLE", "ECS_AWSVPC_BLOCK_IMDS", "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST"];

const clusterName = fc.stringMatching(/^[A-Za-z0-9_-]{1,255}$/);
const settingKey = fc.stringMatching(/^ECS_[A-Z0-9_]{1,24}$/).filter((k) => !MANAGED_KEYS.includes(k));
const settingValue = fc
  .string({ unit: "grapheme", maxLength: 40 })
  .filter((v) => !/[\u0000-\u001f\u007f]/.test(v) && v === v.trim() && !/^["']/.test(v));

// Content that tries to break the document: boundary look-alikes, heredoc terminators, Terraform
// interpolation, CRLF, non-ASCII text.
const nastyLine = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.constantFrom(
    "--==ECS-IMDS-GUARD-000000000000000000000000==",
    "--==BOUNDARY==--",
    "ECS_IMDS_GUARD_SETTINGS",
    "ECS_IMDS_GUARD_RULES",
    "Content-Type: text/cloud-boothook",
    "${var.cluster_name} %{ if true }",
    "MIME-Version: 1.0",
    "line with CRLF\r",
    "é ü 雪 🚀",
    "",
  ),
);
// Endings the MIME parser could take as part of the line break before the delimiter.
const ending = fc.constantFrom("", "\n", "\r", "\r\n", "\n\r", "\r\r", "\n\r\n");
const nastyBody = fc
  .tuple(fc.array(nastyLine, { maxLength: 8 }), ending)
  .map(([lines, end]) => `${lines.join("\n")}${end}`);
const extraPart: fc.Arbitrary<ExtraUserDataPart> = fc.oneof(
  nastyBody.map((body) => ({ contentType: "text/x-shellscript" as const, content: `#!/bin/bash\n${body}` })),
  nastyBody.map((body) => ({ contentType: "text/cloud-boothook" as const, content: `#!/bin/sh\n${body}` })),
  nastyBody.map((body) => ({ contentType: "text/cloud-config" as const, content: `#cloud-config\n${body}` })),
);

const validOptions: fc.Arbitrary<UserDataOptions> = fc.record({
  clusterName,
  platform: fc.constantFrom("al2023" as const, "al2" as const),
  networkModes: fc.subarray(["bridge", "awsvpc", "host"] as const, { minLength: 1 }),
  ipv6Imds: fc.boolean(),
  firewallPersistence: fc.constantFrom("boothook" as const, "iptables-services" as const),
  ecsSettings: fc.dictionary(settingKey, settingValue, { maxKeys: 5 }),
  extraParts: fc.array(extraPart, { maxLength: 3 }),
  gzip: fc.boolean(),
});

/** The rendered document, or undefined when the options make it larger than EC2 accepts (refused, as tested apart). */
function renderedWithinLimit(options: UserDataOptions) {
  try {
    return renderUserData(options);
  } catch (error) {
    if (!(error instanceof UserDataValidationError) || error.field !== "userData") throw error;
    return undefined;
  }
}

describe("properties of valid input", () => {
  it("the boundary occurs in no part, and ecs.config holds exactly the expected keys", () => {
    fc.assert(
      fc.property(validOptions, (options) => {
        const r = renderedWithinLimit(options);
        fc.pre(r !== undefined);
        for (const part of r.parts) expect(part.content).not.toContain(r.boundary!);
        // The settings the guard writes, as the heredoc that holds them (in whichever part) gives them.
        const opening = "<<'ECS_IMDS_GUARD_SETTINGS'\n";
        const script = r.parts.map((p) => p.content).find((content) => content.includes(opening))!;
        const written = script.split(opening)[1].split("\nECS_IMDS_GUARD_SETTINGS\n")[0];
        const settings = readEcsConfig(written);
        const expected = new Map<string, string>([
          ["ECS_CLUSTER", options.clusterName],
          ["ECS_ENABLE_TASK_IAM_ROLE", "true"],
          ...(options.networkModes!.includes("awsvpc") ? [["ECS_AWSVPC_BLOCK_IMDS", "true"] as [string, string]] : []),
          ...(options.networkModes!.includes("host") ? [["ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "true"] as [string, string]] : []),
          ...Object.entries(options.ecsSettings!),
        ]);
        expect(settings).toEqual(expected);
        expect(written.split("\n")).toHaveLength(expected.size);
      }),
      { numRuns: 300 },
    );
  });
});

describeWhen({ "cloud-init": hasCloudInit() })("properties checked by cloud-init", () => {
  it("delivers parts ending in CR, CRLF or LF CR byte for byte", () => {
    const endings = ["\r", "\r\n", "\n\r", "\r\r", "\n\r\n", "\u00e9\r"];
    const renders = endings.map((end) =>
      renderUserData({
        clusterName: "c",
        extraParts: [
          { contentType: "text/x-shellscript", content: `#!/bin/sh\necho a${end}` },
          { contentType: "text/cloud-config", content: `#cloud-config\n{}${end}` },
        ],
      }),
    );
    const parsed = parseWithCloudInit(renders.map((r) => r.payload!));
    renders.forEach((r, i) => {
      expect([endings[i], parsed[i].map((p) => p.payload)]).toEqual([endings[i], r.parts.map((p) => p.content)]);
    });
  });

  it("delivers any short text of line breaks, spaces, dashes and colons byte for byte", () => {
    // The characters MIME and header parsing treat specially, in every position of a part.
    const text = fc.array(fc.constantFrom("a", "\r", "\n", "\r\n", " ", "\t", "-", ":", "é"), { maxLength: 8 }).map((c) => c.join(""));
    const samples = fc.sample(text, { numRuns: 300, seed: 20261129 });
    const renders = samples.map((content) =>
      renderUserData({ clusterName: "c", extraParts: [{ contentType: "text/cloud-config", content }, { contentType: "text/cloud-config", content }] }),
    );
    const parsed = parseWithCloudInit(renders.map((r) => r.payload!));
    samples.forEach((content, i) => {
      expect([content, parsed[i].slice(-2).map((p) => p.payload)]).toEqual([content, [content, content]]);
    });
  });

  it("cloud-init finds exactly the expected parts for arbitrary valid input", () => {
    // Options whose document would pass EC2's size limit are refused (a test of its own); the rest render.
    const samples = fc.sample(validOptions, { numRuns: 150, seed: 20261128 }).filter((options) => renderedWithinLimit(options) !== undefined);
    expect(samples.length).toBeGreaterThan(140);
    const renders = samples.map((options) => renderUserData(options));
    // The sample holds parts that end with each of the endings the MIME parser could eat.
    const contents = renders.flatMap((r) => r.parts.map((p) => p.content));
    for (const end of ["\r", "\r\n", "\n\r"]) expect([end, contents.some((c) => c.endsWith(end))]).toEqual([end, true]);
    const parsed = parseWithCloudInit(renders.map((r) => r.payload!));
    renders.forEach((r, i) => {
      const expected = r.parts.map((p) => ({ contentType: p.contentType, filename: p.filename, payload: p.content }));
      if (JSON.stringify(parsed[i]) !== JSON.stringify(expected)) {
        throw new Error(`cloud-init disagrees for ${JSON.stringify(samples[i])}`);
      }
    });
  });
});

// Names that collide with the guard's, with each other, with cloud-init's own part-<n>, or that
// cloud-init cleans or cannot write; and archives made of them.
const partName = fc.constantFrom(
  undefined,
  "ecs-imds-guard-ecs-config.sh",
  "ecs-imds-guard-boothook.sh",
  "a.sh",
  "b.sh",
  "part-002",
  "part-003",
  "part-004",
  ".",
  "..",
  " a.sh",
  "a.sh!",
  "A.sh",
);
const archiveEntry = fc.oneof(
  fc.constant('"#!/bin/sh"'),
  fc.record({
    type: fc.constantFrom(undefined, "text/x-shellscript", "text/cloud-boothook", "text/cloud-config"),
    filename: partName,
  }).map(({ type, filename }) =>
    JSON.stringify({ content: type === "text/cloud-config" ? "#cloud-config" : "#!/bin/sh", ...(type ? { type } : {}), ...(filename !== undefined ? { filename } : {}) }),
  ),
);
const namedPart: fc.Arbitrary<ExtraUserDataPart> = fc.oneof(
  fc.record({ contentType: fc.constantFrom("text/x-shellscript" as const, "text/cloud-boothook" as const), filename: partName }).map(
    ({ contentType, filename }) => ({ contentType, content: "#!/bin/sh\n", ...(filename !== undefined ? { filename } : {}) }),
  ),
  fc.array(archiveEntry, { minLength: 1, maxLength: 4 }).map((entries) => ({
    contentType: "text/cloud-config-archive" as const,
    // JSON is YAML: a flow list of flow maps.
    content: `#cloud-config-archive\n[${entries.join(", ")}]\n`,
  })),
);

describeWhen({ "cloud-init": hasCloudInit() })("part names checked by cloud-init", () => {
  it("whatever parts and archive entries are accepted, cloud-init writes each to a file of its own", () => {
    const samples = fc.sample(
      fc.record({ networkModes: fc.constantFrom(["bridge", "awsvpc"] as const, ["awsvpc"] as const), extraParts: fc.array(namedPart, { minLength: 1, maxLength: 3 }) }),
      { numRuns: 400, seed: 20261129 },
    );
    const accepted: string[] = [];
    let refused = 0;
    for (const { networkModes, extraParts } of samples) {
      try {
        accepted.push(renderUserData({ clusterName: "c", networkModes, extraParts }).text);
      } catch (error) {
        expect(error).toBeInstanceOf(UserDataValidationError);
        refused += 1;
      }
    }
    // Both sides are well represented, so the property says something.
    expect(accepted.length).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
    const effects = writtenByCloudInit(accepted).map(effectOf);
    expect(effects.filter((effect) => effect !== "separate")).toEqual([]);
  });
});

describe("properties of invalid input", () => {
  const expectRejected = (options: UserDataOptions, field: RegExp) => {
    let result: unknown;
    let error: unknown;
    try {
      result = renderUserData(options);
    } catch (caught) {
      error = caught;
    }
    expect(result).toBeUndefined();
    expect(error).toBeInstanceOf(UserDataValidationError);
    expect((error as UserDataValidationError).field).toMatch(field);
    expect((error as Error).message).toMatch(/is invalid: .+/);
  };

  it("any cluster name outside ECS's rule is refused", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 300 }).filter((s) => !CLUSTER_NAME_PATTERN.test(s)),
        (name) => expectRejected({ clusterName: name }, /^clusterName$/),
      ),
      { numRuns: 300 },
    );
  });

  it("any setting value with a control character is refused", () => {
    const withControl = fc
      .tuple(fc.string({ maxLength: 10 }), fc.integer({ min: 0, max: 31 }), fc.string({ maxLength: 10 }))
      .map(([a, code, b]) => `x${a}${String.fromCharCode(code)}${b}x`);
    fc.assert(
      fc.property(settingKey, withControl, (key, value) =>
        expectRejected({ clusterName: "c", ecsSettings: { [key]: value } }, /^ecsSettings\./),
      ),
      { numRuns: 200 },
    );
  });

  it("any key outside ^ECS_[A-Z0-9_]+$ is refused", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }).filter((k) => !/^ECS_[A-Z0-9_]+$/.test(k) && k !== "__proto__"),
        (key) => expectRejected({ clusterName: "c", ecsSettings: { [key]: "1" } }, /^ecsSettings key$/),
      ),
      { numRuns: 200 },
    );
  });
});
