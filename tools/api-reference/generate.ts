// Writes API.md, the API reference of every entry point of the package, from the declarations and
// their doc comments (TypeDoc with its Markdown theme, pinned by this folder's own lock file: TypeDoc
// needs the TypeScript 5 compiler API, which TypeScript 7 no longer has). `--check` compares
// instead of writing and exits 1 when API.md is not current.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const HERE = __dirname;
const ROOT = join(HERE, "..", "..");
const API_MD = join(ROOT, "API.md");

/** The package's entry points with the source file of each; `cdktn` is the same API built for CDK Terrain. */
export function entryPoints(manifest: { exports: Record<string, unknown> }): Array<{ subpath: string; source: string }> {
  return Object.entries(manifest.exports)
    .filter(([subpath, target]) => subpath !== "./package.json" && subpath !== "./cdktn" && typeof target === "object")
    .map(([subpath, target]) => {
      const types = (target as { types: string }).types;
      const source = types.replace(/^\.\/dist\//, "lib/").replace(/\.d\.ts$/, ".ts");
      return { subpath: subpath === "." ? "ecs-imds-guard" : `ecs-imds-guard/${subpath.slice(2)}`, source };
    });
}

/** One module page of TypeDoc's Markdown as a section of API.md: no breadcrumbs, headings one level down, links within the file. */
export function asSection(page: string, title: string, pages: readonly string[]): string {
  const [, ...rest] = page.slice(page.indexOf("\n# ") + 1).split("\n");
  let text = [`## \`${title}\``, ...rest.map((line) => (/^#{2,5} /.test(line) ? `#${line}` : line))].join("\n");
  for (const other of pages) text = text.split(`](${other}#`).join("](#");
  return text.trimEnd();
}

function typedoc(out: string, sources: readonly string[]): void {
  const bin = join(HERE, "node_modules", ".bin", "typedoc");
  if (!existsSync(bin)) {
    const install = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: HERE, stdio: "inherit" });
    if (install.status !== 0) throw new Error("npm ci in tools/api-reference failed");
  }
  const args = [
    "--plugin", join(HERE, "node_modules", "typedoc-plugin-markdown", "dist", "index.js"),
    "--tsconfig", join(HERE, "tsconfig.json"),
    ...sources.flatMap((source) => ["--entryPoints", join(ROOT, source)]),
    "--outputFileStrategy", "modules",
    "--out", out,
    "--readme", "none",
    "--disableSources",
    "--excludeExternals",
    "--excludePrivate",
    "--excludeProtected",
    "--skipErrorChecking",
    "--hideGenerator",
    "--logLevel", "Error",
  ];
  const result = spawnSync(bin, args, { cwd: ROOT, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`typedoc failed:\n${result.stdout}${result.stderr}`);
}

/** API.md's text for the package as it is in the working tree. */
export function apiReference(): string {
  const entries = entryPoints(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")));
  const out = mkdtempSync(join(tmpdir(), "ecs-imds-guard-api-"));
  try {
    typedoc(out, entries.map((entry) => entry.source));
    // TypeDoc names each module page after the entry file's path below the common folder.
    const pageOf = (source: string) => {
      const name = relative("lib", source).replace(/(^|\/)index\.ts$/, "").replace(/\.ts$/, "");
      return `${name === "" ? "index" : name}.md`;
    };
    const pages = entries.map((entry) => pageOf(entry.source));
    const sections = entries.map((entry, i) => asSection(readFileSync(join(out, pages[i]), "utf8"), entry.subpath, [...pages, "README.md"]));
    return [
      "# API reference",
      "",
      "Generated from the declarations and their doc comments by `npm run docs:api`; `npm test` fails when it is not current.",
      "`ecs-imds-guard/cdktn` exports the same API as `ecs-imds-guard`, typed with `cdktn` and `@cdktn/provider-aws`.",
      "",
      ...entries.map((entry) => `- [\`${entry.subpath}\`](#${entry.subpath.replace(/[^a-z0-9-]/g, "")})`),
      "",
      sections.join("\n\n"),
      "",
    ].join("\n");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const text = apiReference();
  if (process.argv.includes("--check")) {
    const current = existsSync(API_MD) ? readFileSync(API_MD, "utf8") : "";
    if (current !== text) {
      console.error("API.md is not current: run npm run docs:api");
      process.exit(1);
    }
  } else {
    writeFileSync(API_MD, text);
    console.error(`wrote ${relative(process.cwd(), API_MD)}`);
  }
}
