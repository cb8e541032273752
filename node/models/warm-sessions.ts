import type { Executor } from "../inference/executor-options.ts";

interface WarmSessions {
  /** The executor to hand to the services: the same one, with its loads and unloads recorded. */
  executor: Executor;
  /** Versions (model store keys) with an onnxruntime session loaded. */
  keys(): string[];
  has(key: string): boolean;
}

/**
 * Keeps track of which versions have a loaded onnxruntime session (warm), whoever loaded them:
 * the prefetcher ahead of an activation, or a job. A load counts once it succeeded; an unload
 * (a retired version) or closing the executor forgets it.
 */
export function trackWarmSessions(inner: Executor): WarmSessions {
  const warm = new Set<string>();
  const executor: Executor = {
    async load(key, modelPath, schema) {
      await inner.load(key, modelPath, schema);
      warm.add(key);
    },
    run: (key, inputs, opts) => inner.run(key, inputs, opts),
    async unload(key) {
      warm.delete(key);
      await inner.unload(key);
    },
    async close() {
      warm.clear();
      await inner.close();
    },
    stats: () => inner.stats(),
  };
  return { executor, keys: () => [...warm], has: (key) => warm.has(key) };
}
