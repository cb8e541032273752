import type { Hex } from "viem";
import { ConclaveError, oneLine } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ServiceDeps } from "../service.ts";
import { versionKey, type EnsureOptions, type LocalModel, type VersionInfo } from "./store.ts";
import { VersionStatus } from "../chain/statuses.ts";

/** Why a version is current: the active one, or the newest published one the DAO may activate next. */
export type PrefetchRole = "active" | "candidate";

export type PrefetchState = "queued" | "fetching" | "warming" | "warm" | "failed" | "skipped";

interface PrefetchEntry {
  key: string;
  modelId: Hex;
  model: string;
  version: number;
  role: PrefetchRole;
  state: PrefetchState;
  attempts: number;
  /** Why the last attempt failed or was skipped. */
  reason?: string;
}

/** `signal`: the runner's shutdown; once it fires nothing new is fetched or warmed, as after `stop()`. */
export interface PrefetcherDeps extends ServiceDeps {
  /** `models.prefetch`: off, nothing is fetched ahead of a job. */
  enabled: boolean;
  /** Model ids this runner serves (`models.allow`); null serves every model. */
  allowed: ReadonlySet<Hex> | null;
  /** Versions fetched and warmed at once (`models.prefetchConcurrency`). */
  concurrency: number;
  readModel(modelId: Hex): Promise<{ name: string; versionCount: number; activeVersion: number }>;
  readVersion(modelId: Hex, version: number): Promise<VersionInfo & { status: number }>;
  store: { ensure(v: VersionInfo, opts?: EnsureOptions): Promise<LocalModel> };
  /** Loads an onnxruntime session for the version (the executor's `load`). */
  warm(model: LocalModel): Promise<void>;
  log: Logger;
  onOutcome?: (outcome: "warm" | "failed" | "skipped") => void;
  /** Back-off of a failed prefetch that may succeed later (IPFS peer gone, RPC down). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface Prefetcher {
  /** Events of a confirmed block range: any model whose versions changed is looked at again. */
  onLogs(logs: readonly { eventName?: string; args?: unknown }[]): void;
  /** Looks at these models now (at start: the served models, or every model the registry knows). */
  watch(modelIds: readonly Hex[]): void;
  /** The current versions of the models looked at, and how far their prefetch got. */
  entries(): PrefetchEntry[];
  /** Model names learnt from the registry, by id. */
  nameOf(modelId: Hex): string | undefined;
  /** Resolves when nothing is being evaluated, queued or fetched (tests, shutdown). */
  idle(): Promise<void>;
  stop(): void;
}

const MODEL_EVENTS = new Set(["VersionPublished", "VersionActivated", "VersionRetired"]);

/**
 * Prefetch and warm: for each served model, fetches and verifies (CID and sha256, by the model
 * store) its current versions — the active one and the newest published one, which the DAO may
 * activate next (for a model without an active version, only when models.allow names it) — and loads an onnxruntime session for each, so an activation downloads nothing
 * and its first job does not wait for a session. What is current is read from the registry when
 * a model's events arrive, never taken from the events: a backfill replaying years of history
 * fetches only what is current now. At most `concurrency` versions are prefetched at once, and a
 * prefetch never evicts a current version from the disk cache (it is dropped instead).
 */
