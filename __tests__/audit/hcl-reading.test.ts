/**
 * Reading HCL: only the blocks the audit reads go to the parser, split without losing one, and a
 * module's references resolve both as a root (`module.m`) and as a whole accessor (`module.m.out`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { judge, readAuditInputs } from "../../lib/audit";
import { hcl } from "../../lib/audit/evaluate/expression";
import { readBlocks } from "../../lib/audit/read/hcl";
import { ModuleInstance } from "../../lib/audit/read/module";
import { ModuleLoader } from "../../lib/audit/read/modules";
import { isUnknownValue } from "../../lib/audit/read/reference";

const FIXTURES = join(resolve(__dirname, "..", ".."), "__tests__", "fixtures", "audit");

jest.setTimeout(60_000);

describe("the block scanner", () => {
  const TRICKY = `# a comment with { braces
resource "aws_iam_policy" "p" {
  policy = jsonencode({ a = "}" })
  description = "\${format("%s}", "{")} \\" } still a string"
}

/* resource "aws_launch_template" "commented" { */

resource "aws_launch_template" "t" {
  user_data = base64encode(<<-EOT
    #!/bin/bash
    echo "}" } {
    EOT
  )
  // a } in a line comment
}

locals {
  x = "%{ if true }}%{ endif }"
}

data "template_file" "t" {
  template = <<EOF
\${a} }
EOF
}

terraform {
  required_version = ">= 1.0"
}
`;

  it("keeps exactly the blocks the audit reads, whatever braces their strings, heredocs and comments hold", () => {
    const blocks = readBlocks(TRICKY);
    expect(blocks?.map((block) => [block.type, ...block.labels])).toEqual([
      ["resource", "aws_launch_template", "t"],
      ["locals"],
      ["data", "template_file", "t"],
    ]);
  });

  it("gives the parser what it gives for the whole file, for the blocks kept", async () => {
    const whole = (await hcl().parse("main.tf", TRICKY)) as Record<string, Record<string, unknown>>;
    const kept = (await hcl().parse("main.tf", (readBlocks(TRICKY) ?? []).map((block) => block.text).join("\n\n"))) as Record<string, Record<string, unknown>>;
    expect(kept.resource).toEqual({ aws_launch_template: whole.resource.aws_launch_template });
    expect(kept.locals).toEqual(whole.locals);
    expect(kept.data).toEqual(whole.data);
  });

  it("declines text it cannot split, so the parser sees the whole file", () => {
    expect(readBlocks('resource "aws_launch_template" "x" {\n  user_data = \n')).toBeUndefined();
    expect(readBlocks('resource "aws_launch_template" "x" {\n  user_data = "unclosed\n}\n')).toBeUndefined();
    expect(readBlocks("= 1\n")).toBeUndefined();
  });

  it("never loses a block among blocks of any order (property)", () => {
    const block = fc.constantFrom(
      'variable "v" {\n  default = "{"\n}\n',
      'resource "aws_security_group" "sg" {\n  ingress {\n    description = "}"\n  }\n}\n',
      'resource "aws_instance" "i" {\n  user_data = <<-EOT\n    }\n  EOT\n}\n',
      'output "o" {\n  value = "${"}"}"\n}\n',
      "# }\n",
      'provider "aws" {\n  region = "eu-west-1"\n}\n',
    );
    fc.assert(
      fc.property(fc.array(block, { maxLength: 12 }), (parts) => {
        const read = (readBlocks(parts.join("\n")) ?? []).map((b) => b.labels[0] ?? b.type);
        const expected = parts.flatMap((part) => (part.startsWith("variable") ? ["v"] : part.startsWith('resource "aws_instance"') ? ["aws_instance"] : part.startsWith("output") ? ["o"] : []));
        expect(read).toEqual(expected);
      }),
    );
  });
});

describe("references in a module's scope", () => {
  it("answers the root and the whole accessor alike: module outputs, data sources by key, variables", async () => {
    const dir = join(FIXTURES, "modules-downloaded");
    const loader = new ModuleLoader(dir);
    const scope = new ModuleInstance(await loader.load(dir), loader, [], "", new Map()).scope();
    const script = (await scope.resolve("module.bootstrap.user_data")) as string;
    expect(script).toBe("#!/bin/bash\necho ECS_CLUSTER=prod-ecs >> /etc/ecs/ecs.config\necho ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n");
    expect(await scope.resolve("module.bootstrap")).toEqual({ user_data: script });
    // A repeated call: a map by for_each key, or one key's output.
    const asg = (await scope.resolve("module.asg")) as Record<string, Record<string, unknown>>;
    expect(Object.keys(asg)).toEqual(["a", "b"]);
    // An output of a resource attribute stays a value known only at apply time, naming it.
    const id = await scope.resolve('module.asg["a"].launch_template_id');
    expect(isUnknownValue(id)).toBe(true);
    expect(JSON.stringify(id)).toContain("aws_launch_template.this[0].id");
    expect(await scope.resolve("local.pools")).toEqual({ a: { hop_limit: 1 }, b: { hop_limit: 2 } });
    expect(await scope.resolve('local.pools["b"].hop_limit')).toBe(2);

    const data = join(FIXTURES, "data-sources");
    const dataLoader = new ModuleLoader(data);
    const dataScope = new ModuleInstance(await dataLoader.load(data), dataLoader, [], "", new Map()).scope();
    const pools = (await dataScope.resolve("data.template_file.pool")) as Record<string, { rendered: string }>;
    expect(Object.keys(pools)).toEqual(["guarded", "open"]);
    expect(await dataScope.resolve('data.template_file.pool["open"].rendered')).toBe(pools.open.rendered);
    expect(pools.open.rendered).toBe("#!/bin/bash\necho ECS_CLUSTER=open >> /etc/ecs/ecs.config\necho ECS_AWSVPC_BLOCK_IMDS=false >> /etc/ecs/ecs.config\n");
    // A variable without default is never guessed.
    expect(await dataScope.resolve("var.cluster_name")).toBeUndefined();
  });
});

describe("images named by data sources", () => {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-image-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("takes the SSM parameter of aws_ssm_parameter and the name filter of aws_ami as where the AMI comes from", async () => {
    writeFileSync(
      join(dir, "main.tf"),
      `data "aws_ssm_parameter" "ecs" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

