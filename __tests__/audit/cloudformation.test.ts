/**
 * CloudFormation templates as users hand them to `ecs-imds-guard audit`: YAML with the short-form
 * tags, the same template in JSON, intrinsics evaluated where the template knows them, and values
 * known only at deploy time kept as marks, never read as script text. Each expected verdict says
 * what the instance launched from the resource does.
 */
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readAuditInputs, runAudit } from "../../lib/audit";
import { CfnEvaluator, DeployTime, TemplateError } from "../../lib/audit/read/cfn-intrinsics";
import { parseTemplateFile } from "../../lib/audit/read/cloudformation";

const ROOT = resolve(__dirname, "..", "..");
const YAML_TEMPLATE = join(ROOT, "__tests__", "fixtures", "audit", "cloudformation", "ecs-capacity.yaml");

async function audit(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

const temp: string[] = [];
afterAll(() => temp.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-cfn-"));
  temp.push(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** What each resource of the YAML template launches, mode by mode. */
const EXPECTED = {
  // IMDSv2 required with hop limit 1 (IsStrict by the default "strict"); the mapping's prod value writes ECS_AWSVPC_BLOCK_IMDS=true.
  GuardedTemplate: { bridge: "closed", awsvpc: "closed" },
  // Amazon Linux 2 (IMDSv1 allowed); a FORWARD rule that Docker's own rules outrank after a restart; nothing for awsvpc.
  LegacyConfig: { bridge: "fragile", awsvpc: "open" },
  // GuardedTemplate's metadata options; its own user data turns the awsvpc block on ("true", from Fn::Select over Fn::Split).
  Worker: { bridge: "closed", awsvpc: "closed" },
  // Bottlerocket, hop limit 1, settings.ecs.awsvpc-block-imds = true.
  BottlerocketTemplate: { bridge: "closed", awsvpc: "closed" },
  // Hop limit 1; ecs.config lines given only at deploy time could set ECS_AWSVPC_BLOCK_IMDS=false or nothing.
  DeployTimeConfig: { bridge: "closed", awsvpc: "unknown" },
};

describe("a CloudFormation template in YAML with short-form tags", () => {
  it("judges each launch resource as the instance it launches behaves, and leaves out one whose condition is false", async () => {
    const run = await audit(["--format", "json", YAML_TEMPLATE]);
    expect(run.stderr).toBe("");
    const report = JSON.parse(run.stdout);
    const verdicts = Object.fromEntries(report.resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
    expect(verdicts).toEqual(EXPECTED);
    expect(report.resources.map((r: { resourceType: string }) => r.resourceType)).toEqual([
      "AWS::EC2::LaunchTemplate",
      "AWS::AutoScaling::LaunchConfiguration",
      "AWS::EC2::Instance",
      "AWS::EC2::LaunchTemplate",
      "AWS::EC2::LaunchTemplate",
    ]);
    // LegacyConfig is open in awsvpc mode: exit 1, as for Terraform.
    expect(run.code).toBe(1);
    const fragileOnly = await audit(["--network-modes", "bridge", "--fail-on", "open", YAML_TEMPLATE]);
    expect(fragileOnly.code).toBe(0);
  });

  it("reads the SSM parameter types and dynamic references that name the AMI", async () => {
    const found = await readAuditInputs([YAML_TEMPLATE]);
    const byAddress = new Map(found.map((resource) => [resource.address, resource.description]));
    expect(byAddress.get("GuardedTemplate")).toMatchObject({
      imageId: { unknown: "Ref Al2023Ami, the SSM parameter /aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id" },
      imageSource: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
      metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
    });
    expect(byAddress.get("LegacyConfig")).toMatchObject({ imageSource: "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id" });
    expect(byAddress.get("LegacyConfig")?.metadataOptions).toBeUndefined();
    expect(byAddress.get("BottlerocketTemplate")).toMatchObject({ imageSource: "/aws/service/bottlerocket/aws-ecs-2/x86_64/latest/image_id" });
    // The instance takes its launch template's metadata options and image, and its own user data.
    expect(byAddress.get("Worker")).toMatchObject({ metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 }, imageSource: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id" });
  });

  it("keeps Ref and ${} of resources and parameters without default as marks inside the user data text", async () => {
    const found = await readAuditInputs([YAML_TEMPLATE]);
    const guarded = found.find((resource) => resource.address === "GuardedTemplate")?.description.userData;
    expect(guarded).toEqual({ text: "#!/bin/bash\ncat >> /etc/ecs/ecs.config <<CONFIG\nECS_CLUSTER=\ue000Ref Cluster\ue001\nECS_AWSVPC_BLOCK_IMDS=true\nCONFIG\n" });
    const deployTime = found.find((resource) => resource.address === "DeployTimeConfig")?.description.userData;
    expect(deployTime).toEqual({ text: "#!/bin/bash\necho ECS_CLUSTER=\ue000Ref Cluster\ue001 >> /etc/ecs/ecs.config\n\ue000Ref ExtraLines, a parameter without default\ue001\n" });
    const run = await audit(["--format", "json", YAML_TEMPLATE]);
    const row = JSON.parse(run.stdout).resources.find((r: { address: string }) => r.address === "DeployTimeConfig");
    expect(row.reasons.awsvpc.join(" ")).toContain("Ref ExtraLines, a parameter without default");
  });

  it("gives the same verdicts for the same template in JSON, with the long-form functions", async () => {
    const { template } = parseTemplateFile(YAML_TEMPLATE);
    const json = tempFile("ecs-capacity.json", JSON.stringify(template, null, 2));
    const run = await audit(["--format", "json", json]);
    const verdicts = Object.fromEntries(JSON.parse(run.stdout).resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
    expect(verdicts).toEqual(EXPECTED);
  });

  it("locates SARIF results at the resource's line in the YAML and in the JSON template", async () => {
    const lineOf = (text: string, key: string) => text.split("\n").findIndex((line) => new RegExp(`^\\s*"?${key}"?\\s*:`).test(line)) + 1;
    const yamlText = readFileSync(YAML_TEMPLATE, "utf8");
    const sarif = JSON.parse((await audit(["--format", "sarif", YAML_TEMPLATE])).stdout);
    const legacy = sarif.runs[0].results.find((r: { locations: Array<{ logicalLocations: Array<{ fullyQualifiedName: string }> }> }) => r.locations[0].logicalLocations[0].fullyQualifiedName === "LegacyConfig");
    expect(legacy.locations[0].physicalLocation.region.startLine).toBe(lineOf(yamlText, "LegacyConfig"));
    expect(yamlText.split("\n")[legacy.locations[0].physicalLocation.region.startLine - 1]).toBe("  LegacyConfig:");

    const { template } = parseTemplateFile(YAML_TEMPLATE);
    const jsonText = JSON.stringify(template, null, 2);
    const json = tempFile("template.json", jsonText);
    const jsonSarif = JSON.parse((await audit(["--format", "sarif", json])).stdout);
    const result = jsonSarif.runs[0].results.find((r: { ruleId: string; locations: Array<{ logicalLocations: Array<{ fullyQualifiedName: string }> }> }) => r.locations[0].logicalLocations[0].fullyQualifiedName === "DeployTimeConfig");
    expect(jsonText.split("\n")[result.locations[0].physicalLocation.region.startLine - 1]).toBe('    "DeployTimeConfig": {');
  });
});

describe("parameter values given for the deployment", () => {
  it("--var NAME=VALUE overrides a default, as --parameter-overrides does, and the verdicts follow", async () => {
    const run = await audit(["--format", "json", "--var", "Strictness=relaxed", "--var", "Environment=dev", YAML_TEMPLATE]);
    const verdicts = Object.fromEntries(JSON.parse(run.stdout).resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
    // Relaxed: hop limit 2 on Amazon Linux 2023 lets bridge containers get a token. Dev: the mapping
    // writes ECS_AWSVPC_BLOCK_IMDS=false. And in dev, not strict, RelaxedDevTemplate is created (no
    // metadata options, a script that sets nothing).
    expect(verdicts).toEqual({
      GuardedTemplate: { bridge: "open", awsvpc: "open" },
      LegacyConfig: EXPECTED.LegacyConfig,
      Worker: { bridge: "open", awsvpc: "closed" },
      BottlerocketTemplate: EXPECTED.BottlerocketTemplate,
      DeployTimeConfig: EXPECTED.DeployTimeConfig,
      RelaxedDevTemplate: { bridge: "open", awsvpc: "open" },
    });
  });

  it("a given SSM parameter name names the AMI; --var-file is refused for a template", async () => {
    const found = await readAuditInputs([YAML_TEMPLATE], { variableArguments: [{ flag: "--var", assignment: "Al2023Ami=/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id" }] });
    expect(found.find((resource) => resource.address === "GuardedTemplate")?.description.imageSource).toBe("/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id");
    const run = await audit(["--var-file", "x.tfvars", YAML_TEMPLATE]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--var-file gives Terraform variables; give a CloudFormation template's parameters with --var NAME=VALUE");
  });
});

describe("templates the audit must read carefully", () => {
  const header = 'AWSTemplateFormatVersion: "2010-09-09"\n';

  it("a hop limit chosen by a condition over a parameter without default is unknown, naming it", async () => {
    const file = tempFile(
      "t.yaml",
      header +
        "Parameters:\n  Mode: { Type: String }\nConditions:\n  Strict: !Equals [!Ref Mode, strict]\nResources:\n  T:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData:\n        MetadataOptions:\n          HttpTokens: required\n          HttpPutResponseHopLimit: !If [Strict, 1, 2]\n",
    );
    const [row] = JSON.parse((await audit(["--format", "json", "--network-modes", "bridge", file])).stdout).resources;
    expect(row.verdicts.bridge).toBe("unknown");
    expect(row.reasons.bridge.join(" ")).toContain("Fn::If Strict (Fn::Equals over Ref Mode, a parameter without default)");
  });

  it("an intrinsic CloudFormation would refuse makes that field unknown with the rule it breaks, not the whole run", async () => {
    const file = tempFile(
      "t.yaml",
      header + "Resources:\n  T:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData:\n        UserData: !Base64 { \"Fn::Select\": [3, [a, b]] }\n        MetadataOptions: { HttpTokens: required, HttpPutResponseHopLimit: 1 }\n",
    );
    const run = await audit(["--format", "json", file]);
    expect(run.code).toBe(0);
    const [row] = JSON.parse(run.stdout).resources;
    expect(row.verdicts).toEqual({ bridge: "closed", awsvpc: "unknown" });
    expect(row.reasons.awsvpc.join(" ")).toContain("Fn::Select index 3 is outside the list of 2");
  });

  it("user data given already base64-encoded is decoded as EC2 decodes it", async () => {
    const script = Buffer.from("#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n").toString("base64");
    const file = tempFile("t.json", JSON.stringify({ Resources: { C: { Type: "AWS::AutoScaling::LaunchConfiguration", Properties: { ImageId: "ami-0123456789abcdef0", UserData: script } } } }));
    const [row] = JSON.parse((await audit(["--format", "json", "--network-modes", "awsvpc", file])).stdout).resources;
    expect(row.verdicts).toEqual({ awsvpc: "closed" });
  });

  it("an instance whose launch template is not in the template: its metadata options are unknown, saying so", async () => {
    const file = tempFile(
      "t.yaml",
      header + "Resources:\n  I:\n    Type: AWS::EC2::Instance\n    Properties:\n      ImageId: ami-0123456789abcdef0\n      LaunchTemplate: { LaunchTemplateName: shared-ecs, Version: $Default }\n",
    );
    const [row] = JSON.parse((await audit(["--format", "json", "--network-modes", "bridge", file])).stdout).resources;
    expect(row.verdicts.bridge).toBe("unknown");
    expect(row.reasons.bridge.join(" ")).toContain('the launch template "shared-ecs" is not in this template');
  });

  it("refuses a YAML file that is not a template, and short forms nested without a long form, naming the line", async () => {
    const notTemplate = tempFile("compose.yaml", "services:\n  web:\n    image: nginx\n");
    const run = await audit([notTemplate]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("not a CloudFormation template: no Resources section");
    const nested = tempFile("t.yaml", header + "Resources:\n  T:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData:\n        UserData: !Base64 !Ref Script\n");
    const bad = await audit([nested]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a CloudFormation template in JSON or YAML \(A node can have at most one tag at line 7/);
  });

  it("tells a folder without templates apart from an AWS CDK app not yet synthesized", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-cfn-empty-"));
    temp.push(dir);
    const run = await audit([dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("no cdk.out or cdktf.out folder, cdk.tf.json, .tf or .tf.json files in this folder (an AWS CDK app: run cdk synth first");
  });
});

describe("CloudFormation's intrinsic functions", () => {
  const evaluator = new CfnEvaluator({
    parameters: {
      Name: { Type: "String", Default: "web" },
      Zones: { Type: "CommaDelimitedList", Default: "a,b,c" },
      Secret: { Type: "String" },
    },
    mappings: { Sizes: { web: { Count: 3 } } },
    conditions: { IsWeb: { "Fn::Equals": [{ Ref: "Name" }, "web"] }, Unknown: { "Fn::Equals": [{ Ref: "Secret" }, "x"] }, Either: { "Fn::Or": [{ Condition: "Unknown" }, { Condition: "IsWeb" }] } },
    resources: new Set(["Cluster"]),
  });

  it("Fn::Sub reads parameters, pseudo parameters, attributes, its own variables and ${!literal}", () => {
    expect(evaluator.evaluate({ "Fn::Sub": "${Name}-${AWS::Region}-${Cluster.Arn}-${!Literal}" })).toBe("web-\ue000Ref AWS::Region\ue001-\ue000Fn::GetAtt Cluster.Arn\ue001-${Literal}");
    expect(evaluator.evaluate({ "Fn::Sub": ["${A}/${Name}", { A: { "Fn::Join": ["-", ["x", "y"]] } }] })).toBe("x-y/web");
  });

  it("Fn::If follows conditions over parameter defaults, and AWS::NoValue removes what it stands in", () => {
    expect(evaluator.evaluate({ "Fn::If": ["IsWeb", "yes", "no"] })).toBe("yes");
    expect(evaluator.evaluate({ "Fn::If": ["Either", 1, 2] })).toBe(1);
    expect(evaluator.evaluate({ "Fn::If": ["Unknown", 1, 2] })).toEqual(new DeployTime("Fn::If Unknown (Fn::Equals over Ref Secret, a parameter without default)"));
    expect(evaluator.evaluate({ "Fn::If": ["Unknown", 1, 1] })).toBe(1);
    expect(evaluator.evaluate({ A: { "Fn::If": ["IsWeb", { Ref: "AWS::NoValue" }, 1] }, B: [1, { Ref: "AWS::NoValue" }] })).toEqual({ B: [1] });
  });

  it("Fn::Select, Fn::Split and Fn::FindInMap, never splitting inside a mark", () => {
    expect(evaluator.evaluate({ "Fn::Select": [1, { Ref: "Zones" }] })).toBe("b");
    expect(evaluator.evaluate({ "Fn::FindInMap": ["Sizes", { Ref: "Name" }, "Count"] })).toBe(3);
    expect(evaluator.evaluate({ "Fn::FindInMap": ["Sizes", { Ref: "AWS::Region" }, "Count"] })).toEqual(new DeployTime("Fn::FindInMap Sizes / Ref AWS::Region / Count"));
    expect(evaluator.evaluate({ "Fn::Split": [" ", { "Fn::Sub": "a ${AWS::StackName} b" }] })).toEqual(["a", "\ue000Ref AWS::StackName\ue001", "b"]);
    expect(evaluator.evaluate({ "Fn::Select": [0, { "Fn::GetAZs": "" }] })).toEqual(new DeployTime("Fn::Select 0 of Fn::GetAZs"));
  });

  it("dynamic references are resolved at deploy time: marks", () => {
    expect(evaluator.evaluate("x={{resolve:ssm:/app/flag}}")).toBe("x=\ue000{{resolve:ssm:/app/flag}}\ue001");
  });

  it("refuses what CloudFormation refuses, naming the function and the rule", () => {
    expect(() => evaluator.evaluate({ "Fn::Select": [5, ["a"]] })).toThrow(new TemplateError("Fn::Select index 5 is outside the list of 1"));
    expect(() => evaluator.evaluate({ Ref: "Nope" })).toThrow("Ref Nope: not a parameter, resource or pseudo parameter of this template");
    // Names an object has from its prototype are not the template's.
    expect(() => evaluator.evaluate({ Ref: "constructor" })).toThrow("Ref constructor: not a parameter, resource or pseudo parameter of this template");
    expect(() => evaluator.evaluate({ "Fn::If": ["toString", 1, 2] })).toThrow("the condition toString is not in the template's Conditions");
    expect(() => evaluator.evaluate({ "Fn::FindInMap": ["Sizes", "constructor", "name"] })).toThrow("Fn::FindInMap Sizes / constructor / name: no such entry in Mappings");
    expect(() => evaluator.evaluate({ "Fn::Join": ["", { a: 1 }] })).toThrow("Fn::Join's second argument is not a list");
    expect(() => evaluator.evaluate({ "Fn::FindInMap": ["Sizes", "db", "Count"] })).toThrow("Fn::FindInMap Sizes / db / Count: no such entry in Mappings");
  });
});

describe("the CloudFormation reader on any template", () => {
  // Intrinsics with any arguments, nested: CloudFormation refuses many; the reader must answer each
  // with rows (a refused function makes its field unknown) and never crash or hang.
  const NAMES = ["Ref", "Fn::Base64", "Fn::Join", "Fn::Sub", "Fn::If", "Fn::Select", "Fn::Split", "Fn::FindInMap", "Fn::GetAtt", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition", "Fn::GetAZs", "Fn::ToJsonString", "Fn::Length", "Fn::Nope"];
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom("P", "R", "C", "AWS::Region", "AWS::NoValue", "${P}", "${R.Arn}", "${!x}", "#!/bin/bash\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n", ",", "", "{{resolve:ssm:/x}}"),
      fc.integer({ min: -1, max: 3 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("value"), { maxLength: 4 }),
      fc.record({ name: fc.constantFrom(...NAMES), argument: tie("value") }).map(({ name, argument }) => ({ [name]: argument })),
      fc.dictionary(fc.constantFrom("A", "HttpTokens", "UserData"), tie("value"), { maxKeys: 3 }),
    ),
  }));

  it("gives one row per launch resource, whatever its intrinsics", async () => {
    await fc.assert(
      fc.asyncProperty(value, value, value, async (userData, hopLimit, data) => {
        const template = {
          Parameters: { P: { Type: "String", Default: "a,b" }, S: { Type: "String" } },
          Mappings: { M: { a: { b: "c" } } },
          Conditions: { C: { "Fn::Equals": [{ Ref: "P" }, "a,b"] } },
          Resources: {
            R: { Type: "AWS::EC2::LaunchTemplate", Properties: { LaunchTemplateData: { UserData: userData, MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: hopLimit } } } },
            L: { Type: "AWS::AutoScaling::LaunchConfiguration", Properties: data },
            I: { Type: "AWS::EC2::Instance", Properties: { LaunchTemplate: { LaunchTemplateId: { Ref: "R" } }, UserData: userData } },
          },
        };
        const file = tempFile("t.json", JSON.stringify(template));
        const run = await audit(["--format", "json", "--network-modes", "bridge,awsvpc,host", file]);
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code: expect.any(Number), stderr: "" });
        expect(JSON.parse(run.stdout).resources.map((r: { address: string }) => r.address)).toEqual(["R", "L", "I"]);
      }),
      { numRuns: 150 },
    );
  });
});
