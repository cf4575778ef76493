/**
 * The HCL renderer of cdktf (`cdktf synth --hcl`, and CDK Terrain's, which is the same code) writes
 * a typed `lifecycle.precondition` as an attribute, `precondition = [{ ... }]`, which Terraform
 * rejects ("Unsupported argument ... Did you mean to define a block of type "precondition"?"). The
 * renderer writes a value as repeated blocks when it comes typed as one: `{ value, isBlock: true,
 * type: "list" }`, as the providers' own nested blocks come. These functions hand it the conditions
 * that way, and `ignore_changes` as the bare attribute names Terraform expects in HCL (quoted, as
 * JSON has them, they draw a deprecation warning). The JSON synth does not go through them and
 * stays as it is.
 */

/** The lifecycle meta-arguments Terraform reads as repeated blocks. */
const CONDITION_BLOCKS = ["precondition", "postcondition"] as const;

/**
 * The HCL fragment of one resource (what `toHclTerraform()` returns) with its lifecycle conditions
 * typed as blocks and its `ignore_changes` as references. Anything else is returned as it was.
 */
export function withLifecycleForHcl(fragment: any): any {
  const byType = fragment?.resource;
  if (byType === undefined || byType === null) return fragment;
  for (const resources of Object.values<Record<string, any>>(byType)) {
    for (const attributes of Object.values<any>(resources)) {
      const lifecycle = attributes?.lifecycle;
      if (!isPlainLifecycle(lifecycle)) continue;
      const typed: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(lifecycle)) {
        if ((CONDITION_BLOCKS as readonly string[]).includes(name) && Array.isArray(value)) {
          typed[name] = { value, isBlock: true, type: "list", storageClassType: "objectList" };
        } else if (name === "ignore_changes" && Array.isArray(value) && value.every((path) => typeof path === "string")) {
          // A "reference" is written as it is: `ignore_changes = [desired_capacity]`.
          typed[name] = { value: `[${value.join(", ")}]`, type: "reference" };
        } else if (name === "ignore_changes" && value === "all") {
          typed[name] = { value: "all", type: "reference" };
        } else {
          typed[name] = value;
        }
      }
      // With `value`, the renderer writes `lifecycle { ... }` from the typed attributes inside.
      attributes.lifecycle = { value: typed };
    }
  }
  return fragment;
}

/** A lifecycle as the resource gives it (meta-arguments by name), not already typed for the renderer. */
function isPlainLifecycle(lifecycle: unknown): lifecycle is Record<string, unknown> {
  return typeof lifecycle === "object" && lifecycle !== null && !Array.isArray(lifecycle) && !("value" in lifecycle);
}

/** A resource as cdktf and CDK Terrain make it, seen from the side this module uses. */
export interface HclRenderable {
  toHclTerraform(): any;
}

/**
 * Makes `cdktf synth --hcl` write the lifecycle of `resource` as Terraform reads it: conditions as
 * `precondition { ... }` blocks, `ignore_changes` unquoted. Call it once per resource.
 */
export function renderLifecycleForHcl(resource: HclRenderable): void {
  const toHclTerraform = resource.toHclTerraform.bind(resource);
  resource.toHclTerraform = () => withLifecycleForHcl(toHclTerraform());
}
