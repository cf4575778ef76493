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
      testPathIgnorePatterns: ["/node_modules/", "<rootDir>/__tests__/e2e/"],
    },
    {
      displayName: "e2e",
      testEnvironment: "node",
      transform,
      setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
      testMatch: ["<rootDir>/__tests__/e2e/**/*.test.ts"],
    },
  ],
};
