/**
 * Every launch template this module renders is judged closed for the network modes it guards and
 * open for host, whatever the platform and options.
 */
import fc from "fast-check";
import { judge, MetadataOptions } from "../../lib/audit";
import { FirewallPersistence, NetworkMode, Platform, renderUserData } from "../../lib/user-data";

const MODE_SETS: ReadonlyArray<readonly NetworkMode[]> = [
  ["bridge"], ["awsvpc"], ["host"], ["bridge", "awsvpc"], ["bridge", "host"], ["awsvpc", "host"], ["bridge", "awsvpc", "host"],
];

interface Variant {
  readonly platform: Platform;
  readonly networkModes: readonly NetworkMode[];
  readonly ipv6Imds: boolean;
  readonly firewallPersistence?: FirewallPersistence;
  readonly gzip?: boolean;
}

function variants(): Variant[] {
  const out: Variant[] = [];
  for (const networkModes of MODE_SETS) {
    for (const ipv6Imds of [false, true]) {
      for (const platform of ["al2023", "al2"] as const) {
        for (const firewallPersistence of ["boothook", "iptables-services"] as const) {
          for (const gzip of [false, true]) out.push({ platform, networkModes, ipv6Imds, firewallPersistence, gzip });
        }
      }
      out.push({ platform: "bottlerocket", networkModes, ipv6Imds });
    }
  }
  return out;
}

/** The metadata options the construct writes: IMDSv2, hop limit 1, IPv6 as asked. */
const moduleMetadata = (ipv6: boolean): MetadataOptions => ({
  httpEndpoint: "enabled",
  httpTokens: "required",
  httpPutResponseHopLimit: 1,
  httpProtocolIpv6: ipv6 ? "enabled" : "disabled",
});

describe("every template this module renders", () => {
  const all = variants();

  it.each(all.map((v) => [JSON.stringify(v), v] as const))("%s: closed for the guarded modes, open for host", (_label, variant) => {
    const userData = renderUserData({ clusterName: "prod", ...variant });
    const judgement = judge(
      { resourceType: "aws_launch_template", userData: { base64: userData.base64 as string }, metadataOptions: moduleMetadata(variant.ipv6Imds) },
      { networkModes: variant.networkModes },
    );
    for (const mode of variant.networkModes) {
      expect([mode, judgement.modes[mode]?.verdict]).toEqual([mode, mode === "host" ? "open" : "closed"]);
    }
  });

  it.each(all.filter((v) => v.platform !== "bottlerocket" && v.networkModes.includes("bridge")).map((v) => [JSON.stringify(v), v] as const))(
    "%s: bridge stays closed by the user data alone when the hop limit is raised to 2",
    (_label, variant) => {
      const userData = renderUserData({ clusterName: "prod", ...variant });
      const judgement = judge(
        { resourceType: "aws_launch_template", userData: { base64: userData.base64 as string }, metadataOptions: { ...moduleMetadata(variant.ipv6Imds), httpPutResponseHopLimit: 2 } },
        { networkModes: ["bridge"] },
      );
      expect(judgement.modes.bridge?.verdict).toBe("closed");
      expect(judgement.modes.bridge?.reasons.join(" ")).toMatch(/DOCKER-USER/);
    },
  );

  it("stays closed with any extra settings and a cluster name of any allowed shape", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        fc.dictionary(fc.stringMatching(/^ECS_[A-Z0-9_]{1,12}$/).filter((k) => !["ECS_CLUSTER", "ECS_ENABLE_TASK_IAM_ROLE", "ECS_AWSVPC_BLOCK_IMDS", "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST"].includes(k)), fc.stringMatching(/^[a-z0-9]{0,10}$/), { maxKeys: 3 }),
        (clusterName, ecsSettings) => {
          const userData = renderUserData({ clusterName, ecsSettings });
          const judgement = judge({ resourceType: "aws_launch_template", userData: { base64: userData.base64 as string }, metadataOptions: { ...moduleMetadata(false), httpPutResponseHopLimit: 2 } });
          return judgement.modes.bridge?.verdict === "closed" && judgement.modes.awsvpc?.verdict === "closed";
        },
      ),
      { numRuns: 40 },
    );
  });

  it("is no longer recognised once a byte of the boothook changes", () => {
    const userData = renderUserData({ clusterName: "prod" });
    const edited = userData.text.replace("ensure_first_drop iptables", "ensure_first_drop  iptables");
    const judgement = judge({ resourceType: "aws_launch_template", userData: { text: edited }, metadataOptions: { ...moduleMetadata(false), httpPutResponseHopLimit: 2 } });
    expect(judgement.modes.bridge?.verdict).not.toBe("closed");
  });
});
