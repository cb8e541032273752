/** What a probe's value is once it counts as reached. */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | 0n | "">;

/**
 * Waits for a state, never for a time: calls `probe` until it returns a truthy value, and resolves
 * with that value. A probe that throws counts as "not yet" (a node still starting, a transient RPC
 * error); the last error is named if the state is not reached within the timeout.
 */
export async function until<T>(
  what: string,
  probe: () => T | Promise<T>,
  opts: number | { timeoutMs?: number; intervalMs?: number } = {},
): Promise<Truthy<T>> {
  const { timeoutMs = 60_000, intervalMs = 100 } = typeof opts === "number" ? { timeoutMs: opts } : opts;
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const got = await probe();
      if (got) return got as Truthy<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > end) {
      const why =
        lastError === undefined
          ? ""
          : ` (last error: ${(lastError as Error).message?.split("\n")[0] ?? String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
