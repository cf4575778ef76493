import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

/** The repository root. */
export const ROOT = resolve(__dirname, "../..");
/** Folder of the consumer apps, each as `cdktf init` or `cdktn init --template=typescript` wrote it (init-apps.sh). */
export const CONSUMERS = join(ROOT, "__tests__/consumers");
/** Programs every consumer app gets beside the README's examples. */
const APP_SOURCES = join(CONSUMERS, "app-src");

const { toCdktn }: { toCdktn(specifier: string): string | null } = require("../../tools/flavours.cjs");

/** The framework a consumer app is built on. */
export type Flavour = "cdktf" | "cdktn";

/** The framework of a consumer app, from its dependencies. */
export function flavourOf(name: string): Flavour {
  const { dependencies } = JSON.parse(readFileSync(join(CONSUMERS, name, "package.json"), "utf8"));
  return "cdktn" in dependencies ? "cdktn" : "cdktf";
}

/**
 * A program written for cdktf, as a CDK Terrain user writes it: the framework and provider imports
 * renamed (tools/flavours.cjs, the same map the build uses) and ecs-imds-guard's constructs taken
 * from `ecs-imds-guard/cdktn`. Nothing else changes.
 */
export function inFlavour(code: string, flavour: Flavour): string {
  if (flavour === "cdktf") return code;
  return code.replace(/(\bfrom |\bimport\(|\brequire\()"([^"]+)"/g, (whole, opener: string, specifier: string) => {
    if (specifier === "ecs-imds-guard") return `${opener}"ecs-imds-guard/cdktn"`;
    const renamed = toCdktn(specifier);
    return renamed === null ? whole : `${opener}"${renamed}"`;
  });
}

