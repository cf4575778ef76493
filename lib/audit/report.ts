/** The audit's output: a table, JSON, or SARIF 2.1.0 for code scanning. */
import { readFileSync } from "node:fs";
import { relative, resolve, sep } from "node:path";
import { FoundResource } from "./read";
import { AUDIT_RULES, ruleIdOf } from "./rules";
import { describeSuppression, ModeSuppressions, SourcedSuppression, UnmatchedSuppression } from "./suppressions";
import { AuditNetworkMode, Judgement, Verdict, VERDICT_ORDER } from "./types";

/** One judged resource. */
export interface AuditedResource extends FoundResource {
  readonly judgement: Judgement;
  /** The suppression that acknowledges each mode's finding, when one does. */
  readonly suppressed?: ModeSuppressions;
}

/** Suppressions that matched no finding: reported so stale ones surface. */
export type Unmatched = readonly UnmatchedSuppression[];

/** Short fixes for the table; the full text is in JSON and SARIF. */
export const SHORT_FIXES: Readonly<Record<AuditNetworkMode, string>> = {
  bridge: "DROP 169.254.169.254 in DOCKER-USER from a boothook; http_tokens required, hop limit 1",
  awsvpc: "ECS_AWSVPC_BLOCK_IMDS=true (unquoted, last) in /etc/ecs/ecs.config",
  host: "none possible: keep untrusted tasks out of host mode",
};

/** The line a stale suppression gets in every output. */
export function unmatchedLine({ suppression, why }: UnmatchedSuppression): string {
  return `${describeSuppression(suppression)} matched no finding: ${why}`;
}

