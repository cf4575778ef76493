// The entry cdktf.json runs: builds this repository's two stacks from the environment and writes cdktf.out/.
import { buildApp, configFromEnvironment } from "./app";
import { UserDataValidationError } from "./lib/user-data";

try {
  buildApp(configFromEnvironment(process.env)).synth();
} catch (error) {
  if (error instanceof UserDataValidationError) {
    // The message names the input, its value and the rule; a stack trace adds nothing.
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
