import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { unixfs } from "@helia/unixfs";
import { identify } from "@libp2p/identify";
import { tcp } from "@libp2p/tcp";
import { NextToLast } from "blockstore-fs/sharding";
import { createHelia } from "helia";
import type { CID } from "multiformats/cid";
import { ConclaveError, ConfigError, oneLine } from "../errors.ts";
import { importUnixfs, parseCid } from "./cid.ts";
import { JoinedWritesBlockstore, OrderedWritesDatastore } from "./fs-stores.ts";
import { dialPeer } from "./dial.ts";
import type { ContentStore } from "./content-store.ts";
import { ContentInvalidError, ContentTooLargeError, PeerUnreachableError } from "./errors.ts";
import { startTrustlessGateway, type GatewayServer } from "./gateway.ts";
import { fetchFileFromGateway, fetchFromGateway } from "./gateway-fetch.ts";
import { checkSize, readAll, unavailableIfAborted, type ReadOptions } from "./read.ts";
import { InFlight } from "../in-flight.ts";

interface HeliaStoreOptions {
  /** Keeps blocks, pins and the peer identity under this folder; in memory when absent. */
  dir?: string;
  /**
   * Keeps only blocks under this folder (another node's repository, shared on one machine);
   * identity and pins stay in memory. Ignored when `dir` is given.
   */
  blocksDir?: string;
  /** libp2p listen addresses; loopback TCP on a free port by default. */
  listen?: string[];
  log?: (event: string, fields: object) => void;
  /**
   * Serve the blocks this node holds as an IPFS trustless gateway (HTTP) at this address, for
   * peers that list its URL in their `gateways`. Absent: not served.
   */
  gateway?: {
    host: string;
    port: number;
    /** A file this node keeps with a CID's bytes (a runner's model cache), answered as is for a file request. */
    files?: (cid: string) => string | undefined;
  };
  /**
   * Trustless gateways (http URLs of peers' `gateway`) tried in order before bitswap: the whole
   * DAG in one CAR, every block checked against its CID. Any failure (unreachable, a block
   * missing or not matching its CID) falls through to the next one, then to bitswap.
   */
  gateways?: string[];
}

/**
 * An embedded Helia node, closed to the outside: it listens only where told (loopback by default),
 * has no bootstrap peers, mDNS, DHT or HTTP routers or gateways, and fetches over bitswap only
 * from peers it was told to `dial`. Provider discovery belongs to Conclave (peers announce their
 * multiaddrs on chain), not to the public IPFS network.
 */
