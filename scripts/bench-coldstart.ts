#!/usr/bin/env node
// Cold-start benchmark (issue 12), one run: a 64 MiB ONNX model fetched from a peer IPFS node
// (a second Helia node that holds it: over its trustless gateway, as a runner with ipfs.gateway
// serves it to one with ipfs.gateways, with bitswap to its multiaddr as the fallback; --bitswap:
// bitswap alone), verified (every block against its CID as it arrives, then the sha256, by the
// runner's model store) and loaded into an onnxruntime session, against reading the same file
// from local disk and loading it; then a warm restart (a new model store over the cached file:
// read, sha256 checked, loaded). Prints each figure beside its target (PASS/MISS); never fails
// on a MISS.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ort } from "../node/inference/ort.ts";
import type { Hex } from "viem";
import { cidOfBytes } from "../node/ipfs/cid.ts";
import { createHeliaStore } from "../node/ipfs/helia-store.ts";
import { silentLogger } from "../node/log.ts";
import { matmulOnnx, matmulSchema } from "../node/models/matmul-onnx.ts";
import { ModelStore, type VersionInfo } from "../node/models/store.ts";

const HELP = `Usage: npm run bench:coldstart [-- --n <size>] [--bitswap] [--keep]

  --n <size>   the MatMul's weight matrix is n x n float32 (default 4096: 64 MiB)
  --bitswap    fetch over bitswap only (the peer's trustless gateway is not configured)
  --keep       keep the temporary folders (printed) instead of removing them`;