/** Whether a verdict reaches the `--fail-on` level. */
export function reaches(verdict: Verdict, failOn: Verdict): boolean {
  return VERDICT_ORDER.indexOf(verdict) >= VERDICT_ORDER.indexOf(failOn);
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/**
 * A resource's file as every output shows it: relative to the working directory, with `/`
 * separators (what SARIF's `artifactLocation.uri` and code scanning expect), module files included.
 */
export function displayPath(file: string): string {
  return relative(process.cwd(), resolve(file)).split(sep).join("/");
}

/** A Markdown table: one row per resource and mode, each naming the resource's file. */
export function formatTable(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[], unmatched: Unmatched = []): string {
  const rows = ["| resource | rule | verdict | reason | fix |", "| --- | --- | --- | --- | --- |"];
  for (const resource of resources) {
    // Several files can hold the same address (two stacks, a module called twice): each row names its file.
    const name = `${resource.address} (${displayPath(resource.file)})`;
    for (const mode of modes) {
      const judged = resource.judgement.modes[mode];
      if (!judged) continue;
      const suppression = resource.suppressed?.[mode];
      const verdict = suppression ? `${judged.verdict}, suppressed` : judged.verdict;
      const reason = suppression ? `Suppressed (${suppression.source}): ${suppression.reason}. ${judged.reasons[0] ?? ""}` : (judged.reasons[0] ?? "");
      rows.push(`| ${cell(name)} | ${ruleIdOf(mode)} | ${verdict} | ${cell(reason)} | ${judged.verdict === "closed" ? "" : cell(SHORT_FIXES[mode])} |`);
    }
  }
  rows.push("", ...summaryLines(summarize(resources, modes)));
  if (unmatched.length > 0) rows.push("", ...unmatched.map((entry) => `- ${unmatchedLine(entry)}`));
  return `${rows.join("\n")}\n`;
}

/** Verdict counts, worst last. */
export type VerdictCounts = Record<Verdict, number>;

/** How many resources were judged, how many verdicts that gave (one per resource and mode), and their counts per mode. */
export interface AuditSummary {
  readonly resources: number;
  readonly networkModes: readonly AuditNetworkMode[];
  readonly verdicts: number;
  readonly byMode: Readonly<Partial<Record<AuditNetworkMode, VerdictCounts>>>;
  /** Findings (modes not closed) acknowledged by a suppression: counted in their verdicts too. */
  readonly suppressed: number;
}

function zeroCounts(): VerdictCounts {
  return { closed: 0, unknown: 0, fragile: 0, open: 0 };
}

/** Counts resources and their verdicts per mode. */
export function summarize(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[]): AuditSummary {
  const byMode: Partial<Record<AuditNetworkMode, VerdictCounts>> = Object.fromEntries(modes.map((mode) => [mode, zeroCounts()]));
  let verdicts = 0;
  let suppressed = 0;
  for (const resource of resources) for (const mode of modes) {
    const judged = resource.judgement.modes[mode];
    if (!judged) continue;
    (byMode[mode] as VerdictCounts)[judged.verdict] += 1;
    verdicts += 1;
    if (resource.suppressed?.[mode]) suppressed += 1;
  }
  return { resources: resources.length, networkModes: modes, verdicts, byMode, suppressed };
}

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;

/**
 * The summary as a user reads it: resources and verdicts are different counts (each resource gets
 * one verdict per mode), so the line says both, and the counts go per mode (a Markdown list).
 */
export function summaryLines(summary: AuditSummary): string[] {
  const modes = summary.networkModes;
  const head = `${plural(summary.resources, "resource", "resources")} judged in ${plural(modes.length, "network mode", "network modes")} (${modes.join(", ")}): ${plural(summary.verdicts, "verdict", "verdicts")}, one per resource and mode.`;
  const counts = (c: VerdictCounts) => VERDICT_ORDER.map((v) => `${c[v]} ${v}`).join(", ");
  const suppressed = summary.suppressed > 0 ? ["", `${plural(summary.suppressed, "finding is", "findings are")} suppressed, each with its reason: reported, never failing the run.`] : [];
  return [head, "", ...modes.map((mode) => `- ${mode}: ${counts(summary.byMode[mode] ?? zeroCounts())}`), ...suppressed];
}

/** `{"resources": [...]}` with verdicts, reasons and fixes per mode. */
export function formatJson(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[], failOn: Verdict, unmatched: Unmatched = []): string {
  const body = {
    networkModes: modes,
    failOn,
    summary: jsonSummary(summarize(resources, modes)),
    resources: resources.map((resource) => ({
      address: resource.address,
      file: displayPath(resource.file),
      resourceType: resource.description.resourceType,
      rules: Object.fromEntries(modes.map((mode) => [mode, ruleIdOf(mode)])),
      verdicts: Object.fromEntries(modes.map((mode) => [mode, resource.judgement.modes[mode]?.verdict])),
      reasons: Object.fromEntries(modes.map((mode) => [mode, resource.judgement.modes[mode]?.reasons ?? []])),
      fixes: Object.fromEntries(modes.map((mode) => [mode, resource.judgement.modes[mode]?.fix ?? ""])),
      notes: resource.judgement.notes,
      suppressions: Object.fromEntries(
        modes.flatMap((mode) => {
          const suppression = resource.suppressed?.[mode];
          return suppression ? [[mode, jsonSuppression(suppression)]] : [];
        }),
      ),
    })),
    unmatchedSuppressions: unmatched.map((entry) => ({ ...jsonSuppression(entry.suppression), why: entry.why })),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

function jsonSuppression(suppression: SourcedSuppression): Record<string, unknown> {
  return { ...(suppression.resource ? { resource: suppression.resource } : {}), ...(suppression.rule ? { rule: suppression.rule } : {}), reason: suppression.reason, source: suppression.source };
}

/** `summary` in JSON: resources, verdicts, the verdict counts over every mode (as before), and per mode. */
function jsonSummary(summary: AuditSummary): Record<string, unknown> {
  const total = zeroCounts();
  for (const counts of Object.values(summary.byMode)) for (const verdict of VERDICT_ORDER) total[verdict] += (counts as VerdictCounts)[verdict];
  return { resources: summary.resources, verdicts: summary.verdicts, ...total, suppressed: summary.suppressed, byMode: summary.byMode };
}

const LEVELS: Readonly<Record<Verdict, "error" | "warning" | "note" | "none">> = { open: "error", fragile: "warning", unknown: "note", closed: "none" };

/**
 * SARIF 2.1.0 as GitHub code scanning reads it: one rule per mode, one result per non-closed mode,
 * a suppressed one with its `suppressions` (kind and justification), as code scanning dismisses it.
 */
export function formatSarif(resources: readonly AuditedResource[], modes: readonly AuditNetworkMode[], version: string, unmatched: Unmatched = []): string {
  const rules = AUDIT_RULES.filter((rule) => modes.includes(rule.mode)).map(({ id, name, text, mode }) => ({
    id,
    name,
    shortDescription: { text },
    fullDescription: { text: `${text} and take the instance role's credentials.` },
    help: { text: resources.find((r) => r.judgement.modes[mode]?.fix)?.judgement.modes[mode]?.fix ?? SHORT_FIXES[mode] },
    defaultConfiguration: { level: "error" },
    properties: { tags: ["security", "ecs", "imds"] },
  }));
  const results = resources.flatMap((resource) =>
    modes.flatMap((mode) => {
      const judged = resource.judgement.modes[mode];
      if (!judged || judged.verdict === "closed") return [];
      const suppression = resource.suppressed?.[mode];
      return [
        {
          ruleId: ruleIdOf(mode),
          ruleIndex: rules.findIndex((rule) => rule.id === ruleIdOf(mode)),
          level: LEVELS[judged.verdict],
          message: { text: `${resource.address}: ${mode} mode is ${judged.verdict}: ${judged.reasons.join("; ")}. Fix: ${judged.fix}` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: displayPath(resource.file) },
                region: { startLine: lineOf(resource) },
              },
              logicalLocations: [{ fullyQualifiedName: resource.address, kind: "resource" }],
            },
          ],
          partialFingerprints: { resourceMode: `${resource.address}/${mode}` },
          ...(suppression ? { suppressions: [{ kind: suppression.kind, status: "accepted", justification: suppression.reason, location: { physicalLocation: { artifactLocation: { uri: suppressionUri(suppression) } } } }] } : {}),
          properties: { verdict: judged.verdict },
        },
      ];
    }),
  );
  const log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "ecs-imds-guard", version, informationUri: "https://www.npmjs.com/package/ecs-imds-guard#audit-your-templates", rules } },
        results,
        // Results hold only what is not closed: the property bag says how many resources and verdicts there were.
        properties: { summary: jsonSummary(summarize(resources, modes)), unmatchedSuppressions: unmatched.map(unmatchedLine) },
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

