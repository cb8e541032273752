import { expect } from "chai";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { CID } from "multiformats/cid";
import type { Hex } from "viem";
import { carHeader, carSection, readCar } from "../../node/ipfs/car.ts";
import { cidOfBytes } from "../../node/ipfs/cid.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { ContentInvalidError, ContentUnavailableError } from "../../node/ipfs/errors.ts";
import { fetchFromGateway } from "../../node/ipfs/gateway.ts";
import { createHeliaStore } from "../../node/ipfs/helia-store.ts";
import { silentLogger } from "../../node/log.ts";
import { matmulSchema } from "../../node/models/matmul-onnx.ts";
import { ModelStore, WeightsMismatchError, type VersionInfo } from "../../node/models/store.ts";

const RAW = 0x55;

/** A fake peer gateway answering every CAR request with `body` (a tampered or truncated copy of a real one). */
async function serveCar(body: Uint8Array): Promise<{ url: string; server: Server; requests: () => number }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { "content-type": "application/vnd.ipld.car; version=1" });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests: () => requests };
}

async function carOf(gateway: string, cid: string): Promise<[CID, Uint8Array][]> {
  const res = await fetch(`${gateway}/ipfs/${cid}?format=car`);
  expect(res.status).to.equal(200);
  const blocks: [CID, Uint8Array][] = [];
  for await (const pair of readCar(res.body as AsyncIterable<Uint8Array>, CID.parse(cid))) blocks.push(pair);
  return blocks;
}

function encodeCar(root: CID, blocks: [CID, Uint8Array][]): Uint8Array {
  return Buffer.concat([carHeader(root), ...blocks.flatMap(([c, b]) => carSection(c, b))]);
}

/**
 * Peers serve peers over HTTP (issue 12): a node's trustless gateway serves the blocks it holds
 * (one block, or the whole DAG as a CAR); a node that lists it fetches over it, checking every
 * block against its CID, and falls back to bitswap when a gateway sends a wrong block or leaves
 * one out.
 */