export async function createHeliaStore(opts: HeliaStoreOptions = {}): Promise<ContentStore> {
  const log = opts.log ?? (() => {});
  const disk =
    opts.dir !== undefined
      ? openDisk(opts.dir)
      : opts.blocksDir !== undefined
        ? { ...blocksAt(opts.blocksDir), datastore: undefined }
        : undefined;
  const helia = createHelia({
    ...disk,
    // createHelia adds public delegated routers and trustless gateways unless these are empty.
    http: { delegatedRouters: [], recursiveGateways: [] },
    // Keys given here replace Helia's defaults; the omitted ones (noise/tls, yamux/mplex) stay.
    libp2p: {
      addresses: { listen: opts.listen ?? ["/ip4/127.0.0.1/tcp/0"] },
      transports: [tcp()],
      peerDiscovery: [],
      // identify alone: bitswap learns from it which peers speak bitswap. No DHT, relay, UPnP,
      // AutoNAT or AutoTLS, which all reach for the public network.
      services: { identify: identify() },
    },
  });
  try {
    if (disk) await Promise.all([disk.blockstore.open(), disk.datastore?.open()]);
    await helia.start();
  } catch (error) {
    await Promise.allSettled([helia.stop(), disk?.blockstore.close(), disk?.datastore?.close()]);
    // An unusable folder or listen address: nothing a retry would change.
    throw new ConfigError(`IPFS node cannot start: ${oneLine(error)}`, { cause: error });
  }
  const fs = unixfs(helia);
  let stopped: Promise<void> | undefined;
  let gateway: GatewayServer | undefined;
  if (opts.gateway) {
    try {
      const files = opts.gateway.files;
      gateway = await startTrustlessGateway({
        host: opts.gateway.host,
        port: opts.gateway.port,
        files: files && ((cid) => files(cid.toString())),
        // Held blocks only: a gateway request must never make this node fetch from the network.
        // On disk, a block's file is read in one call (Helia's offline get checks that the file
        // exists, then streams it 64 KiB at a time).
        blocks: {
          get: async (cid) => {
            try {
              if (cid.multihash.code === IDENTITY) return cid.multihash.digest;
              return disk
                ? new Uint8Array(await readFile(disk.blockFile(cid)))
                : await toBytes(helia.blockstore.get(cid, { offline: true }));
            } catch (error) {
              const e = error as NodeJS.ErrnoException;
              if (e.name === "BlockNotFoundWhileOfflineError" || e.code === "ENOENT") return undefined;
              throw error;
            }
          },
        },
        log,
      });
    } catch (error) {
      await Promise.allSettled([helia.stop(), disk?.blockstore.close(), disk?.datastore?.close()]);
      throw new ConfigError(
        `IPFS gateway cannot listen on ${opts.gateway.host}:${opts.gateway.port}: ${oneLine(error)}`,
        { cause: error },
      );
    }
  }
  const gateways = opts.gateways ?? [];
  /**
   * Blocks fetched from a gateway are not written to the blockstore on the way (that is most of
   * what a bitswap fetch costs): they wait here, by root CID, for a `pin` (a runner that provides
   * what it holds), which stores them; unpinned, they are dropped after HELD_BLOCKS_MS. A file
   * fetched as its bytes (checked by sha256) waits as those bytes, and `pin` imports them again.
   */
  const held = new Map<string, { blocks: [CID, Uint8Array][] | Uint8Array; timer: NodeJS.Timeout }>();
  /** Stores of held blocks in progress, by root CID. */
  const storing = new Map<string, Promise<void>>();
  const stopStoring = new AbortController();
  const hold = (root: string, blocks: [CID, Uint8Array][] | Uint8Array) => {
    clearTimeout(held.get(root)?.timer);
    const timer = setTimeout(() => held.delete(root), HELD_BLOCKS_MS);
    timer.unref();
    held.set(root, { blocks, timer });
  };
  const storeHeld = (root: string): Promise<void> | undefined => {
    const h = held.get(root);
    if (h) {
      held.delete(root);
      clearTimeout(h.timer);
      const done = (async () => {
        if (h.blocks instanceof Uint8Array) {
          // The same import as `add` gives the same DAG when the publisher used these settings (any
          // Conclave publisher does); otherwise `pin` fetches the blocks it lacks from the network.
          const rootCid = parseCid(root);
          const got = await importUnixfs(h.blocks, helia.blockstore, {
            cidVersion: rootCid.version,
            signal: stopStoring.signal,
          });
          if (!got.equals(rootCid)) log("ipfs.reimport-differs", { cid: root, reimported: got.toString() });
          return;
        }
        for (const [cid, block] of h.blocks) {
          stopStoring.signal.throwIfAborted();
          await helia.blockstore.put(cid, block);
        }
      })().finally(() => {
        if (storing.get(root) === done) storing.delete(root);
      });
      storing.set(root, done);
    }
    return storing.get(root);
  };
  log("ipfs.started", { peerId: helia.libp2p.peerId.toString(), dir: opts.dir ?? null });

  /**
   * Adds in progress, by the sha256 of their bytes. Jobs with equal outputs add the same bytes at
   * once (a burst of equal inputs, a classifier's few answers): an add of bytes already being
   * added joins that one, so one import and one pin serve them all (pins of one CID at once would
   * each update its pin records; the disk writes of one block are joined anyway, see fs-stores.ts).
   * Bytes over JOIN_MAX_BYTES are not joined: hashing them whole would hold the event loop, and
   * equal large outputs at once are rare (their blocks' writes are still joined).
   */
  const adding = new InFlight<string, string>();
  const addOnce = async (bytes: Uint8Array, signal: AbortSignal | undefined): Promise<string> => {
    const cid = await importUnixfs(bytes, helia.blockstore, { signal });
    // Adding the same bytes twice is normal.
    const pinned = (await pinOnce(helia.pins, cid, signal)) ?? 0;
    log("ipfs.added", { cid: cid.toString(), bytes: bytes.byteLength, pinnedBlocks: pinned });
    return cid.toString();
  };

  return {
    async add(bytes, { signal } = {}) {
      if (bytes.byteLength > JOIN_MAX_BYTES) return addOnce(bytes, signal);
      const key = createHash("sha256").update(bytes).digest("base64");
      const joined = adding.get(key);
      if (joined) {
        try {
          return await untilAborted(joined, signal);
        } catch (error) {
          // The add joined failed with its own caller's signal, or for good: this one tries alone.
          if (signal?.aborted) throw error;
        }
      }
      return adding.join(key, () => addOnce(bytes, signal));
    },

    verifiesBlocks: true,

    async get(cidString, read: ReadOptions = {}) {
      const cid = parseCid(cidString);
      const { signal } = read;
      for (const url of gateways) {
        // With a trusted sha256, the file's bytes alone (no CAR, no per-block hashing); if that
        // fails, the same gateway's CAR, verified block by block.
        if (read.sha256) {
          try {
            signal?.throwIfAborted();
            const bytes = await fetchFileFromGateway(url, cidString, { ...read, sha256: read.sha256 });
            log("ipfs.fetched", { cid: cidString, bytes: bytes.byteLength, gateway: url, checked: "sha256" });
            hold(cidString, bytes);
            return bytes;
          } catch (error) {
            if (signal?.aborted) throw mapGetError(cidString, error, signal);
            log("ipfs.gateway-failed", { cid: cidString, gateway: url, as: "file", error: oneLine(error) });
          }
        }
        try {
          signal?.throwIfAborted();
          const fetched = await fetchFromGateway(url, cidString, read);
          log("ipfs.fetched", { cid: cidString, bytes: fetched.bytes.byteLength, gateway: url });
          hold(cidString, fetched.blocks);
          return fetched.bytes;
        } catch (error) {
          if (signal?.aborted) throw mapGetError(cidString, error, signal);
          // The root block (checked against the CID) declared a size over the limit: final.
          if (error instanceof ContentTooLargeError) throw error;
          log("ipfs.gateway-failed", { cid: cidString, gateway: url, error: oneLine(error) });
        }
      }
      try {
        signal?.throwIfAborted();
        // The root block alone gives the file size: refuse oversized files before fetching them.
        const stat = await fs.stat(cid, { signal });
        if (stat.type === "directory") throw new ContentInvalidError(`${cidString} is a directory`);
        const size = Number(stat.size);
        checkSize(cidString, size, read.maxBytes);
        const bytes = await readAll(cidString, fs.cat(cid, { signal }), { ...read, size });
        log("ipfs.fetched", { cid: cidString, bytes: size });
        return bytes;
      } catch (error) {
        throw mapGetError(cidString, error, signal);
      }
    },

    async pin(cidString, { signal } = {}) {
      const cid = parseCid(cidString);
      // Blocks fetched from a gateway: store them, then pin (rather than fetching them again).
      await storeHeld(cidString);
      const pinned = await pinOnce(helia.pins, cid, signal);
      if (pinned !== null) log("ipfs.pinned", { cid: cidString, pinnedBlocks: pinned });
    },

    async release(cids) {
      for (const c of cids) {
        const cid = parseCid(c);
        if (await helia.pins.isPinned(cid)) await drain(helia.pins.rm(cid));
      }
      // Unpinned blocks (released outputs, fetched inputs and weights) go in one pass.
      await helia.gc();
      log("ipfs.released", { cids: cids.length });
    },

    gatewayUrl() {
      return gateway?.url ?? null;
    },

    multiaddrs() {
      return helia.libp2p.getMultiaddrs().map((ma) => ma.toString());
    },

    async dial(address) {
      await dialPeer(
        address,
        (ma) => helia.libp2p.dial(ma),
        (error) => new PeerUnreachableError(`cannot dial ${address}`, { cause: error }),
      );
      log("ipfs.dialled", { address });
    },

    stop() {
      stopped ??= (async () => {
        stopStoring.abort();
        for (const h of held.values()) clearTimeout(h.timer);
        held.clear();
        await gateway?.close();
        await Promise.allSettled([...storing.values()]);
        await helia.stop();
        if (disk) await Promise.all([disk.blockstore.close(), disk.datastore?.close()]);
        log("ipfs.stopped", {});
      })();
      return stopped;
    },
  };
}

