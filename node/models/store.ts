import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import type { Hex } from "viem";
import { FatalError, oneLine } from "../errors.ts";
import { parseSchema, type ModelSchema } from "../inference/schema.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import type { Logger } from "../log.ts";
import { readHashing, writeAtomically, writeWhileHashing } from "./hashed-files.ts";

/** What the registry says about a version (the subset the runner needs). */
export interface VersionInfo {
  modelId: Hex;
  version: number;
  weightsCid: string;
  weightsSha256: Hex;
  schemaCid: string;
  outputQuantum: bigint;
  minMemoryMB: number;
}

/** A version's fields as the registry's `getVersion` returns them, keyed by model and number. */
export function versionInfoOf<V extends Omit<VersionInfo, "modelId" | "version">>(
  modelId: Hex,
  version: number,
  v: V,
): VersionInfo {
  return {
    modelId,
    version,
    weightsCid: v.weightsCid,
    weightsSha256: v.weightsSha256,
    schemaCid: v.schemaCid,
    outputQuantum: v.outputQuantum,
    minMemoryMB: v.minMemoryMB,
  };
}

export interface LocalModel {
  /** Cache key: one per model version. */
  key: string;
  path: string;
  schema: ModelSchema;
  bytes: number;
}

/** A prefetch would only fit under the cache's size cap by evicting versions still in use: it is not kept. */
export class CacheFullError extends FatalError {
  readonly code = "MODEL_CACHE_FULL";
}

export interface EnsureOptions {
  /**
   * Which cached versions (by key) may be evicted to make room. Absent: any, least recently used
   * first (a job needs its version whatever it costs). Given (a prefetch): only those, and
   * CacheFullError when that is not enough.
   */
  evictable?: (key: string) => boolean;
}

/** Fetched weights do not match the registry (CID or sha256): they are refused, never run. */
export class WeightsMismatchError extends FatalError {
  readonly code = "WEIGHTS_MISMATCH";
}

interface ModelStoreOptions {
  dir: string;
  content: ContentStore;
  /**
   * CIDv1 of bytes as `ipfs add --cid-version=1` computes it: the CID check of weights from an
   * engine that does not verify blocks itself (`ContentStore.verifiesBlocks`), e.g. a Kubo daemon.
   */
  cidOf: (bytes: Uint8Array) => Promise<string>;
  cacheMaxBytes: number;
  maxWeightsBytes: number;
  fetchTimeoutMs: number;
  log: Logger;
  onFetched?: (bytes: number) => void;
  onRejected?: (reason: "cid" | "sha256") => void;
  /**
   * Peers serve peers: keep the weights of every version held pinned in the IPFS node, so it
   * serves them to other runners (the publisher is then not the only source), and unpin them on
   * eviction. Pinning runs in the background; a failure is logged, never fails the version.
   */
  provide?: boolean;
  /** A cached file no longer matched its sha256 (changed on disk): it was dropped and fetched again. */
  onCacheCorrupt?: (key: string) => void;
  /**
   * A version's files left the cache: retired, or least recently used above the size cap. The
   * runner unloads its onnxruntime sessions (in every worker process) here.
   */
  onEvicted?: (key: string, reason: EvictReason) => void;
}

/** Why a version left the cache. */
export type EvictReason = "retired" | "lru";

export const versionKey = (v: { modelId: Hex; version: number }) => `${v.modelId}-${v.version}`;

/**
 * Weights on local disk, fetched from IPFS and checked against the registry before first use:
 * their CID and their sha256 must both equal what the chain records. The CID is checked by
 * fetching by it with every block verified against its hash (an engine that says so, see
 * `ContentStore.verifiesBlocks`), or else recomputed from the bytes.
 * The cache persists across restarts: a cached file is used again only if its sha256 still equals
 * the registry's (a file changed on disk is dropped and fetched again). Least-recently-used files
 * (last use: the file's mtime, set on every use, so the order survives a restart) are evicted
 * above the size cap; retired versions are evicted at once.
 */
export class ModelStore {
  private readonly opts: ModelStoreOptions;
  private readonly inflight = new Map<string, Promise<LocalModel>>();
  private readonly ready = new Map<string, LocalModel>();
  private readonly downloads = new Map<string, number>();
  /** Pins of held weights in progress or done, by key (see `provide`). */
  private readonly pinning = new Map<string, Promise<void>>();
  /** Two uses in the same millisecond still get distinct, ordered times. */
  private lastTouch = 0;

  constructor(options: ModelStoreOptions) {
    this.opts = options;
    mkdirSync(options.dir, { recursive: true });
    // Uses after a restart order after every use before it, even with a clock that stepped back.
    this.lastTouch = Math.max(0, ...this.cached().map((c) => c.lastUsedMs));
  }

