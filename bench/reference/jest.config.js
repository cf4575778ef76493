// The project's unit tests run the way the cdktf TypeScript template runs tests: every .ts file
// compiled and type-checked by ts-jest with TypeScript 5.9. Same tests, same setup file, same jest.
const path = require("node:path");

const projectRoot = path.resolve(__dirname, "../..");

module.exports = {
  rootDir: projectRoot,
  testEnvironment: "node",
  transform: {
    "^.+\\.ts$": [
      require.resolve("ts-jest"),
      // Resolved from here: from the project root ts-jest would find the project's TypeScript 7.
      { tsconfig: path.join(__dirname, "tsconfig.tests.json"), compiler: require.resolve("typescript") },
    ],
  },
  setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
  testMatch: ["<rootDir>/__tests__/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/__tests__/e2e/", "<rootDir>/__tests__/consumers/"],
};
