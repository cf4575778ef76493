// `ecs-imds-guard audit` on one root module of a few dozen `.tf` files, as a real ECS-on-EC2
// repository lays it out: variables, locals, outputs, a launch template per capacity pool over
// cloudinit_config, a local module, and many files of other infrastructure (security groups, IAM
// policies, load balancers, log groups) the audit never judges. Measured in-process and end to end
// by the executable as the package ships it (dist/ from `npm run build`, node start-up included); the goal is 0.5 s end to end.
//   node --require ./tools/swc-register.cjs bench/audit-root-module.ts [--rounds N] [--json]
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { formatJson, judge, readAuditInputs } from "../lib/audit";
import { median, packagedBin, timedNode } from "./audit";

/** The goal for the whole executable run, in milliseconds. */
export const ROOT_MODULE_GOAL_MS = 500;
/** Files of other infrastructure beside the ECS ones. */
const OTHER_FILES = 30;

export interface RootModuleBenchRow {
  readonly files: number;
  readonly bytes: number;
  readonly launchResources: number;
  readonly inProcessMs: number;
  readonly compiledMs: number;
  /** Median CPU time (user + system, all threads) of the executable, when GNU time is there. */
  readonly compiledCpuMs?: number;
  /** The machine's one-minute load average when measured: on a shared machine it decides the wall time. */
  readonly loadAverage: number;
}

/** One file of infrastructure the audit does not judge, about 3 KB of it. */
function otherInfrastructure(index: number): string {
  return `resource "aws_security_group" "service_${index}" {
  name        = "\${local.name}-service-${index}"
  description = "Service ${index}"
  vpc_id      = var.vpc_id

  ingress {
    from_port       = ${8000 + index}
    to_port         = ${8000 + index}
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
    description     = "from the load balancer"
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(local.tags, { Service = "service-${index}" })
}

resource "aws_iam_policy" "service_${index}" {
  name = "\${local.name}-service-${index}"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:ListBucket"]
        Resource = ["arn:aws:s3:::\${var.bucket}-${index}", "arn:aws:s3:::\${var.bucket}-${index}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "\${aws_cloudwatch_log_group.service_${index}.arn}:*"
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "service_${index}" {
  name              = "/ecs/\${local.name}/service-${index}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_lb_target_group" "service_${index}" {
  name        = "svc-${index}"
  port        = ${8000 + index}
  protocol    = "HTTP"
  vpc_id      = var.vpc_id
  target_type = "instance"

  health_check {
    path                = "/health"
    matcher             = "200-399"
    interval            = 30
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener_rule" "service_${index}" {
  listener_arn = aws_lb_listener.https.arn
  priority     = ${100 + index}

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service_${index}.arn
  }

  condition {
    path_pattern {
      values = ["/service-${index}/*"]
    }
  }
}
`;
}

/** Writes the root module into `dir`; returns how many launch resource instances it holds. */
export function writeRootModule(dir: string): number {
  mkdirSync(join(dir, "modules", "bootstrap"), { recursive: true });
  const variables = Array.from({ length: 30 }, (_, i) => `variable "setting_${i}" {\n  type        = string\n  description = "Setting ${i}"\n  default     = "value-${i}"\n}\n`).join("\n");
  writeFileSync(
    join(dir, "variables.tf"),
    `variable "vpc_id" {\n  type = string\n}\n\nvariable "bucket" {\n  type    = string\n  default = "artifacts"\n}\n\nvariable "log_retention_days" {\n  type    = number\n  default = 30\n}\n\nvariable "pools" {\n  default = {\n    general = { hop_limit = 1 }\n    batch   = { hop_limit = 2 }\n    gpu     = { hop_limit = 1 }\n  }\n}\n\n${variables}`,
  );
  writeFileSync(join(dir, "locals.tf"), `locals {\n  name = "ecs-prod"\n  tags = { Environment = "prod", Team = "platform" }\n}\n`);
  writeFileSync(
    join(dir, "ecs.tf"),
    `module "bootstrap" {
  source  = "./modules/bootstrap"
  cluster = local.name
}

data "cloudinit_config" "ecs" {
  for_each = var.pools

  part {
    content_type = "text/cloud-boothook"
    content      = <<-EOT
      #cloud-boothook
      #!/bin/bash
      iptables -N DOCKER-USER 2>/dev/null || true
      iptables -C FORWARD -j DOCKER-USER 2>/dev/null || iptables -I FORWARD 1 -j DOCKER-USER
      iptables -C DOCKER-USER -d 169.254.169.254/32 -j DROP 2>/dev/null || iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -j DROP
    EOT
  }

  part {
    content_type = "text/x-shellscript"
    content      = module.bootstrap.script
  }
}

resource "aws_launch_template" "pool" {
  for_each    = var.pools
  name_prefix = "\${local.name}-\${each.key}-"
  image_id    = "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
  user_data   = data.cloudinit_config.ecs[each.key].rendered

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = each.value.hop_limit
  }
}

resource "aws_security_group" "alb" {
  name   = "\${local.name}-alb"
  vpc_id = var.vpc_id
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/y"
  port              = 443
  protocol          = "HTTPS"

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      status_code  = "404"
    }
  }
}
`,
  );
  writeFileSync(
    join(dir, "modules", "bootstrap", "main.tf"),
    `variable "cluster" {\n  type = string\n}\n\noutput "script" {\n  value = <<-EOT\n    #!/bin/bash\n    echo ECS_CLUSTER=\${var.cluster} >> /etc/ecs/ecs.config\n    echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config\n  EOT\n}\n`,
  );
  writeFileSync(join(dir, "outputs.tf"), `output "launch_template_ids" {\n  value = { for k, v in aws_launch_template.pool : k => v.id }\n}\n`);
  for (let index = 0; index < OTHER_FILES; index++) writeFileSync(join(dir, `service-${String(index).padStart(2, "0")}.tf`), otherInfrastructure(index));
  return 3;
}

