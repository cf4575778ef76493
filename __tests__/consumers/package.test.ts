/** The tarball `npm pack` makes, as the consumer tests' global setup packed it. */
const files: string[] = JSON.parse(process.env.PACKED_TARBALL_FILES ?? "null");
const size = Number(process.env.PACKED_TARBALL_SIZE);
const manifest = JSON.parse(process.env.PACKED_MANIFEST ?? "null");

describe("the npm package", () => {
  it("holds only the built library, its README, licence and package.json", () => {
    expect(files).not.toBeNull();
    const outside = files.filter((file) => !/^dist\/.+\.(js|d\.ts)$/.test(file) && !["README.md", "LICENSE", "package.json"].includes(file));
    expect(outside).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts", "dist/user-data/index.js", "dist/user-data/index.d.ts", "dist/aws-cdk/index.js", "dist/aws-cdk/index.d.ts"]));
    expect(files.filter((file) => /__tests__|bench|\.ci|app\/|main\.(js|ts)$/.test(file))).toEqual([]);
  });

  it("ships only the declarations its entry points reach", () => {
    const declarations = files.filter((file) => file.endsWith(".d.ts"));
    expect(declarations).not.toContain("dist/audit/interpreter.d.ts");
    expect(declarations).toEqual(expect.arrayContaining(["dist/cdktn/index.d.ts", "dist/audit/types.d.ts", "dist/user-data/types.d.ts"]));
  });

  it("stays within its size budget", () => {
    // Measured at 206 kB packed (132 files, 861 kB unpacked): the audit grew its Terraform
    // evaluator, readers and instance model, then its CloudFormation, cloud assembly and AWS CLI
    // output readers, rule ids, suppressions and imdsAuditFindings. The budget catches tests,
    // fixtures or a second copy slipping in.
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThan(225_000);
  });

  it("runs no script when installed: its package.json has no prepare or install scripts", () => {
    // npm lists these as install scripts of a tarball or git install (`install-scripts`); the build
    // runs in prepack, before the tarball is made.
    expect(manifest).not.toBeNull();
    const onInstall = ["preinstall", "install", "postinstall", "prepare"].filter((script) => script in (manifest.scripts ?? {}));
    expect(onInstall).toEqual([]);
    expect(manifest.scripts.prepack).toBeDefined();
  });

  it("tells where its documentation is and which Node.js it needs", () => {
    expect(manifest.homepage).toMatch(/^https:\/\//);
    expect(manifest.engines).toEqual({ node: ">=22" });
  });
});
