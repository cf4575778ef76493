import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { formatSarif } from "../lib/audit/report";

const ROOT = resolve(__dirname, "..");
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

/** The anchors npm and GitHub give README headings: lower case, punctuation dropped, spaces to dashes. */
function headingAnchors(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((match) =>
    match[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-"),
  );
}

describe("what the package tells users about itself", () => {
  it("links SARIF's tool to the README section on the audit, on the package's homepage", () => {
    const { informationUri } = JSON.parse(formatSarif([], ["bridge"], "0.0.0")).runs[0].tool.driver;
    const [page, anchor] = informationUri.split("#");
    expect(page).toBe(manifest.homepage.split("#")[0]);
    expect(headingAnchors(readme)).toContain(anchor);
    expect(anchor).toMatch(/audit/);
  });

  it("declares the Node.js releases the consumer apps run on", () => {
    const pinned = JSON.parse(readFileSync(join(ROOT, "__tests__/consumers/node/package.json"), "utf8")).dependencies;
    const majors = Object.values(pinned).map((spec) => Number(/@(\d+)\./.exec(String(spec))?.[1]));
    expect(majors.sort()).toEqual([22, 24]);
    expect(manifest.engines.node).toBe(">=22");
  });
});