  /** The local model for a version, fetching and verifying it once however many jobs ask. */
  ensure(v: VersionInfo, opts: EnsureOptions = {}): Promise<LocalModel> {
    const key = versionKey(v);
    const have = this.ready.get(key);
    if (have) {
      this.touch(have.path);
      return Promise.resolve(have);
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetch(key, v, opts).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  has(v: { modelId: Hex; version: number }): boolean {
    return this.ready.has(versionKey(v));
  }

  /** The versions verified and on disk, ready to load. */
  held(): LocalModel[] {
    return [...this.ready.values()];
  }

  /** How many times this process downloaded a version's weights (0: never, or read from the disk cache). */
  downloadsOf(key: string): number {
    return this.downloads.get(key) ?? 0;
  }

  /** Removes a version's files (retired by default) and, if it held any, tells `onEvicted`. */
  evict(v: { modelId: Hex; version: number }, reason: EvictReason = "retired"): void {
    const key = versionKey(v);
    const file = path.join(this.opts.dir, `${key}.onnx`);
    const had = this.ready.delete(key) || existsSync(file);
    rmSync(file, { force: true });
    rmSync(path.join(this.opts.dir, `${key}.schema.json`), { force: true });
    this.unprovide(key);
    if (!had) return;
    this.opts.log.info("evicted model", { key, reason });
    this.opts.onEvicted?.(key, reason);
  }

  /** Cached weight files, least recently used first (what the next eviction above the cap removes first). */
  cached(): { key: string; bytes: number; lastUsedMs: number }[] {
    return readdirSync(this.opts.dir)
      .filter((f) => f.endsWith(".onnx"))
      .map((f) => {
        const s = statSync(path.join(this.opts.dir, f));
        return { key: f.slice(0, -5), bytes: s.size, lastUsedMs: s.mtimeMs };
      })
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  }

  private async fetch(key: string, v: VersionInfo, opts: EnsureOptions): Promise<LocalModel> {
    const { content, log } = this.opts;
    const file = path.join(this.opts.dir, `${key}.onnx`);
    const schemaFile = path.join(this.opts.dir, `${key}.schema.json`);
    let weights: Uint8Array | null = null;
    let cached: { bytes: Uint8Array; sha256: string } | null = null;
    try {
      cached = await readHashing(file);
    } catch {
      // not cached
    }
    if (cached) {
      const digest = cached.sha256;
      if (digest === v.weightsSha256.toLowerCase()) {
        weights = cached.bytes;
        this.touch(file);
        // After a restart the IPFS node may no longer hold the blocks: adding the bytes pins them again.
        this.provideInBackground(key, v.weightsCid, () => this.opts.content.add(cached!.bytes).then(() => undefined));
      } else {
        log.warn("cached weights do not match their sha256: dropped, fetching again", {
          key,
          expected: v.weightsSha256,
          got: digest,
        });
        rmSync(file, { force: true });
        this.opts.onCacheCorrupt?.(key);
      }
    }
    if (!weights) {
      log.info("fetching weights", { key, cid: v.weightsCid });
      let last = 0;
      const digests: { sha256?: string } = {};
      weights = await content.get(v.weightsCid, {
        digests,
        // The registry's digest lets the engine take the file's bytes from a peer without a CAR.
        sha256: v.weightsSha256,
        signal: AbortSignal.timeout(this.opts.fetchTimeoutMs),
        maxBytes: this.opts.maxWeightsBytes,
        onProgress: (bytes) => {
          if (bytes - last >= 8 * 1024 * 1024) {
            log.info("fetching weights", { key, bytes });
            last = bytes;
          }
        },
      });
      this.downloads.set(key, this.downloadsOf(key) + 1);
      this.opts.onFetched?.(weights.byteLength);
      if (!content.verifiesBlocks) {
        // The engine's answer is taken on trust (a remote daemon): recompute the CID from the bytes.
        const cid = await this.opts.cidOf(weights);
        if (cid !== v.weightsCid) {
          this.opts.onRejected?.("cid");
          log.error("refusing weights: CID does not match the registry", { key, expected: v.weightsCid, got: cid });
          throw new WeightsMismatchError(`weights of ${key} hash to CID ${cid}, the registry says ${v.weightsCid}`);
        }
      }
      // The sha256 (on this thread) and the write of the cache file (one write on the thread
      // pool) run side by side; the file only takes its name once the digest matched, so
      // unchecked bytes are never cached.
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        // The engine may have hashed the bytes as they arrived (see ReadOptions.digests).
        const digest = await writeWhileHashing(tmp, weights, digests.sha256);
        if (digest !== v.weightsSha256.toLowerCase()) {
          this.opts.onRejected?.("sha256");
          log.error("refusing weights: sha256 does not match the registry", {
            key,
            expected: v.weightsSha256,
            got: digest,
          });
          throw new WeightsMismatchError(
            `weights of ${key} have sha256 ${digest}, the registry says ${v.weightsSha256}`,
          );
        }
        this.makeRoom(key, weights.byteLength, opts.evictable);
        renameSync(tmp, file);
      } finally {
        rmSync(tmp, { force: true });
      }
      this.touch(file);
      const fetched = weights;
      // The blocks were just fetched into the IPFS node: pinning keeps them there (no re-import).
      this.provideInBackground(key, v.weightsCid, () =>
        this.opts.content.pin
          ? this.opts.content.pin(v.weightsCid)
          : this.opts.content.add(fetched).then(() => undefined),
      );
    }
    const schemaBytes = await content.get(v.schemaCid, {
      signal: AbortSignal.timeout(this.opts.fetchTimeoutMs),
      maxBytes: 1024 * 1024,
    });
    const schema = parseSchema(schemaBytes);
    writeAtomically(schemaFile, schemaBytes);
    const model = { key, path: file, schema, bytes: weights.byteLength };
    this.ready.set(key, model);
    log.info("model ready", { key, bytes: weights.byteLength });
    return model;
  }

  /**
   * Evicts least recently used weights until `incoming` more bytes fit under the cap; with
   * `evictable`, only those it allows, and CacheFullError (nothing evicted) if they are not enough.
   */
  private makeRoom(key: string, incoming: number, evictable?: (key: string) => boolean): void {
    const files = this.cached().map((f) => ({ key: f.key, size: f.bytes }));
    let total = files.reduce((n, f) => n + f.size, 0) + incoming;
    if (evictable) {
      const freeable = files.filter((f) => f.key !== key && evictable(f.key)).reduce((n, f) => n + f.size, 0);
      if (total - freeable > this.opts.cacheMaxBytes) {
        throw new CacheFullError(
          `${key} (${incoming} bytes) does not fit under models.cacheMaxBytes=${this.opts.cacheMaxBytes} without evicting versions in use`,
        );
      }
    }
    for (const f of files) {
      if (evictable && (f.key === key || !evictable(f.key))) continue;
      if (total <= this.opts.cacheMaxBytes) break;
      const [modelId, version] = f.key.split("-") as [Hex, string];
      this.evict({ modelId, version: Number(version) }, "lru");
      total -= f.size;
    }
  }

  /**
   * The cached weights file of a version whose weights CID is `cid` (from the CID recorded beside
   * each provided file), for a gateway to answer peers from; undefined if none is held. The file
   * was verified when cached; a peer checks its sha256 again.
   */
  fileOf(cid: string): string | undefined {
    for (const f of this.cached()) {
      try {
        if (readFileSync(path.join(this.opts.dir, `${f.key}.cid`), "utf8").trim() === cid)
          return path.join(this.opts.dir, `${f.key}.onnx`);
      } catch {
        // not provided (no CID recorded)
      }
    }
    return undefined;
  }

  /** Pins a held version's weights in the IPFS node (see `provide`), recording the CID beside the file. */
  private provideInBackground(key: string, cid: string, pin: () => Promise<void>): void {
    if (!this.opts.provide) return;
    const marker = path.join(this.opts.dir, `${key}.cid`);
    writeFileSync(marker, cid);
    const started = pin()
      .then(() => this.opts.log.info("providing weights to peers", { key, cid }))
      .catch((error: unknown) =>
        this.opts.log.warn("cannot pin weights for peers; they are still used here", {
          key,
          cid,
          error: oneLine(error),
        }),
      );
    this.pinning.set(key, started);
  }

  /** Unpins an evicted version's weights, once any pin of them in progress has ended. */
  private unprovide(key: string): void {
    const marker = path.join(this.opts.dir, `${key}.cid`);
    let cid: string;
    try {
      cid = readFileSync(marker, "utf8").trim();
    } catch {
      return;
    }
    rmSync(marker, { force: true });
    const pending = this.pinning.get(key) ?? Promise.resolve();
    this.pinning.delete(key);
    void pending
      .then(() => this.opts.content.release([cid]))
      .catch((error: unknown) =>
        this.opts.log.warn("cannot unpin evicted weights", { key, cid, error: oneLine(error) }),
      );
  }

  /** Resolves when every pin started so far has ended (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pinning.values()]);
  }

  /** Marks a file as just used: its mtime orders the least-recently-used eviction (atime is not kept on noatime mounts). */
  private touch(file: string): void {
    const now = new Date(Math.max(Date.now(), this.lastTouch + 1));
    this.lastTouch = now.getTime();
    try {
      utimesSync(file, now, now);
    } catch {
      // evicted meanwhile; the next ensure fetches again
    }
  }
}
