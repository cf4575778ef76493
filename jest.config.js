const { jestModuleNameMapper } = require("./tools/flavours.cjs");

// swc strips types only (fast); `tsc --noEmit` in `npm test` does the type checking.
const transform = { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022" }, module: { type: "commonjs" } }] };

module.exports = {
  reporters: ["default", "<rootDir>/tools/summary-reporter.cjs"],
  projects: [
    {
      displayName: "unit",
      testEnvironment: "node",
      transform,
      setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
      testMatch: ["<rootDir>/__tests__/**/*.test.ts"],
      testPathIgnorePatterns: ["/node_modules/", "<rootDir>/__tests__/e2e/", "<rootDir>/__tests__/consumers/"],
    },
    {
      // The construct suites again on CDK Terrain: cdktf and @cdktf/provider-aws imports resolve to
      // cdktn and @cdktn/provider-aws, as in the flavour the build writes to dist/cdktn/.
      displayName: "unit-cdktn",
      testEnvironment: "node",
      transform,
      moduleNameMapper: jestModuleNameMapper(),
      setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
      testMatch: [
        "<rootDir>/__tests__/imds-guarded-launch-template.test.ts",
        "<rootDir>/__tests__/capacity.test.ts",
        "<rootDir>/__tests__/capacity-stack.test.ts",
        "<rootDir>/__tests__/audit/aspect.test.ts",
        "<rootDir>/__tests__/audit/findings.test.ts",
      ],
    },
    {
      displayName: "e2e",
      testEnvironment: "node",
      transform,
      setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
      testMatch: ["<rootDir>/__tests__/e2e/**/*.test.ts"],
    },
    {
      // Apps of users: the packed tarball installed into cdktf apps with their own lock files.
      displayName: "consumers",
      testEnvironment: "node",
      transform,
      globalSetup: "<rootDir>/__tests__/consumers/pack.cjs",
      setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
      testMatch: ["<rootDir>/__tests__/consumers/**/*.test.ts"],
    },
  ],
};
