/**
 * data "cloudinit_config", "template_cloudinit_config" and "template_file" are rendered as their
 * providers render them, and the rendered user data is judged like any other.
 */
import { copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { runAudit } from "../../lib/audit";
import { unknownMark } from "../../lib/audit/evaluate/expression";
import { boundaryProblem, renderCloudInitMime } from "../../lib/audit/read/cloudinit-mime";
import { evaluateDataSource } from "../../lib/audit/read/data-sources";
import { parseWithCloudInit } from "../support/cloud-init";
import { TerraformWorkspace, withTerraform } from "../support/terraform";
import { describeWhen, hasCloudInit, hasProgram } from "../support/tools";

const ROOT = resolve(__dirname, "..", "..");
const FIXTURES = join(ROOT, "__tests__", "fixtures", "audit");

jest.setTimeout(120_000);

const BOOTHOOK = "#cloud-boothook\n#!/bin/bash\niptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP\n";
const SCRIPT = "#!/bin/bash\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n";

describe("the MIME document of cloudinit_config", () => {
  it("is laid out as Go's multipart writer in both providers writes it", () => {
    const rendered = renderCloudInitMime([
      { contentType: "text/cloud-boothook", content: BOOTHOOK, filename: "block.sh", mergeType: "list(append)+dict(recurse_array)+str()" },
      { content: SCRIPT },
    ]);
    expect(rendered).toBe(
      'Content-Type: multipart/mixed; boundary="MIMEBOUNDARY"\n' +
        "MIME-Version: 1.0\r\n\r\n" +
        "--MIMEBOUNDARY\r\n" +
        'Content-Disposition: attachment; filename="block.sh"\r\n' +
        "Content-Transfer-Encoding: 7bit\r\n" +
        "Content-Type: text/cloud-boothook\r\n" +
        "Mime-Version: 1.0\r\n" +
        "X-Merge-Type: list(append)+dict(recurse_array)+str()\r\n\r\n" +
        BOOTHOOK +
        "\r\n--MIMEBOUNDARY\r\n" +
        "Content-Transfer-Encoding: 7bit\r\n" +
        "Content-Type: text/plain\r\n" +
        "Mime-Version: 1.0\r\n\r\n" +
        SCRIPT +
        "\r\n--MIMEBOUNDARY--\r\n",
    );
  });

  it("takes the boundary given, and refuses one Go's writer refuses", () => {
    expect(renderCloudInitMime([{ content: "x" }], "b-1")).toMatch(/^Content-Type: multipart\/mixed; boundary="b-1"\nMIME-Version: 1\.0\r\n\r\n--b-1\r\n[\s\S]*\r\n--b-1--\r\n$/);
    expect(boundaryProblem("MIMEBOUNDARY")).toBeUndefined();
    expect(boundaryProblem("")).toMatch(/1 to 70 characters/);
    expect(boundaryProblem("a".repeat(71))).toMatch(/1 to 70 characters/);
    expect(boundaryProblem("ends in space ")).toMatch(/may not end in a space/);
    expect(boundaryProblem("semi;colon")).toMatch(/may hold only/);
  });

  describeWhen({ "cloud-init": hasCloudInit() })("read by cloud-init", () => {
    it("gives the parts in order with their types and filenames, plain and gzipped", () => {
      const rendered = renderCloudInitMime([
        { contentType: "text/cloud-boothook", content: BOOTHOOK, filename: "block.sh" },
        { contentType: "text/x-shellscript", content: SCRIPT },
        { contentType: "text/cloud-config", content: "#cloud-config\nbootcmd:\n  - echo hi\n", filename: "config.yaml" },
      ]);
      const [plain, gzipped] = parseWithCloudInit([Buffer.from(rendered), gzipSync(Buffer.from(rendered))]);
      for (const parts of [plain, gzipped]) {
        expect(parts.map((part) => [part.contentType, part.filename])).toEqual([
          ["text/cloud-boothook", "block.sh"],
          ["text/x-shellscript", "part-002"],
          ["text/cloud-config", "config.yaml"],
        ]);
        // Go's writer puts "\r\n" before each boundary: the part's own text ends where it ended.
        expect(parts[0].payload.replace(/\r\n$/, "")).toBe(BOOTHOOK);
        expect(parts[1].payload.replace(/\r\n$/, "")).toBe(SCRIPT);
      }
    });
  });
});

describe("data sources in a configuration", () => {
  it("renders cloudinit_config (gzip and base64 by default), template_cloudinit_config and template_file with for_each", async () => {
    let stdout = "";
    await runAudit(["audit", "--format", "json", join(FIXTURES, "data-sources")], { stdout: (t) => (stdout += t), stderr: () => undefined });
    const report = JSON.parse(stdout);
    const byAddress = Object.fromEntries(report.resources.map((r: { address: string; verdicts: unknown }) => [r.address, r.verdicts]));
    expect(byAddress).toEqual({
      // The cluster name is a variable without default: a value that could end its line and set the key again.
      "aws_launch_template.cloudinit": { bridge: "closed", awsvpc: "unknown" },
      "aws_instance.legacy": { bridge: "fragile", awsvpc: "closed" },
      "aws_launch_configuration.per_pool": { bridge: "closed", awsvpc: "open" },
    });
    const reasons = Object.fromEntries(report.resources.map((r: { address: string; reasons: unknown }) => [r.address, r.reasons]));
    // The boothook part keeps its filename; the template's FORWARD rule is inserted once, at first boot.
    expect(reasons["aws_launch_template.cloudinit"].bridge[0]).toMatch(/from part 1 \(text\/cloud-boothook "block-imds\.sh"\)/);
    expect(reasons["aws_launch_template.cloudinit"].awsvpc.join(" ")).toMatch(/\$\{var\.cluster_name\}`, known only at apply time/);
    expect(reasons["aws_instance.legacy"].bridge[0]).toMatch(/iptables --insert FORWARD 1 .* in FORWARD, from part 1 \(text\/x-shellscript "part-001"\)/);
    expect(reasons["aws_launch_configuration.per_pool"].awsvpc[0]).toMatch(/sets ECS_AWSVPC_BLOCK_IMDS=false/);
  });

  it("keeps a reference inside a part as a value known at apply time", async () => {
    const scope = { dir: join(FIXTURES, "data-sources"), resolve: () => undefined };
    const body = { gzip: false, base64_encode: false, part: [{ content_type: "text/x-shellscript", content: "#!/bin/bash\necho ECS_CLUSTER=${var.cluster_name} >> /etc/ecs/ecs.config\n" }] };
    const value = (await evaluateDataSource("cloudinit_config", body, scope, "data.cloudinit_config.x")) as { rendered: string };
    expect(value.rendered).toContain(`echo ECS_CLUSTER=${unknownMark("var.cluster_name")} >> /etc/ecs/ecs.config\n\r\n--MIMEBOUNDARY--\r\n`);
  });

  it("refuses gzip without base64 as the providers do", async () => {
    const scope = { dir: ".", resolve: () => undefined };
    const value = await evaluateDataSource("template_cloudinit_config", { gzip: true, base64_encode: false, part: [{ content: "x" }] }, scope, "data.template_cloudinit_config.x");
    expect(value).toEqual({ rendered: { opaque: "data.template_cloudinit_config.x: gzip = true needs base64_encode = true (the provider refuses it)" } });
  });

  describeWhen({ terraform: hasProgram("terraform") })("a data source the module does not declare", () => {
    it("is refused by Terraform, and the audit says so instead of calling it a value known at apply time", async () => {
      const refused = withTerraform({ resource: { terraform_data: { x: { input: "${data.template_cloudinit_config.myECSUserData.rendered}" } } } }, (workspace) =>
        workspace.run(["validate", "-no-color"]),
      );
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/Reference to undeclared resource/);
      let stdout = "";
      await runAudit(["audit", "--format", "json", join(FIXTURES, "real-world", "undeclared-data-source")], { stdout: (t) => (stdout += t), stderr: () => undefined });
      const [resource] = JSON.parse(stdout).resources as Array<{ verdicts: Record<string, string>; reasons: Record<string, string[]> }>;
      expect(resource.verdicts).toEqual({ bridge: "unknown", awsvpc: "unknown" });
      expect(resource.reasons.awsvpc[0]).toBe(
        "Terraform cannot evaluate the user data: data.template_cloudinit_config.myECSUserData is not declared in this module (Terraform refuses a reference to an undeclared data source)",
      );
      // One file of a folder: another file may declare it, so it stays a value the audit cannot know.
      stdout = "";
      await runAudit(["audit", "--format", "json", join(FIXTURES, "real-world", "undeclared-data-source", "main.tf")], { stdout: (t) => (stdout += t), stderr: () => undefined });
      expect(JSON.parse(stdout).resources[0].reasons.awsvpc[0]).toBe("the user data is only known at apply time (data.template_cloudinit_config.myECSUserData.rendered)");
    });
  });

  describeWhen({ terraform: hasProgram("terraform") })("template_file against Terraform", () => {
    it("renders a template file with vars as Terraform's templatefile does", async () => {
      const vars = { cluster: "legacy", block: "true" };
      const scope = { dir: join(FIXTURES, "data-sources"), resolve: () => undefined };
      const ours = (await evaluateDataSource("template_file", { template: '${file("${path.module}/legacy.sh.tpl")}', vars }, scope, "data.template_file.legacy")) as { rendered: string };
      const workspace = new TerraformWorkspace({});
      try {
        copyFileSync(join(FIXTURES, "data-sources", "legacy.sh.tpl"), join(workspace.dir, "legacy.sh.tpl"));
        const [theirs] = workspace.console([`templatefile("\${path.module}/legacy.sh.tpl", { cluster = "legacy", block = "true" })`]);
        expect(ours.rendered).toBe(theirs);
      } finally {
        workspace.dispose();
      }
    });
  });
});
