/**
 * Variable type constraints applied as Terraform applies them to defaults and given values:
 * `optional(type, default)` attributes, primitive conversions, dropped attributes, sets, and
 * `map(any)` unified. Terraform (`terraform console`) is the reference.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readAuditInputs, readAuditPath } from "../../lib/audit";
import { TerraformWorkspace } from "../support/terraform";
import { describeWhen, hasProgram } from "../support/tools";

jest.setTimeout(120_000);

/** Variables of the shapes real modules declare, with defaults Terraform converts. */
const VARIABLES = `
variable "capacity_providers" {
  type = map(object({
    instance_type = string
    user_data     = optional(string, "")
    hop_limit     = optional(number, 2)
    tokens        = optional(bool, true)
    warm_pool     = optional(object({ min_size = number }), null)
    nested        = optional(object({ a = optional(string, "x"), b = optional(list(string), ["q"]) }), {})
  }))
  default = {
    default  = { instance_type = "t3.medium" }
    isolated = { instance_type = "m5.large", hop_limit = "1", tokens = "false", user_data = null, extra = 1 }
  }
}

variable "settings" {
  type    = map(any)
  default = { a = "x", b = 1, c = true }
}

variable "names" {
  type    = set(string)
  default = ["b", "a", "b", 1]
}

variable "hop_limit" {
  type    = number
  default = "1.50"
}

variable "mixed" {
  type    = list(any)
  default = [1, "a", false]
}

variable "loose" {
  type    = any
  default = { a = 1, b = "x" }
}

variable "options" {
  type = object({
    http_tokens                 = optional(string, "required")
    http_put_response_hop_limit = optional(number, 1)
  })
  default = null
}
`;
const NAMES = ["capacity_providers", "settings", "names", "hop_limit", "mixed", "loose", "options"];

/** What the audit reads each variable as: a template's user data is jsonencode of it. */
async function readVariables(given: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-types-"));
  try {
    const templates = NAMES.map((name) => `resource "aws_launch_template" "${name}" {\n  user_data = base64encode(jsonencode(var.${name}))\n}\n`).join("\n");
    writeFileSync(join(dir, "main.tf"), `${VARIABLES}\n${templates}`);
    const found = Object.keys(given).length > 0 ? await readAuditPath(dir, { variables: given as never }) : await readAuditInputs([dir]);
    return Object.fromEntries(
      found.map((row) => {
        // base64encode(...) is handed on as the text it encodes.
        const userData = row.description.userData as { text?: string };
        return [row.address.split(".")[1], userData.text === undefined ? userData : JSON.parse(userData.text)];
      })
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("variable type constraints", () => {
  it("give an optional attribute left out its default, so a reference to it is a value", async () => {
    const read = await readVariables();
    expect(read.capacity_providers).toMatchObject({
      default: { warm_pool: null, hop_limit: 2, tokens: true, user_data: "" },
    });
  });

  it("make the value Terraform refuses unknown, naming the variable and the rule", async () => {
    const read = await readVariables({ hop_limit: "one" });
    expect(JSON.stringify(read.hop_limit)).toMatch(/var\.hop_limit: \\"one\\" is not a number/);
  });

  describeWhen({ terraform: hasProgram("terraform") })("against terraform console", () => {
    let workspace: TerraformWorkspace;
    beforeAll(() => {
      workspace = new TerraformWorkspace({});
      writeFileSync(join(workspace.dir, "variables.tf"), VARIABLES);
    });
    afterAll(() => workspace.dispose());

    const terraformValues = (given: Record<string, unknown> = {}) =>
      Object.fromEntries(
        workspace
          .console(
            NAMES.map((name) => `jsondecode(jsonencode(var.${name}))`),
            given
          )
          .map((value, i) => [NAMES[i], value])
      );

    it("convert defaults as Terraform converts them", async () => {
      expect(await readVariables()).toEqual(terraformValues());
    });

    it("convert given values as Terraform converts them", async () => {
      const given = {
        capacity_providers: {
          only: {
            instance_type: "t3.small",
            nested: { a: null },
            warm_pool: { min_size: "2" },
          },
        },
        settings: { tokens: "required", hop: 1 },
        names: ["z", "y", "z"],
        hop_limit: 2,
        mixed: ["a", 2],
        loose: [1, "x"],
        options: {
          http_put_response_hop_limit: 2,
          unknown_attribute: "dropped",
        },
      };
      expect(await readVariables(given)).toEqual(terraformValues(given));
    });
  });
});