const { values } = parseArgs({
  options: {
    n: { type: "string" },
    keep: { type: "boolean" },
    bitswap: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const n = Number(values.n ?? 4096);
if (!Number.isInteger(n) || n < 1 || n > 8192) {
  console.error(`bench:coldstart: --n must be an integer from 1 to 8192, got ${values.n}`);
  process.exit(1);
}

const now = () => performance.now();
const sha256 = (b: Uint8Array) => `0x${createHash("sha256").update(b).digest("hex")}` as Hex;
const MiB = 1024 * 1024;

/** Loads a session from a file and runs it once on ones, so the load is complete and usable. */
async function loadAndCheck(
  file: string | Uint8Array,
): Promise<{ session: ort.InferenceSession; ms: number; y0: number }> {
  const t0 = now();
  const session =
    typeof file === "string" ? await ort.InferenceSession.create(file) : await ort.InferenceSession.create(file);
  const ms = now() - t0;
  const out = await session.run({ x: new ort.Tensor("float32", new Float32Array(n).fill(1), [1, n]) });
  return { session, ms, y0: (out.y!.data as Float32Array)[0]! };
}

const root = mkdtempSync(path.join(tmpdir(), "conclave-coldstart-"));
const tGen = now();
const weights = matmulOnnx(n);
const diskFile = path.join(root, "model.onnx");
writeFileSync(diskFile, weights);
const schemaFile = path.join(root, "schema.json");
writeFileSync(schemaFile, JSON.stringify(matmulSchema(n)));
console.log(
  `model: MatMul ${n}x${n} float32, ${(weights.byteLength / MiB).toFixed(1)} MiB ONNX (generated in ${(now() - tGen).toFixed(0)} ms)`,
);

// The peer that holds the model (the publisher, or a runner that serves what it holds) runs in
// its own process, as it would on its own host: it serves over bitswap and, as a runner with
// ipfs.gateway set, over HTTP as a trustless gateway; the fetcher lists that gateway
// (ipfs.gateways) unless --bitswap.
const peer = spawn(
  process.execPath,
  [
    fileURLToPath(new URL("./bench-coldstart-peer.ts", import.meta.url)),
    path.join(root, "holder"),
    diskFile,
    schemaFile,
  ],
  { stdio: ["pipe", "pipe", "inherit"] },
);
const held = await new Promise<{ multiaddr: string; gateway: string; cids: string[] }>((resolve, reject) => {
  peer.once("exit", (code) => reject(new Error(`the peer process exited with ${code}`)));
  createInterface({ input: peer.stdout! }).once("line", (line) =>
    resolve(JSON.parse(line) as { multiaddr: string; gateway: string; cids: string[] }),
  );
});
let fetchedAt = 0;
let fetchedVia = "bitswap";
const fetcher = await createHeliaStore({
  dir: path.join(root, "fetcher"),
  gateways: values.bitswap ? [] : [held.gateway],
  log: (event, fields) => {
    if (event === "ipfs.fetched" && (fields as { bytes: number }).bytes > MiB) {
      fetchedAt = now();
      const f = fields as { gateway?: string; checked?: string };
      fetchedVia = !f.gateway
        ? "bitswap (blocks verified)"
        : f.checked === "sha256"
          ? "a peer's gateway (HTTP, the file's bytes, sha256 checked against the registry's)"
          : "trustless gateway (HTTP, CAR, blocks verified)";
    }
  },
});
try {
  const [weightsCid, schemaCid] = held.cids as [string, string];
  const version: VersionInfo = {
    modelId: `0x${"64".repeat(32)}`,
    version: 1,
    weightsCid,
    weightsSha256: sha256(weights),
    schemaCid,
    outputQuantum: 1n,
    minMemoryMB: 1,
  };
  const tDial = now();
  await fetcher.dial(held.multiaddr);
  const dialMs = now() - tDial;

  // Local disk: read the file and load it (a first, untimed read puts it in the page cache, as
  // a freshly written or cached file would be).
  await readFile(diskFile);
  const tDisk = now();
  const diskBytes = new Uint8Array(await readFile(diskFile));
  const readMs = now() - tDisk;
  const disk = await loadAndCheck(diskBytes);
  const diskMs = readMs + disk.ms;
  await disk.session.release();

  // Cold start: the runner's model store fetches from the peer, checks CID and sha256, writes its cache.
  const cacheDir = path.join(root, "cache");
  const storeOf = () =>
    new ModelStore({
      dir: cacheDir,
      content: fetcher,
      cidOf: cidOfBytes,
      cacheMaxBytes: 4 * weights.byteLength,
      maxWeightsBytes: 2 * weights.byteLength,
      fetchTimeoutMs: 120_000,
      log: silentLogger,
    });
  const tCold = now();
  const cold = await storeOf().ensure(version);
  const fetchMs = now() - tCold;
  const coldLoad = await loadAndCheck(cold.path);
  const coldMs = fetchMs + coldLoad.ms;
  await coldLoad.session.release();

  // Warm restart: a new store over the same cache folder reads the file, checks its sha256 and loads it.
  const tWarm = now();
  const warmStore = storeOf();
  const warm = await warmStore.ensure(version);
  const warmReadMs = now() - tWarm;
  const warmLoad = await loadAndCheck(warm.path);
  const warmMs = warmReadMs + warmLoad.ms;
  await warmLoad.session.release();
  if (warmStore.downloadsOf(`${version.modelId}-1`) !== 0)
    throw new Error("the warm restart downloaded the weights again");
  if (disk.y0 !== coldLoad.y0 || disk.y0 !== warmLoad.y0)
    throw new Error(`sessions disagree: disk ${disk.y0}, cold ${coldLoad.y0}, warm ${warmLoad.y0}`);

  const s = (t: number) => `${(t / 1000).toFixed(3)} s`;
  const rows: [string, string, string, boolean][] = [
    ["local disk: read + load", s(diskMs), `(read ${s(readMs)}, load ${s(disk.ms)})`, true],
    ["cold: peer fetch + verify + load", s(coldMs), "≤ 1.000 s", coldMs <= 1000],
    ["cold / disk", `${(coldMs / diskMs).toFixed(2)} x`, "≤ 2.5 x", coldMs <= 2.5 * diskMs],
    ["warm restart: cache + sha256 + load", s(warmMs), `≤ 1.2 x disk (${s(1.2 * diskMs)})`, warmMs <= 1.2 * diskMs],
    ["warm restart / disk", `${(warmMs / diskMs).toFixed(2)} x`, "≤ 1.2 x", warmMs <= 1.2 * diskMs],
  ];
  console.log(
    `peer dialled in ${dialMs.toFixed(0)} ms (not counted); warm read + sha256 ${s(warmReadMs)}, load ${s(warmLoad.ms)}`,
  );
  console.log(
    `cold phases: fetch over ${fetchedVia} ${s(fetchedAt - tCold)}, then cache write ${s(tCold + fetchMs - fetchedAt)}, then load ${s(coldLoad.ms)}`,
  );
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const w2 = Math.max(...rows.map((r) => r[2].length));
  console.log(`\n  ${"figure".padEnd(w0)}  ${"value".padStart(w1)}  ${"target".padEnd(w2)}`);
  for (const [name, value, target, ok] of rows)
    console.log(
      `  ${name.padEnd(w0)}  ${value.padStart(w1)}  ${target.padEnd(w2)}  ${target.startsWith("(") ? "" : ok ? "PASS" : "MISS"}`,
    );
} finally {
  await fetcher.stop();
  peer.stdin!.end();
  await new Promise((resolve) => peer.once("exit", resolve));
  if (values.keep) console.log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
