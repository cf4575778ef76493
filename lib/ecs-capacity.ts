import { Op, Token } from "cdktf";
import { Construct } from "constructs";
import { AutoscalingGroup } from "@cdktf/provider-aws/lib/autoscaling-group";
import { EcsCapacityProvider } from "@cdktf/provider-aws/lib/ecs-capacity-provider";
import { EcsClusterCapacityProviders } from "@cdktf/provider-aws/lib/ecs-cluster-capacity-providers";
import { renderLifecycleForHcl } from "./hcl-lifecycle";
import { UserDataValidationError } from "./user-data/errors";

/** Props of {@link EcsCapacity}. */
export interface EcsCapacityProps {
  /** Name of the ECS cluster the capacity serves (a literal, or the name of an `aws_ecs_cluster`). */
  readonly clusterName: string;
  /** Id of the guarded launch template the instances launch from. */
  readonly launchTemplateId: string;
  /** Its latest version: a new version (a user data change) starts an instance refresh. */
  readonly launchTemplateVersion: number;
  /** Subnets of the instances (`subnet-...` or a Terraform list reference). */
  readonly subnetIds: string[];
  /**
   * Smallest number of instances (a number or a Terraform reference).
   * @default 0
   */
  readonly minSize?: number;
  /**
   * Largest number of instances (a number or a Terraform reference).
   * @default 3
   */
  readonly maxSize?: number;
  /**
   * Instances at creation; ECS managed scaling adjusts it afterwards, so later changes are ignored.
   * @default minSize
   */
  readonly desiredCapacity?: number;
  /**
   * Target utilization of the capacity provider's managed scaling, in percent.
   * @default 100
   */
  readonly targetCapacity?: number;
  /**
   * Healthy share of instances kept during an instance refresh, in percent.
   * @default 90
   */
  readonly minHealthyPercentage?: number;
  /**
   * Name of the capacity provider (may not start with aws, ecs or fargate).
   * @default "imds-guarded-<clusterName>"
   */
  readonly capacityProviderName?: string;
  /**
   * Other capacity providers of the cluster to keep, for example `FARGATE`:
   * `aws_ecs_cluster_capacity_providers` owns the cluster's whole list.
   * @default []
   */
  readonly otherClusterCapacityProviders?: readonly string[];
  /**
   * Tags of the Auto Scaling group, propagated to its instances.
   * @default {}
   */
  readonly tags?: Readonly<Record<string, string>>;
}

const CAPACITY_PROVIDER_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * ECS capacity on the guarded launch template: an Auto Scaling group that rolls instances when the
 * template changes, a capacity provider with managed scaling and managed termination protection,
 * and its attachment to the cluster as the default strategy.
 */
export class EcsCapacity extends Construct {
  /** The Auto Scaling group. */
  readonly autoScalingGroup: AutoscalingGroup;
  /** The capacity provider. */
  readonly capacityProvider: EcsCapacityProvider;
  /** The cluster's capacity provider list and default strategy. */
  readonly clusterCapacityProviders: EcsClusterCapacityProviders;

  constructor(scope: Construct, id: string, props: EcsCapacityProps) {
    super(scope, id);
    const minSize = props.minSize ?? 0;
    const maxSize = props.maxSize ?? 3;
    const desiredCapacity = props.desiredCapacity ?? minSize;
    validateSizes(minSize, maxSize, desiredCapacity);
    const targetCapacity = percentage("targetCapacity", props.targetCapacity ?? 100, 1);
    const minHealthyPercentage = percentage("minHealthyPercentage", props.minHealthyPercentage ?? 90, 0);
    const capacityProviderName = props.capacityProviderName ?? `imds-guarded-${props.clusterName}`;
    if (!Token.isUnresolved(capacityProviderName)) {
      if (!CAPACITY_PROVIDER_NAME.test(capacityProviderName) || /^(aws|ecs|fargate)/i.test(capacityProviderName)) {
        throw new UserDataValidationError(
          "capacityProviderName",
          capacityProviderName,
          "must be 1-255 of letters, digits, - and _, not starting with aws, ecs or fargate",
        );
      }
    }

    this.autoScalingGroup = new AutoscalingGroup(this, "auto_scaling_group", {
      namePrefix: "ecs-imds-guard-",
      minSize,
      maxSize,
      desiredCapacity,
      vpcZoneIdentifier: props.subnetIds,
      launchTemplate: { id: props.launchTemplateId, version: Token.asString(props.launchTemplateVersion) },
      // Managed termination protection only terminates instances that run no task; it needs this.
      protectFromScaleIn: true,
      instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage } },
      tag: [
        // ECS adds this tag to groups under managed scaling; declaring it avoids a diff on every plan.
        { key: "AmazonECSManaged", value: "true", propagateAtLaunch: true },
        ...Object.entries(props.tags ?? {}).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
      ],
      lifecycle: {
        ignoreChanges: ["desired_capacity"],
        // Sizes from Terraform variables are ordered at plan time, as literal ones are now.
        precondition: [minSize, maxSize, desiredCapacity].some((size) => Token.isUnresolved(size))
          ? [
              {
                condition: Op.and(Op.lte(minSize, desiredCapacity), Op.lte(desiredCapacity, maxSize)),
                errorMessage: "ecs-imds-guard: the sizes must satisfy min_size <= desired_capacity <= max_size.",
              },
            ]
          : undefined,
      },
    });

    renderLifecycleForHcl(this.autoScalingGroup);

    this.capacityProvider = new EcsCapacityProvider(this, "capacity_provider", {
      name: capacityProviderName,
      autoScalingGroupProvider: {
        autoScalingGroupArn: this.autoScalingGroup.arn,
        managedScaling: { status: "ENABLED", targetCapacity },
        managedTerminationProtection: "ENABLED",
      },
    });

    this.clusterCapacityProviders = new EcsClusterCapacityProviders(this, "cluster_capacity_providers", {
      clusterName: props.clusterName,
      capacityProviders: [this.capacityProvider.name, ...(props.otherClusterCapacityProviders ?? [])],
      defaultCapacityProviderStrategy: [{ capacityProvider: this.capacityProvider.name, weight: 1, base: 0 }],
    });
  }
}

/** Literal sizes must be whole, non-negative and ordered min <= desired <= max, max >= 1. */
function validateSizes(minSize: number, maxSize: number, desiredCapacity: number): void {
  const sizes = { minSize, maxSize, desiredCapacity };
  for (const [field, value] of Object.entries(sizes)) {
    if (!Token.isUnresolved(value) && (!Number.isInteger(value) || value < 0)) {
      throw new UserDataValidationError(field, value, "must be a whole number of instances, 0 or more");
    }
  }
  const literal = (value: number) => !Token.isUnresolved(value);
  if (literal(maxSize) && maxSize < 1) {
    throw new UserDataValidationError("maxSize", maxSize, "must be at least 1");
  }
  if (literal(minSize) && literal(maxSize) && minSize > maxSize) {
    throw new UserDataValidationError("minSize", minSize, `must not exceed maxSize (${maxSize})`);
  }
  if (literal(desiredCapacity) && literal(minSize) && literal(maxSize) && (desiredCapacity < minSize || desiredCapacity > maxSize)) {
    throw new UserDataValidationError("desiredCapacity", desiredCapacity, `must be between minSize (${minSize}) and maxSize (${maxSize})`);
  }
}

function percentage(field: string, value: number, min: number): number {
  if (!Token.isUnresolved(value) && (!Number.isInteger(value) || value < min || value > 100)) {
    throw new UserDataValidationError(field, value, `must be a whole percentage from ${min} to 100`);
  }
  return value;
}
