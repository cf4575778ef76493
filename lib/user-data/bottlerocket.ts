/**
 * Bottlerocket ECS variants read TOML settings, not cloud-init parts. Cluster names are validated
 * (or checked at plan time) to letters, digits, `-` and `_`, so a basic TOML string is safe.
 */
export function renderBottlerocketSettings(clusterName: string, blockAwsvpcImds: boolean): string {
  const lines = ["[settings.ecs]", `cluster = "${clusterName}"`];
  if (blockAwsvpcImds) lines.push("awsvpc-block-imds = true");
  return `${lines.join("\n")}\n`;
}
