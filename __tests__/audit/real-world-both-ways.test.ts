/**
 * Every real-world folder (real-world.ts) judged both ways: by the static reader, and by
 * `--evaluate terraform`, where Terraform itself plans the folder with the AWS provider from the
 * machine's mirror, mocked. Per address and network mode the two must agree, or:
 * - the static verdict is `unknown`, with a reason;
 * - Terraform leaves the user data wholly unknown because a variable has no value, while the static
 *   reader keeps that reference inside a word: Terraform then plans again with each value of
 *   WORD_VALUES given to those variables; an ordinary value must give the static verdict, and no
 *   value may turn it round (a static `closed` stays `closed` for every value tried);
 * - Terraform refuses the configuration itself (a reference to an undeclared data source): the
 *   static reader says unknown, with a reason, for every row;
 * - Terraform cannot plan the folder here for a stated reason (a provider the mirror lacks, a
 *   registry module not downloaded, a mocked value a function cannot parse): the reason is
 *   asserted from Terraform's own message.
 * One evaluation takes 10 to 20 s here: folders run two at a time and every answer is computed
 * once, before the assertions.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runAudit } from "../../lib/audit";
import { AWS_PROVIDER_MIRROR, awsProviderRequirements, useMirrorInThisProcess } from "../support/aws-provider";
import { describeWhen } from "../support/tools";
import { REAL_WORLD, REAL_WORLD_FIXTURES, RealWorldCase } from "./real-world";

/** Folders evaluated at once: each Terraform run starts the 600 MB AWS provider, on two cores. */
const POOL = 2;

/**
 * Values given to a variable that the static reader keeps inside one word: an ordinary one first,
 * which Terraform must plan and judge as the static reader did, then one-word values a shell reads
 * as syntax (an unmatched parenthesis in the word, a subshell), which must not turn the static
 * verdict round. A value the configuration refuses (the AWS provider checks a launch template's
 * name, say) is no value the instance can get: it is reported, not compared.
 */
const WORD_VALUES = ["prod", "x(", "(x)"];

/**
 * Folders Terraform cannot plan here for a reason of their own (not one the rules below find from
 * the configuration), with the words of Terraform's refusal.
 */
const CANNOT_PLAN: Readonly<Record<string, { readonly reason: string; readonly terraformSays: RegExp }>> = {
  "tam-autoscaling-for-each": {
    reason:
      "the AMI is jsondecode() of an SSM parameter's value: the mock gives the value a mark, not JSON, so Terraform's jsondecode fails; the static reader knows the value only at plan time and judges without it",
    terraformSays: /Call to function "jsondecode" failed.*jsondecode\(\) was given data\.aws_ssm_parameter\.ecs_optimized_ami\.value, .*audit it without --evaluate terraform/,
  },
};

interface Row {
  readonly address: string;
  readonly verdicts: Record<string, string>;
  readonly reasons: Record<string, string[]>;
}

interface Audited {
  readonly code: number;
  readonly stderr: string;
  readonly rows: Readonly<Record<string, Row>>;
}

async function audit(args: readonly string[]): Promise<Audited> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(["audit", "--format", "json", ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  const rows: Row[] = stdout ? JSON.parse(stdout).resources : [];
  return { code, stderr, rows: Object.fromEntries(rows.map((row) => [row.address, row])) };
}

/** The `.tf` files of the root module in `dir` and of the local modules it calls (`source = "./x"`). */
function configurationFiles(dir: string, seen = new Set<string>()): string[] {
  if (seen.has(dir) || !existsSync(dir)) return [];
  seen.add(dir);
  const files = readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((path) => path.endsWith(".tf") && statSync(path).isFile());
  const called = files.flatMap((file) => [...readFileSync(file, "utf8").matchAll(/^\s*source\s*=\s*"(\.\.?\/[^"]*)"/gm)].map((match) => join(dir, match[1])));
  return [...files, ...called.flatMap((module) => configurationFiles(module, seen))];
}

/** The hashicorp providers the mirror holds (aws on these machines). */
const mirrored = (): string[] => {
  const dir = join(AWS_PROVIDER_MIRROR, "registry.terraform.io", "hashicorp");
  return existsSync(dir) ? readdirSync(dir) : [];
};

/**
 * Why Terraform cannot plan the folder on this machine, read from its configuration: a data
 * source or resource of a provider the mirror lacks (`data "template_file"` needs hashicorp/template),
 * or a registry module with no `.terraform/modules/modules.json` entry. Each comes with the words
 * of Terraform's refusal.
 */
function cannotPlanHere(dir: string): { reason: string; terraformSays: RegExp } | undefined {
  const text = configurationFiles(dir)
    .map((file) => readFileSync(file, "utf8"))
    .join("\n");
  const have = new Set(mirrored());
  const types = [...text.matchAll(/^\s*(?:data|resource)\s+"([a-z0-9]+)_[\w-]+"/gm)].map((match) => match[1]);
  const missing = [...new Set(types)].filter((provider) => provider !== "terraform" && !have.has(provider)).sort();
  if (missing.length > 0) {
    return {
      reason: `needs ${missing.map((p) => `hashicorp/${p}`).join(", ")}, which ${AWS_PROVIDER_MIRROR} does not hold and this machine cannot download`,
      terraformSays: new RegExp(`terraform init could not install provider hashicorp/(${missing.join("|")}), which this configuration needs .*run terraform init in `),
    };
  }
  const manifest = join(dir, ".terraform", "modules", "modules.json");
  const downloaded = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, "utf8")).Modules ?? []).map((m: { Key: string }) => m.Key) : [];
  const registryCalls = [...text.matchAll(/^module\s+"([\w-]+)"\s*\{[^}]*?\bsource\s*=\s*"([^".][^"]*)"/gms)].filter(([, name]) => !downloaded.includes(name));
  if (registryCalls.length > 0) {
    return {
      reason: `module ${registryCalls.map(([, name, source]) => `${name} (${source})`).join(", ")} is not downloaded (no terraform init)`,
      terraformSays: /terraform init could not install module .*run terraform init in /,
    };
  }
  return undefined;
}

