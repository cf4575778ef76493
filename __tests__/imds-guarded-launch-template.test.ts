import { AnnotationMetadataEntryType, App, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { Construct } from "constructs";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataAwsSsmParameter } from "@cdktf/provider-aws/lib/data-aws-ssm-parameter";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { LaunchTemplate } from "@cdktf/provider-aws/lib/launch-template";
import {
  ImdsGuardedLaunchTemplate,
  ImdsGuardedLaunchTemplateProps,
  NetworkMode,
  Platform,
  renderUserData,
  UserDataValidationError,
} from "../lib";
import { parseWithCloudInit } from "./support/cloud-init";
import { parseHcl } from "./support/terraform-hcl";
import { offlineConfiguration, TERRAFORM, TerraformPlan, unwrapInterpolation, withTerraform } from "./support/terraform";
import { describeWhen, hasCloudInit, hasProgram, itWhen } from "./support/tools";

interface SynthesizedTemplate {
  readonly guard: ImdsGuardedLaunchTemplate;
  readonly stack: TerraformStack;
  readonly synthesized: string;
  readonly json: any;
  /** The only aws_launch_template of the stack. */
  readonly template: any;
}

function synthesize(props: ImdsGuardedLaunchTemplateProps | ((scope: Construct) => ImdsGuardedLaunchTemplateProps)): SynthesizedTemplate {
  const stack = new TerraformStack(Testing.app(), "test");
  const guard = new ImdsGuardedLaunchTemplate(stack, "guard", typeof props === "function" ? props(stack) : props);
  const synthesized = Testing.synth(stack);
  const json = JSON.parse(synthesized);
  const templates = Object.values(json.resource.aws_launch_template);
  expect(templates).toHaveLength(1);
  return { guard, stack, synthesized, json, template: templates[0] };
}

function warningsOf(construct: Construct): string[] {
  return construct.node.metadata.filter((entry) => entry.type === AnnotationMetadataEntryType.WARN).map((entry) => String(entry.data));
}

function decodedUserData(template: any): Buffer {
  expect(template.user_data).toMatch(/^[A-Za-z0-9+/]+=*$/);
  return Buffer.from(template.user_data, "base64");
}

