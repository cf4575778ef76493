/**
 * Bad input, reported at synth time before anything is written. The message names the field, the
 * offending value and the rule it breaks.
 */
export class UserDataValidationError extends Error {
  constructor(
    /** The option path, for example `ecsSettings.ECS_LOGLEVEL`. */
    readonly field: string,
    /** The offending value, as given. */
    readonly value: unknown,
    /** The rule the value breaks. */
    readonly rule: string,
  ) {
    super(`ecs-imds-guard: ${field} = ${describe(value)} is invalid: ${rule}`);
    this.name = "UserDataValidationError";
  }
}

/** Renders a value for an error message with control characters made visible. */
function describe(value: unknown): string {
  if (typeof value === "string") {
    const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return JSON.stringify(shown);
  }
  return JSON.stringify(value) ?? String(value);
}