/** How one address and mode compared. */
type Outcome = "agree" | "static unknown" | "in-word reference checked with values";

interface Compared {
  readonly folder: string;
  /** The stated reason Terraform cannot plan it here, when it cannot. */
  readonly listed?: string;
  /** Each address and mode: its outcome, or the disagreement in words. */
  readonly outcomes: Readonly<Record<string, Outcome | string>>;
  /** Failures that are not about one row (exit codes, addresses, Terraform refusing unexpectedly). */
  readonly problems: readonly string[];
  /** What Terraform refused (the configuration, or values of WORD_VALUES for it), with its words. */
  readonly refused?: readonly string[];
  /** Rows a value of WORD_VALUES left unknown in Terraform's plan. */
  readonly notes?: readonly string[];
}

async function compare(realWorld: RealWorldCase): Promise<Compared> {
  const dir = join(REAL_WORLD_FIXTURES, realWorld.folder);
  const modes = ["--network-modes", realWorld.modes.join(",")];
  const statically = await audit([...modes, dir]);
  const evaluated = await audit([...modes, "--evaluate", "terraform", dir]);
  const problems: string[] = [];
  const refused: string[] = [];
  const notes: string[] = [];
  if (statically.code === 2) problems.push(`the static reader could not read it: ${statically.stderr}`);

  const stated = CANNOT_PLAN[realWorld.folder] ?? cannotPlanHere(dir);
  if (stated !== undefined) {
    if (evaluated.code !== 2) problems.push(`listed as "${stated.reason}", but Terraform planned it (exit ${evaluated.code}): take it off the list`);
    else if (!stated.terraformSays.test(evaluated.stderr.replace(/\s+/g, " "))) problems.push(`listed as "${stated.reason}", but Terraform said: ${evaluated.stderr}`);
    return { folder: realWorld.folder, listed: stated.reason, outcomes: {}, problems };
  }
  if (evaluated.code === 2) {
    // Terraform refuses the configuration itself (an undeclared reference, a missing file): the
    // static reader must then say unknown, with a reason, for every row.
    const refusal = /terraform test could not plan this root module: (.*)/s.exec(evaluated.stderr)?.[1].trim();
    const rows = Object.values(statically.rows).flatMap((row) => realWorld.modes.map((mode) => [`${row.address} ${mode}`, row.verdicts[mode], (row.reasons[mode] ?? []).join(" ")] as const));
    if (refusal === undefined || rows.length === 0) return { folder: realWorld.folder, outcomes: {}, problems: [...problems, `Terraform could not plan it: ${evaluated.stderr}`] };
    const outcomes = Object.fromEntries(
      rows.map(([key, verdict, reasons]) => [key, verdict === "unknown" && reasons.trim() !== "" ? "static unknown" : `static ${verdict} (${reasons}), but Terraform refuses the configuration: ${refusal}`]),
    );
    return { folder: realWorld.folder, outcomes, problems, refused: [`Terraform refuses the configuration: ${refusal}`] };
  }
  const addresses = [...new Set([...Object.keys(statically.rows), ...Object.keys(evaluated.rows)])].sort();
  if (Object.keys(evaluated.rows).sort().join("\n") !== Object.keys(statically.rows).sort().join("\n")) {
    problems.push(`addresses differ: static ${JSON.stringify(Object.keys(statically.rows))}, Terraform ${JSON.stringify(Object.keys(evaluated.rows))}`);
  }

  const outcomes: Record<string, Outcome | string> = {};
  // Rows Terraform could not judge for want of a variable's value, and the variables it named.
  const inWord: Array<{ key: string; address: string; mode: string; variables: string[] }> = [];
  for (const address of addresses) {
    for (const mode of realWorld.modes) {
      const key = `${address} ${mode}`;
      const [staticRow, plannedRow] = [statically.rows[address], evaluated.rows[address]];
      const [staticVerdict, planned] = [staticRow?.verdicts[mode], plannedRow?.verdicts[mode]];
      const staticReasons = (staticRow?.reasons[mode] ?? []).join(" ");
      if (staticVerdict === planned) outcomes[key] = "agree";
      else if (staticVerdict === "unknown" && staticReasons.trim() !== "") outcomes[key] = "static unknown";
      else if (planned === "unknown" && /given no value/.test((plannedRow?.reasons[mode] ?? []).join(" ")) && staticVerdict !== undefined) {
        const variables = [...new Set([...(plannedRow?.reasons[mode] ?? []).join(" ").matchAll(/var\.([\w-]+)/g)].map((match) => match[1]))];
        inWord.push({ key, address, mode, variables });
      } else {
        outcomes[key] = `static ${staticVerdict} (${staticReasons}), Terraform ${planned} (${(plannedRow?.reasons[mode] ?? []).join(" ")})`;
      }
    }
  }

  // One plan per value, with every variable Terraform named given that value.
  const variables = [...new Set(inWord.flatMap((row) => row.variables))].sort();
  const plansByValue = new Map<string, Audited>();
  if (inWord.length > 0) {
    for (const value of WORD_VALUES) {
      plansByValue.set(value, await audit([...modes, "--evaluate", "terraform", ...variables.flatMap((name) => ["--var", `${name}=${value}`]), dir]));
    }
  }
  const given = (value: string) => variables.map((name) => `${name}=${JSON.stringify(value)}`).join(" ");
  for (const [value, plan] of plansByValue) {
    if (plan.code !== 2) continue;
    if (value === WORD_VALUES[0]) problems.push(`Terraform could not plan it with ${given(value)}: ${plan.stderr}`);
    else refused.push(`${given(value)}: ${plan.stderr.replace(/^.*could not plan this root module: /s, "").trim()}`);
  }
  for (const { key, address, mode } of inWord) {
    const staticVerdict = statically.rows[address].verdicts[mode];
    // The ordinary value gives the static verdict. A value a shell reads as syntax may leave the
    // script unreadable (Terraform's row is then unknown, for that reason), but it never turns the
    // static verdict round: a static closed stays closed, and nothing else becomes closed.
    const differing = [...plansByValue].filter(([value, plan]) => {
      if (plan.code === 2) return false;
      const planned = plan.rows[address]?.verdicts[mode];
      if (value === WORD_VALUES[0] || staticVerdict === "closed") return planned !== staticVerdict;
      return planned === "closed" || (planned !== staticVerdict && planned !== "unknown");
    });
    outcomes[key] =
      differing.length === 0
        ? "in-word reference checked with values"
        : `static ${staticVerdict}, but with ${differing.map(([value, plan]) => `${given(value)}: Terraform ${plan.rows[address]?.verdicts[mode]} (${plan.rows[address]?.reasons[mode]?.join(" ")})`).join("; ")}`;
    const unreadable = [...plansByValue].filter(([, plan]) => plan.code !== 2 && plan.rows[address]?.verdicts[mode] !== staticVerdict).map(([value]) => JSON.stringify(value));
    if (differing.length === 0 && unreadable.length > 0) notes.push(`${key}: unknown with ${unreadable.join(", ")} (the script no longer parses)`);
  }
  // The exit code follows the verdicts: equal verdicts, equal codes.
  if (Object.values(outcomes).every((outcome) => outcome === "agree") && evaluated.code !== statically.code) {
    problems.push(`the same verdicts, but exit ${statically.code} statically and ${evaluated.code} with Terraform`);
  }
  return { folder: realWorld.folder, outcomes, problems, refused, notes };
}

