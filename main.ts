// The entry cdktf.json runs, and `npm run synth` without the cdktf CLI: builds this repository's
// two stacks from the environment and writes cdktf.out/.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { buildApp, configFromEnvironment, inEnvironmentTerms } from "./app";
import { synthReport } from "./app/synth-report";
import { UserDataValidationError } from "./lib/user-data";

try {
  const app = buildApp(configFromEnvironment(process.env));
  app.synth();
  // On stderr: the cdktf CLI prints an app's stdout, and prints this report itself.
  const manifest = JSON.parse(readFileSync(join(app.outdir, "manifest.json"), "utf8"));
  const report = synthReport(manifest, relative(process.cwd(), app.outdir) || ".");
  console.error(report.join("\n"));
  // An error-level annotation (the audit Aspect at level "error") fails the run; the files stay written, as with the CLI.
  if (report.some((line) => line.startsWith("ERROR ["))) process.exitCode = 1;
} catch (error) {
  const reported = inEnvironmentTerms(error, process.env);
  if (reported instanceof UserDataValidationError) {
    // The message names the input, its value and the rule; a stack trace adds nothing.
    console.error(reported.message);
    process.exit(1);
  }
  throw error;
}