describe("ImdsGuardedLaunchTemplate with literal inputs", () => {
  it("locks the metadata options and carries the rendered user data as final base64", () => {
    const { synthesized, template, guard } = synthesize({ clusterName: "prod" });
    expect(synthesized).toHaveResourceWithProperties(LaunchTemplate, {
      name_prefix: "ecs-imds-guard-",
      update_default_version: true,
      metadata_options: {
        http_endpoint: "enabled",
        http_tokens: "required",
        http_put_response_hop_limit: 1,
        http_protocol_ipv6: "disabled",
        instance_metadata_tags: "disabled",
      },
    });
    // The JSON holds the final bytes: the same document the renderer gives for these options.
    const expected = renderUserData({ clusterName: "prod" });
    expect(decodedUserData(template).toString("utf8")).toBe(expected.text);
    expect(guard.userDataText).toBe(expected.text);
    expect(guard.userDataBase64).toBe(template.user_data);
    expect(template.lifecycle).toBeUndefined();
  });

  itWhen({ "cloud-init": hasCloudInit() })("gives cloud-init the guard's parts and an ecs.config that names the cluster", () => {
    const { template, guard } = synthesize({ clusterName: "prod" });
    const [parts] = parseWithCloudInit([decodedUserData(template)]);
    expect(parts.map((p) => [p.contentType, p.filename])).toEqual(
      guard.userData.parts.map((p) => [p.contentType, p.filename]),
    );
    expect(parts.map((p) => p.contentType)).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
    // The boothook installs the guard script that writes ecs.config (before every start of the agent).
    const script = parts[0].payload;
    expect(script).toMatch(/^ECS_CLUSTER=prod$/m);
    expect(script).toMatch(/^ECS_AWSVPC_BLOCK_IMDS=true$/m);
    expect(parts[0].payload).toContain("DOCKER-USER");
    expect(parts[0].payload).toContain("169.254.169.254/32");
  });

  it("reads the recommended ECS-optimized AMI of each platform and architecture from SSM, unmasked", () => {
    const expected: Array<[Platform, "x86_64" | "arm64", string]> = [
      ["al2023", "x86_64", "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"],
      ["al2023", "arm64", "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"],
      ["al2", "x86_64", "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id"],
      ["al2", "arm64", "/aws/service/ecs/optimized-ami/amazon-linux-2/arm64/recommended/image_id"],
      ["bottlerocket", "x86_64", "/aws/service/bottlerocket/aws-ecs-2/x86_64/latest/image_id"],
      ["bottlerocket", "arm64", "/aws/service/bottlerocket/aws-ecs-2/arm64/latest/image_id"],
    ];
    for (const [platform, architecture, parameter] of expected) {
      const { synthesized, json, template } = synthesize({ clusterName: "c", platform, architecture, networkModes: ["awsvpc"] });
      expect(synthesized).toHaveDataSourceWithProperties(DataAwsSsmParameter, { name: parameter });
      const [dataName] = Object.keys(json.data.aws_ssm_parameter);
      expect(template.image_id).toBe(`\${data.aws_ssm_parameter.${dataName}.insecure_value}`);
    }
  });

  it("uses an explicit AMI without any SSM lookup", () => {
    const { json, template, guard } = synthesize({ clusterName: "c", imageId: "ami-0123456789abcdef0" });
    expect(template.image_id).toBe("ami-0123456789abcdef0");
    expect(json.data).toBeUndefined();
    expect(guard.amiParameter).toBeUndefined();
    expect(synthesize({ clusterName: "c", imageId: "resolve:ssm:/my/ami" }).template.image_id).toBe("resolve:ssm:/my/ami");
  });

  it("wires the launch template fields", () => {
    const { synthesized, template } = synthesize({
      clusterName: "c",
      ipv6Imds: true,
      instanceMetadataTags: true,
      instanceType: "m7g.large",
      architecture: "arm64",
      iamInstanceProfile: "ecs-instance",
      securityGroupIds: ["sg-0123456789abcdef0"],
      keyName: "ops key",
      namePrefix: "team-a-",
      blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { volumeSize: 50, volumeType: "gp3", encrypted: "true" } }],
      tags: { team: "a" },
    });
    expect(synthesized).toHaveResourceWithProperties(LaunchTemplate, {
      instance_type: "m7g.large",
      iam_instance_profile: { name: "ecs-instance" },
      vpc_security_group_ids: ["sg-0123456789abcdef0"],
      key_name: "ops key",
      name_prefix: "team-a-",
      block_device_mappings: [{ device_name: "/dev/xvda", ebs: { volume_size: 50, volume_type: "gp3", encrypted: "true" } }],
    });
    expect(template.metadata_options.http_protocol_ipv6).toBe("enabled");
    expect(template.metadata_options.instance_metadata_tags).toBe("enabled");
    const tags = { "ecs-imds-guard:network-modes": "bridge+awsvpc", team: "a" };
    expect(template.tags).toEqual(tags);
    expect(template.tag_specifications).toEqual([
      { resource_type: "instance", tags },
      { resource_type: "volume", tags },
    ]);
  });

  it("passes an instance profile ARN as arn", () => {
    const arn = "arn:aws:iam::123456789012:instance-profile/ecs-instance";
    expect(synthesize({ clusterName: "c", iamInstanceProfile: arn }).template.iam_instance_profile).toEqual({ arn });
  });

  it("raises the hop limit only with the explicit opt-out, and warns what it opens", () => {
    expect(() => synthesize({ clusterName: "c", httpPutResponseHopLimit: 2 })).toThrow(
      /httpPutResponseHopLimit = 2 is invalid: .*bridge-mode containers obtain IMDSv2 tokens; set allowRaisedHopLimit: true/,
    );
    const { template, guard } = synthesize({ clusterName: "c", httpPutResponseHopLimit: 2, allowRaisedHopLimit: true });
    expect(template.metadata_options.http_put_response_hop_limit).toBe(2);
    expect(template.metadata_options.http_tokens).toBe("required");
    const warnings = warningsOf(guard);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/raised-hop-limit.*bridge mode.*can obtain tokens/);
    for (const bad of [0, 1.5, 65, Number.NaN]) {
      expect(() => synthesize({ clusterName: "c", httpPutResponseHopLimit: bad, allowRaisedHopLimit: true })).toThrow(
        /httpPutResponseHopLimit = .* is invalid: must be an integer from 1 to 64/,
      );
    }
  });

  it.each<[number, string]>([
    [0, "0"],
    [1.5, "1.5"],
    [65, "65"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [Number.NEGATIVE_INFINITY, "-Infinity"],
    [-0, "-0"],
  ])("names the hop limit %p as %s when refusing it", (bad, shown) => {
    expect(() => synthesize({ clusterName: "c", httpPutResponseHopLimit: bad, allowRaisedHopLimit: true })).toThrow(
      `ecs-imds-guard: httpPutResponseHopLimit = ${shown} is invalid: must be an integer from 1 to 64`,
    );
  });

  it("refuses a Terraform reference as hop limit, naming the reference", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    const hopLimit = new TerraformVariable(stack, "hop_limit", { type: "number" }).numberValue;
    expect(() => new ImdsGuardedLaunchTemplate(stack, "guard", { clusterName: "c", httpPutResponseHopLimit: hopLimit, allowRaisedHopLimit: true })).toThrow(
      'ecs-imds-guard: httpPutResponseHopLimit = "${var.hop_limit}" is invalid: must be known at synth time: a Terraform reference is not allowed here',
    );
  });

  it.each<[string, Partial<ImdsGuardedLaunchTemplateProps>, RegExp]>([
    ["instanceType", { instanceType: "T3.Medium" }, /instanceType = "T3.Medium" is invalid: must be an EC2 instance type/],
    ["iamInstanceProfile", { iamInstanceProfile: "has space" }, /iamInstanceProfile = "has space" is invalid/],
    ["securityGroupIds", { securityGroupIds: ["sg-0123456789abcdef0", "default"] }, /securityGroupIds\[1\] = "default" is invalid/],
    ["imageId", { imageId: "ubuntu" }, /imageId = "ubuntu" is invalid: must be an AMI id/],
    ["namePrefix", { namePrefix: "bad prefix" }, /namePrefix = "bad prefix" is invalid/],
    ["namePrefix length", { namePrefix: "x".repeat(103) }, /namePrefix = .* is invalid: must be 1-102/],
    ["architecture", { architecture: "i386" as never }, /architecture = "i386" is invalid/],
    ["tag key", { tags: { "aws:reserved": "x" } }, /tags = "aws:reserved" is invalid/],
    ["keyName", { keyName: "line\nbreak" }, /keyName = "line\\nbreak" is invalid/],
  ])("refuses a bad %s with the field, the value and the rule", (_name, extra, message) => {
    let thrown: unknown;
    try {
      synthesize({ clusterName: "c", ...extra });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UserDataValidationError);
    expect((thrown as Error).message).toMatch(message);
  });
});

