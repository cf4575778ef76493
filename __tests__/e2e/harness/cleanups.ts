/** A teardown step of a suite. */
export type Cleanup = () => Promise<void> | void;

/**
 * Runs a suite's teardown steps, the last added first, each even when an earlier one failed, and
 * empties the list; throws every failure together at the end.
 */
export async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, "teardown failed");
}
