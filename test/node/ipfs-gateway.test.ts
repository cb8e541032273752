import { expect } from "chai";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { CID } from "multiformats/cid";
import type { Hex } from "viem";
import { carHeader, carSection, readCar } from "../../node/ipfs/car.ts";
import { cidOfBytes } from "../../node/ipfs/cid.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { ContentInvalidError, ContentUnavailableError } from "../../node/ipfs/errors.ts";
import { fetchFileFromGateway, fetchFromGateway, GatewayFetchError } from "../../node/ipfs/gateway-fetch.ts";
import { createHeliaStore } from "../../node/ipfs/helia-store.ts";
import { silentLogger } from "../../node/log.ts";
import { matmulSchema } from "../../node/models/matmul-onnx.ts";
import { ModelStore, WeightsMismatchError, type VersionInfo } from "../../node/models/store.ts";
import { testDir } from "../helpers/temp-dir.ts";

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
  const dir = testDir("conclave-gateway-");
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
    const fetcher = await createHeliaStore({
      dir: path.join(dir, "via-gateway"),
      gateways: [gateway],
      gateway: { host: "127.0.0.1", port: 0 },
      log: (e, f) => events.push([e, f as Record<string, unknown>]),
    });
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

  it("answers a file's own bytes to Accept: application/octet-stream, with the length its root declares", async function () {
    const res = await fetch(`${gateway}/ipfs/${cid}`, { headers: { accept: "application/octet-stream" } });
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.equal("application/octet-stream");
    expect(res.headers.get("content-length")).to.equal(String(weights.byteLength));
    expect(new Uint8Array(await res.arrayBuffer())).to.deep.equal(weights);
    const head = await fetch(`${gateway}/ipfs/${cid}`, {
      method: "HEAD",
      headers: { accept: "application/octet-stream" },
    });
    expect(head.headers.get("content-length")).to.equal(String(weights.byteLength));
    // A file of one raw block: its bytes are that block.
    const small = await holder.add(new TextEncoder().encode("one raw block"));
    expect(
      new TextDecoder().decode(
        await (
          await fetch(`${gateway}/ipfs/${small}`, { headers: { accept: "application/octet-stream" } })
        ).arrayBuffer(),
      ),
    ).to.equal("one raw block");
  });

  it("with a trusted sha256, takes the file's bytes alone; a wrong digest, a short body or an oversized length is refused", async function () {
    const sha256 = `0x${createHash("sha256").update(weights).digest("hex")}`;
    const digests: { sha256?: string } = {};
    expect(await fetchFileFromGateway(gateway, cid, { sha256, digests })).to.deep.equal(weights);
    expect(digests.sha256).to.equal(sha256);
    const wrong = `0x${"00".repeat(32)}`;
    await expectRejected(fetchFileFromGateway(gateway, cid, { sha256: wrong }), /sha256/);
    await expectRejected(
      fetchFileFromGateway(gateway, cid, { sha256, maxBytes: weights.byteLength - 1 }),
      /over the limit/,
    );
    // A gateway that declares the right length and sends less (or other bytes of that length).
    for (const body of [weights.subarray(0, 1000), weights.map((b) => b ^ 1)]) {
      const liar = createServer((_req, res) => {
        res.writeHead(200, { "content-length": weights.byteLength });
        res.end(body);
      });
      servers.push(liar);
      await new Promise<void>((resolve) => liar.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
      await expectRejected(fetchFileFromGateway(url, cid, { sha256, stallMs: 2000 }), /broke off|sha256/);
    }
  });

  it("with the registry's sha256 a fetcher takes a peer's file bytes, then re-imports them to serve the blocks in turn", async function () {
    const events: [string, Record<string, unknown>][] = [];
    const b = await createHeliaStore({
      dir: path.join(dir, "file-fetcher"),
      gateways: [gateway],
      gateway: { host: "127.0.0.1", port: 0 },
      log: (e, f) => events.push([e, f as Record<string, unknown>]),
    });
    nodes.push(b);
    const sha256 = `0x${createHash("sha256").update(weights).digest("hex")}`;
    expect(await b.get(cid, { sha256 })).to.deep.equal(weights);
    expect(events.find(([e]) => e === "ipfs.fetched")?.[1]).to.include({ cid, gateway, checked: "sha256" });
    await b.pin!(cid);
    expect(events.some(([e]) => e === "ipfs.reimport-differs")).to.equal(false);
    // A third node, which knows only B's gateway, gets the DAG from B with every block verified.
    const c = await createHeliaStore({ dir: path.join(dir, "from-b"), gateways: [b.gatewayUrl!()!] });
    nodes.push(c);
    const blocks = await carOf(b.gatewayUrl!()!, cid);
    expect(blocks[0]![0].toString()).to.equal(cid);
    expect(await c.get(cid, { signal: AbortSignal.timeout(10_000) })).to.deep.equal(weights);
  });

  it("a node that keeps a CID's bytes in a file answers file requests from it, even without the blocks", async function () {
    const file = path.join(dir, "kept.bin");
    writeFileSync(file, weights);
    const keeper = await createHeliaStore({
      dir: path.join(dir, "keeper"),
      gateway: { host: "127.0.0.1", port: 0, files: (c) => (c === cid ? file : undefined) },
    });
    nodes.push(keeper);
    const url = keeper.gatewayUrl!()!;
    const sha256 = `0x${createHash("sha256").update(weights).digest("hex")}`;
    expect(await fetchFileFromGateway(url, cid, { sha256 })).to.deep.equal(weights);
    const head = await fetch(`${url}/ipfs/${cid}`, { method: "HEAD", headers: { accept: "application/octet-stream" } });
    expect(head.headers.get("content-length")).to.equal(String(weights.byteLength));
    // Its blocks are not held: the CAR is not served, and a file that went missing is a 404.
    expect((await fetch(`${url}/ipfs/${cid}?format=car`)).status).to.equal(404);
    rmSync(file);
    expect((await fetch(`${url}/ipfs/${cid}`, { headers: { accept: "application/octet-stream" } })).status).to.equal(
      404,
    );
  });

  it("a gateway sending wrong file bytes: the fetcher falls back to that gateway's CAR, verified block by block", async function () {
    const blocks = await carOf(gateway, cid);
    const car = encodeCar(CID.parse(cid), blocks);
    let fileAsks = 0;
    const half = createServer((req, res) => {
      if ((req.headers.accept ?? "").includes("octet-stream")) {
        fileAsks++;
        res.writeHead(200, { "content-length": weights.byteLength });
        return void res.end(Buffer.alloc(weights.byteLength));
      }
      res.writeHead(200, { "content-type": "application/vnd.ipld.car; version=1" });
      res.end(car);
    });
    servers.push(half);
    await new Promise<void>((resolve) => half.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(half.address() as AddressInfo).port}`;
    const events: string[] = [];
    const d = await createHeliaStore({ dir: path.join(dir, "half"), gateways: [url], log: (e) => events.push(e) });
    nodes.push(d);
    const sha256 = `0x${createHash("sha256").update(weights).digest("hex")}`;
    expect(await d.get(cid, { sha256, signal: AbortSignal.timeout(10_000) })).to.deep.equal(weights);
    expect(fileAsks).to.equal(1);
    expect(events).to.include("ipfs.gateway-failed");
  });

  it("the model store over a gateway: caches weights whose sha256 matches, refuses others", async function () {
    const fetcher = await createHeliaStore({ dir: path.join(dir, "store-fetcher"), gateways: [gateway] });
    nodes.push(fetcher);
    const cacheDir = path.join(dir, "store-cache");
    const store = new ModelStore({
      dir: cacheDir,
      content: fetcher,
      cidOf: cidOfBytes,
      cacheMaxBytes: 1 << 30,
      maxWeightsBytes: 1 << 30,
      fetchTimeoutMs: 10_000,
      log: silentLogger,
    });
    const sha = `0x${createHash("sha256").update(weights).digest("hex")}` as Hex;
    const schemaCid = await holder.add(new TextEncoder().encode(JSON.stringify(matmulSchema(4))));
    const version = (n: number, weightsSha256: Hex): VersionInfo => ({
      modelId: `0x${"cd".repeat(32)}`,
      version: n,
      weightsCid: cid,
      weightsSha256,
      schemaCid,
      outputQuantum: 1n,
      minMemoryMB: 1,
    });
    const model = await store.ensure(version(1, sha));
    expect(createHash("sha256").update(readFileSync(model.path)).digest("hex")).to.equal(sha.slice(2));
    let error: unknown;
    await store.ensure(version(2, `0x${"00".repeat(32)}`)).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(WeightsMismatchError);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith(".onnx") || f.endsWith(".tmp"))).to.deep.equal([
      `${version(1, sha).modelId}-1.onnx`,
    ]);
  });

  it("refuses a CAR with a tampered block or a missing block, and gives up a stalled one (ContentInvalidError)", async function () {
    const blocks = await carOf(gateway, cid);
    const tampered = blocks.map(([c, b], i): [CID, Uint8Array] => [
      c,
      i === 3 ? Uint8Array.from(b, (x, j) => (j === 100 ? x ^ 1 : x)) : b,
    ]);
    const bad = await serveCar(encodeCar(CID.parse(cid), tampered));
    const short = await serveCar(
      encodeCar(
        CID.parse(cid),
        blocks.filter((_, i) => i !== 5),
      ),
    );
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
    const tampered = blocks.map(([c, b], i): [CID, Uint8Array] => [
      c,
      i === blocks.length - 1 ? new Uint8Array(b.byteLength) : b,
    ]);
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
    const store = new ModelStore({
      dir: cacheDir,
      content: alone,
      cidOf: cidOfBytes,
      cacheMaxBytes: 1 << 30,
      maxWeightsBytes: 1 << 30,
      fetchTimeoutMs: 1_500,
      log: silentLogger,
    });
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
    // The store holds the registry's sha256: the gateway was asked for the file's bytes (refused:
    // wrong digest), then for its CAR (refused: wrong block).
    expect(bad.requests()).to.equal(3);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith(".onnx"))).to.deep.equal([]);
  });
});

async function expectRejected(p: Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await p;
  } catch (error) {
    expect(error).to.be.instanceOf(GatewayFetchError);
    expect((error as Error).message).to.match(message);
    return;
  }
  expect.fail("expected a GatewayFetchError");
}
