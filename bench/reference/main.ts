// The yardstick of the benchmark: the project's default app loaded and run the way the
// `cdktf init --template=typescript` project runs an app: type-checked by ts-node (TypeScript 5.9),
// with the provider reached through its package index (`import * as aws`), which loads and
// type-checks every one of its ~2,200 resource modules. The stacks are main.ts's own, so both apps
// write the same JSON (the benchmark checks it) however the default app grows.
import * as aws from "@cdktf/provider-aws";
import { TerraformDataSource, TerraformProvider, TerraformResource } from "cdktf";
import { buildApp, configFromEnvironment } from "../../app";

const app = buildApp(configFromEnvironment(process.env));

// What a template app does with the index: every resource, data source and provider of the app is
// one of its classes.
const indexClasses = new Set<unknown>(Object.values(aws).flatMap((module: object) => Object.values(module)));
const blocks = app.node.findAll().filter(
  (node) => node instanceof TerraformResource || node instanceof TerraformDataSource || node instanceof TerraformProvider,
);
if (blocks.length === 0) throw new Error("the default app declares nothing");
for (const block of blocks) {
  if (!indexClasses.has(block.constructor)) {
    throw new Error(`${block.node.path}: ${block.constructor.name} is not a class of the @cdktf/provider-aws package index`);
  }
}

app.synth();