/** Runs the benchmark: `rounds` measurements, in-process and by the compiled executable. */
export async function benchRootModule(rounds: number): Promise<RootModuleBenchRow> {
  const dir = mkdtempSync(join(tmpdir(), "ecs-imds-audit-root-"));
  try {
    const module = join(dir, "root");
    mkdirSync(module);
    const launchResources = writeRootModule(module);
    const files = readdirSync(module).filter((name) => name.endsWith(".tf"));
    const bytes = files.reduce((sum, name) => sum + statSync(join(module, name)).size, 0);
    const compiledBin = packagedBin();
    const inProcess: number[] = [];
    const compiled: number[] = [];
    const compiledCpu: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // In a fresh process each round: the HCL parser's first calls are what a user's run pays.
      const packaged = spawnSync(process.execPath, [compiledBin, "audit", "--format", "json", module], { encoding: "utf8" });
      const { run: again, wallMs, cpuMs } = timedNode([compiledBin, "audit", "--format", "json", module]);
      compiled.push(wallMs);
      if (cpuMs !== undefined) compiledCpu.push(cpuMs);
      for (const run of [packaged, again]) {
        if ((run.status !== 0 && run.status !== 1) || JSON.parse(run.stdout).resources.length !== launchResources) throw new Error(`the executable exited ${run.status}: ${run.stderr.slice(0, 400)}`);
      }
    }
    for (let round = 0; round < rounds; round++) {
      const started = process.hrtime.bigint();
      const found = await readAuditInputs([module]);
      formatJson(found.map((resource) => ({ ...resource, judgement: judge(resource.description) })), ["bridge", "awsvpc"], "open");
      inProcess.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    return { files: files.length + 1, bytes, launchResources, inProcessMs: median(inProcess), compiledMs: median(compiled), ...(compiledCpu.length > 0 ? { compiledCpuMs: median(compiledCpu) } : {}), loadAverage: Number(loadavg()[0].toFixed(2)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The row as a Markdown table. */
export function rootModuleTable(row: RootModuleBenchRow): string {
  return [
    "| root module | launch resources | executable as packaged (dist/) | its CPU time | read + judge + report in-process (parser warm after the first round) |",
    "| --- | --- | --- | --- | --- |",
    `| ${row.files} .tf files, ${(row.bytes / 1024).toFixed(0)} KiB | ${row.launchResources} | ${(row.compiledMs / 1000).toFixed(2)} s | ${row.compiledCpuMs !== undefined ? `${(row.compiledCpuMs / 1000).toFixed(2)} s` : "-"} | ${(row.inProcessMs / 1000).toFixed(2)} s |`,
    "",
    `goal: a root module of a few dozen .tf files in at most ${ROOT_MODULE_GOAL_MS / 1000} s end to end: ${row.compiledMs <= ROOT_MODULE_GOAL_MS ? "met" : "not met"} (${(row.compiledMs / 1000).toFixed(2)} s, load average ${row.loadAverage})`,
  ].join("\n");
}

if (require.main === module) {
  const roundsArg = process.argv.indexOf("--rounds");
  const rounds = roundsArg >= 0 ? Number(process.argv[roundsArg + 1]) : 3;
  benchRootModule(rounds).then(
    (row) => console.log(process.argv.includes("--json") ? JSON.stringify(row) : rootModuleTable(row)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
