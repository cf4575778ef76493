// Global setup of the consumer tests: packs the working tree once, as `npm pack` makes the tarball a
// user installs (its `prepare` script builds dist/ first). The path reaches the test files through
// the environment, which jest's workers inherit.
const { execFileSync } = require("node:child_process");
const { mkdtempSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join, resolve } = require("node:path");

module.exports = async function packForConsumers() {
  const destination = mkdtempSync(join(tmpdir(), "ecs-imds-guard-pack-"));
  const output = execFileSync("npm", ["pack", "--json", "--pack-destination", destination], {
    cwd: resolve(__dirname, "../.."),
    encoding: "utf8",
    timeout: 180_000,
    stdio: ["ignore", "pipe", "inherit"],
  });
  // `prepare` prints the build's output before the JSON array, which starts on a line of its own.
  const [packed] = JSON.parse(output.slice(output.search(/^\[/m)));
  process.env.PACKED_TARBALL = join(destination, packed.filename);
  process.env.PACKED_TARBALL_FILES = JSON.stringify(packed.files.map((file) => file.path));
  process.env.PACKED_TARBALL_SIZE = String(packed.size);
};