/** What a finished command left behind. */
export interface CommandOutput {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command with a hard time limit; throws with its output when it fails and `check` is set. */
export function runIn(
  cwd: string,
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string>; check?: boolean; userShell?: boolean } = {},
): CommandOutput {
  // A user's shell: none of the variables npm sets for this repository's own `npm test` (they name
  // this project and Node.js binary: npm_config_local_prefix, npm_node_execpath, NODE, ...).
  const inherited = options.userShell
    ? Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|NODE$|INIT_CWD$)/i.test(key)))
    : process.env;
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 180_000,
    killSignal: "SIGKILL",
    maxBuffer: 64 * 1024 * 1024,
    env: { ...inherited, CHECKPOINT_DISABLE: "1", npm_config_fund: "false", npm_config_audit: "false", ...options.env },
  });
  const output = { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  if ((options.check ?? true) && result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} in ${cwd} ended with ${result.status ?? result.signal}` +
        `${result.error ? ` (${result.error.message})` : ""}\n${output.stdout.slice(-4000)}\n${output.stderr.slice(-4000)}`,
    );
  }
  return output;
}

/** One fenced ```ts block of README.md, in document order. */
export interface ReadmeExample {
  /** File name the block is saved under in a consumer app. */
  readonly file: string;
  readonly code: string;
  /** Whether the block is an app: it calls `app.synth()`. */
  readonly synthesizes: boolean;
  /** Whether the block is a jest test (it calls `it(...)`/`test(...)` and `expect`): run by jest, not by the app command. */
  readonly test: boolean;
  /** `cdktn` for a block written for CDK Terrain (it imports cdktn); blocks for cdktf run in both flavours. */
  readonly flavour: Flavour;
}

/** Every ```ts block of README.md, exactly as written. */
export function readmeExamples(readme = readFileSync(join(ROOT, "README.md"), "utf8")): ReadmeExample[] {
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match, index) => {
    const test = /^\s*(it|test)\(/m.test(match[1]) && /\bexpect\(/.test(match[1]);
    return {
      file: `readme-example-${index + 1}${test ? ".test" : ""}.ts`,
      code: match[1],
      synthesizes: /\bapp\.synth\(\)/.test(match[1]),
      test,
      flavour: /\bfrom "cdktn"/.test(match[1]) ? "cdktn" : "cdktf",
    };
  });
}

/** The README examples a consumer app of `flavour` runs: all in a CDK Terrain app, the cdktf ones in a cdktf app. */
export function readmeExamplesFor(flavour: Flavour): ReadmeExample[] {
  return readmeExamples().filter((example) => flavour === "cdktn" || example.flavour === "cdktf");
}

/** The README section whose ```sh block installs the package in an app of `flavour`. */
const INSTALL_SECTIONS: Record<Flavour, string> = { cdktf: "Install in your own app", cdktn: "On CDK Terrain" };

/**
 * The install commands of README.md for an app of `flavour`, in order, exactly as written: every
 * line of the ```sh blocks of its section ("Install in your own app" or "On CDK Terrain").
 */
export function readmeInstallLines(flavour: Flavour, readme = readFileSync(join(ROOT, "README.md"), "utf8")): string[] {
  const start = readme.indexOf(`\n## ${INSTALL_SECTIONS[flavour]}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${INSTALL_SECTIONS[flavour]}"`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((block) => block[1].split("\n").filter((line) => line.trim() !== ""));
}

/**
 * A README install line as run against the packed tarball: the word `ecs-imds-guard` (the
 * registry name) becomes the tarball's path; nothing else changes.
 */
export function withTarball(line: string, tarball: string): string {
  return line.replace(/(^|\s)ecs-imds-guard(?=\s|$)/g, (_whole, space: string) => `${space}${tarball}`);
}

/** A consumer app installed in a work folder, run on one Node.js release. */
export interface ConsumerApp {
  readonly dir: string;
  /** Folder of the `node` (and, through PATH, `npm`, `npx`) the app runs on. */
  readonly nodeBin: string;
  /** What the README's install lines printed, line by line. */
  readonly installOutput: readonly CommandOutput[];
  /** Installed package names (`npm ls --all`) before and after the README's install lines. */
  readonly packagesBefore: ReadonlySet<string>;
  readonly packagesAfter: ReadonlySet<string>;
  /** `runIn` in the app folder, on the app's Node.js. */
  run(command: string, args: readonly string[], options?: { timeoutMs?: number; env?: Record<string, string>; check?: boolean }): CommandOutput;
}

/**
 * Copies a consumer app (as its init command wrote it, with its lock file) into `workDir`; on the
 * Node.js of `nodeBin`, installs its locked dependencies with `npm ci`, then runs the README's
 * install lines for its flavour, in order, through bash (the tarball in place of the registry
 * name); then adds the README's examples and the programs of app-src/.
 */
export function installConsumerApp(name: string, tarball: string, workDir: string, nodeBin: string): ConsumerApp {
  const dir = join(workDir, name);
  cpSync(join(CONSUMERS, name), dir, { recursive: true, filter: (source) => !/[\\/]node_modules$/.test(source) });
  const env = { PATH: `${nodeBin}${delimiter}${process.env.PATH ?? ""}` };
  const run: ConsumerApp["run"] = (command, args, options = {}) => runIn(dir, command, args, { ...options, userShell: true, env: { ...env, ...options.env } });
  // node_modules as init left it. `cdktf init` installs `typescript ts-jest ...` by name, so npm
  // overrides ts-jest's peer (TypeScript below 7) with a warning; the lock it writes holds that tree,
  // which a plain `npm ci` refuses (ERESOLVE). `--force` lays out exactly the locked tree.
  run("npm", ["ci", "--prefer-offline", "--force"], { timeoutMs: 300_000 });
  const packagesBefore = installedPackages(run);
  const flavour = flavourOf(name);
  const lines = readmeInstallLines(flavour);
  if (lines.length === 0) throw new Error(`README.md shows no install line for a ${flavour} app`);
  const installOutput = lines.map((line) => run("bash", ["-c", withTarball(line, tarball)], { timeoutMs: 300_000 }));
  const packagesAfter = installedPackages(run);
  // Test examples need jest's types and runner: runJestExamples writes and runs them.
  for (const example of readmeExamplesFor(flavour).filter((e) => !e.test)) writeFileSync(join(dir, example.file), inFlavour(example.code, flavour));
  for (const file of readdirSync(APP_SOURCES)) {
    writeFileSync(join(dir, file), inFlavour(readFileSync(join(APP_SOURCES, file), "utf8"), flavour));
  }
  return { dir, nodeBin, installOutput, packagesBefore, packagesAfter, run };
}

/** Names of every package installed in an app's node_modules tree. */
function installedPackages(run: ConsumerApp["run"]): Set<string> {
  const listing = run("npm", ["ls", "--all", "--parseable"], { check: false }).stdout;
  return new Set(listing.split("\n").flatMap((line) => /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(line)?.slice(1) ?? []));
}

/** The `cdktf.json` app command of a consumer, split into program and arguments. */
export function appCommand(appDir: string): { command: string; args: string[] } {
  const [command, ...args] = JSON.parse(readFileSync(join(appDir, "cdktf.json"), "utf8")).app.split(" ");
  return { command, args };
}

/**
 * Runs `file` the way the app's cdktf.json runs main.ts (`npx ts-node main.ts`, which type-checks),
 * writing into `outdir` as `cdktf synth` would through CDKTF_OUTDIR.
 */
export function runAppFile(app: ConsumerApp, file: string, outdir: string, check = true): CommandOutput {
  const { command, args } = appCommand(app.dir);
  const fileArgs = args.map((arg) => (arg === "main.ts" ? file : arg));
  if (!fileArgs.includes(file)) throw new Error(`cdktf.json of ${app.dir} does not run main.ts: ${args.join(" ")}`);
  return app.run(command, fileArgs, { env: { CDKTF_OUTDIR: outdir }, check });
}

/** Parsed cdk.tf.json of each stack under a cdktf outdir, by stack name. */
export function synthesizedStacks(outdir: string): Record<string, any> {
  const stacksDir = join(outdir, "stacks");
  if (!existsSync(stacksDir)) return {};
  return Object.fromEntries(
    readdirSync(stacksDir).map((stack) => [stack, JSON.parse(readFileSync(join(stacksDir, stack, "cdk.tf.json"), "utf8"))]),
  );
}

/** Paths of every installed copy of `pkg` in an app's node_modules tree. */
export function installedCopies(app: ConsumerApp, pkg: string): string[] {
  const listing = app.run("npm", ["ls", pkg, "--all", "--parseable"], { check: false }).stdout;
  return [...new Set(listing.split("\n").filter((line) => line.endsWith(`/node_modules/${pkg}`)))];
}

/** Unit tests a user writes with jest, beside the README's: the package's test helper in use. */
const UNIT_TEST_SOURCES = join(CONSUMERS, "unit-test-src");

/**
 * Type-checks and runs jest tests in an app, as its own unit tests: the README's test examples and
 * the programs of unit-test-src/, written into a folder of the app (so they import the installed
 * package), type-checked with the app's tsconfig plus jest's types, run by jest with swc on the
 * app's Node.js. Jest and its types come from this repository: the consumer apps do not all
 * install them. The folder is removed afterwards.
 */
export function runJestExamples(app: ConsumerApp, flavour: Flavour): { readonly files: string[]; readonly typecheck: CommandOutput; readonly jest: CommandOutput } {
  const dir = join(app.dir, "unit-tests");
  mkdirSync(dir, { recursive: true });
  try {
    const files: string[] = [];
    for (const example of readmeExamplesFor(flavour).filter((e) => e.test)) {
      writeFileSync(join(dir, example.file), inFlavour(example.code, flavour));
      files.push(example.file);
    }
    for (const file of readdirSync(UNIT_TEST_SOURCES)) {
      const name = file.replace(/\.ts$/, ".test.ts");
      writeFileSync(join(dir, name), inFlavour(readFileSync(join(UNIT_TEST_SOURCES, file), "utf8"), flavour));
      files.push(name);
    }
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: "../tsconfig.json",
        compilerOptions: { incremental: false, types: ["jest", "node"], typeRoots: [join(app.dir, "node_modules", "@types"), join(ROOT, "node_modules", "@types")] },
        include: ["*.ts"],
      }),
    );
    const typecheck = app.run("npx", ["tsc", "--noEmit", "-p", join(dir, "tsconfig.json")], { check: false });
    const config = {
      rootDir: dir,
      testEnvironment: "node",
      testMatch: ["<rootDir>/*.test.ts"],
      transform: { "^.+\\.ts$": [require.resolve("@swc/jest"), { jsc: { target: "es2022" }, module: { type: "commonjs" } }] },
    };
    const jest = app.run("node", [require.resolve("jest/bin/jest"), "--ci", "--config", JSON.stringify(config)], { check: false, timeoutMs: 300_000 });
    return { files, typecheck, jest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