/** A suppression's file as SARIF's `uri` (an HCL comment's source is `file:line`). */
function suppressionUri(suppression: SourcedSuppression): string {
  return displayPath(suppression.source.replace(/:\d+$/, ""));
}

const FILE_TEXT = new Map<string, string>();

/** The line where a resource is declared, or 1. */
function lineOf(resource: FoundResource): number {
  if (resource.line !== undefined) return resource.line;
  let text = FILE_TEXT.get(resource.file);
  if (text === undefined) {
    try {
      text = readFileSync(resource.file, "utf8");
    } catch {
      text = "";
    }
    FILE_TEXT.set(resource.file, text);
  }
  // The last `type.name` of the address, without a count/for_each key: `module.m["a"].aws_x.y["k"]` → aws_x, y.
  const match = /([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)(\[[^\]]*\])?$/.exec(resource.address);
  if (!match) return 1;
  const [, type, name] = match;
  const quoted = (value: string) => `"${escapeRegExp(value)}"`;
  // A plan names the full address; HCL declares `resource "type" "name"`; Terraform JSON nests "name" under "type".
  const patterns = [
    new RegExp(`"address"\\s*:\\s*${quoted(resource.address.replace(/"/g, '\\"'))}`),
    // A row for a module call the audit could not follow sits on its `module "name"` block.
    new RegExp(type === "module" ? `module\\s+${quoted(name)}` : `resource\\s+${quoted(type)}\\s+${quoted(name)}`),
    new RegExp(`${quoted(name)}\\s*:`),
  ];
  const typeAt = text.indexOf(`"${type}"`);
  for (const pattern of patterns) {
    const from = pattern === patterns[2] && typeAt >= 0 ? typeAt : 0;
    const found = pattern.exec(text.slice(from));
    if (found) return text.slice(0, from + found.index).split("\n").length;
  }
  return 1;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