/** Runs `work` over `items`, at most `size` at once, keeping their order. */
async function pooled<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
  return results;
}

describeWhen(awsProviderRequirements())("the real-world corpus, read statically and planned by Terraform", () => {
  const compared = new Map<string, Compared>();
  let restore: (() => void) | undefined;

  beforeAll(async () => {
    // The CLI configuration FACTS.md gives for this machine's filesystem mirror, as a user would set it.
    restore = useMirrorInThisProcess();
    const started = Date.now();
    for (const result of await pooled(REAL_WORLD, POOL, compare)) compared.set(result.folder, result);
    const table = [...compared.values()].map(
      (c) => `${c.folder}: ${c.listed ? `listed: ${c.listed}` : [...new Set(Object.values(c.outcomes))].join(", ")}${c.refused?.length ? ` (refused: ${c.refused.join("; ")})` : ""}${c.notes?.length ? ` (${c.notes.join("; ")})` : ""}`,
    );
    console.log(`${REAL_WORLD.length} folders both ways in ${((Date.now() - started) / 1000).toFixed(0)} s\n${table.join("\n")}`);
  }, 40 * 60_000);

  afterAll(() => restore?.());

  it.each(REAL_WORLD.map((c) => [c.folder] as const))("%s: the same verdicts both ways, or a stated reason", (folder) => {
    const result = compared.get(folder)!;
    expect(result.problems).toEqual([]);
    const allowed = new Set<string>(["agree", "static unknown", "in-word reference checked with values"]);
    expect(Object.fromEntries(Object.entries(result.outcomes).filter(([, outcome]) => !allowed.has(outcome)))).toEqual({});
    if (result.listed === undefined) expect(Object.keys(result.outcomes).length).toBeGreaterThan(0);
  });

});
