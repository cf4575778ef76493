/**
 * Real-world shapes of ECS-on-EC2 Terraform, each written here in the shape found in a public
 * repository (fixtures/audit/real-world/<folder>), with the verdicts an instance launched from it
 * gives, per Terraform address and network mode. Each verdict is written from what the instance
 * does (Terraform's evaluation, cloud-init's rules, Docker's firewall, ecs-init's reading of
 * ecs.config), never from what the audit prints. Where the answer depends on a value Terraform only
 * knows at plan or apply time, the verdict is `unknown` and the phrase names that reference.
 *
 * The kernel proof (e2e/audit-agrees.test.ts) also boots every resource here whose bridge verdict
 * the kernel can check, chosen by rule in real-world-kernel.ts (user data evaluated fully, a
 * verdict the firewall decides, parts the emulated instance runs); its log lists the rows booted
 * and why each other row is not.
 */
import { join } from "node:path";
import { AuditNetworkMode, Verdict } from "../../lib/audit";

export const REAL_WORLD_FIXTURES = join(__dirname, "..", "fixtures", "audit", "real-world");

/** One expected verdict and a phrase its reasons must contain, so it holds for the right cause. */
export interface Expected {
  readonly verdict: Verdict;
  readonly because: RegExp;
}

export interface RealWorldCase {
  /** The fixture folder under fixtures/audit/real-world. */
  readonly folder: string;
  /** Which public shape it stands for: repository and path, and what was changed. */
  readonly shape: string;
  /** The network modes judged (bridge and awsvpc unless host matters). */
  readonly modes: readonly AuditNetworkMode[];
  /** Every resource the audit must report, by Terraform address, with its verdict per mode. */
  readonly expected: Readonly<Record<string, Partial<Record<AuditNetworkMode, Expected>>>>;
}

const is = (verdict: Verdict, because: RegExp): Expected => ({ verdict, because });

// Phrases shared by many rows.
const HOP_LIMIT_1 = /hop limit 1/;
const NO_AWSVPC_SETTING = /ECS_AWSVPC_BLOCK_IMDS/;
const AWSVPC_SET = /ECS_AWSVPC_BLOCK_IMDS=true/;
/** A part whose text does not start with "#!" is not executed. */
const NOT_EXECUTED = /#!/;
const BRIDGE_MODES: readonly AuditNetworkMode[] = ["bridge", "awsvpc"];
const ALL_MODES: readonly AuditNetworkMode[] = ["bridge", "awsvpc", "host"];
const HOST_OPEN = is("open", /namespace/);

