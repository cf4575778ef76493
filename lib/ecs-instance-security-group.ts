import { Construct } from "constructs";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";

/** Props of {@link EcsInstanceSecurityGroup}. */
export interface EcsInstanceSecurityGroupProps {
  /** The VPC of the instances (`vpc-...`, or a Terraform reference). */
  readonly vpcId: string;
  /**
   * Prefix of the group's name; Terraform appends a unique suffix.
   * @default "ecs-imds-guard-"
   */
  readonly namePrefix?: string;
  /**
   * Tags of the group.
   * @default {}
   */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * A security group for ECS container instances with no inbound rule and all outbound traffic
 * allowed (the agent reaches ECS, ECR and the package repositories), one rule resource per family.
 */
export class EcsInstanceSecurityGroup extends Construct {
  /** The security group resource. */
  readonly securityGroup: SecurityGroup;
  /** Its id. */
  readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: EcsInstanceSecurityGroupProps) {
    super(scope, id);
    this.securityGroup = new SecurityGroup(this, "security_group", {
      namePrefix: props.namePrefix ?? "ecs-imds-guard-",
      description: "ECS container instances: no inbound traffic",
      vpcId: props.vpcId,
      tags: props.tags ? { ...props.tags } : undefined,
      lifecycle: { createBeforeDestroy: true },
    });
    this.securityGroupId = this.securityGroup.id;
    for (const [family, cidr] of [["ipv4", "0.0.0.0/0"], ["ipv6", "::/0"]] as const) {
      new VpcSecurityGroupEgressRule(this, `egress_${family}`, {
        securityGroupId: this.securityGroupId,
        description: `All outbound ${family} traffic`,
        ipProtocol: "-1",
        ...(family === "ipv4" ? { cidrIpv4: cidr } : { cidrIpv6: cidr }),
      });
    }
  }
}
