// Ends a jest run with one plain line "N passed, N failed, N skipped" that any CI log reader
// understands. It is written at exit, after everything jest prints, straight to the descriptor.
const { writeSync } = require("node:fs");

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `\n${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`;
    process.once("exit", () => writeSync(2, line));
  }
}

module.exports = SummaryReporter;
