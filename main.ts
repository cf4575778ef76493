// The entry cdktf.json runs: builds this repository's two stacks from the environment and writes cdktf.out/.
import { buildApp, configFromEnvironment, inEnvironmentTerms } from "./app";
import { UserDataValidationError } from "./lib/user-data";

try {
  buildApp(configFromEnvironment(process.env)).synth();
} catch (error) {
  const reported = inEnvironmentTerms(error, process.env);
  if (reported instanceof UserDataValidationError) {
    // The message names the input, its value and the rule; a stack trace adds nothing.
    console.error(reported.message);
    process.exit(1);
  }
  throw error;
}