export function createPrefetcher(deps: PrefetcherDeps): Prefetcher {
  const { log } = deps;
  const entries = new Map<string, PrefetchEntry>();
  const names = new Map<Hex, string>();
  /** Keys of each model's current versions. */
  const current = new Map<Hex, Set<string>>();
  const dirty = new Set<Hex>();
  const evaluating = new Set<Hex>();
  const queue: PrefetchEntry[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let running = 0;
  let stopped = false;
  let waiters: (() => void)[] = [];
  const base = deps.retryBaseMs ?? 2_000;
  const max = deps.retryMaxMs ?? 120_000;

  const isCurrent = (key: string) => [...current.values()].some((keys) => keys.has(key));
  const busy = () => evaluating.size > 0 || dirty.size > 0 || queue.length > 0 || running > 0;
  const settle = () => {
    if (busy()) return;
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  };

  function serves(modelId: Hex): boolean {
    return deps.enabled && (deps.allowed === null || deps.allowed.has(modelId));
  }

  function mark(modelId: Hex): void {
    if (stopped || !serves(modelId)) return;
    dirty.add(modelId);
    if (!evaluating.has(modelId)) void evaluate(modelId);
  }

  /** Reads what is current for a model and queues what is not prefetched yet; one at a time per model. */
  async function evaluate(modelId: Hex): Promise<void> {
    evaluating.add(modelId);
    try {
      while (dirty.delete(modelId) && !stopped) {
        try {
          await evaluateOnce(modelId);
        } catch (error) {
          log.warn("prefetch: cannot read the model's versions", { modelId, error: oneLine(error) });
          later(1, () => mark(modelId));
        }
      }
    } finally {
      evaluating.delete(modelId);
      settle();
    }
  }

  async function evaluateOnce(modelId: Hex): Promise<void> {
    const m = await deps.readModel(modelId);
    if (m.versionCount === 0) return;
    names.set(modelId, m.name);
    const wanted: { version: number; role: PrefetchRole }[] = [];
    if (m.activeVersion > 0) wanted.push({ version: m.activeVersion, role: "active" });
    // Anyone may create a model name and publish under it: a candidate is prefetched only for a
    // model the DAO already voted in (whose versions only its owner publishes) or one named in
    // models.allow, so nobody can make every runner download junk.
    const trusted = m.activeVersion > 0 || deps.allowed?.has(modelId) === true;
    if (m.versionCount > m.activeVersion && trusted) {
      const newest = await deps.readVersion(modelId, m.versionCount);
      if (newest.status === VersionStatus.Published) wanted.push({ version: m.versionCount, role: "candidate" });
    }
    const keys = new Set(wanted.map((w) => versionKey({ modelId, version: w.version })));
    current.set(modelId, keys);
    // Versions no longer current (deprecated, retired, superseded) are no longer followed.
    for (const [key, e] of entries)
      if (e.modelId === modelId && !keys.has(key) && e.state !== "fetching" && e.state !== "warming")
        entries.delete(key);
    for (const w of wanted) {
      const key = versionKey({ modelId, version: w.version });
      const e = entries.get(key);
      if (e) {
        e.role = w.role;
        // A fatal failure (weights that do not match, a full cache) is tried again on the model's next event.
        if (e.state === "failed") requeue(e);
        continue;
      }
      const entry: PrefetchEntry = {
        key,
        modelId,
        model: m.name,
        version: w.version,
        role: w.role,
        state: "queued",
        attempts: 0,
      };
      entries.set(key, entry);
      queue.push(entry);
      log.info("prefetch queued", { model: m.name, version: w.version, role: w.role });
    }
    pump();
  }

  function pump(): void {
    while (!stopped && running < deps.concurrency && queue.length > 0) {
      const entry = queue.shift()!;
      running++;
      void prefetch(entry).finally(() => {
        running--;
        pump();
        settle();
      });
    }
  }

  async function prefetch(entry: PrefetchEntry): Promise<void> {
    const t0 = performance.now();
    if (!isCurrent(entry.key)) {
      entries.delete(entry.key);
      return;
    }
    entry.attempts++;
    try {
      entry.state = "fetching";
      const info = await deps.readVersion(entry.modelId, entry.version);
      if (info.status !== VersionStatus.Published && info.status !== VersionStatus.Active) {
        entry.state = "skipped";
        entry.reason = `status ${info.status}: no longer current`;
        deps.onOutcome?.("skipped");
        return;
      }
      const model = await deps.store.ensure(info, { evictable: (key) => !isCurrent(key) });
      if (stopped) return;
      entry.state = "warming";
      await deps.warm(model);
      entry.state = "warm";
      delete entry.reason;
      deps.onOutcome?.("warm");
      log.info("prefetched", {
        model: entry.model,
        version: entry.version,
        role: entry.role,
        key: entry.key,
        bytes: model.bytes,
        ms: Math.round(performance.now() - t0),
      });
    } catch (error) {
      if (stopped) return;
      entry.state = "failed";
      entry.reason = oneLine(error);
      deps.onOutcome?.("failed");
      const retry = error instanceof ConclaveError ? error.retryable : true;
      log.warn("prefetch failed", {
        model: entry.model,
        version: entry.version,
        key: entry.key,
        attempts: entry.attempts,
        retry,
        error: entry.reason,
      });
      // A fatal fault (weights that do not match the registry, a full cache) waits for the next event.
      if (retry) later(entry.attempts, () => requeue(entry));
    }
  }

  /** A failed prefetch goes back in the queue, if its version is still current. */
  function requeue(entry: PrefetchEntry): void {
    if (stopped || entries.get(entry.key) !== entry || entry.state !== "failed" || !isCurrent(entry.key)) return;
    entry.state = "queued";
    queue.push(entry);
    pump();
  }

  /** Runs `retry` after an exponential back-off for the given attempt count. */
  function later(attempts: number, retry: () => void): void {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        retry();
      },
      Math.min(max, base * 2 ** Math.min(attempts - 1, 16)),
    );
    timer.unref();
    timers.add(timer);
  }

  const prefetcher: Prefetcher = {
    onLogs(logs) {
      for (const l of logs) {
        if (!l.eventName || !MODEL_EVENTS.has(l.eventName)) continue;
        const modelId = (l.args as { modelId?: Hex } | undefined)?.modelId;
        if (modelId) mark(modelId);
      }
    },
    watch(modelIds) {
      modelIds.forEach(mark);
    },
    entries: () => [...entries.values()].map((e) => ({ ...e })),
    nameOf: (modelId) => names.get(modelId),
    idle: () => (busy() ? new Promise<void>((resolve) => waiters.push(resolve)) : Promise.resolve()),
    stop() {
      stopped = true;
      timers.forEach(clearTimeout);
      timers.clear();
      queue.length = 0;
      dirty.clear();
      settle();
    },
  };
  // The runner's shutdown: no new fetch or session load starts while the executor closes.
  if (deps.signal?.aborted) prefetcher.stop();
  else deps.signal?.addEventListener("abort", () => prefetcher.stop(), { once: true });
  return prefetcher;
}
