// The one difference between the cdktf and the CDK Terrain (cdktn) flavour of the library: the
// module names of the framework and of the AWS provider. Everything that makes or checks the cdktn
// flavour (the build, the require hook, the jest project) maps names through this table.
"use strict";

/** [cdktf module name, cdktn module name] of each package the constructs import. */
const FRAMEWORK_PACKAGES = [
  ["cdktf", "cdktn"],
  ["@cdktf/provider-aws", "@cdktn/provider-aws"],
];

/** The cdktn name of a module specifier (`cdktf`, `@cdktf/provider-aws/lib/x`), or null for any other. */
function toCdktn(specifier) {
  for (const [cdktf, cdktn] of FRAMEWORK_PACKAGES) {
    if (specifier === cdktf) return cdktn;
    if (specifier.startsWith(`${cdktf}/`)) return cdktn + specifier.slice(cdktf.length);
  }
  return null;
}

/** The same mapping as jest's moduleNameMapper. */
function jestModuleNameMapper() {
  const escape = (name) => name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return Object.fromEntries(
    FRAMEWORK_PACKAGES.flatMap(([cdktf, cdktn]) => [
      [`^${escape(cdktf)}$`, cdktn],
      [`^${escape(cdktf)}/(.*)$`, `${cdktn}/$1`],
    ]),
  );
}

module.exports = { FRAMEWORK_PACKAGES, toCdktn, jestModuleNameMapper };
