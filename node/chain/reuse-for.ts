/**
 * The last answer of `load` for `ttlMs`, and one call for concurrent callers: a burst of jobs
 * asks for the same chain time and provider terms, and every round trip counts when the RPC is
 * slow or rate-limited. Failures are not kept.
 */
export function reuseFor<T>(
  ttlMs: number,
  load: () => Promise<T>,
  clock: () => number = Date.now,
): (() => Promise<T>) & { forget(): void } {
  let last: { at: number; value: Promise<T> } | null = null;
  const read = () => {
    const now = clock();
    if (last && now - last.at < ttlMs) return last.value;
    const value = load();
    const entry = { at: now, value };
    last = entry;
    value.catch(() => {
      if (last === entry) last = null;
    });
    return value;
  };
  /** The next call loads again (a reorg: the last answer may be of a chain that is gone). */
  return Object.assign(read, { forget: () => void (last = null) });
}
