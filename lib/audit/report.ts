/** The audit's output: a table, JSON, or SARIF 2.1.0 for code scanning. */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { FoundResource } from "./sources";
import { AuditNetworkMode, Judgement, Verdict, VERDICT_ORDER } from "./types";

/** One judged resource. */
export interface AuditedResource extends FoundResource {
  readonly judgement: Judgement;
}

/** Short fixes for the table; the full text is in JSON and SARIF. */
export const SHORT_FIXES: Readonly<Record<AuditNetworkMode, string>> = {
  bridge: "DROP 169.254.169.254 in DOCKER-USER from a boothook; http_tokens required, hop limit 1",
  awsvpc: "ECS_AWSVPC_BLOCK_IMDS=true (unquoted, last) in /etc/ecs/ecs.config",
  host: "none possible: keep untrusted tasks out of host mode",
};

/** Whether a verdict reaches the `--fail-on` level. */
export function reaches(verdict: Verdict, failOn: Verdict): boolean {
  return VERDICT_ORDER.indexOf(verdict) >= VERDICT_ORDER.indexOf(failOn);
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** A Markdown table: one row per resource and mode. */
export function formatTable(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[]): string {
  const rows = ["| resource | mode | verdict | reason | fix |", "| --- | --- | --- | --- | --- |"];
  // Several inputs can hold the same address: then each row names its file too.
  const manyFiles = new Set(resources.map((resource) => resource.file)).size > 1;
  for (const resource of resources) {
    const name = manyFiles ? `${resource.address} (${relative(process.cwd(), resource.file)})` : resource.address;
    for (const mode of modes) {
      const judged = resource.judgement.modes[mode];
      if (!judged) continue;
      rows.push(`| ${cell(name)} | ${mode} | ${judged.verdict} | ${cell(judged.reasons[0] ?? "")} | ${judged.verdict === "closed" ? "" : cell(SHORT_FIXES[mode])} |`);
    }
  }
  const counts = summary(resources, modes);
  rows.push("", `${resources.length} resource(s): ${VERDICT_ORDER.map((v) => `${counts[v]} ${v}`).join(", ")}`);
  return `${rows.join("\n")}\n`;
}

function summary(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[]): Record<Verdict, number> {
  const counts: Record<Verdict, number> = { closed: 0, unknown: 0, fragile: 0, open: 0 };
  for (const resource of resources) for (const mode of modes) {
    const judged = resource.judgement.modes[mode];
    if (judged) counts[judged.verdict] += 1;
  }
  return counts;
}

/** `{"resources": [...]}` with verdicts, reasons and fixes per mode. */
export function formatJson(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[], failOn: Verdict): string {
  const body = {
    networkModes: modes,
    failOn,
    summary: summary(resources, modes),
    resources: resources.map((resource) => ({
      address: resource.address,
      file: resource.file,
      resourceType: resource.description.resourceType,
      verdicts: Object.fromEntries(modes.map((mode) => [mode, resource.judgement.modes[mode]?.verdict])),
      reasons: Object.fromEntries(modes.map((mode) => [mode, resource.judgement.modes[mode]?.reasons ?? []])),
      fixes: Object.fromEntries(modes.map((mode) => [mode, resource.judgement.modes[mode]?.fix ?? ""])),
      notes: resource.judgement.notes,
    })),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

const LEVELS: Readonly<Record<Verdict, "error" | "warning" | "note" | "none">> = { open: "error", fragile: "warning", unknown: "note", closed: "none" };

const RULE_TEXT: Readonly<Record<AuditNetworkMode, string>> = {
  bridge: "Bridge-mode containers can reach the instance metadata service",
  awsvpc: "awsvpc-mode tasks can reach the instance metadata service",
  host: "host-mode tasks can reach the instance metadata service",
};

/** SARIF 2.1.0 as GitHub code scanning reads it: one rule per mode, one result per non-closed mode. */
export function formatSarif(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[], version: string): string {
  const rules = modes.map((mode) => ({
    id: `ecs-imds-${mode}`,
    name: `EcsImds${mode[0].toUpperCase()}${mode.slice(1)}`,
    shortDescription: { text: RULE_TEXT[mode] },
    fullDescription: { text: `${RULE_TEXT[mode]} and take the instance role's credentials.` },
    help: { text: resources.find((r) => r.judgement.modes[mode]?.fix)?.judgement.modes[mode]?.fix ?? SHORT_FIXES[mode] },
    defaultConfiguration: { level: "error" },
    properties: { tags: ["security", "ecs", "imds"] },
  }));
  const results = resources.flatMap((resource) =>
    modes.flatMap((mode) => {
      const judged = resource.judgement.modes[mode];
      if (!judged || judged.verdict === "closed") return [];
      return [
        {
          ruleId: `ecs-imds-${mode}`,
          ruleIndex: modes.indexOf(mode),
          level: LEVELS[judged.verdict],
          message: { text: `${resource.address}: ${mode} mode is ${judged.verdict}: ${judged.reasons.join("; ")}. Fix: ${judged.fix}` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: relative(process.cwd(), resource.file).split("\\").join("/") },
                region: { startLine: lineOf(resource) },
              },
              logicalLocations: [{ fullyQualifiedName: resource.address, kind: "resource" }],
            },
          ],
          partialFingerprints: { resourceMode: `${resource.address}/${mode}` },
          properties: { verdict: judged.verdict },
        },
      ];
    }),
  );
  const log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [{ tool: { driver: { name: "ecs-imds-guard", version, informationUri: "https://www.npmjs.com/package/ecs-imds-guard", rules } }, results }],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

const FILE_TEXT = new Map<string, string>();

/** The line where a resource is declared, or 1. */
function lineOf(resource: FoundResource): number {
  let text = FILE_TEXT.get(resource.file);
  if (text === undefined) {
    try {
      text = readFileSync(resource.file, "utf8");
    } catch {
      text = "";
    }
    FILE_TEXT.set(resource.file, text);
  }
  const parts = resource.address.split(".");
  const [type, name] = parts.slice(-2);
  const patterns = [new RegExp(`resource\\s+"${type}"\\s+"${name}"`), new RegExp(`"${name}"\\s*:`)];
  const typeAt = text.indexOf(`"${type}"`);
  for (const pattern of patterns) {
    const from = pattern === patterns[1] && typeAt >= 0 ? typeAt : 0;
    const match = pattern.exec(text.slice(from));
    if (match) return text.slice(0, from + match.index).split("\n").length;
  }
  return 1;
}
