/**
 * API.md documents every entry point of the package from its declarations: a change to an exported
 * name, a signature or a doc comment must come with the regenerated reference (npm run docs:api).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { apiReference, entryPoints } from "../tools/api-reference/generate";

const ROOT = join(__dirname, "..");

describe("API.md", () => {
  it("is what the declarations of the package's entry points give today", () => {
    expect(readFileSync(join(ROOT, "API.md"), "utf8")).toBe(apiReference());
  }, 180_000);

  it("covers each entry point of package.json's exports, from its source", () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const documented = [...readFileSync(join(ROOT, "API.md"), "utf8").matchAll(/^## `([^`]+)`$/gm)].map((match) => match[1]);
    expect(documented).toEqual(entryPoints(manifest).map((entry) => entry.subpath));
    expect(documented).toContain("ecs-imds-guard");
  });
});
