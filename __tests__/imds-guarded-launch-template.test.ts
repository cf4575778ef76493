import { AnnotationMetadataEntryType, App, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { Construct } from "constructs";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
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
import { evaluateHcl, parseHclExpression, substituteJoin, unwrapInterpolation } from "./support/hcl";

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

  it("gives cloud-init the guard's parts and an ecs.config that names the cluster", () => {
    const { template, guard } = synthesize({ clusterName: "prod" });
    const [parts] = parseWithCloudInit([decodedUserData(template)]);
    expect(parts.map((p) => [p.contentType, p.filename])).toEqual(
      guard.userData.parts.map((p) => [p.contentType, p.filename]),
    );
    expect(parts.map((p) => p.contentType)).toEqual(["text/cloud-boothook", "text/x-shellscript"]);
    const script = parts[1].payload;
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

  it("synthesizes each allowed one with the blocks its modes need", () => {
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
      expect(types).toEqual([...(networkModes.includes("bridge") ? ["text/cloud-boothook"] : []), "text/x-shellscript"]);
      const script = parts[parts.length - 1].payload;
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

/** The launch template's user data expression, parsed by HCL, with its precondition conditions. */
async function tokenCase(props: (scope: Construct) => ImdsGuardedLaunchTemplateProps) {
  const synthesized = synthesize(props);
  const { json, template } = synthesized;
  const locals = json.locals as Record<string, string>;
  expect(Object.keys(locals)).toHaveLength(1);
  const [localName, localValue] = Object.entries(locals)[0];
  expect(template.user_data).toBe(`\${local.${localName}}`);
  const expression = await parseHclExpression(unwrapInterpolation(localValue));
  return { ...synthesized, localName, expression };
}

function withoutBoundary(text: string, boundary: string | undefined): string {
  expect(boundary).toBeDefined();
  return text.split(boundary as string).join("<boundary>");
}

describe("a cluster name known only at plan time", () => {
  it("takes the name of an aws_ecs_cluster in the same stack as a Terraform expression", async () => {
    const nasty = "#!/bin/bash\necho \"${HOME}\" '%{x}' \\ $${y}\ttab\r\n";
    const { template, expression, guard, json } = await tokenCase((scope) => ({
      clusterName: new EcsCluster(scope, "cluster", { name: "prod" }).name,
      extraParts: [{ contentType: "text/x-shellscript", content: nasty }],
    }));
    expect(guard.userData.unresolved).toBe(true);
    expect(template.user_data).not.toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(expression.type).toBe("function");
    expect(expression.meta.name).toBe("base64encode");
    const clusterReference = `aws_ecs_cluster.${Object.keys(json.resource.aws_ecs_cluster)[0]}.name`;
    // What Terraform will encode, with the name filled in, is what the renderer gives for that name.
    const planned = substituteJoin(expression.children[0], clusterReference, "prod");
    const literal = renderUserData({ clusterName: "prod", extraParts: [{ contentType: "text/x-shellscript", content: nasty }] });
    // The boundary is chosen from the parts' text, which holds the reference instead of the name.
    expect(withoutBoundary(planned, guard.userData.boundary)).toBe(withoutBoundary(literal.text, literal.boundary));
    const [parts] = parseWithCloudInit([Buffer.from(planned, "utf8")]);
    expect(parts.map((p) => p.contentType)).toEqual(["text/cloud-boothook", "text/x-shellscript", "text/x-shellscript"]);
    expect(parts[1].payload).toMatch(/^ECS_CLUSTER=prod$/m);
    expect(parts[2].payload).toBe(nasty);
  });

  it("checks the name and the size at plan time with preconditions", async () => {
    const { template, localName, guard } = await tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
    }));
    expect(warningsOf(guard)).toEqual([]);
    const [nameCheck, sizeCheck] = template.lifecycle.precondition;
    expect(nameCheck.error_message).toMatch(/clusterName is invalid: an ECS cluster name is 1-255 letters, digits/);
    const nameCondition = await parseHclExpression(unwrapInterpolation(nameCheck.condition));
    // The plan-time check accepts and refuses exactly what the synth-time rule does.
    for (const candidate of ["a", "prod_01-x", "x".repeat(255), "", "x".repeat(256), "my cluster", "a.b", "ü", "a\nb"]) {
      let synthTime = true;
      try {
        renderUserData({ clusterName: candidate });
      } catch {
        synthTime = false;
      }
      const planTime = evaluateHcl(nameCondition, { "var.cluster_name": candidate });
      expect([candidate, planTime]).toEqual([candidate, synthTime]);
    }

    expect(sizeCheck.error_message).toMatch(/larger than 16384 bytes/);
    const sizeCondition = await parseHclExpression(unwrapInterpolation(sizeCheck.condition));
    // The check reads the decoded size off the base64 value, exactly, around the limit.
    for (const bytes of [0, 1, 2, 3, 4, 16382, 16383, 16384, 16385, 16386, 16387, 20000]) {
      const value = randomBytes(bytes).toString("base64");
      expect([bytes, evaluateHcl(sizeCondition, { [`local.${localName}`]: value })]).toEqual([bytes, bytes <= 16384]);
    }
  });

  it("lets Terraform compress with base64gzip when gzip is set", async () => {
    const { expression, guard } = await tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
      gzip: true,
    }));
    expect(guard.userData.gzip).toBe(true);
    expect(expression.meta.name).toBe("base64gzip");
    const literal = renderUserData({ clusterName: "c" });
    const planned = substituteJoin(expression.children[0], "var.cluster_name", "c");
    expect(withoutBoundary(planned, guard.userData.boundary)).toBe(withoutBoundary(literal.text, literal.boundary));
  });

  it("puts the reference into Bottlerocket's TOML", async () => {
    const { expression } = await tokenCase((scope) => ({
      clusterName: new TerraformVariable(scope, "cluster_name", { type: "string" }).stringValue,
      platform: "bottlerocket",
      networkModes: ["awsvpc"],
    }));
    const planned = substituteJoin(expression.children[0], "var.cluster_name", "c");
    expect(planned).toBe(renderUserData({ clusterName: "c", platform: "bottlerocket", networkModes: ["awsvpc"] }).text);
  });

  it("refuses a reference anywhere but clusterName", () => {
    expect(() =>
      synthesize((scope) => ({
        clusterName: "c",
        ecsSettings: { ECS_LOGLEVEL: new TerraformVariable(scope, "level", { type: "string" }).stringValue },
      })),
    ).toThrow(/ecsSettings\.ECS_LOGLEVEL = .* is invalid: must be known at synth time/);
  });
});
