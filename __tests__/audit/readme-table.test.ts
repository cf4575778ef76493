/**
 * README's audit table is what the CLI prints now for the command written above it, run from the
 * repository root. When this fails, `npm run readme:audit-table` rewrites the table.
 */
import { readFileSync } from "node:fs";
import { locateTable, printedTable, README, ROOT, tableNames, withTable } from "../../tools/readme-audit-table";

jest.setTimeout(60_000);

describe("README's audit table", () => {
  const cwd = process.cwd();
  beforeAll(() => process.chdir(ROOT));
  afterAll(() => process.chdir(cwd));

  it("is exactly what `npx ecs-imds-guard audit ...` above it prints", async () => {
    const readme = readFileSync(README, "utf8");
    const { args, start, end } = locateTable(readme);
    expect(args[0]).toBe("audit");
    const printed = await printedTable(args);
    expect(readme.slice(start, end)).toBe(`\n${printed}`);
  });

  it("and each further named table is what the command above it prints", async () => {
    const readme = readFileSync(README, "utf8");
    for (const name of tableNames(readme)) {
      const { args, start, end } = locateTable(readme, name);
      expect({ name, command: args[0] }).toEqual({ name, command: "audit" });
      expect({ name, table: readme.slice(start, end) }).toEqual({ name, table: `\n${await printedTable(args)}` });
    }
  });

  it("finds named tables apart from the first", () => {
    const readme = "```sh\nnpx ecs-imds-guard audit a.tf.json\n```\n<!-- audit-table:start -->\n<!-- audit-table:end -->\n```sh\nnpx ecs-imds-guard audit t.yaml\n```\n<!-- audit-table:cloudformation:start -->\nold\n<!-- audit-table:cloudformation:end -->\n";
    expect(tableNames(readme)).toEqual(["cloudformation"]);
    expect(locateTable(readme, "cloudformation").args).toEqual(["audit", "t.yaml"]);
    expect(withTable(readme, "new\n", "cloudformation")).toContain("<!-- audit-table:cloudformation:start -->\nnew\n<!-- audit-table:cloudformation:end -->");
  });

  it("is found only between its markers, after the command's sh block", () => {
    expect(() => locateTable("no table here")).toThrow(/no <!-- audit-table:start -->/);
    expect(() => locateTable("text\n<!-- audit-table:start -->\n<!-- audit-table:end -->\n")).toThrow(/must follow a ```sh block/);
    const readme = "```sh\nnpx ecs-imds-guard audit a.tf.json\n```\n\n<!-- audit-table:start -->\nold\n<!-- audit-table:end -->\nafter\n";
    expect(locateTable(readme).args).toEqual(["audit", "a.tf.json"]);
    expect(withTable(readme, "new\n")).toBe("```sh\nnpx ecs-imds-guard audit a.tf.json\n```\n\n<!-- audit-table:start -->\nnew\n<!-- audit-table:end -->\nafter\n");
  });
});
