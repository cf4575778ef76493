import { gzipSync } from "node:zlib";
import { renderBoothook, renderRulesFile, IMDS_IPV4, IMDS_IPV6 } from "./boothook";
import { renderBottlerocketSettings } from "./bottlerocket";
import { renderEcsConfigScript } from "./ecs-config";
import { UserDataValidationError } from "./errors";
import { chooseBoundary, renderMultipart } from "./mime";
import { GuardWarning, RenderContext, RenderedPart, RenderedUserData, ResolvedUserData, UserDataOptions } from "./types";
import { BOOTHOOK_FILENAME, ECS_CONFIG_FILENAME, managedEcsSettings, resolveOptions, ResolvedOptions } from "./validate";

export * from "./types";
export { UserDataValidationError } from "./errors";
export { ECS_CONFIG_PATH } from "./ecs-config";
export { agentBoolean, goParseBool, goTrimSpace, readEcsConfig } from "./ecs-init";
export { IMDS_IPV4, IMDS_IPV6, FAILURE_PREFIX } from "./boothook";
export {
  CLUSTER_NAME_PATTERN,
  DEFAULT_NETWORK_MODES,
  ECS_SETTING_KEY_PATTERN,
  FIREWALL_PERSISTENCES,
  NETWORK_MODES,
  PLATFORMS,
} from "./validate";

/** EC2's limit on user data, in bytes before base64. */
export const USER_DATA_LIMIT_BYTES = 16384;
/** The longest cluster name ECS accepts: the size a plan-time name may add. */
const MAX_CLUSTER_NAME_LENGTH = 255;

/**
 * Renders the user data of an ECS container instance that keeps containers from IMDS. Pure: the
 * same options give the same bytes. Throws UserDataValidationError, before producing anything, on
 * bad input.
 */
export function renderUserData(options: UserDataOptions): ResolvedUserData;
/** With a context whose `isUnresolved` may see a token, `payload` and `base64` may be absent (see `unresolved`). */
export function renderUserData(options: UserDataOptions, context?: RenderContext): RenderedUserData;
export function renderUserData(options: UserDataOptions, context: RenderContext = {}): RenderedUserData {
  const resolved = resolveOptions(options, context);
  const warnings = collectWarnings(resolved);
  return resolved.platform === "bottlerocket"
    ? renderBottlerocket(resolved, warnings)
    : renderAmazonLinux(resolved, warnings);
}

function renderAmazonLinux(options: ResolvedOptions, warnings: GuardWarning[]): RenderedUserData {
  const ecsConfig = [...managedEcsSettings(options.clusterName, options.networkModes), ...options.ecsSettings];
  const boothook = renderBoothook({
    bridge: options.networkModes.includes("bridge"),
    ipv6Imds: options.ipv6Imds,
    firewallPersistence: options.firewallPersistence,
    settings: ecsConfig,
  });
  // The boothook installs the guard, which ecs.service runs before every start: the order of the
  // shell parts below, the guard's and the user's, does not decide whether the agent is guarded.
  const parts: RenderedPart[] = [
    { contentType: "text/cloud-boothook", filename: BOOTHOOK_FILENAME, content: boothook },
    { contentType: "text/x-shellscript", filename: ECS_CONFIG_FILENAME, content: renderEcsConfigScript() },
  ];
  parts.push(...options.extraParts);

  // A plan-time cluster name is a placeholder whose text depends on the tokens made before it:
  // the boundary must not, or an unrelated change to an app would make a new template version.
  const token = options.clusterNameIsToken ? options.clusterName : undefined;
  const boundary = chooseBoundary(parts, token === undefined ? undefined : (content) => content.split(token).join("\0cluster-name\0"));
  const text = renderMultipart(parts, boundary);
  const iptablesRulesFiles =
    options.networkModes.includes("bridge") && options.firewallPersistence === "iptables-services"
      ? { ipv4: renderRulesFile(IMDS_IPV4), ...(options.ipv6Imds ? { ipv6: renderRulesFile(IMDS_IPV6) } : {}) }
      : undefined;
  return {
    format: "mime",
    boundary,
    ecsConfig,
    ...(iptablesRulesFiles ? { iptablesRulesFiles } : {}),
    ...encode(text, parts, options),
    warnings,
  };
}

function renderBottlerocket(options: ResolvedOptions, warnings: GuardWarning[]): RenderedUserData {
  const text = renderBottlerocketSettings(options.clusterName, options.networkModes.includes("awsvpc"));
  const parts = [{ contentType: "application/toml", filename: "user-data.toml", content: text }];
  return { format: "toml", ecsConfig: [], ...encode(text, parts, options), warnings };
}

/** Size check and the bytes EC2 receives. */
function encode(text: string, parts: readonly RenderedPart[], options: ResolvedOptions) {
  const byteLength = Buffer.byteLength(text, "utf8");
  const common = { text, byteLength, parts, gzip: options.gzip };
  if (options.clusterNameIsToken) {
    // The name is known at plan time only: count it at its longest, and let Terraform encode.
    const worstCase = byteLength - Buffer.byteLength(options.clusterName) * countOf(text, options.clusterName)
      + MAX_CLUSTER_NAME_LENGTH * countOf(text, options.clusterName);
    if (!options.gzip) checkSize(worstCase, "raw, with a 255-character cluster name");
    return { ...common, unresolved: true };
  }
  const payload = options.gzip ? gzipSync(Buffer.from(text, "utf8"), { level: 9 }) : Buffer.from(text, "utf8");
  checkSize(payload.length, options.gzip ? `gzip-compressed, ${byteLength} bytes raw` : "raw");
  return { ...common, unresolved: false, payload, base64: payload.toString("base64") };
}

function countOf(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function checkSize(size: number, how: string): void {
  if (size > USER_DATA_LIMIT_BYTES) {
    const hint = how.startsWith("raw")
      ? "; set gzip: true to compress it (cloud-init accepts gzip), or shorten the extra parts"
      : "; shorten the extra parts";
    throw new UserDataValidationError(
      "userData",
      `${size} bytes (${how})`,
      `EC2 accepts at most ${USER_DATA_LIMIT_BYTES} bytes of user data before base64${hint}`,
    );
  }
}

function collectWarnings(options: ResolvedOptions): GuardWarning[] {
  const warnings: GuardWarning[] = [];
  if (options.networkModes.includes("host")) {
    warnings.push({
      code: "host-network-mode",
      message:
        "networkModes includes host: host-mode tasks share the instance's network namespace with the ECS agent, " +
        "which needs IMDS, so nothing on the network can keep them from the instance role. " +
        (options.platform === "bottlerocket"
          ? "Give the instance role least privilege and keep untrusted workloads out of host mode."
          : "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST=true is set so they can use task roles instead; give the " +
            "instance role least privilege and keep untrusted workloads out of host mode."),
    });
  }
  if (options.platform === "al2") {
    warnings.push({
      code: "al2-end-of-support",
      message:
        "platform al2: Amazon Linux 2 reached end of support on 2026-06-30 and gets no more security updates; " +
        'move to "al2023".',
    });
  }
  if (options.platform === "bottlerocket" && options.networkModes.includes("bridge")) {
    warnings.push({
      code: "bottlerocket-bridge-mode",
      message:
        "platform bottlerocket with bridge mode: Bottlerocket user data has no firewall hook, so bridge containers " +
        "are kept from IMDS only by IMDSv2 with hop limit 1 (http_tokens required, http_put_response_hop_limit 1); " +
        "IMDSv1-style requests are refused by the required token, so do not raise the hop limit.",
    });
  }
  return warnings;
}
