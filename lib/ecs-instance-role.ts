import { Fn } from "cdktf";
import { Construct } from "constructs";
import { DataAwsPartition } from "@cdktf/provider-aws/lib/data-aws-partition";
import { IamInstanceProfile } from "@cdktf/provider-aws/lib/iam-instance-profile";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicyAttachment } from "@cdktf/provider-aws/lib/iam-role-policy-attachment";
import { UserDataValidationError } from "./user-data/errors";

/** Props of {@link EcsInstanceRole}. */
export interface EcsInstanceRoleProps {
  /**
   * Prefix of the role's and the instance profile's names; Terraform appends a unique suffix.
   * @default "ecs-imds-guard-"
   */
  readonly namePrefix?: string;
  /**
   * Also attach `AmazonSSMManagedInstanceCore`, so the instances can be reached with Session Manager
   * instead of SSH.
   * @default false
   */
  readonly ssmManagedInstanceCore?: boolean;
  /**
   * Tags of the role and the instance profile.
   * @default {}
   */
  readonly tags?: Readonly<Record<string, string>>;
}

/** The managed policy the ECS agent needs to register the instance and run tasks. */
export const ECS_INSTANCE_POLICY = "service-role/AmazonEC2ContainerServiceforEC2Role";
/** The managed policy for Session Manager. */
export const SSM_INSTANCE_POLICY = "AmazonSSMManagedInstanceCore";
// Terraform appends 26 characters to name_prefix; role names stop at 64.
const NAME_PREFIX = /^[\w+=,.@-]{1,38}$/;

/**
 * The identity of ECS container instances: an IAM role EC2 can assume, with the ECS agent's managed
 * policy, and its instance profile. This is the role the guard keeps containers from stealing.
 */
export class EcsInstanceRole extends Construct {
  /** The IAM role. */
  readonly role: IamRole;
  /** The instance profile to give the launch template. */
  readonly instanceProfile: IamInstanceProfile;
  /** ARN of the role. */
  readonly roleArn: string;
  /** Name of the instance profile. */
  readonly instanceProfileName: string;

  constructor(scope: Construct, id: string, props: EcsInstanceRoleProps = {}) {
    super(scope, id);
    const namePrefix = props.namePrefix ?? "ecs-imds-guard-";
    if (!NAME_PREFIX.test(namePrefix)) {
      throw new UserDataValidationError(
        "namePrefix",
        namePrefix,
        "must be 1-38 of letters, digits and +=,.@_- (Terraform appends 26 characters; role names stop at 64)",
      );
    }
    // The partition gives the right ARNs and service principal in China and GovCloud too.
    const partition = new DataAwsPartition(this, "partition");
    this.role = new IamRole(this, "role", {
      namePrefix,
      description: "ECS container instances; containers are kept from this role by ecs-imds-guard",
      // jsonencode, not JSON.stringify: a reference inside a JSON string breaks cdktf's HCL output.
      assumeRolePolicy: Fn.jsonencode({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { Service: `ec2.${partition.dnsSuffix}` },
            Action: "sts:AssumeRole",
          },
        ],
      }),
      tags: props.tags ? { ...props.tags } : undefined,
    });
    const policies = [ECS_INSTANCE_POLICY, ...(props.ssmManagedInstanceCore ? [SSM_INSTANCE_POLICY] : [])];
    for (const policy of policies) {
      new IamRolePolicyAttachment(this, policy.replace(/^.*\//, ""), {
        role: this.role.name,
        policyArn: `arn:${partition.partition}:iam::aws:policy/${policy}`,
      });
    }
    this.instanceProfile = new IamInstanceProfile(this, "instance_profile", {
      namePrefix,
      role: this.role.name,
      tags: props.tags ? { ...props.tags } : undefined,
    });
    this.roleArn = this.role.arn;
    this.instanceProfileName = this.instanceProfile.name;
  }
}