describe("warnings", () => {
  it("has none for the default configuration", () => {
    expect(warningsOf(synthesize({ clusterName: "c" }).guard)).toEqual([]);
  });

  it("turns the renderer's warnings into annotations on the construct", () => {
    expect(warningsOf(synthesize({ clusterName: "c", networkModes: ["bridge", "host"] }).guard)).toEqual([
      expect.stringMatching(/host-network-mode.*ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST/),
    ]);
    expect(warningsOf(synthesize({ clusterName: "c", platform: "al2" }).guard)).toEqual([
      expect.stringMatching(/al2-end-of-support.*2026-06-30/),
    ]);
    expect(warningsOf(synthesize({ clusterName: "c", platform: "bottlerocket", networkModes: ["bridge"] }).guard)).toEqual([
      expect.stringMatching(/bottlerocket-bridge-mode.*hop limit/),
    ]);
  });

  it("fails synth on an invalid cluster name, and writes nothing", () => {
    const outdir = mkdtempSync(join(tmpdir(), "ecs-imds-guard-"));
    try {
      const app = new App({ outdir });
      const stack = new TerraformStack(app, "test");
      expect(() => new ImdsGuardedLaunchTemplate(stack, "guard", { clusterName: "my cluster" })).toThrow(
        'ecs-imds-guard: clusterName = "my cluster" is invalid: must be 1-255 characters of letters, digits, hyphens (-) and underscores (_)',
      );
      const files = readdirSync(outdir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
      expect(files).toEqual([]);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe("every platform and network-mode combination", () => {
  const platforms: Platform[] = ["al2023", "al2", "bottlerocket"];
  const modes: NetworkMode[] = ["bridge", "awsvpc", "host"];
  const subsets = [1, 2, 3, 4, 5, 6, 7].map((bits) => modes.filter((_, i) => bits & (1 << i)));

  itWhen({ "cloud-init": hasCloudInit() })("synthesizes each allowed one with the blocks its modes need", () => {
    const amazonLinux: Array<{ modes: NetworkMode[]; template: any }> = [];
    for (const platform of platforms) {
      for (const networkModes of subsets) {
        const { template, guard } = synthesize({ clusterName: "c", platform, networkModes });
        expect(template.metadata_options.http_put_response_hop_limit).toBe(1);
        expect(template.metadata_options.http_tokens).toBe("required");
        const codes = warningsOf(guard).map((w) => /^ecs-imds-guard \(([a-z0-9-]+)\)/.exec(w)?.[1]);
        expect(codes.includes("host-network-mode")).toBe(networkModes.includes("host"));
        expect(codes.includes("al2-end-of-support")).toBe(platform === "al2");
        expect(codes.includes("bottlerocket-bridge-mode")).toBe(platform === "bottlerocket" && networkModes.includes("bridge"));
        if (platform === "bottlerocket") {
          const toml = decodedUserData(template).toString("utf8");
          expect(toml).toMatch(/^\[settings\.ecs\]$/m);
          expect(toml).toMatch(/^cluster = "c"$/m);
          expect(/^awsvpc-block-imds = true$/m.test(toml)).toBe(networkModes.includes("awsvpc"));
        } else {
          amazonLinux.push({ modes: networkModes, template });
        }
      }
    }
    // One cloud-init run for all Amazon Linux documents.
    const parsed = parseWithCloudInit(amazonLinux.map(({ template }) => decodedUserData(template)));
    parsed.forEach((parts, index) => {
      const networkModes = amazonLinux[index].modes;
      const types = parts.map((p) => p.contentType);
      expect(types).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
      expect(parts[0].payload.includes("DOCKER-USER")).toBe(networkModes.includes("bridge"));
      const script = parts[0].payload;
      expect(/^ECS_AWSVPC_BLOCK_IMDS=true$/m.test(script)).toBe(networkModes.includes("awsvpc"));
      expect(/^ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true$/m.test(script)).toBe(networkModes.includes("host"));
    });
  });

  it.each<[string, Partial<ImdsGuardedLaunchTemplateProps>, RegExp]>([
    ["no network mode", { networkModes: [] }, /networkModes = \[\] is invalid: must list at least one/],
    ["an unknown mode", { networkModes: ["bridge", "nat" as NetworkMode] }, /networkModes\[1\] = "nat" is invalid/],
    ["a mode twice", { networkModes: ["awsvpc", "awsvpc"] }, /networkModes\[1\] = "awsvpc" is invalid: is listed twice/],
    ["windows", { platform: "windows" as Platform }, /platform = "windows" is invalid: Windows is not supported/],
    ["an unknown platform", { platform: "ubuntu" as Platform }, /platform = "ubuntu" is invalid: must be one of/],
    [
      "iptables-services on bottlerocket",
      { platform: "bottlerocket", firewallPersistence: "iptables-services" },
      /firewallPersistence = "iptables-services" is invalid: applies to Amazon Linux only/,
    ],
    [
      "extra parts on bottlerocket",
      { platform: "bottlerocket", extraParts: [{ contentType: "text/x-shellscript", content: "#!/bin/sh\n" }] },
      /extraParts = .* is invalid/,
    ],
    ["gzip on bottlerocket", { platform: "bottlerocket", gzip: true }, /gzip = true is invalid/],
  ])("fails with its message for %s", (_name, extra, message) => {
    expect(() => synthesize({ clusterName: "c", ...extra })).toThrow(message);
  });
});

/** A stack whose cluster name is a reference: the launch template, and the local its user_data reads. */
function tokenCase(props: (scope: Construct) => ImdsGuardedLaunchTemplateProps) {
  const synthesized = synthesize(props);
  const { json, template } = synthesized;
  const locals = json.locals as Record<string, string>;
  expect(Object.keys(locals)).toHaveLength(1);
  const [localName] = Object.keys(locals);
  expect(template.user_data).toBe(`\${local.${localName}}`);
  return { ...synthesized, localName };
}

/** Plans the stack offline (see offlineConfiguration) once per set of variable values. */
function planned(json: any, runs: ReadonlyArray<Record<string, unknown>>): TerraformPlan[] {
  return withTerraform(offlineConfiguration(json), (workspace) => runs.map((variables) => workspace.plan(variables)));
}

function withoutBoundary(text: string, boundary: string | undefined): string {
  expect(boundary).toMatch(/^==ECS-IMDS-GUARD-[0-9a-f]{24}==$/);
  return text.split(boundary as string).join("<boundary>");
}

describeWhen({ terraform: hasProgram(TERRAFORM), "cloud-init": hasCloudInit() })("a cluster name known only at plan time, planned by Terraform", () => {
  it("takes the name of an aws_ecs_cluster in the same stack and gives the bytes the renderer gives for that name", () => {
    const nasty = "#!/bin/bash\necho \"${HOME}\" '%{x}' \\ $${y}\ttab\r\n";
    const endsInCr = "#!/bin/bash\necho cr\r";
    // Not in NFC: Terraform would compose it to "café" in a string; as base64 it arrives as written.
    const decomposed = "#!/bin/bash\necho cafe\u0301\n";
    const extraParts = [
      { contentType: "text/x-shellscript" as const, content: nasty },
      { contentType: "text/x-shellscript" as const, content: endsInCr },
      { contentType: "text/x-shellscript" as const, content: decomposed },
    ];
    const { guard, json } = tokenCase((scope) => ({
      clusterName: new EcsCluster(scope, "cluster", { name: "prod" }).name,
      extraParts,
    }));
    expect(guard.userData.unresolved).toBe(true);
    expect(Object.values(json.locals)[0]).toMatch(/^\$\{base64encode\(join\("", \[/);
    const [plan] = planned(json, [{}]);
    expect(plan.diagnostics).toEqual([]);
    const bytes = Buffer.from(plan.outputs[Object.keys(json.locals)[0]] as string, "base64");
    // What Terraform encodes, with the name filled in, is what the renderer gives for that name.
    const literal = renderUserData({ clusterName: "prod", extraParts });
    expect(withoutBoundary(bytes.toString("utf8"), guard.userData.boundary)).toBe(withoutBoundary(literal.text, literal.boundary));
    const [parts] = parseWithCloudInit([bytes]);
    expect(parts).toEqual(literal.parts.map((p) => ({ contentType: p.contentType, filename: p.filename, payload: p.content })));
    expect(parts.slice(-3).map((p) => p.payload)).toEqual([nasty, endsInCr, decomposed]);
  });

  it("checks the name at plan time with a precondition that accepts and refuses what synth does", () => {
    const { template, json } = tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
    }));
    const [nameCheck, sizeCheck] = template.lifecycle.precondition;
    expect(nameCheck.error_message).toMatch(/clusterName is invalid: an ECS cluster name is 1-255 letters, digits/);
    expect(sizeCheck.error_message).toMatch(/larger than 16384 bytes/);
    const candidates = ["a", "prod_01-x", "x".repeat(255), "", "x".repeat(256), "my cluster", "a.b", "ü", "a\nb", "$(reboot)"];
    const plans = planned(json, candidates.map((name) => ({ cluster_name: name })));
    candidates.forEach((candidate, index) => {
      let synthTime = true;
      try {
        renderUserData({ clusterName: candidate });
      } catch {
        synthTime = false;
      }
      const plan = plans[index];
      expect([candidate, plan.ok]).toEqual([candidate, synthTime]);
      if (!synthTime) {
        expect([candidate, plan.diagnostics.map((d) => [d.summary, d.detail])]).toEqual([
          candidate,
          [["Resource precondition failed", nameCheck.error_message]],
        ]);
      }
    });
  });

  it("writes the same plan-time checks in cdktf synth --hcl as in the JSON", async () => {
    const { stack, template } = tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
    }));
    const hcl = await parseHcl(Testing.synthHcl(stack));
    const [written] = Object.values<any[]>(hcl.resource.aws_launch_template);
    expect(written[0].lifecycle).toEqual([{ precondition: template.lifecycle.precondition }]);
  });

  it("reads the decoded size off the base64 value exactly, around the limit", () => {
    const { template, localName } = tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
    }));
    const condition = unwrapInterpolation(template.lifecycle.precondition[1].condition);
    expect(condition).toContain(`local.${localName}`);
    const sizes = [0, 1, 2, 3, 4, 16382, 16383, 16384, 16385, 16386, 16387, 20000];
    const expressions = sizes.map((bytes) => condition.split(`local.${localName}`).join(`"${randomBytes(bytes).toString("base64")}"`));
    const results = withTerraform({}, (workspace) => workspace.console(expressions));
    expect(sizes.map((bytes, i) => [bytes, results[i]])).toEqual(sizes.map((bytes) => [bytes, bytes <= 16384]));
  });

  it("lets Terraform compress with base64gzip when gzip is set, and stops the plan above 16384 compressed bytes", () => {
    // Random base64 text compresses to about 3/4: 23000 characters do not fit, 2000 do.
    const part = (characters: number) => ({
      contentType: "text/cloud-config" as const,
      content: `#cloud-config\n# ${randomBytes(characters).toString("base64").slice(0, characters)}\n`,
    });
    const small = part(2000);
    const { json, guard } = tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
      gzip: true,
      extraParts: [small],
    }));
    expect(guard.userData.gzip).toBe(true);
    expect(Object.values(json.locals)[0]).toMatch(/^\$\{base64gzip\(join\(/);
    const [plan] = planned(json, [{ cluster_name: "c" }]);
    expect(plan.diagnostics).toEqual([]);
    const text = gunzipSync(Buffer.from(plan.outputs[Object.keys(json.locals)[0]] as string, "base64")).toString("utf8");
    const literal = renderUserData({ clusterName: "c", gzip: true, extraParts: [small] });
    expect(withoutBoundary(text, guard.userData.boundary)).toBe(withoutBoundary(literal.text, literal.boundary));

    const { json: large } = tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
      gzip: true,
      extraParts: [part(23000)],
    }));
    const [tooLarge] = planned(large, [{ cluster_name: "c" }]);
    expect(tooLarge.diagnostics.map((d) => [d.summary, d.detail])).toEqual([
      ["Resource precondition failed", expect.stringMatching(/^ecs-imds-guard: the user data is larger than 16384 bytes/)],
    ]);
  });

  it("puts the reference into Bottlerocket's TOML", () => {
    const { json } = tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
      platform: "bottlerocket",
      networkModes: ["awsvpc"],
    }));
    const [plan] = planned(json, [{ cluster_name: "c" }]);
    expect(Buffer.from(plan.outputs[Object.keys(json.locals)[0]] as string, "base64").toString("utf8")).toBe(
      renderUserData({ clusterName: "c", platform: "bottlerocket", networkModes: ["awsvpc"] }).text,
    );
  });
});

describe("a cluster name known only at plan time", () => {
  it("refuses a reference anywhere but clusterName", () => {
    expect(() =>
      synthesize((scope) => ({
        clusterName: "c",
        ecsSettings: { ECS_LOGLEVEL: new TerraformVariable(scope, "level", { type: "string" }).stringValue },
      })),
    ).toThrow(/ecsSettings\.ECS_LOGLEVEL = .* is invalid: must be known at synth time/);
  });
});
