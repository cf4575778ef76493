/**
 * Suppressions: a finding the user has acknowledged, with a written reason. One format everywhere:
 * `{ resource?, rule?, reason }`, given to `ImdsAuditAspect.suppress` in an app (which also writes
 * it into the resource's `//` comment in cdk.tf.json), in a file for `--suppressions`, or in an HCL
 * comment above the resource. A suppressed finding is still reported, with its reason; it only
 * stops failing the run. A suppression that matches no finding is reported, so stale ones surface.
 */
import { AuditRuleId, AUDIT_RULES, ruleById, ruleIdOf } from "./rules";
import { AuditNetworkMode, Judgement } from "./types";

/** One acknowledged finding. */
export interface ImdsSuppression {
  /**
   * The resource's Terraform address (`aws_launch_template.web`, `module.pool.aws_instance.node`); an
   * address without an instance key also covers every `count` / `for_each` instance. Only in a
   * suppression file: in an app the construct names the resource, in HCL the block below the comment.
   * @default the resource the suppression is attached to
   */
  readonly resource?: string;
  /**
   * The rule whose finding is acknowledged: `ecs-imds-bridge`, `ecs-imds-awsvpc` or `ecs-imds-host`.
   * @default every rule (every network mode) of the resource
   */
  readonly rule?: AuditRuleId;
  /** Why the finding is accepted: a written reason, shown wherever the finding is reported. */
  readonly reason: string;
}

/** A suppression and where it was written. */
export interface SourcedSuppression extends ImdsSuppression {
  /** Where it was written: a file, a construct path. */
  readonly source: string;
  /** SARIF's kind: `inSource` beside the resource (app code, HCL comment), `external` in a suppression file. */
  readonly kind: "inSource" | "external";
  /**
   * The construct path `ImdsAuditAspect.suppress` was given, for a suppression copied onto each
   * resource below it: it matched when any copy did.
   */
  readonly declaredAt?: string;
}

/** A suppression the user wrote that does not hold: names the field, the value and the rule. */
export class SuppressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SuppressionError";
  }
}

/** The fewest characters a reason has: "ok" or "n/a" is not a reason (cdk-nag asks for 10 too). */
export const MIN_REASON_LENGTH = 10;

const FIELDS = ["resource", "rule", "reason"];

/**
 * Checks one suppression as a user wrote it. `where` names it in errors (`suppressions.json:
 * suppressions[2]`); `resource` says whether the `resource` field is required (a file) or refused
 * (attached to a construct or a block).
 */
export function checkSuppression(value: unknown, where: string, resource: "required" | "refused"): ImdsSuppression {
  const fail = (field: string, given: unknown, rule: string): never => {
    // `file: suppressions[0].rule = ...` for a list entry, `file:3: rule = ...` for a comment.
    const path = field === "" ? where : where.endsWith("]") ? `${where}.${field}` : `${where}: ${field}`;
    throw new SuppressionError(`ecs-imds-guard: ${path} = ${JSON.stringify(given) ?? "undefined"} is invalid: ${rule}`);
  };
  if (value === null || typeof value !== "object" || Array.isArray(value)) fail("", value, "a suppression is an object { resource, rule, reason }");
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!FIELDS.includes(key)) fail(key, record[key], `a suppression has only the fields ${FIELDS.join(", ")}`);
  }
  if (resource === "refused" && record.resource !== undefined) {
    fail("resource", record.resource, "a suppression attached to a resource names no other (leave resource out)");
  }
  if (resource === "required" && (typeof record.resource !== "string" || record.resource.trim() === "")) {
    fail("resource", record.resource, "must be the Terraform address of the resource (aws_launch_template.web)");
  }
  if (record.rule !== undefined && (typeof record.rule !== "string" || !ruleById(record.rule))) {
    fail("rule", record.rule, `must be one of ${AUDIT_RULES.map((r) => r.id).join(", ")}, or left out for every rule of the resource`);
  }
  if (typeof record.reason !== "string" || record.reason.trim().length < MIN_REASON_LENGTH) {
    fail("reason", record.reason, `a suppression needs a written reason of at least ${MIN_REASON_LENGTH} characters`);
  }
  return {
    ...(typeof record.resource === "string" ? { resource: record.resource } : {}),
    ...(record.rule !== undefined ? { rule: record.rule as AuditRuleId } : {}),
    reason: (record.reason as string).trim(),
  };
}

/**
 * A suppression file: `{ "suppressions": [{ "resource": "...", "rule": "...", "reason": "..." }] }`.
 * `file` names it in errors.
 */
export function parseSuppressionFile(text: string, file: string): SourcedSuppression[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new SuppressionError(`ecs-imds-guard: ${file} is not JSON (${(error as Error).message}): a suppression file is { "suppressions": [{ "resource", "rule", "reason" }] }`);
  }
  const list = (document as { suppressions?: unknown } | null)?.suppressions;
  if (!Array.isArray(list)) {
    throw new SuppressionError(`ecs-imds-guard: ${file}: suppressions = ${JSON.stringify(list) ?? "undefined"} is invalid: a suppression file is { "suppressions": [{ "resource", "rule", "reason" }] }`);
  }
  return list.map((entry, index) => ({ ...checkSuppression(entry, `${file}: suppressions[${index}]`, "required"), source: file, kind: "external" as const }));
}

/**
 * Suppressions written in a resource's `//` comment of Terraform JSON, where `ImdsAuditAspect.suppress`
 * puts them: `"//": { "ecs-imds-guard": { "suppressions": [{ "rule", "reason", "construct" }] } }`,
 * `construct` the path the suppression was given for.
 */
