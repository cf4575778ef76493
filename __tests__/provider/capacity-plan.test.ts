/**
 * The capacity stack planned whole by `terraform test` with the AWS provider from the machine's
 * filesystem mirror, mocked (`mock_provider "aws"`: no credentials, no AWS call; the provider's own
 * schema and argument checks still apply, so the data sources' mocked values must be ones the
 * provider accepts). Each refused input is a test file of its own: a failing run skips the runs
 * after it in its file, and only an unexpected failure prints its diagnostic, which is what the
 * README promises the user sees.
 */
import { TerraformStack, Testing } from "cdktf";
import { CAPACITY_STACK_NAME, DEFAULT_CONFIG, ImdsGuardCapacityStack } from "../../app";
import { ImdsGuardedLaunchTemplate, renderUserData } from "../../lib";
import { awsProviderRequirements, mirroredAwsProviderVersions, ProviderWorkspace, TestMessage, withAwsProviderPin } from "../support/aws-provider";
import { CLUSTER_NAME_CANDIDATES } from "../support/cluster-names";
import { describeWhen } from "../support/tools";

/** A string as an HCL literal: JSON's escapes, and no template sequence. */
const hclString = (value: string) => JSON.stringify(value).replace(/\$\{/g, "$${").replace(/%\{/g, "%%{");

function synthAccepts(name: string): boolean {
  try {
    new ImdsGuardedLaunchTemplate(new TerraformStack(Testing.app(), "literal"), "guard", { clusterName: name });
    return true;
  } catch {
    return false;
  }
}

const REQUIRED = `variables {
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0123456789abcdef0"]
}
`;

/** The mocked provider. The partition goes into a policy ARN the provider checks; the AMI into image_id. */
const MOCK = `mock_provider "aws" {
  mock_data "aws_ssm_parameter" {
    defaults = { value = "ami-0123456789abcdef0", insecure_value = "ami-0123456789abcdef0" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}
`;

const planRun = (name: string, variables: Record<string, string | number>) =>
  `run "${name}" {
  command = plan
  variables {
${Object.entries(variables)
  .map(([key, value]) => `    ${key} = ${typeof value === "string" ? hclString(value) : value}`)
  .join("\n")}
  }
}
`;

describeWhen(awsProviderRequirements())("the capacity stack planned by terraform test with the mocked AWS provider", () => {
  const version = mirroredAwsProviderVersions().at(-1) as string;
  const stack = new ImdsGuardCapacityStack(Testing.app(), CAPACITY_STACK_NAME, DEFAULT_CONFIG);
  const json = withAwsProviderPin(JSON.parse(Testing.synth(stack)), version);
  const good = ["team-a", "default", "A_9-z".repeat(51), ...CLUSTER_NAME_CANDIDATES.filter(synthAccepts)];
  const bad = CLUSTER_NAME_CANDIDATES.filter((name) => !synthAccepts(name));
  const [groupId] = Object.keys(json.resource.aws_autoscaling_group);
  let messages: TestMessage[];

  beforeAll(() => {
    const files: Record<string, string> = {
      "main.tf.json": JSON.stringify(json, null, 2),
      "tests/good.tftest.hcl": [MOCK, REQUIRED, ...good.map((name, index) => planRun(`name_${index}`, { cluster_name: name }))].join("\n"),
      "tests/sizes_good.tftest.hcl": [MOCK, REQUIRED, planRun("equal", { min_size: 2, desired_capacity: 2, max_size: 2 })].join("\n"),
      "tests/sizes_min_above_desired.tftest.hcl": [MOCK, REQUIRED, planRun("plan", { min_size: 2, desired_capacity: 1, max_size: 3 })].join("\n"),
    };
    bad.forEach((name, index) => (files[`tests/bad_name_${index}.tftest.hcl`] = [MOCK, REQUIRED, planRun("plan", { cluster_name: name })].join("\n")));
    const workspace = new ProviderWorkspace(files);
    try {
      messages = workspace.test();
    } finally {
      workspace.dispose();
    }
  }, 600_000);

  const runsOf = (file: string) =>
    messages.filter((m) => m["@testfile"] === `tests/${file}.tftest.hcl` && m.type === "test_run" && m.test_run.progress === "complete");
  const errorsOf = (file: string) =>
    messages
      .filter((m) => m["@testfile"] === `tests/${file}.tftest.hcl` && m.type === "diagnostic" && m.diagnostic.severity === "error")
      .map((m) => {
        const [message, ...more] = (m.diagnostic.detail as string).split("\n\n");
        return {
          summary: m.diagnostic.summary,
          where: m.diagnostic.snippet?.context,
          values: (m.diagnostic.snippet?.values ?? []).map((value: { traversal: string }) => value.traversal).sort(),
          message,
          more: more.join("\n\n"),
        };
      });

  it("ran every test file", () => {
    const files = new Set(messages.filter((m) => m.type === "test_file").map((m) => m["@testfile"]));
    expect(files.size).toBe(3 + bad.length);
    expect(bad.length).toBeGreaterThanOrEqual(7);
  });

  it("plans good variables with no diagnostic, and Terraform encodes the user data the renderer gives for that cluster name", () => {
    expect(runsOf("good").map((run) => run.test_run.status)).toEqual(good.map(() => "pass"));
    expect(messages.filter((m) => m["@testfile"] === "tests/good.tftest.hcl" && m.type === "diagnostic")).toEqual([]);
    const boundary = stack.guardedLaunchTemplate.userData.boundary as string;
    expect(boundary).toMatch(/^==ECS-IMDS-GUARD-[0-9a-f]{24}==$/);
    good.forEach((name, index) => {
      const plan = messages.find((m) => m.type === "test_plan" && m["@testfile"] === "tests/good.tftest.hcl" && m["@testrun"] === `name_${index}`);
      const template = plan?.test_plan.resource_changes.find((change: any) => change.type === "aws_launch_template");
      expect(template.change.after_unknown.user_data).toBeUndefined();
      const planned = Buffer.from(template.change.after.user_data, "base64").toString("utf8");
      // The boundary is chosen from the parts' text, so it differs between the reference and the value.
      const literal = renderUserData({ clusterName: name, networkModes: DEFAULT_CONFIG.networkModes, platform: DEFAULT_CONFIG.platform });
      expect({ name, document: planned.split(boundary).join("<boundary>") }).toEqual({
        name,
        document: literal.payload!.toString("utf8").split(literal.boundary as string).join("<boundary>"),
      });
    });
  });

  it("refuses every bad cluster name in the variable's validation, with the stack's message, and plans nothing", () => {
    const [validation] = json.variable.cluster_name.validation;
    expect(validation.error_message).toMatch(/^ecs-imds-guard: cluster_name must be 1-255/);
    bad.forEach((name, index) => {
      expect({ name, status: runsOf(`bad_name_${index}`).map((run) => run.test_run.status) }).toEqual({ name, status: ["error"] });
      const plans = messages.filter((m) => m.type === "test_plan" && m["@testfile"] === `tests/bad_name_${index}.tftest.hcl`);
      expect({ name, plans }).toEqual({ name, plans: [] });
      expect({ name, errors: errorsOf(`bad_name_${index}`) }).toEqual({
        name,
        errors: [
          {
            summary: "Invalid value for variable",
            // The value given in the run; the rule that refused it, in the stack.
            where: 'run "plan"',
            values: ["var.cluster_name"],
            message: validation.error_message,
            more: expect.stringMatching(/^This was checked by the validation rule at main\.tf\.json:\d+/),
          },
        ],
      });
    });
  });

  it("accepts min_size = desired_capacity = max_size and refuses min_size > desired_capacity in the Auto Scaling group's precondition", () => {
    expect(runsOf("sizes_good").map((run) => run.test_run.status)).toEqual(["pass"]);
    const [precondition] = json.resource.aws_autoscaling_group[groupId].lifecycle.precondition;
    expect(precondition.error_message).toMatch(/^ecs-imds-guard: /);
    expect(runsOf("sizes_min_above_desired").map((run) => run.test_run.status)).toEqual(["error"]);
    expect(errorsOf("sizes_min_above_desired")).toEqual([
      {
        summary: "Resource precondition failed",
        where: `resource.aws_autoscaling_group.${groupId}.lifecycle.precondition[0]`,
        values: ["var.desired_capacity", "var.max_size", "var.min_size"],
        message: precondition.error_message,
        more: "",
      },
    ]);
  });
});
