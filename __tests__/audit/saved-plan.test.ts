/**
 * The audit on a real saved plan: `terraform plan -out` + `terraform show -json` of the fixture
 * `saved-plan/`, run here with the real Terraform CLI and the AWS provider from the machine's
 * filesystem mirror (/opt/tf-plugins), offline. A real plan marks an optional computed option the
 * configuration leaves unset (`http_put_response_hop_limit`, `http_tokens`, an instance's
 * `user_data`) as unknown, exactly as one set from a value known only after apply; the audit tells
 * them apart by the plan's configuration section. Init and plan take about 4 s here.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runAudit } from "../../lib/audit";
import { awsProviderRequirements, ProviderWorkspace } from "../support/aws-provider";
import { describeWhen } from "../support/tools";

const FIXTURE = resolve(__dirname, "..", "fixtures", "audit", "saved-plan");

jest.setTimeout(120_000);

let workspace: ProviderWorkspace;
let planFile: string;

beforeAll(() => {
  if (!Object.values(awsProviderRequirements()).every(Boolean)) return;
  workspace = new ProviderWorkspace({}, FIXTURE);
  planFile = join(workspace.dir, "plan.json");
  writeFileSync(planFile, JSON.stringify(workspace.plan()));
});
afterAll(() => workspace?.dispose());

interface Row {
  readonly address: string;
  readonly verdicts: Record<string, string>;
  readonly reasons: Record<string, string[]>;
}

async function auditPlan(): Promise<Record<string, Row>> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", "--format", "json", "--network-modes", "bridge,awsvpc", planFile], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  expect(stderr).toBe("");
  expect(code).toBe(1);
  return Object.fromEntries((JSON.parse(stdout).resources as Row[]).map((row) => [row.address, row]));
}

describeWhen(awsProviderRequirements())("a saved plan's options the configuration leaves unset, or sets from values known only after apply", () => {
  let rows: Record<string, Row>;
  beforeAll(async () => {
    rows = await auditPlan();
  });

  it("the plan itself marks the unset hop limit unknown, as it marks one known only after apply", () => {
    const plan = JSON.parse(readFileSync(planFile, "utf8"));
    const afterUnknown = (address: string) => plan.resource_changes.find((change: { address: string }) => change.address === address).change.after_unknown.metadata_options;
    expect(afterUnknown("aws_launch_template.hop_unset")[0].http_put_response_hop_limit).toBe(true);
    expect(afterUnknown("module.pool.aws_instance.node[0]")[0].http_put_response_hop_limit).toBe(true);
    expect(afterUnknown("aws_launch_template.no_options")).toBe(true);
  });

  it("an unset hop limit gives the AMI's default: AL2023's hop limit 2 lets a bridge container get a token", () => {
    for (const address of ["aws_launch_template.hop_unset", "aws_launch_template.null_variable"]) {
      expect(rows[address].verdicts).toEqual({ bridge: "open", awsvpc: "open" });
      expect(rows[address].reasons.bridge).toEqual([
        'no user data, so no firewall rule; http_put_response_hop_limit is unset and the Amazon Linux 2023 AMI (image_id = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id") is registered with ImdsSupport v2.0: EC2 defaults the hop limit to 2, which lets a bridge container (one hop away) get a token (account defaults may differ)',
      ]);
    }
  });

  it("no metadata_options block: both options come from the AMI's defaults", () => {
    expect(rows["aws_launch_template.no_options"].verdicts).toEqual({ bridge: "open", awsvpc: "open" });
    expect(rows["aws_launch_template.no_options"].reasons.bridge[0]).toMatch(/http_tokens and http_put_response_hop_limit are unset and the Amazon Linux 2023 AMI .*EC2 defaults them to IMDSv2 required with hop limit 2/);
  });

  it("a hop limit written as 1 closes bridge mode as written", () => {
    expect(rows["aws_launch_template.literal"].verdicts).toEqual({ bridge: "closed", awsvpc: "open" });
    expect(rows["aws_launch_template.literal"].reasons.bridge[0]).toMatch(/^IMDSv2 is required \(http_tokens = "required"\) with hop limit 1:/);
  });

  it("a module's var.hop set from a resource attribute is unknown, naming the variable and what it waits for", () => {
    for (const address of ["module.pool.aws_instance.node[0]", "module.pool.aws_instance.node[1]"]) {
      expect(rows[address].verdicts).toEqual({ bridge: "unknown", awsvpc: "open" });
      expect(rows[address].reasons.bridge[0]).toBe(
        "no user data, so no firewall rule; the hop limit is only known at apply time (var.hop, which module.pool sets from terraform_data.release.id)",
      );
      // An instance's user_data is computed too: unset, it is no user data, not an unknown.
      expect(rows[address].reasons.awsvpc).toEqual(["no user data, so nothing sets ECS_AWSVPC_BLOCK_IMDS; the agent's default is false"]);
    }
  });

  it("a dynamic metadata_options block, which the plan's configuration does not show, leaves unwritten options unknown", () => {
    expect(rows["aws_launch_template.dynamic_options"].verdicts).toEqual({ bridge: "unknown", awsvpc: "open" });
    expect(rows["aws_launch_template.dynamic_options"].reasons.bridge[0]).toMatch(/hop limit is only known at apply time \(written in a dynamic metadata_options block, whose content a saved plan does not show\)/);
  });
});
