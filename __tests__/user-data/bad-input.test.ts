import { renderUserData, UserDataOptions, UserDataValidationError } from "../../lib/user-data";

// Each case: the options, then the field, the offending value and words of the rule the message must hold.
const cases: Array<[string, UserDataOptions, string, unknown, RegExp]> = [
  ["cluster name with a space", { clusterName: "my cluster" }, "clusterName", "my cluster", /1-255 characters of letters, digits/],
  ["empty cluster name", { clusterName: "" }, "clusterName", "", /1-255/],
  ["cluster name of 256 characters", { clusterName: "a".repeat(256) }, "clusterName", "a".repeat(256), /1-255/],
  ["cluster name with a newline", { clusterName: "a\nECS_AWSVPC_BLOCK_IMDS=false" }, "clusterName", "a\nECS_AWSVPC_BLOCK_IMDS=false", /letters, digits/],
  ["cluster name with shell", { clusterName: "$(reboot)" }, "clusterName", "$(reboot)", /letters, digits/],
  ["cluster name with NUL", { clusterName: "a\u0000b" }, "clusterName", "a\u0000b", /letters, digits/],
  ["windows", { clusterName: "c", platform: "windows" as never }, "platform", "windows", /Windows is not supported: it has no iptables.*AwsvpcBlockIMDS/],
  ["unknown platform", { clusterName: "c", platform: "ubuntu" as never }, "platform", "ubuntu", /must be one of "al2023", "al2", "bottlerocket"/],
  ["no network mode", { clusterName: "c", networkModes: [] }, "networkModes", [], /at least one of "bridge", "awsvpc", "host"/],
  ["unknown network mode", { clusterName: "c", networkModes: ["nat" as never] }, "networkModes[0]", "nat", /must be one of/],
  ["duplicated network mode", { clusterName: "c", networkModes: ["bridge", "bridge"] }, "networkModes[1]", "bridge", /listed twice/],
  ["lower-case ECS key", { clusterName: "c", ecsSettings: { ecs_loglevel: "info" } }, "ecsSettings key", "ecs_loglevel", /\^ECS_\[A-Z0-9_\]\+\$/],
  ["non-ECS key", { clusterName: "c", ecsSettings: { PATH: "/tmp" } }, "ecsSettings key", "PATH", /\^ECS_/],
  ["value with a newline", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "info\nECS_AWSVPC_BLOCK_IMDS=false" } }, "ecsSettings.ECS_LOGLEVEL", "info\nECS_AWSVPC_BLOCK_IMDS=false", /newlines, NUL/],
  ["value with NUL", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: "in\u0000fo" } }, "ecsSettings.ECS_LOGLEVEL", "in\u0000fo", /NUL/],
  ["quoted value", { clusterName: "c", ecsSettings: { ECS_ENABLE_SPOT_INSTANCE_DRAINING: '"true"' } }, "ecsSettings.ECS_ENABLE_SPOT_INSTANCE_DRAINING", '"true"', /must not be quoted/],
  ["value with outer whitespace", { clusterName: "c", ecsSettings: { ECS_LOGLEVEL: " info" } }, "ecsSettings.ECS_LOGLEVEL", " info", /whitespace/],
  ["undoing the awsvpc block", { clusterName: "c", ecsSettings: { ECS_AWSVPC_BLOCK_IMDS: "false" } }, "ecsSettings.ECS_AWSVPC_BLOCK_IMDS", "false", /would undo the guard: must be true/],
  ["undoing task roles", { clusterName: "c", ecsSettings: { ECS_ENABLE_TASK_IAM_ROLE: "false" } }, "ecsSettings.ECS_ENABLE_TASK_IAM_ROLE", "false", /would undo the guard/],
  ["undoing host task roles", { clusterName: "c", networkModes: ["host"], ecsSettings: { ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST: "false" } }, "ecsSettings.ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST", "false", /would undo the guard/],
  ["cluster through settings", { clusterName: "c", ecsSettings: { ECS_CLUSTER: "other" } }, "ecsSettings.ECS_CLUSTER", "other", /set clusterName instead/],
  ["unknown part type", { clusterName: "c", extraParts: [{ contentType: "text/html" as never, content: "<p>" }] }, "extraParts[0].contentType", "text/html", /must be a cloud-init part type/],
  ["shell part without interpreter", { clusterName: "c", extraParts: [{ contentType: "text/x-shellscript", content: "echo hi" }] }, "extraParts[0].content", "echo hi", /interpreter line/],
  ["part with NUL", { clusterName: "c", extraParts: [{ contentType: "text/cloud-config", content: "a\u0000" }] }, "extraParts[0].content", "a\u0000", /NUL/],
  ["part file name with a quote", { clusterName: "c", extraParts: [{ contentType: "text/cloud-config", content: "{}", filename: 'a".sh' }] }, "extraParts[0].filename", 'a".sh', /letters, digits/],
  ["part file name taken by the guard", { clusterName: "c", extraParts: [{ contentType: "text/cloud-config", content: "{}", filename: "ecs-imds-guard-boothook.sh" }] }, "extraParts[0].filename", "ecs-imds-guard-boothook.sh", /already used/],
  ["unknown persistence", { clusterName: "c", firewallPersistence: "iptables-save" as never }, "firewallPersistence", "iptables-save", /"boothook", "iptables-services"/],
  ["persistence on Bottlerocket", { clusterName: "c", platform: "bottlerocket", firewallPersistence: "iptables-services" }, "firewallPersistence", "iptables-services", /Amazon Linux only/],
  ["ECS settings on Bottlerocket", { clusterName: "c", platform: "bottlerocket", ecsSettings: { ECS_LOGLEVEL: "info" } }, "ecsSettings", { ECS_LOGLEVEL: "info" }, /TOML settings/],
  ["extra parts on Bottlerocket", { clusterName: "c", platform: "bottlerocket", extraParts: [{ contentType: "text/cloud-config", content: "{}" }] }, "extraParts", "1 part(s)", /single TOML document/],
  ["gzip on Bottlerocket", { clusterName: "c", platform: "bottlerocket", gzip: true }, "gzip", true, /Amazon Linux \(cloud-init\) only/],
  ["non-boolean ipv6Imds", { clusterName: "c", ipv6Imds: "yes" as never }, "ipv6Imds", "yes", /true or false/],
];

describe.each(cases)("bad input: %s", (_name, options, field, value, rule) => {
  it("throws a UserDataValidationError naming the field, the value and the rule", () => {
    let error: unknown;
    try {
      renderUserData(options);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UserDataValidationError);
    const validation = error as UserDataValidationError;
    expect(validation.field).toBe(field);
    expect(validation.value).toEqual(value);
    expect(validation.message).toContain(`ecs-imds-guard: ${field} = `);
    expect(validation.message).toMatch(rule);
  });
});

it("shows control characters escaped in messages", () => {
  expect(() => renderUserData({ clusterName: "a\nb" })).toThrow('clusterName = "a\\nb" is invalid');
});
