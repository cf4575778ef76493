export * from "./user-data";
export type { Architecture, ImdsGuardedLaunchTemplateProps } from "./imds-guarded-launch-template";
export {
  DEFAULT_NAME_PREFIX,
  ECS_AMI_PARAMETERS,
  ImdsGuardedLaunchTemplate,
  NETWORK_MODES_TAG,
} from "./imds-guarded-launch-template";
export { hclStringLiteral } from "./terraform-user-data";
export type { EcsCapacityProps } from "./ecs-capacity";
export { EcsCapacity } from "./ecs-capacity";
export type { EcsInstanceRoleProps } from "./ecs-instance-role";
export { EcsInstanceRole, ECS_INSTANCE_POLICY, SSM_INSTANCE_POLICY } from "./ecs-instance-role";
export type { EcsInstanceSecurityGroupProps } from "./ecs-instance-security-group";
export { EcsInstanceSecurityGroup } from "./ecs-instance-security-group";
export type { GuardedCapacityOptions, ImdsGuardedCapacityProps } from "./imds-guarded-capacity";
export { ImdsGuardedCapacity } from "./imds-guarded-capacity";
export * from "./audit";
export type { ImdsAuditAspectProps } from "./imds-audit-aspect";
export { ImdsAuditAspect } from "./imds-audit-aspect";