export const REAL_WORLD: readonly RealWorldCase[] = [
  {
    folder: "tam-autoscaling-for-each",
    shape:
      "terraform-aws-modules/terraform-aws-ecs, examples/ec2-autoscaling/main.tf: module \"autoscaling\" (terraform-aws-modules/autoscaling/aws) with for_each over two pools and base64encode(each.value.user_data); the module's launch template (main.tf of terraform-aws-modules/terraform-aws-autoscaling: count, dynamic metadata_options defaulting to IMDSv2 with hop limit 1) as `terraform init` downloads it",
    modes: BRIDGE_MODES,
    expected: {
      'module.autoscaling["on-demand"].aws_launch_template.this[0]': { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", NO_AWSVPC_SETTING) },
      'module.autoscaling["spot"].aws_launch_template.this[0]': { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "tam-autoscaling-not-initialised",
    shape: "terraform-aws-modules/terraform-aws-ecs, examples/ec2-autoscaling/main.tf, before `terraform init`: the registry module is not on disk",
    modes: BRIDGE_MODES,
    expected: {
      "module.autoscaling": { bridge: is("unknown", /terraform init/), awsvpc: is("unknown", /terraform init/) },
    },
  },
  {
    folder: "cloudposse-capacity-providers",
    shape:
      "cloudposse/terraform-aws-ecs-cluster, ec2.tf: a for expression building one script per capacity provider, the provider's user_data spliced as whole lines through replace(..., \"#!/bin/bash\", \"\"), hop limit defaulting to 2; here the launch template is a for_each resource instead of the cloudposse ec2-autoscale-group module, and the second pool's user data sets ECS_AWSVPC_BLOCK_IMDS",
    modes: BRIDGE_MODES,
    expected: {
      'aws_launch_template.pool["default"]': { bridge: is("open", /hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      'aws_launch_template.pool["isolated"]': { bridge: is("open", /hop limit/), awsvpc: is("closed", AWSVPC_SET) },
    },
  },
  {
    folder: "usepa-cloudinit-extra-bootstrap",
    shape:
      "USEPA/webcms, infrastructure/terraform/servers.tf at 889956d51 (\"Apply extra-bootstrap after ecs.config\"): data \"template_cloudinit_config\" with gzip and base64, a cloud-config part and a <<-USERDATA shell part writing ECS_AWSVPC_BLOCK_IMDS=true, then ${var.server-extra-bootstrap} (default \"\") on its own line; AL2 AMI from SSM, no metadata options",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.servers": { bridge: is("open", /IMDSv1/), awsvpc: is("closed", AWSVPC_SET) },
    },
  },
  {
    folder: "usepa-extra-bootstrap-input",
    shape: "USEPA/webcms servers.tf, adversarial variant: the extra bootstrap variable has no default, so the caller's script runs after the ecs.config lines and may undo them or add a firewall rule",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.servers": { bridge: is("unknown", /var\.server_extra_bootstrap/), awsvpc: is("unknown", /var\.server_extra_bootstrap/) },
    },
  },
  {
    folder: "template-cloudinit-indented-part",
    shape:
      "fwohnrau/AWS, ECS/init.tf and ECS/ecs-as.tf: data \"template_cloudinit_config\" with gzip and base64 off, one part without content_type holding an indented <<EOF heredoc, used as an aws_launch_configuration's user_data; AMI from a variable, no metadata options",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_configuration.ecs": { bridge: is("open", /IMDSv1|hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "cloudinit-indented-block-imds",
    shape:
      "the commit described in FACTS.md (a public repository wrote ECS_AWSVPC_BLOCK_IMDS=true in a cloudinit_config part with an indented <<EOF heredoc, so it never took effect), in the part { content = <<EOF } shape of fwohnrau/AWS ECS/init.tf; gzip and base64 on, hop limit 1",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.node": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", NOT_EXECUTED) },
    },
  },
  {
    folder: "springload-cloudinit-count",
    shape:
      "springload/terraform-aws-ecs-cluster, cloud-init.tf, main.tf, data.tf: data \"cloudinit_config\" and aws_launch_template.LT with count over two variables, a %{if var.spot} directive, dynamic \"part\" over var.cloud_init_parts with lookup(), dynamic metadata_options only for a non-empty map (empty by default), AMI from jsondecode of the AL2023 SSM parameter",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.LT[0]": { bridge: is("open", /Amazon Linux 2023 AMI .*hop limit 2/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "springload-parts-input",
    shape: "springload/terraform-aws-ecs-cluster, adversarial variant: var.cloud_init_parts without default (the caller's parts may write ecs.config) and metadata options requiring IMDSv2 with hop limit 1",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.LT[0]": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("unknown", /var\.cloud_init_parts/) },
    },
  },
  {
    folder: "m3dev-part-without-shebang",
    shape:
      "m3dev/m3-terraform-modules, ecs_ec2_cluster_template/cloudinit_config.tf and cloud-init.sh: a text/x-shellscript part from templatefile() whose file starts with a comment, no #!; aws_ami name filter; here the script also sets ECS_AWSVPC_BLOCK_IMDS=true and the template sets hop limit 1",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.main": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", NOT_EXECUTED) },
    },
  },
  {
    folder: "join-user-data-default",
    shape:
      "pdwerryhouse/terraform-aws-ecs, locals.tf, ecs_cluster.tf, vars.tf: join(\"\\n\", [\"#!/bin/bash\", var.user_data, local.user_data_ecs]) with var.user_data defaulting to \"\", a <<EODATA heredoc holding a shell heredoc and `service docker restart`; AL2 ECS AMI from aws_ami, no metadata options",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.ecs-launch-template": { bridge: is("open", /IMDSv1/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "join-after-guard-input",
    shape: "pdwerryhouse/terraform-aws-ecs locals.tf, adversarial variant: the join() puts a boothook guard (DOCKER-USER drop, ECS_AWSVPC_BLOCK_IMDS=true) first and the caller's var.user_data (no default) after it, hop limit 2",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.guarded": { bridge: is("unknown", /var\.user_data/), awsvpc: is("unknown", /var\.user_data/) },
    },
  },
  {
    folder: "awsgoat-boothook-without-shebang",
    shape:
      "ine-labs/AWSGoat, modules/module-2/main.tf and resources/ecs/user_data.tpl (doyensec/cloudsec-tidbits lab-batch/terraform/user_data.tpl is the same): data \"template_file\" reading a MIME .tpl whose text/cloud-boothook part has no #! line, meant to persist a DOCKER-USER drop through iptables-services; no metadata options",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.ecs_launch_template": { bridge: is("open", NOT_EXECUTED), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "boothook-iptables-services",
    shape:
      "doyensec/cloudsec-tidbits, lab-batch/terraform/main.tf and user_data.tpl (an AWS Batch launch template holding only user_data), with the boothook made to run (#cloud-boothook then #!/bin/bash) and a vars map: /etc/sysconfig/iptables with the DOCKER-USER drop, iptables.service enabled and started before Docker, and the lab's FORWARD append",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.custom_launch_template": { bridge: is("closed", /DOCKER-USER/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "cloud-config-part-input",
    shape:
      "guruhq/ecs_cluster_terraform, autoscaling.tf and cloud-config/base-container-instance.yml.tpl: an aws_launch_configuration whose user_data is templatefile() of a MIME document, a bootcmd cloud-config part and a second part that is ${cloud_config} from var.cloud_config (no default); AMI from a variable",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_configuration.container_instance": { bridge: is("unknown", /var\.cloud_config/), awsvpc: is("unknown", /var\.cloud_config/) },
    },
  },
  {
    folder: "launch-configuration-literal",
    shape: "maclennann/terraform-ecs-autoscaling, launch-configuration.tf: user_data as a quoted string with \\n escapes overwriting ecs.config; AMI from a variable, no metadata options",
    modes: ALL_MODES,
    expected: {
      "aws_launch_configuration.ecs": { bridge: is("open", /IMDSv1|hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING), host: HOST_OPEN },
    },
  },
  {
    folder: "launch-configuration-indented-heredoc",
    shape:
      "devops-recipes/provision-ecs-cluster-terraform, provision-cluster/launch-configuration.tf: user_data as a <<EOF heredoc indented to the attribute, so the text starts with spaces before #!; here with an ECS_AWSVPC_BLOCK_IMDS line and IMDSv2 with hop limit 1 added",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_configuration.ecs-launch-configuration": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", NOT_EXECUTED) },
    },
  },
  {
    folder: "template-file-forward-restart",
    shape:
      "keirwhitlock/ecs_cluster, autoscaling_group.tf and scripts/ecs_instance_user_data.tpl: data \"template_file\" with \"${file(...)}\" and vars, base64encode(rendered), a script that restarts Docker after writing ecs.config; here a FORWARD drop (the AWS CDK's default rule) is inserted before that restart",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.ecs_cluster_launch_template": { bridge: is("open", /restart/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "conditional-template-file",
    shape:
      "Dobariya-Nishant/EC2_ASG, template_file.tf and launch_template.tf: a counted data \"template_file\" over a nullable variable (default null) and base64encode(cond ? data...[0].rendered : data....rendered); AL2023 ECS AMI from aws_ami, no metadata options; the ECS script here also sets ECS_AWSVPC_BLOCK_IMDS, which the default does not use",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.ec2_template": { bridge: is("open", /hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "count-template-file",
    shape:
      "ho-it-project/ho-it-terraform, platform/kafka/_module/kafka_ecs/asg.tf, template.tf and scripts/userdata.sh: aws_launch_configuration and data \"template_file\" both with count, element(data.template_file.init.*.rendered, count.index), vars with count.index + 1; AMI from a variable, no metadata options",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_configuration.broker[0]": { bridge: is("open", /IMDSv1|hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      "aws_launch_configuration.broker[1]": { bridge: is("open", /IMDSv1|hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "systemd-unit-docker-user",
    shape:
      "the survey's \"firewall rules installed through a systemd unit bound to docker.service\" (FACTS.md), in the PartOf=docker.service oneshot form public Docker hosts use for DOCKER-USER rules (found by code search); written from a <<-EOT local in base64encode(), hop limit 2",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.ecs": { bridge: is("closed", /DOCKER-USER/), awsvpc: is("closed", AWSVPC_SET) },
    },
  },
  {
    folder: "wait-loop-docker-user-once",
    shape:
      "the survey's first-boot wait loop (`until iptables -L DOCKER-USER ...; do sleep 1; done`, bounded as in the public scripts found by code search) followed by one DOCKER-USER insert, in a heredoc inside base64encode(); IMDSv2 without a hop limit on AL2023",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.workers": { bridge: is("fragile", /reboot/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "wait-loop-then-input",
    shape: "the survey's boothook in a <<-EOT heredoc inside base64encode(), adversarial variant: a caller's ${var.post_bootstrap} (no default) on a line after the DOCKER-USER drop and the ECS_AWSVPC_BLOCK_IMDS line",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.tenant": { bridge: is("unknown", /var\.post_bootstrap/), awsvpc: is("unknown", /var\.post_bootstrap/) },
    },
  },
  {
    folder: "ecs-settings-merge",
    shape:
      "ecs.config settings as a map, as modules take them (terraform-aws-modules' ECS_* lines, cloudposse's capacity provider options), rendered with a %{for} directive per pool of a for_each; adversarial: the tunable pool merges a caller's map without default over ECS_AWSVPC_BLOCK_IMDS=true",
    modes: BRIDGE_MODES,
    expected: {
      'aws_launch_template.pool["fixed"]': { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("closed", AWSVPC_SET) },
      'aws_launch_template.pool["tunable"]': { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("unknown", /var\.tunable_settings/) },
    },
  },
  {
    folder: "template-directive-indented-heredoc",
    shape:
      "the map-of-settings shape written in an indented <<-EOT heredoc with %{for} directives: Terraform then strips no indentation (checked with terraform console 1.11.4), the script starts with spaces before #! and does not run",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.settings": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", NOT_EXECUTED) },
    },
  },
  {
    folder: "boothook-heredoc-base64encode",
    shape: "the survey's boothook written in an HCL <<-EOT heredoc inside base64encode() (FACTS.md), re-applying IPv4 and IPv6 DOCKER-USER drops at every boot; resolve:ssm AL2023 image, IPv6 endpoint on, hop limit 2",
    modes: ALL_MODES,
    expected: {
      "aws_launch_template.guarded": { bridge: is("closed", /DOCKER-USER/), awsvpc: is("closed", AWSVPC_SET), host: HOST_OPEN },
    },
  },
  {
    folder: "instance-base64-heredoc",
    shape:
      "container instances as aws_instance with user_data = base64encode(<<-EOF ... EOF) that clears ecs.config and joins the cluster (a company repository found by code search for `rm -f /etc/ecs/ecs.config`; its name is not in the index); here with count 2, the AL2 SSM AMI, http_tokens required without hop limit, and ECS_AWSVPC_BLOCK_IMDS=true",
    modes: BRIDGE_MODES,
    expected: {
      "aws_instance.ecs[0]": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("closed", AWSVPC_SET) },
      "aws_instance.ecs[1]": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("closed", AWSVPC_SET) },
    },
  },
  {
    folder: "pools-file-per-key",
    shape:
      "the survey's pools map with file(\"${path.module}/userdata_${each.key}.sh\") per pool (FACTS.md), here with filebase64() and lookup() for the hop limit; the sandbox pool's file is a boothook re-applying the DOCKER-USER drop",
    modes: BRIDGE_MODES,
    expected: {
      'aws_launch_template.pool["general"]': { bridge: is("open", /hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      'aws_launch_template.pool["sandbox"]': { bridge: is("closed", /DOCKER-USER/), awsvpc: is("closed", AWSVPC_SET) },
    },
  },
  {
    folder: "su-c-template-input",
    shape:
      "7Factor/terraform-ecs-cluster, asg.tf and ecs_cluster.tftpl: templatefile() whose lines write ecs.config through `sudo /bin/su -c '...'` with the cluster name (a variable without default) inside the quoted script, then the user's extra commands on a line of their own (default \"\"), no metadata options; here a second template fills that line from a variable without default",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.ecs": { bridge: is("open", /-i docker0 ! -o docker0 -j ACCEPT/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      "aws_launch_template.ecs_extra": { bridge: is("unknown", /var\.host_bootstrap/), awsvpc: is("unknown", /var\.host_bootstrap/) },
    },
  },
  {
    folder: "replace-template-name",
    shape:
      "infrablocks/terraform-aws-ecs-cluster, asg.tf, locals and user-data/cluster.tpl: coalesce() of a template variable (default null) and file(), then replace(template, \"$${cluster_name}\", local.cluster_full_name) where the full name joins two variables without default; metadata options from lookup() over a map variable defaulting to null; here a second template replaces a line of its own (#EXTRA) with a variable without default",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.cluster[0]": { bridge: is("open", /-i docker0 ! -o docker0 -j ACCEPT/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      "aws_launch_template.extra": { bridge: is("unknown", /var\.extra_commands/), awsvpc: is("unknown", /var\.extra_commands/) },
    },
  },
  {
    folder: "shell-variable-from-template",
    shape:
      "jch254/terraform-ecs-autoscale-alb, base-infra/modules/ecs-instances/main.tf and user-data.tpl: data \"template_file\" rendering a bash script that sets cluster=\"${cluster_name}\" and writes ECS_CLUSTER=$cluster, waits for the agent in an until loop and appends commands to /etc/rc.local; the module is called with the cluster's name from an aws_ecs_cluster; here the root variable has no default and the template_file vars are written as an argument (vars = {...}) where the repository still uses Terraform 0.11's block",
    modes: BRIDGE_MODES,
    expected: {
      "module.ecs_instances.aws_launch_configuration.ecs_instance": { bridge: is("open", /-i docker0 ! -o docker0 -j ACCEPT/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "module-ami-from-caller",
    shape:
      "boldlink/terraform-aws-ecs-cluster, examples/complete (main.tf, locals.tf, data.tf) calling the module at the repository root (ec2.tf, data.tf): the image from the caller's data \"aws_ami\" filter amzn-ami-*-amazon-ecs-optimized passed as a module input, metadata options from lookup() over a map input with http_tokens = \"required\" and no hop limit, template_cloudinit_config whose second part is the caller's <<USERDATA heredoc indented in a locals block; here the heredoc also writes ECS_AWSVPC_BLOCK_IMDS=true",
    modes: BRIDGE_MODES,
    expected: {
      "module.cluster.aws_launch_template.this[0]": { bridge: is("closed", /Amazon Linux \(2018\.03\) AMI/), awsvpc: is("open", /starts with spaces before #!/) },
    },
  },
  {
    folder: "template-file-vars-block",
    shape:
      "GeoscienceAustralia/terraform-ecs, modules/ec2_instances/main.tf and templates/user_data.sh (Terraform 0.11): data \"template_file\" with `vars { ... }` written as a block, a template whose ${ecs_config} line defaults to a command that empties ecs.config, a { echo ...; } group appended to ecs.config with the cluster (a variable without default), the user's ${custom_userdata} line (default \"\"), a heredoc local joining a second template_file under a conditional; Terraform 0.12 and later refuse the block form, Terraform 0.11 read it as the map",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_configuration.launch": { bridge: is("open", /-i docker0 ! -o docker0 -j ACCEPT/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "asg-list-double-base64",
    shape:
      "tfstack/terraform-aws-ecs-cluster-classic, asg.tf and variables.tf with examples/complete/main.tf: a list of autoscaling-group objects (optional metadata_options defaulting to IMDSv2 with hop limit 1, validated) turned into a for_each map by name, user_data = base64encode(each.value.user_data) in the module while the example's second group already passes base64encode(templatefile(...)); here the template also writes ECS_AWSVPC_BLOCK_IMDS=true and a third group takes the defaults",
    modes: BRIDGE_MODES,
    expected: {
      'module.ecs_cluster_classic.aws_launch_template.this["asg-1"]': { bridge: is("open", /-i docker0 ! -o docker0 -j ACCEPT/), awsvpc: is("closed", AWSVPC_SET) },
      'module.ecs_cluster_classic.aws_launch_template.this["asg-2"]': { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", /encoded twice/) },
      'module.ecs_cluster_classic.aws_launch_template.this["asg-3"]': { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", /no user data/) },
    },
  },
  {
    folder: "jetbrains-ami-through-local",
    shape:
      "jetbrains-infra/terraform-aws-ecs-cluster, launch_template.tf and variables.tf: image_id = local.ami_id, a conditional over a variable (default null) and two Amazon Linux 2023 aws_ssm_parameter data sources; cloudinit_config with ECS_CLUSTER=\"${local.name}\" from a variable without default and a dynamic part empty by default; no metadata options. Added: a counted Amazon Linux 2 pool whose image is jsondecode() of a counted SSM parameter through [0], with http_tokens = \"required\" and no hop limit",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.node": { bridge: is("open", /Amazon Linux 2023 AMI .*hop limit 2/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      "aws_launch_template.legacy[0]": { bridge: is("closed", /hop limit 1.*Amazon Linux 2 AMI/), awsvpc: is("open", NO_AWSVPC_SETTING) },
    },
  },
  {
    folder: "cron-script-reference-in-word",
    shape:
      "ho-it-project/ho-it-terraform, platform/jenkins/_module/jenkins (asg.tf, template.tf, scripts/userdata.sh): data \"template_file\" with the account id (a variable without default) spliced inside a word of a login helper (sudo -u jenkins -H sh -c ...) the script writes and /etc/crontab runs hourly; AMI from a variable without default, no metadata options; adversarial second resource: the helper is a caller's hook on a line of its own",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_configuration.launch_configuration": { bridge: is("open", /IMDSv1|hop limit/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      "aws_launch_configuration.hooked": { bridge: is("unknown", /var\.login_hook/), awsvpc: is("unknown", /var\.login_hook/) },
    },
  },
  {
    folder: "undeclared-data-source",
    shape:
      "fwohnrau/AWS, modules/ECS/main.tf: the launch configuration's user_data is data.template_cloudinit_config.myECSUserData.rendered, which the module does not declare (the declaration stayed in old/init.tf): Terraform refuses the configuration, so there is no user data to judge",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_configuration.ECSConfigruation": {
        bridge: is("unknown", /data\.template_cloudinit_config\.myECSUserData is not declared/),
        awsvpc: is("unknown", /data\.template_cloudinit_config\.myECSUserData is not declared/),
      },
    },
  },
  {
    folder: "override-files",
    shape:
      "Terraform's override files (override.tf, *_override.tf), as a team keeps them locally for debugging and the usual .gitignore keeps them out of public repositories: a launch template closed in both modes in main.tf, overridden first by a_override.tf (user data still setting ECS_AWSVPC_BLOCK_IMDS) and then, in lexical order, by override.tf whose metadata_options block replaces the original one (hop limit 2, http_tokens left to the AL2023 AMI) and whose user data no longer sets it; a second template no override touches",
    modes: BRIDGE_MODES,
    expected: {
      "aws_launch_template.ecs": { bridge: is("open", /the hop limit is 2/), awsvpc: is("open", NO_AWSVPC_SETTING) },
      "aws_launch_template.untouched": { bridge: is("closed", HOP_LIMIT_1), awsvpc: is("open", /no user data/) },
    },
  },
];
