/** The custom error name a viem contract error carries (tests check error types, never text). */
export function errorName(error: unknown): string | undefined {
  let e = error as { data?: { errorName?: string }; cause?: unknown } | undefined;
  for (let i = 0; e && i < 8; i++, e = e.cause as typeof e) {
    if (e.data?.errorName) return e.data.errorName;
  }
  return undefined;
}

/** Runs `fn`, expecting it to throw; returns what it threw. */
export async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, but the call succeeded");
}
