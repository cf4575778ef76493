/**
 * A synthesized stack's Terraform as both flavours and every provider version must write it alike:
 * without the `terraform` block (each pins its own provider version) and cdktf's `//` comments
 * (which carry the framework's version and construct paths; Terraform ignores them).
 */
export function withoutFrameworkBlocks(stack: any): any {
  const strip = (value: any): any => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(Object.entries(value).filter(([key]) => key !== "//").map(([key, inner]) => [key, strip(inner)]));
  };
  const { terraform: _terraform, ...rest } = strip(stack);
  return rest;
}
