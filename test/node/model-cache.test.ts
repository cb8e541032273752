import { expect } from "chai";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Hex } from "viem";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { silentLogger } from "../../node/log.ts";
import { ModelStore, versionKey, type EvictReason, type VersionInfo } from "../../node/models/store.ts";
import { testDir } from "../helpers/temp-dir.ts";

const M: Hex = `0x${"cc".repeat(32)}`;
const SCHEMA = new TextEncoder().encode(
  JSON.stringify({
    inputs: [{ name: "x", dtype: "F32", shape: [1] }],
    outputs: [{ name: "y", dtype: "F32", shape: [1] }],
  }),
);
const sha = (b: Uint8Array) => `0x${createHash("sha256").update(b).digest("hex")}` as Hex;
const key = (version: number) => versionKey({ modelId: M, version });

/**
 * An IPFS node that holds 400-byte weights per version (filled with the version number) and
 * counts fetches, and a store over a folder that survives "restarts" (a new ModelStore on it).
 */
function cacheFixture(cacheMaxBytes = 1000) {
  const weights = new Map<string, Uint8Array>([1, 2, 3, 4].map((v) => [`cid-${v}`, new Uint8Array(400).fill(v)]));
  const gets: string[] = [];
  const content = {
    get: async (cid: string) => {
      gets.push(cid);
      return cid === "schema" ? SCHEMA.slice() : weights.get(cid)!.slice();
    },
  } as unknown as ContentStore;
  const cidOf = async (b: Uint8Array) => `cid-${b[0]}`;
  const dir = testDir("conclave-cache-");
  const evicted: [string, EvictReason][] = [];
  const corrupt: string[] = [];
  const open = () =>
    new ModelStore({
      dir,
      content,
      cidOf,
      cacheMaxBytes,
      maxWeightsBytes: 10_000,
      fetchTimeoutMs: 5_000,
      log: silentLogger,
      onEvicted: (k, reason) => evicted.push([k, reason]),
      onCacheCorrupt: (k) => corrupt.push(k),
    });
  const v = (version: number): VersionInfo => ({
    modelId: M,
    version,
    weightsCid: `cid-${version}`,
    weightsSha256: sha(weights.get(`cid-${version}`)!),
    schemaCid: "schema",
    outputQuantum: 1n,
    minMemoryMB: 1,
  });
  const weightGets = () => gets.filter((g) => g !== "schema");
  return {
    dir,
    open,
    v,
    evicted,
    corrupt,
    weightGets,
    file: (version: number) => path.join(dir, `${key(version)}.onnx`),
  };
}

describe("model cache: persistent, size-capped, least recently used", function () {
  it("evicts the least recently used version above the cap, not the oldest fetched", async function () {
    const f = cacheFixture(1000); // two 400-byte versions fit, three do not
    const store = f.open();
    await store.ensure(f.v(1));
    await store.ensure(f.v(2));
    await store.ensure(f.v(1)); // v1 used again: v2 is now the least recently used
    await store.ensure(f.v(3));
    expect(existsSync(f.file(1))).to.equal(true);
    expect(existsSync(f.file(2))).to.equal(false);
    expect(existsSync(f.file(3))).to.equal(true);
    expect(f.evicted).to.deep.equal([[key(2), "lru"]]);
    expect(
      store
        .held()
        .map((m) => m.key)
        .sort(),
    ).to.deep.equal([key(1), key(3)].sort());
    expect(store.cached().map((c) => c.key)).to.deep.equal([key(1), key(3)]);
    expect(store.cached().reduce((n, c) => n + c.bytes, 0)).to.be.at.most(1000);
  });

  it("keeps its files and their use order across a restart, and reads them without fetching", async function () {
    const f = cacheFixture(1000);
    const first = f.open();
    await first.ensure(f.v(1));
    await first.ensure(f.v(2));
    await first.ensure(f.v(1));
    expect(f.weightGets()).to.deep.equal(["cid-1", "cid-2"]);

    const restarted = f.open();
    expect(
      restarted.cached().map((c) => c.key),
      "least recently used first",
    ).to.deep.equal([key(2), key(1)]);
    const m = await restarted.ensure(f.v(2));
    expect(m.bytes).to.equal(400);
    expect(restarted.downloadsOf(key(2)), "read from the disk cache").to.equal(0);
    expect(f.weightGets()).to.deep.equal(["cid-1", "cid-2"]);
    // Using v2 after the restart made v1 the least recently used: a third version evicts v1.
    await restarted.ensure(f.v(3));
    expect(existsSync(f.file(1))).to.equal(false);
    expect(existsSync(f.file(2))).to.equal(true);
  });

  it("a cached file changed on disk is detected by its sha256 after a restart and fetched again", async function () {
    const f = cacheFixture(1000);
    await f.open().ensure(f.v(1));
    const bytes = readFileSync(f.file(1));
    bytes[123] = bytes[123]! ^ 0xff;
    writeFileSync(f.file(1), bytes);

    const restarted = f.open();
    const m = await restarted.ensure(f.v(1));
    expect(f.corrupt).to.deep.equal([key(1)]);
    expect(restarted.downloadsOf(key(1)), "fetched again").to.equal(1);
    expect(f.weightGets()).to.deep.equal(["cid-1", "cid-1"]);
    expect(sha(new Uint8Array(readFileSync(m.path)))).to.equal(f.v(1).weightsSha256);
  });

  it("a truncated cached file is fetched again too", async function () {
    const f = cacheFixture(1000);
    await f.open().ensure(f.v(1));
    writeFileSync(f.file(1), readFileSync(f.file(1)).subarray(0, 100));
    const restarted = f.open();
    await restarted.ensure(f.v(1));
    expect(f.corrupt).to.deep.equal([key(1)]);
    expect(readFileSync(f.file(1)).byteLength).to.equal(400);
  });

  it("a retired version is evicted (files gone, onEvicted told, so the runner unloads its sessions), even one only on disk after a restart", async function () {
    const f = cacheFixture(1000);
    const store = f.open();
    await store.ensure(f.v(1));
    store.evict({ modelId: M, version: 1 });
    expect(existsSync(f.file(1))).to.equal(false);
    expect(existsSync(path.join(f.dir, `${key(1)}.schema.json`))).to.equal(false);
    expect(store.has({ modelId: M, version: 1 })).to.equal(false);
    expect(f.evicted).to.deep.equal([[key(1), "retired"]]);

    await store.ensure(f.v(2));
    const restarted = f.open();
    restarted.evict({ modelId: M, version: 2 });
    expect(existsSync(f.file(2))).to.equal(false);
    expect(restarted.cached()).to.deep.equal([]);
    // Retiring a version never held tells nobody.
    restarted.evict({ modelId: M, version: 4 });
    expect(f.evicted).to.deep.equal([
      [key(1), "retired"],
      [key(2), "retired"],
    ]);
  });
});

