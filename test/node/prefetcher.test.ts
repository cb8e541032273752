import { expect } from "chai";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import type { Hex } from "viem";
import { RpcUnreachableError } from "../../node/errors.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { silentLogger } from "../../node/log.ts";
import { createPrefetcher, type PrefetcherDeps } from "../../node/models/prefetcher.ts";
import {
  CacheFullError,
  ModelStore,
  versionKey,
  WeightsMismatchError,
  type LocalModel,
  type VersionInfo,
} from "../../node/models/store.ts";
import { testDir } from "../helpers/temp-dir.ts";

const A: Hex = `0x${"aa".repeat(32)}`;
const B: Hex = `0x${"bb".repeat(32)}`;

/** A registry of models: version statuses by model (1 Published, 2 Active, 3 Deprecated, 4 Retired). */
class FakeRegistry {
  models: Record<Hex, { name: string; statuses: number[] }>;
  constructor(models: Record<Hex, { name: string; statuses: number[] }>) {
    this.models = models;
  }
  readModel = async (modelId: Hex) => {
    const m = this.models[modelId]!;
    return { name: m.name, versionCount: m.statuses.length, activeVersion: m.statuses.indexOf(2) + 1 };
  };
  readVersion = async (modelId: Hex, version: number) => ({
    ...info(modelId, version),
    status: this.models[modelId]!.statuses[version - 1]!,
  });
}

function info(modelId: Hex, version: number): VersionInfo {
  return {
    modelId,
    version,
    weightsCid: `cid-${version}`,
    weightsSha256: `0x${"00".repeat(32)}`,
    schemaCid: "schema",
    outputQuantum: 1n,
    minMemoryMB: 1,
  };
}

/** A model store and executor that record what was fetched and warmed, and at most how many at once. */
function fakes(opts: { fail?: (key: string, attempt: number) => Error | null } = {}) {
  const fetched: string[] = [];
  const warmed: string[] = [];
  const attempts = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const store = {
    async ensure(v: VersionInfo): Promise<LocalModel> {
      const key = versionKey(v);
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await new Promise((r) => setTimeout(r, 5));
        const error = opts.fail?.(key, n);
        if (error) throw error;
        fetched.push(key);
        return { key, path: `/tmp/${key}.onnx`, schema: { inputs: [], outputs: [] } as never, bytes: 10 };
      } finally {
        inFlight--;
      }
    },
  };
  return {
    store,
    warm: async (m: LocalModel) => void warmed.push(m.key),
    fetched,
    warmed,
    attempts,
    maxInFlight: () => maxInFlight,
  };
}

function prefetcher(registry: FakeRegistry, f: ReturnType<typeof fakes>, over: Partial<PrefetcherDeps> = {}) {
  return createPrefetcher({
    enabled: true,
    allowed: null,
    concurrency: 1,
    readModel: registry.readModel,
    readVersion: registry.readVersion,
    store: f.store,
    warm: f.warm,
    log: silentLogger,
    retryBaseMs: 5,
    retryMaxMs: 20,
    ...over,
  });
}

const key = (modelId: Hex, version: number) => versionKey({ modelId, version });