describe("IPFS trustless gateway: served from held blocks, fetched with every block verified", function () {
  this.timeout(60_000);
  const nodes: ContentStore[] = [];
  const servers: Server[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), "conclave-gateway-"));
  // 3 MiB of pseudo-random bytes: 12 distinct raw leaves under one dag-pb root (Kubo's 256 KiB chunks).
  let seed = 12345;
  const weights = new Uint8Array(3 * 1024 * 1024).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  let holder: ContentStore;
  let cid: string;
  let gateway: string;

  before(async function () {
    holder = await createHeliaStore({ dir: path.join(dir, "holder"), gateway: { host: "127.0.0.1", port: 0 } });
    nodes.push(holder);
    cid = await holder.add(weights);
    gateway = holder.gatewayUrl!()!;
  });
  after(async function () {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await Promise.allSettled(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it("serves a block (format=raw) and the whole DAG (format=car, depth-first), only what it holds", async function () {
    expect(gateway).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(cid).to.equal(await cidOfBytes(weights));
    const raw = await fetch(`${gateway}/ipfs/${cid}?format=raw`);
    expect(raw.status).to.equal(200);
    expect(raw.headers.get("content-type")).to.equal("application/vnd.ipld.raw");
    const root = new Uint8Array(await raw.arrayBuffer());
    expect(createHash("sha256").update(root).digest()).to.deep.equal(Buffer.from(CID.parse(cid).multihash.digest));

    const blocks = await carOf(gateway, cid);
    expect(blocks[0]![0].toString()).to.equal(cid);
    const leaves = blocks.filter(([c]) => c.code === RAW).map(([, b]) => b);
    expect(leaves).to.have.length(12);
    expect(Buffer.concat(leaves)).to.deep.equal(Buffer.from(weights));

    // Asking by Accept header instead of ?format works the same.
    const byAccept = await fetch(`${gateway}/ipfs/${cid}`, { headers: { accept: "application/vnd.ipld.car" } });
    expect(byAccept.status).to.equal(200);
    await byAccept.arrayBuffer();

    const unknown = await cidOfBytes(new TextEncoder().encode("not held anywhere"));
    expect((await fetch(`${gateway}/ipfs/${unknown}?format=raw`)).status).to.equal(404);
    expect((await fetch(`${gateway}/ipfs/${cid}`)).status).to.equal(406);
    expect((await fetch(`${gateway}/ipfs/not-a-cid?format=raw`)).status).to.equal(400);
    expect((await fetch(`${gateway}/ipfs/${cid}/a/path?format=car`)).status).to.equal(400);
  });

  it("a node listing the gateway fetches over it (no bitswap peer needed) and then serves the blocks in turn", async function () {
    const events: [string, Record<string, unknown>][] = [];
    const fetcher = await createHeliaStore({ dir: path.join(dir, "via-gateway"), gateways: [gateway], gateway: { host: "127.0.0.1", port: 0 }, log: (e, f) => events.push([e, f as Record<string, unknown>]) });
    nodes.push(fetcher);
    expect(await fetcher.get(cid, { signal: AbortSignal.timeout(10_000) })).to.deep.equal(weights);
    expect(events.find(([e]) => e === "ipfs.fetched")?.[1]).to.include({ cid, gateway });
    // Pinning waits for the fetched blocks to be stored, then the fetcher's own gateway serves them.
    await fetcher.pin!(cid);
    const again = await carOf(fetcher.gatewayUrl!()!, cid);
    expect(Buffer.concat(again.filter(([c]) => c.code === RAW).map(([, b]) => b))).to.deep.equal(Buffer.from(weights));
  });

  it("hashes the file on the way when asked (its sha256, or nothing when the leaves were not in order)", async function () {
    const digests: { sha256?: string } = {};
    expect((await fetchFromGateway(gateway, cid, { digests })).bytes).to.deep.equal(weights);
    expect(digests.sha256).to.equal(`0x${createHash("sha256").update(weights).digest("hex")}`);
    // Leaves sent out of order: still the right file, assembled by copying, and no digest.
    const blocks = await carOf(gateway, cid);
    const swapped = [blocks[0]!, blocks[2]!, blocks[1]!, ...blocks.slice(3)];
    const shuffled = await serveCar(encodeCar(CID.parse(cid), swapped));
    servers.push(shuffled.server);
    const none: { sha256?: string } = {};
    expect((await fetchFromGateway(shuffled.url, cid, { digests: none })).bytes).to.deep.equal(weights);
    expect(none.sha256).to.equal(undefined);
  });

  it("a file with repeated chunks: each block is sent once, the file is whole", async function () {
    const repeated = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i >> 18) % 2);
    const c = await holder.add(repeated);
    expect((await carOf(gateway, c)).length).to.equal(3); // the root and two distinct leaves
    expect((await fetchFromGateway(gateway, c)).bytes).to.deep.equal(repeated);
  });

  it("the model store over a gateway: caches weights whose sha256 matches, refuses others", async function () {
    const fetcher = await createHeliaStore({ dir: path.join(dir, "store-fetcher"), gateways: [gateway] });
    nodes.push(fetcher);
    const cacheDir = path.join(dir, "store-cache");
    const store = new ModelStore({ dir: cacheDir, content: fetcher, cidOf: cidOfBytes, cacheMaxBytes: 1 << 30, maxWeightsBytes: 1 << 30, fetchTimeoutMs: 10_000, log: silentLogger });
    const sha = `0x${createHash("sha256").update(weights).digest("hex")}` as Hex;
    const schemaCid = await holder.add(new TextEncoder().encode(JSON.stringify(matmulSchema(4))));
    const version = (n: number, weightsSha256: Hex): VersionInfo => ({ modelId: `0x${"cd".repeat(32)}`, version: n, weightsCid: cid, weightsSha256, schemaCid, outputQuantum: 1n, minMemoryMB: 1 });
    const model = await store.ensure(version(1, sha));
    expect(createHash("sha256").update(readFileSync(model.path)).digest("hex")).to.equal(sha.slice(2));
    let error: unknown;
    await store.ensure(version(2, `0x${"00".repeat(32)}`)).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(WeightsMismatchError);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith(".onnx") || f.endsWith(".tmp"))).to.deep.equal([`${version(1, sha).modelId}-1.onnx`]);
  });

  it("refuses a CAR with a tampered block or a missing block, and gives up a stalled one (ContentInvalidError)", async function () {
    const blocks = await carOf(gateway, cid);
    const tampered = blocks.map(([c, b], i): [CID, Uint8Array] => [c, i === 3 ? Uint8Array.from(b, (x, j) => (j === 100 ? x ^ 1 : x)) : b]);
    const bad = await serveCar(encodeCar(CID.parse(cid), tampered));
    const short = await serveCar(encodeCar(CID.parse(cid), blocks.filter((_, i) => i !== 5)));
    const cut = await serveCar(encodeCar(CID.parse(cid), blocks).subarray(0, 1024 * 1024));
    // One that sends half and then nothing, holding the connection open.
    const stall = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/vnd.ipld.car; version=1" });
      res.write(encodeCar(CID.parse(cid), blocks).subarray(0, 1024 * 1024));
    });
    await new Promise<void>((resolve) => stall.listen(0, "127.0.0.1", resolve));
    servers.push(bad.server, short.server, cut.server, stall);
    const stalled = `http://127.0.0.1:${(stall.address() as AddressInfo).port}`;
    for (const g of [bad.url, short.url, cut.url, stalled]) {
      let error: unknown;
      await fetchFromGateway(g, cid, { stallMs: 300 }).catch((e: unknown) => (error = e));
      expect(error, g).to.be.instanceOf(ContentInvalidError);
    }
    stall.closeAllConnections();
  });

  it("falls back to bitswap after a gateway sent a wrong block; without another source the fetch fails as unavailable", async function () {
    const blocks = await carOf(gateway, cid);
    const tampered = blocks.map(([c, b], i): [CID, Uint8Array] => [c, i === blocks.length - 1 ? new Uint8Array(b.byteLength) : b]);
    const bad = await serveCar(encodeCar(CID.parse(cid), tampered));
    servers.push(bad.server);

    const withPeer = await createHeliaStore({ dir: path.join(dir, "fallback"), gateways: [bad.url] });
    nodes.push(withPeer);
    await withPeer.dial(holder.multiaddrs()[0]!);
    expect(await withPeer.get(cid, { signal: AbortSignal.timeout(20_000) })).to.deep.equal(weights);
    expect(bad.requests()).to.equal(1);

    // The model store over a node whose only source is the lying gateway: nothing is cached or loaded.
    const alone = await createHeliaStore({ dir: path.join(dir, "alone"), gateways: [bad.url] });
    nodes.push(alone);
    const cacheDir = path.join(dir, "cache");
    const store = new ModelStore({ dir: cacheDir, content: alone, cidOf: cidOfBytes, cacheMaxBytes: 1 << 30, maxWeightsBytes: 1 << 30, fetchTimeoutMs: 1_500, log: silentLogger });
    const version: VersionInfo = {
      modelId: `0x${"ab".repeat(32)}`,
      version: 1,
      weightsCid: cid,
      weightsSha256: `0x${createHash("sha256").update(weights).digest("hex")}` as Hex,
      schemaCid: cid,
      outputQuantum: 1n,
      minMemoryMB: 1,
    };
    let error: unknown;
    await store.ensure(version).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ContentUnavailableError);
    expect(bad.requests()).to.equal(2);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith(".onnx"))).to.deep.equal([]);
  });
});