export function suppressionsInComment(comment: unknown, file: string, resource: string): SourcedSuppression[] {
  const list = (comment as { [COMMENT_KEY]?: { suppressions?: unknown } } | null)?.[COMMENT_KEY]?.suppressions;
  if (list === undefined) return [];
  const where = `${resource}: //.${COMMENT_KEY}.suppressions`;
  if (!Array.isArray(list)) throw new SuppressionError(`ecs-imds-guard: ${where} = ${JSON.stringify(list)} is invalid: must be a list`);
  return list.map((entry, index) => {
    const { construct, ...written } = (entry ?? {}) as { construct?: unknown };
    return {
      ...checkSuppression(written, `${where}[${index}]`, "refused"),
      source: file,
      kind: "inSource" as const,
      ...(typeof construct === "string" ? { declaredAt: construct } : {}),
    };
  });
}

/** The key under a resource's `//` comment that holds its suppressions. */
export const COMMENT_KEY = "ecs-imds-guard";

/** The `# ecs-imds-guard:suppress` comment of HCL: `rule=ecs-imds-bridge reason="..."`, rule optional. */
export const HCL_COMMENT = /^[ \t]*(?:#|\/\/)[ \t]*ecs-imds-guard:suppress\b(.*)$/;

/** Parses the text after `ecs-imds-guard:suppress` in an HCL comment. */
export function parseHclSuppression(text: string, file: string, line: number): SourcedSuppression {
  const where = `line ${line}`;
  const fields: Record<string, string> = {};
  const pattern = /([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))/gy;
  let rest = text.trim();
  while (rest.length > 0) {
    pattern.lastIndex = 0;
    const match = pattern.exec(rest);
    if (!match) throw new SuppressionError(`ecs-imds-guard: ${where}: "${rest}" is invalid: a suppression comment is # ecs-imds-guard:suppress rule=ecs-imds-bridge reason="why"`);
    fields[match[1]] = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : match[3];
    rest = rest.slice(match[0].length).trimStart();
  }
  return { ...checkSuppression(fields, where, "refused"), source: `${file}:${line}`, kind: "inSource" };
}

/** A finding's suppression per network mode of one resource. */
export type ModeSuppressions = Partial<Record<AuditNetworkMode, SourcedSuppression>>;

/** A suppression that matched no finding, and why. */
export interface UnmatchedSuppression {
  readonly suppression: SourcedSuppression;
  readonly why: string;
}

/** What `matchSuppressions` is given per resource. */
export interface SuppressibleResource {
  readonly address: string;
  readonly judgement: Judgement;
  /** Suppressions written beside the resource. */
  readonly suppressions?: readonly SourcedSuppression[];
}

function covers(suppression: ImdsSuppression, address: string): boolean {
  if (suppression.resource === undefined || suppression.resource === address) return true;
  // `aws_x.y` covers `aws_x.y[0]` and `aws_x.y["a"]`.
  return address.startsWith(suppression.resource) && /^\[[^\]]*\]$/.test(address.slice(suppression.resource.length));
}

/** Describes a suppression in messages: its resource, rule and source. */
export function describeSuppression(suppression: SourcedSuppression): string {
  const of = suppression.resource ?? suppression.declaredAt;
  return `suppression${of ? ` of ${of}` : ""} (${suppression.rule ?? "every rule"}) in ${suppression.source}`;
}

/**
 * Which findings (modes not `closed`) each suppression acknowledges, and which suppressions matched
 * none. Suppressions beside a resource apply to it; `external` ones by address.
 */
export function matchSuppressions(
  resources: readonly SuppressibleResource[],
  modes: readonly AuditNetworkMode[],
  external: readonly SourcedSuppression[] = [],
): { readonly byResource: ModeSuppressions[]; readonly unmatched: UnmatchedSuppression[] } {
  const used = new Set<SourcedSuppression>();
  const byResource = resources.map((resource) => {
    const applying = [...(resource.suppressions ?? []), ...external.filter((s) => covers(s, resource.address))];
    const found: ModeSuppressions = {};
    for (const mode of modes) {
      const judged = resource.judgement.modes[mode];
      if (!judged || judged.verdict === "closed") continue;
      const suppression = applying.find((s) => s.rule === undefined || s.rule === ruleIdOf(mode));
      if (!suppression) continue;
      found[mode] = suppression;
      used.add(suppression);
    }
    return found;
  });
  const all = [...new Set([...resources.flatMap((resource) => resource.suppressions ?? []), ...external])];
  // Copies of one suppression given for a construct above several resources count as one.
  const copyOf = (s: SourcedSuppression) => (s.declaredAt === undefined ? s : JSON.stringify([s.source, s.declaredAt, s.rule, s.reason]));
  const usedCopies = new Set([...used].map(copyOf));
  const reported = new Set<unknown>();
  const unmatched = all
    .filter((suppression) => !usedCopies.has(copyOf(suppression)))
    .filter((suppression) => !reported.has(copyOf(suppression)) && reported.add(copyOf(suppression)))
    .map((suppression) => ({ suppression, why: whyUnmatched(suppression, resources, modes) }));
  return { byResource, unmatched };
}

function whyUnmatched(suppression: SourcedSuppression, resources: readonly SuppressibleResource[], modes: readonly AuditNetworkMode[]): string {
  if (suppression.kind === "external" && !resources.some((resource) => covers(suppression, resource.address))) {
    return `no audited resource has the address ${suppression.resource}`;
  }
  const rule = suppression.rule ? ruleById(suppression.rule) : undefined;
  if (rule && !modes.includes(rule.mode)) return `${rule.mode} mode is not judged (network modes: ${modes.join(", ")})`;
  return `nothing to acknowledge: ${rule ? `${rule.mode} mode is` : "every judged mode is"} closed`;
}