/** The identity multihash: the "digest" is the block itself. */
const IDENTITY = 0x00;

/** Adds of at most this many bytes join an add of the same bytes in progress (a sha256 of 1 MiB: ~0.5 ms). */
const JOIN_MAX_BYTES = 1024 * 1024;

/** How long blocks fetched from a gateway wait for a `pin` before they are dropped. */
const HELD_BLOCKS_MS = 10_000;

type HeliaPins = Awaited<ReturnType<typeof createHelia>>["pins"];

/**
 * Pins `cid`: the number of blocks it pinned, or null when it was pinned already (Helia refuses a
 * second pin). Asking first (isPinned) costs a datastore look per add, and an output is added for
 * every job; pins.add makes that look itself.
 */
async function pinOnce(pins: HeliaPins, cid: CID, signal: AbortSignal | undefined): Promise<number | null> {
  try {
    return await drain(pins.add(cid, { signal }));
  } catch (error) {
    if ((error as Error).name === "AlreadyPinnedError") return null;
    throw error;
  }
}

/** `work`, or the signal's reason once it fires (the work goes on for whoever else awaits it). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** pins.add is lazy: each step of the iteration pins one more block of the DAG. */
async function drain(source: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const block of source) if (block) n++;
  return n;
}

async function toBytes(source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * A block folder, with its layout (blockstore-fs's default, named so that the gateway can read a
 * block's file in one call rather than through the store's 64 KiB read stream).
 */
function blocksAt(dir: string) {
  const sharding = new NextToLast();
  return {
    blockstore: new JoinedWritesBlockstore(dir, { shardingStrategy: sharding }),
    blockFile: (cid: CID) => {
      const { dir: sub, file } = sharding.encode(cid);
      return path.join(dir, sub, file);
    },
  };
}

function openDisk(dir: string) {
  return {
    ...blocksAt(path.join(dir, "blocks")),
    datastore: new OrderedWritesDatastore(path.join(dir, "datastore")),
  };
}

function mapGetError(cid: string, error: unknown, signal: AbortSignal | undefined): unknown {
  if (error instanceof ConclaveError) return error;
  if (error instanceof Error && (error.name === "NotAFileError" || error.name === "NotUnixFSError")) {
    return new ContentInvalidError(`${cid} is not a UnixFS file`, { cause: error });
  }
  return unavailableIfAborted(cid, error, signal);
}
