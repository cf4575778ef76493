import { Construct } from "constructs";
import { EcsCapacity, EcsCapacityProps } from "./ecs-capacity";
import { EcsInstanceRole } from "./ecs-instance-role";
import { EcsInstanceSecurityGroup } from "./ecs-instance-security-group";
import { ImdsGuardedLaunchTemplate, ImdsGuardedLaunchTemplateProps } from "./imds-guarded-launch-template";
import { UserDataValidationError } from "./user-data/errors";

/** Options of the Auto Scaling group and capacity provider; the template and cluster are wired here. */
export type GuardedCapacityOptions = Omit<EcsCapacityProps, "clusterName" | "launchTemplateId" | "launchTemplateVersion" | "tags">;

// Every capacity option by name: a new EcsCapacity option fails to compile here until it is passed on.
const CAPACITY_OPTION_KEYS: Record<keyof GuardedCapacityOptions, true> = {
  subnetIds: true,
  minSize: true,
  maxSize: true,
  desiredCapacity: true,
  targetCapacity: true,
  minHealthyPercentage: true,
  capacityProviderName: true,
  otherClusterCapacityProviders: true,
};

/** Props of {@link ImdsGuardedCapacity}: the guarded template's props plus the capacity's. */
export interface ImdsGuardedCapacityProps extends ImdsGuardedLaunchTemplateProps, GuardedCapacityOptions {
  /**
   * Name of the ECS cluster: written into the user data (`ECS_CLUSTER`) and given the capacity
   * provider, from this one value. A literal, or the name of an `aws_ecs_cluster`.
   */
  readonly clusterName: string;
  /**
   * IAM instance profile of the instances (name or ARN).
   * @default a new {@link EcsInstanceRole} with the ECS agent's managed policy
   */
  readonly iamInstanceProfile?: string;
  /**
   * Also attach `AmazonSSMManagedInstanceCore` to the role created here (Session Manager access).
   * Only with the created role.
   * @default false
   */
  readonly ssmManagedInstanceCore?: boolean;
  /**
   * Security groups of the instances.
   * @default a new {@link EcsInstanceSecurityGroup} in `vpcId`: no inbound rule, all outbound
   */
  readonly securityGroupIds?: readonly string[];
  /**
   * VPC of the security group created here (`vpc-...` or a reference). Required unless
   * `securityGroupIds` is given.
   * @default none
   */
  readonly vpcId?: string;
}

/**
 * Guarded ECS capacity in one step: the IMDS-guarded launch template, the instance role and
 * security group (unless given), an Auto Scaling group and a capacity provider attached to the
 * cluster, all from one cluster name. Each piece is also a construct of its own.
 */
export class ImdsGuardedCapacity extends Construct {
  /** The guarded launch template. */
  readonly guardedLaunchTemplate: ImdsGuardedLaunchTemplate;
  /** The instance role and profile, absent when `iamInstanceProfile` is given. */
  readonly instanceRole?: EcsInstanceRole;
  /** The security group, absent when `securityGroupIds` is given. */
  readonly securityGroup?: EcsInstanceSecurityGroup;
  /** The Auto Scaling group, capacity provider and cluster attachment. */
  readonly capacity: EcsCapacity;

  constructor(scope: Construct, id: string, props: ImdsGuardedCapacityProps) {
    super(scope, id);
    const { vpcId, ssmManagedInstanceCore, ...rest } = props;
    const capacityOptions = pick(rest, CAPACITY_OPTION_KEYS);
    const templateProps: ImdsGuardedLaunchTemplateProps = omit(rest, CAPACITY_OPTION_KEYS);

    let iamInstanceProfile = props.iamInstanceProfile;
    if (iamInstanceProfile === undefined) {
      this.instanceRole = new EcsInstanceRole(this, "instance_role", { ssmManagedInstanceCore, tags: props.tags });
      iamInstanceProfile = this.instanceRole.instanceProfileName;
    } else if (ssmManagedInstanceCore !== undefined) {
      throw new UserDataValidationError(
        "ssmManagedInstanceCore",
        ssmManagedInstanceCore,
        "applies to the role created here; with iamInstanceProfile given, attach policies to that profile's role",
      );
    }

    let securityGroupIds = props.securityGroupIds;
    if (securityGroupIds === undefined) {
      if (vpcId === undefined) {
        throw new UserDataValidationError("vpcId", vpcId, "is required to create the instances' security group, unless securityGroupIds is given");
      }
      this.securityGroup = new EcsInstanceSecurityGroup(this, "security_group", { vpcId, tags: props.tags });
      securityGroupIds = [this.securityGroup.securityGroupId];
    } else if (vpcId !== undefined) {
      throw new UserDataValidationError("vpcId", vpcId, "is only used to create a security group; with securityGroupIds given, leave it out");
    }

    this.guardedLaunchTemplate = new ImdsGuardedLaunchTemplate(this, "launch_template", {
      ...templateProps,
      iamInstanceProfile,
      securityGroupIds,
    });
    this.capacity = new EcsCapacity(this, "capacity", {
      ...capacityOptions,
      clusterName: props.clusterName,
      launchTemplateId: this.guardedLaunchTemplate.launchTemplateId,
      launchTemplateVersion: this.guardedLaunchTemplate.latestVersion,
      tags: props.tags,
    });
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: Record<K, true>): Pick<T, K> {
  return Object.fromEntries(Object.entries(source).filter(([key]) => key in keys)) as Pick<T, K>;
}

function omit<T extends object, K extends keyof T>(source: T, keys: Record<K, true>): Omit<T, K> {
  return Object.fromEntries(Object.entries(source).filter(([key]) => !(key in keys))) as Omit<T, K>;
}