describe("prefetcher: current versions of served models, fetched and warmed ahead of activation", function () {
  it("fetches and warms the active version and the newest published one, never superseded or old ones", async function () {
    // A: v1 retired, v2 deprecated, v3 active, v4 published but superseded by v5 (published).
    const registry = new FakeRegistry({ [A]: { name: "a", statuses: [4, 3, 2, 1, 1] } });
    const f = fakes();
    const p = prefetcher(registry, f);
    p.watch([A]);
    await p.idle();
    expect(f.fetched.sort()).to.deep.equal([key(A, 3), key(A, 5)].sort());
    expect(f.warmed.sort()).to.deep.equal([key(A, 3), key(A, 5)].sort());
    expect(p.entries().map((e) => [e.version, e.role, e.state])).to.have.deep.members([
      [3, "active", "warm"],
      [5, "candidate", "warm"],
    ]);
    expect(p.nameOf(A)).to.equal("a");
  });

  it("prefetches no candidate of a model the DAO never activated, unless models.allow names it", async function () {
    const registry = new FakeRegistry({ [A]: { name: "junk", statuses: [1] }, [B]: { name: "b", statuses: [1, 1] } });
    const any = fakes();
    const all = prefetcher(registry, any);
    all.watch([A, B]);
    await all.idle();
    expect(any.fetched).to.deep.equal([]);
    const named = fakes();
    const onlyB = prefetcher(registry, named, { allowed: new Set([B]) });
    onlyB.watch([A, B]);
    await onlyB.idle();
    expect(named.fetched).to.deep.equal([key(B, 2)]);
  });

  it("a backfill replaying a model's whole history fetches only what is current now", async function () {
    const registry = new FakeRegistry({ [A]: { name: "a", statuses: [3, 2] } });
    const f = fakes();
    const p = prefetcher(registry, f);
    p.onLogs([
      { eventName: "VersionPublished", args: { modelId: A, version: 1 } },
      { eventName: "VersionActivated", args: { modelId: A, version: 1 } },
      { eventName: "JobRequested", args: { jobId: 1n } },
      { eventName: "VersionPublished", args: { modelId: A, version: 2 } },
      { eventName: "VersionActivated", args: { modelId: A, version: 2 } },
    ]);
    await p.idle();
    expect(f.fetched).to.deep.equal([key(A, 2)]);
  });

  it("serves only the allowed models, does nothing when prefetch is off, and keeps to its concurrency", async function () {
    const registry = new FakeRegistry({ [A]: { name: "a", statuses: [2, 1] }, [B]: { name: "b", statuses: [2, 1] } });
    const allowed = fakes();
    const onlyA = prefetcher(registry, allowed, { allowed: new Set([A]) });
    onlyA.watch([A, B]);
    await onlyA.idle();
    expect(allowed.fetched.sort()).to.deep.equal([key(A, 1), key(A, 2)].sort());

    const off = fakes();
    const disabled = prefetcher(registry, off, { enabled: false });
    disabled.watch([A, B]);
    await disabled.idle();
    expect(off.fetched).to.deep.equal([]);

    for (const concurrency of [1, 3]) {
      const f = fakes();
      const p = prefetcher(registry, f, { concurrency });
      p.watch([A, B]);
      await p.idle();
      expect(f.fetched).to.have.length(4);
      expect(f.maxInFlight()).to.equal(Math.min(concurrency, 4));
    }
  });

  it("retries a retryable failure with back-off; a fatal one (weights that do not match) waits for the next event", async function () {
    const registry = new FakeRegistry({ [A]: { name: "a", statuses: [2, 1] } });
    const f = fakes({
      fail: (k, attempt) =>
        k === key(A, 1) && attempt < 3
          ? new RpcUnreachableError("IPFS peer gone")
          : k === key(A, 2)
            ? new WeightsMismatchError("sha256 differs")
            : null,
    });
    const outcomes: string[] = [];
    const p = prefetcher(registry, f, { onOutcome: (o) => outcomes.push(o) });
    p.watch([A]);
    for (let i = 0; i < 100 && !f.warmed.includes(key(A, 1)); i++) {
      await p.idle();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(f.attempts.get(key(A, 1))).to.equal(3);
    expect(f.warmed).to.deep.equal([key(A, 1)]);
    expect(f.attempts.get(key(A, 2))).to.equal(1);
    expect(p.entries().find((e) => e.version === 2)).to.include({ state: "failed" });
    expect(outcomes.filter((o) => o === "failed")).to.have.length(3);
    p.stop();
  });
});

describe("model store: a prefetch never evicts versions still in use", function () {
  const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
  const sha = (b: Uint8Array) => `0x${createHash("sha256").update(b).digest("hex")}` as Hex;
  const weights: Record<string, Uint8Array> = {
    "cid-1": bytes(600, 1),
    "cid-2": bytes(600, 2),
    schema: new TextEncoder().encode(
      JSON.stringify({
        inputs: [{ name: "x", dtype: "F32", shape: [1] }],
        outputs: [{ name: "y", dtype: "F32", shape: [1] }],
      }),
    ),
  };
  const content = { get: async (cid: string) => weights[cid]!.slice() } as unknown as ContentStore;
  const v = (version: number): VersionInfo => ({ ...info(A, version), weightsSha256: sha(weights[`cid-${version}`]!) });

  it("refuses with CacheFullError when only a version in use could make room, and evicts freely for a job", async function () {
    const dir = testDir("conclave-store-");
    const store = new ModelStore({
      dir,
      content,
      cidOf: async (b) => Object.entries(weights).find(([, w]) => w.length === b.length && w[0] === b[0])![0],
      cacheMaxBytes: 1000,
      maxWeightsBytes: 10_000,
      fetchTimeoutMs: 5_000,
      log: silentLogger,
    });
    await store.ensure(v(1));
    let error: unknown;
    await store.ensure(v(2), { evictable: (k) => k !== key(A, 1) }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(CacheFullError);
    expect(existsSync(path.join(dir, `${key(A, 1)}.onnx`))).to.equal(true);
    expect(existsSync(path.join(dir, `${key(A, 2)}.onnx`))).to.equal(false);
    expect(store.held().map((m) => m.key)).to.deep.equal([key(A, 1)]);

    // A job needs its version whatever it costs: least recently used goes.
    await store.ensure(v(2));
    expect(existsSync(path.join(dir, `${key(A, 1)}.onnx`))).to.equal(false);
    expect(store.held().map((m) => m.key)).to.deep.equal([key(A, 2)]);
    expect(store.downloadsOf(key(A, 2))).to.equal(2);
  });
});
