/**
 * `dynamic` blocks as Terraform expands them: metadata options written as `dynamic
 * "metadata_options"` (registry autoscaling modules) and cloudinit_config parts from `dynamic "part"`,
 * with their iterator; a for_each known only at apply time makes the block unknown, naming it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { evaluateWithTerraform, readAuditInputs, runAudit } from "../../lib/audit";
import { awsProviderRequirements, useMirrorInThisProcess } from "../support/aws-provider";
import { describeWhen } from "../support/tools";

const FIXTURES = join(resolve(__dirname, "..", ".."), "__tests__", "fixtures", "audit");

jest.setTimeout(300_000);

interface Row {
  address: string;
  verdicts: Record<string, string>;
  reasons: Record<string, string[]>;
}

async function rows(path: string): Promise<Record<string, Row>> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", "--format", "json", "--network-modes", "bridge,awsvpc", path], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  if (code === 2) throw new Error(stderr);
  return Object.fromEntries((JSON.parse(stdout).resources as Row[]).map((row) => [row.address, row]));
}

const said = (row: Row, mode: string) => row.reasons[mode].join(" ");

describe("dynamic metadata_options", () => {
  it("closes bridge when the block its iterator fills requires IMDSv2 with hop limit 1", async () => {
    const row = (await rows(join(FIXTURES, "hcl-dynamic")))["aws_launch_template.iterator"];
    expect(row.verdicts.bridge).toBe("closed");
    expect(said(row, "bridge")).toMatch(/http_tokens = "required"\) with hop limit 1/);
  });

  it("reads each.value of a map for_each, the hop limit converted to a number by the variable's type", async () => {
    const row = (await rows(join(FIXTURES, "hcl-dynamic")))["aws_launch_template.map"];
    expect(row.verdicts.bridge).toBe("open");
    expect(said(row, "bridge")).toMatch(/the hop limit is 2/);
  });

  it("is no block at all over an empty list: the options are unset", async () => {
    const row = (await rows(join(FIXTURES, "hcl-dynamic")))["aws_launch_template.none"];
    expect(row.verdicts.bridge).toBe("open");
    expect(said(row, "bridge")).toMatch(/http_tokens is unset/);
  });

  it("is unknown, naming the for_each, when its for_each is known only at apply time", async () => {
    const row = (await rows(join(FIXTURES, "hcl-dynamic")))["aws_launch_template.caller"];
    expect(row.verdicts.bridge).toBe("unknown");
    expect(said(row, "bridge")).toMatch(/dynamic "metadata_options" for_each = var\.caller_options is known only at apply time/);
  });

  it("is read the same from Terraform JSON", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ecs-imds-dynamic-"));
    try {
      const file = join(dir, "main.tf.json");
      writeFileSync(
        file,
        JSON.stringify({
          variable: { hop: { type: "number", default: "1" } },
          resource: {
            aws_launch_template: {
              pool: {
                dynamic: {
                  metadata_options: {
                    for_each: "${[var.hop]}",
                    iterator: "limit",
                    content: {
                      http_tokens: "required",
                      http_put_response_hop_limit: "${limit.value}",
                    },
                  },
                },
              },
            },
          },
        })
      );
      const row = (await rows(file))["aws_launch_template.pool"];
      expect(row.verdicts.bridge).toBe("closed");
      expect(said(row, "bridge")).toMatch(/with hop limit 1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describeWhen(awsProviderRequirements())("against terraform plan", () => {
    let restore: () => void;
    beforeAll(() => {
      restore = useMirrorInThisProcess();
    });
    afterAll(() => restore?.());

    it("gives every template the metadata options Terraform plans, unknown where Terraform's are", async () => {
      const folder = join(FIXTURES, "hcl-dynamic");
      const planned = await evaluateWithTerraform(folder);
      const read = await readAuditInputs([folder]);
      const shape = (found: typeof read) =>
        Object.fromEntries(
          found.map((row) => [
            row.address,
            row.description.metadataOptions
              ? Object.fromEntries(
                  Object.entries(row.description.metadataOptions).map(([field, value]) => [field, typeof value === "object" ? "unknown" : value])
                )
              : "no block",
          ])
        );
      expect(Object.keys(shape(read)).length).toBe(4);
      expect(shape(read)).toEqual(shape(planned));
    });
  });
});

describe("dynamic cloudinit_config parts", () => {
  it("keep their place between static parts: the last part's ECS_AWSVPC_BLOCK_IMDS=false wins", async () => {
    const row = (await rows(join(FIXTURES, "hcl-dynamic-parts")))["aws_launch_template.ordered"];
    expect(row.verdicts.awsvpc).toBe("open");
    expect(said(row, "awsvpc")).toMatch(/sets ECS_AWSVPC_BLOCK_IMDS=false \(the last of 2/);
  });

  it("make the user data unknown, naming the for_each, when it is known only at apply time", async () => {
    const row = (await rows(join(FIXTURES, "hcl-dynamic-parts")))["aws_launch_template.caller"];
    expect(row.verdicts).toEqual({ bridge: "closed", awsvpc: "unknown" });
    expect(said(row, "awsvpc")).toMatch(/dynamic "part" for_each = var\.caller_parts is known only at apply time/);
  });
});