describe("model cache: peers serve peers (models.provide)", function () {
  /** An IPFS node that records pins, adds and releases. */
  function recordingContent() {
    const calls: string[] = [];
    const weights = new Uint8Array(400).fill(1);
    const content = {
      get: async (cid: string) => (cid === "schema" ? SCHEMA.slice() : weights.slice()),
      pin: async (cid: string) => void calls.push(`pin ${cid}`),
      add: async () => {
        calls.push("add");
        return "cid-1";
      },
      release: async (cids: string[]) => void calls.push(`release ${cids.join(",")}`),
    } as unknown as ContentStore;
    return { calls, content, weights };
  }

  it("pins fetched weights, re-adds cached ones after a restart, and unpins them on eviction", async function () {
    const { calls, content, weights } = recordingContent();
    const dir = testDir("conclave-provide-");
    const open = () =>
      new ModelStore({
        dir,
        content,
        cidOf: async () => "cid-1",
        cacheMaxBytes: 1000,
        maxWeightsBytes: 10_000,
        fetchTimeoutMs: 5_000,
        provide: true,
        log: silentLogger,
      });
    const v: VersionInfo = {
      modelId: M,
      version: 1,
      weightsCid: "cid-1",
      weightsSha256: sha(weights),
      schemaCid: "schema",
      outputQuantum: 1n,
      minMemoryMB: 1,
    };
    const first = open();
    await first.ensure(v);
    await first.settled();
    expect(calls).to.deep.equal(["pin cid-1"]);

    const restarted = open();
    await restarted.ensure(v);
    await restarted.settled();
    expect(calls, "the cached bytes are added (pinned) again: the node may have lost the blocks").to.deep.equal([
      "pin cid-1",
      "add",
    ]);

    restarted.evict({ modelId: M, version: 1 });
    await new Promise((r) => setTimeout(r, 10));
    expect(calls.at(-1)).to.equal("release cid-1");
    expect(existsSync(path.join(dir, `${key(1)}.cid`))).to.equal(false);
  });

  it("does nothing of the kind when provide is off", async function () {
    const { calls, content, weights } = recordingContent();
    const dir = testDir("conclave-provide-");
    const store = new ModelStore({
      dir,
      content,
      cidOf: async () => "cid-1",
      cacheMaxBytes: 1000,
      maxWeightsBytes: 10_000,
      fetchTimeoutMs: 5_000,
      log: silentLogger,
    });
    await store.ensure({
      modelId: M,
      version: 1,
      weightsCid: "cid-1",
      weightsSha256: sha(weights),
      schemaCid: "schema",
      outputQuantum: 1n,
      minMemoryMB: 1,
    });
    store.evict({ modelId: M, version: 1 });
    await store.settled();
    expect(calls).to.deep.equal([]);
  });
});
