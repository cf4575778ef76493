// Global setup of the consumer tests: installs the Node.js releases the apps run on (pinned, cached:
// tools/consumer-nodes.cjs) and packs the working tree once, as `npm pack` makes the tarball a user
// installs (its `prepack` script builds dist/ and leaves `prepare` out of the packed package.json).
// Paths reach the test files through the environment, which jest's workers inherit.
const { execFileSync } = require("node:child_process");
const { mkdtempSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join, resolve } = require("node:path");
const { installConsumerNodes } = require("../../tools/consumer-nodes.cjs");

module.exports = async function packForConsumers() {
  process.env.CONSUMER_NODES = JSON.stringify(installConsumerNodes());
  const destination = mkdtempSync(join(tmpdir(), "ecs-imds-guard-pack-"));
  const output = execFileSync("npm", ["pack", "--json", "--pack-destination", destination], {
    cwd: resolve(__dirname, "../.."),
    encoding: "utf8",
    timeout: 180_000,
    stdio: ["ignore", "pipe", "inherit"],
  });
  // `prepack` prints the build's output before the JSON array, which starts on a line of its own.
  const [packed] = JSON.parse(output.slice(output.search(/^\[/m)));
  const tarball = join(destination, packed.filename);
  process.env.PACKED_TARBALL = tarball;
  process.env.PACKED_TARBALL_FILES = JSON.stringify(packed.files.map((file) => file.path));
  process.env.PACKED_TARBALL_SIZE = String(packed.size);
  process.env.PACKED_MANIFEST = execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" });
};
