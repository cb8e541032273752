/**
 * Work of one key done once at a time: a caller that comes while the key's work is in flight
 * joins it instead of starting another; the key is forgotten once the work settles (the next
 * caller starts afresh, after a failure too).
 */
export class InFlight<K, T> {
  private readonly running = new Map<K, Promise<T>>();

  /** The key's work in flight, or `start()`'s, shared by every caller until it settles. */
  join(key: K, start: () => Promise<T>): Promise<T> {
    const joined = this.running.get(key);
    if (joined) return joined;
    const work = start();
    this.running.set(key, work);
    const forget = () => {
      if (this.running.get(key) === work) this.running.delete(key);
    };
    work.then(forget, forget);
    return work;
  }

  /** The key's work in flight, if any. */
  get(key: K): Promise<T> | undefined {
    return this.running.get(key);
  }
}
