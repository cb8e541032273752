/**
 * The lifecycle every service of the runner shares (as Chainlink's Service and Ponder's shutdown):
 * made by a `createX(deps)` factory that starts nothing, `start()`ed once the wiring is done, and
 * `stop()`ped once, in the reverse order of the starts (runner.ts). The runner's shutdown reaches
 * each service first through `deps.signal`: once it fires, a service begins no new work and
 * cancels its in-flight fetches; its `stop()` then waits for what is still in flight and releases
 * what it holds. Stopping in order matters beyond that: a step waiting on the sender, for one, is
 * released only when the sender closes.
 */
export interface Service {
  /** Begins the service's own work (timers, loops, listening); work handed to it may arrive before. */
  start(): void | Promise<void>;
  /** Waits for the service's in-flight work and releases what it holds; a second call is a no-op. */
  stop(): Promise<void>;
}

/** What every service's factory takes beside its own dependencies. */
export interface ServiceDeps {
  /** The runner's shutdown: fired when its stop begins, before any service's `stop()`. */
  signal?: AbortSignal;
}

/** A service from a component with another shape (closed by `close`, started by nothing, ...). */
export function serviceOf(parts: { start?: () => void | Promise<void>; stop?: () => void | Promise<void> }): Service {
  return {
    start: () => parts.start?.(),
    stop: async () => {
      await parts.stop?.();
    },
  };
}

interface TickerDeps extends ServiceDeps {
  /** Interval between runs, in ms. */
  everyMs: number;
  /** Also runs once at start. */
  atStart?: boolean;
  run: () => void | Promise<void>;
  /** A run that failed: logged by the caller, the next run comes anyway. */
  onError: (error: unknown) => void;
}

/**
 * Runs `run` every `everyMs` until the signal fires or it stops. Its stop does not wait for a run
 * in flight: the run's own service does, in its place in the stop order (a run may wait on a
 * service stopped after the ticker).
 */
export function createTicker(deps: TickerDeps): Service {
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    void Promise.resolve()
      .then(deps.run)
      .catch((error: unknown) => deps.onError(error));
  };
  const halt = () => {
    clearInterval(timer);
    timer = undefined;
  };
  deps.signal?.addEventListener("abort", halt, { once: true });
  return {
    start() {
      if (deps.signal?.aborted || timer) return;
      timer = setInterval(fire, deps.everyMs);
      if (deps.atStart) fire();
    },
    async stop() {
      halt();
    },
  };
}