data "aws_ami" "ecs" {
  most_recent = true
  owners      = ["amazon"]
  filter {
    name   = "name"
    values = ["amzn2-ami-ecs-hvm-*-x86_64-ebs"]
  }
}

resource "aws_launch_template" "by_parameter" {
  image_id = data.aws_ssm_parameter.ecs.value
}

resource "aws_launch_template" "by_filter" {
  image_id = data.aws_ami.ecs.id
}
`,
    );
    const found = await readAuditInputs([dir]);
    expect(Object.fromEntries(found.map((resource) => [resource.address, resource.description.imageSource]))).toEqual({
      "aws_launch_template.by_parameter": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
      "aws_launch_template.by_filter": "amzn2-ami-ecs-hvm-*-x86_64-ebs",
    });
    expect(found[0].description.imageId).toEqual({ unknown: "${data.aws_ssm_parameter.ecs.value}" });
  });

  it("follows the image through a module input, a data source with count, a conditional and jsondecode(...).image_id", async () => {
    const root = mkdtempSync(join(dir, "module-"));
    mkdirSync(join(root, "cluster"));
    writeFileSync(
      join(root, "main.tf"),
      `variable "enabled" {
  default = true
}

data "aws_ssm_parameter" "ami" {
  count = var.enabled ? 1 : 0
  name  = "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id"
}

data "aws_ami" "legacy" {
  most_recent = true
  owners      = ["amazon"]
  filter {
    name   = "name"
    values = ["amzn-ami-*-amazon-ecs-optimized"]
  }
}

module "joined" {
  source   = "./cluster"
  image_id = join("", data.aws_ssm_parameter.ami[*].value)
}

module "first" {
  source   = "./cluster"
  image_id = data.aws_ssm_parameter.ami[0].value
}

module "legacy" {
  source   = "./cluster"
  image_id = data.aws_ami.legacy.image_id
}

variable "image_id" {
  type    = string
  default = null
}

data "aws_ssm_parameter" "recommended" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended"
}

resource "aws_launch_template" "conditional" {
  image_id = var.image_id == null ? jsondecode(data.aws_ssm_parameter.recommended.value).image_id : var.image_id
}
`,
    );
    writeFileSync(
      join(root, "cluster", "main.tf"),
      `variable "image_id" {}

resource "aws_launch_template" "this" {
  image_id = var.image_id
  metadata_options {
    http_tokens = "required"
  }
}
`,
    );
    const found = await readAuditInputs([root]);
    expect(Object.fromEntries(found.map((resource) => [resource.address, resource.description.imageSource]))).toEqual({
      "module.joined.aws_launch_template.this": "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
      "module.first.aws_launch_template.this": "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
      "module.legacy.aws_launch_template.this": "amzn-ami-*-amazon-ecs-optimized",
      "aws_launch_template.conditional": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended",
    });
    // The Amazon Linux AMI (2018.03) is registered without ImdsSupport: an unset hop limit is 1.
    const legacy = judge(found.find((resource) => resource.address === "module.legacy.aws_launch_template.this")!.description, { networkModes: ["bridge"] });
    expect(legacy.modes.bridge?.verdict).toBe("closed");
    expect(legacy.modes.bridge?.reasons.join("\n")).toMatch(/Amazon Linux \(2018\.03\) AMI \(the AMI name filter "amzn-ami-\*-amazon-ecs-optimized"\), which is registered without ImdsSupport v2\.0/);
  });

  it("follows the image through locals, conditionals, jsondecode() and an index into a counted data source, and only when Terraform would", async () => {
    const module = join(dir, "through");
    mkdirSync(module);
    writeFileSync(
      join(module, "main.tf"),
      `variable "ami_id" {
  type    = string
  default = null
}

variable "chosen" {
  type = bool
}

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

data "aws_ssm_parameter" "al2" {
  count = 1
  name  = "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended"
}

data "aws_ssm_parameter" "per_index" {
  count = 2
  name  = "/aws/service/ecs/optimized-ami/amazon-linux-\${count.index == 0 ? "2" : "2023"}/recommended/image_id"
}

locals {
  ami_id = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023.value
}

resource "aws_launch_template" "through_local" {
  image_id = local.ami_id
}

resource "aws_launch_template" "counted_json" {
  image_id = jsondecode(data.aws_ssm_parameter.al2[0].insecure_value).image_id
}

resource "aws_launch_template" "unknown_condition" {
  image_id = var.chosen ? data.aws_ssm_parameter.al2023.value : "ami-0123456789abcdef0"
}

resource "aws_launch_template" "name_per_instance" {
  image_id = data.aws_ssm_parameter.per_index[1].value
}
`,
    );
    const found = await readAuditInputs([module]);
    expect(Object.fromEntries(found.map((resource) => [resource.address, resource.description.imageSource ?? null]))).toEqual({
      "aws_launch_template.through_local": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
      "aws_launch_template.counted_json": "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended",
      // The condition waits for var.chosen: the image may be the literal AMI, so no source is named.
      "aws_launch_template.unknown_condition": null,
      // The parameter's name depends on the instance's count.index, which the module scope does not give.
      "aws_launch_template.name_per_instance": null,
    });
  });
});
