export * from "./config";
export * from "./stacks";
