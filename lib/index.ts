export * from "./user-data";
export type { Architecture, ImdsGuardedLaunchTemplateProps } from "./imds-guarded-launch-template";
export {
  DEFAULT_NAME_PREFIX,
  ECS_AMI_PARAMETERS,
  ImdsGuardedLaunchTemplate,
  NETWORK_MODES_TAG,
} from "./imds-guarded-launch-template";
export { hclStringLiteral } from "./terraform-user-data";
