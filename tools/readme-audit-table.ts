/**
 * README.md's audit tables are what `ecs-imds-guard audit` prints for the command written above
 * each. `npm run readme:audit-table` runs each command through the CLI's own entry (`runAudit`, from
 * the repository root, on the current source) and writes its output between the table's markers
 * (`<!-- audit-table:start -->`, or `<!-- audit-table:NAME:start -->` for further tables);
 * `--check` only compares and exits 1 when README differs.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAudit } from "../lib/audit";

export const ROOT = join(__dirname, "..");
export const README = join(ROOT, "README.md");
const PROGRAM = "npx ecs-imds-guard ";

const markers = (name?: string) => (name === undefined ? ["<!-- audit-table:start -->", "<!-- audit-table:end -->"] : [`<!-- audit-table:${name}:start -->`, `<!-- audit-table:${name}:end -->`]);

/** The names of README's further tables (`<!-- audit-table:NAME:start -->`), in order. */
export function tableNames(readme: string): string[] {
  return [...readme.matchAll(/<!-- audit-table:([\w-]+):start -->/g)].map((match) => match[1]);
}

/** Where a table is in README and the arguments of the command in the `sh` block just above it. */
export function locateTable(readme: string, name?: string): { readonly args: string[]; readonly start: number; readonly end: number } {
  const [START, END] = markers(name);
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md: no ${START} ... ${END} section`);
  const before = readme.slice(0, start);
  const block = /```sh\n([^`]*)```\s*$/.exec(before);
  const command = block?.[1].split("\n").find((line) => line.startsWith(PROGRAM));
  if (command === undefined) throw new Error(`README.md: the table's markers must follow a \`\`\`sh block with a line "${PROGRAM}audit ..."`);
  return { args: command.slice(PROGRAM.length).trim().split(/\s+/), start: start + START.length, end };
}

/** What the CLI prints for the arguments, run from the repository root as README says. */
export async function printedTable(args: readonly string[]): Promise<string> {
  let stdout = "";
  let stderr = "";
  const code = await runAudit(args, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  // 1 only says something is open: the table is still the output. 2 is a usage or input error.
  if (code === 2) throw new Error(`ecs-imds-guard ${args.join(" ")} exited 2: ${stderr}`);
  return stdout;
}

/** README with the section between a table's markers replaced by the output. */
export function withTable(readme: string, output: string, name?: string): string {
  const { start, end } = locateTable(readme, name);
  return `${readme.slice(0, start)}\n${output}${readme.slice(end)}`;
}

/** README as it should be now: every table regenerated. The working directory must be the repository root. */
export async function currentReadme(readme: string): Promise<string> {
  let current = withTable(readme, await printedTable(locateTable(readme).args));
  for (const name of tableNames(readme)) current = withTable(current, await printedTable(locateTable(current, name).args), name);
  return current;
}

async function main(): Promise<void> {
  process.chdir(ROOT);
  const readme = readFileSync(README, "utf8");
  const wanted = await currentReadme(readme);
  if (process.argv.includes("--check")) {
    if (wanted !== readme) {
      process.stderr.write("README.md: the audit table differs from what the CLI prints; run npm run readme:audit-table\n");
      process.exitCode = 1;
    }
    return;
  }
  if (wanted !== readme) writeFileSync(README, wanted);
  process.stdout.write(wanted === readme ? "README.md: the audit table is current\n" : "README.md: the audit table rewritten\n");
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
  });
}
