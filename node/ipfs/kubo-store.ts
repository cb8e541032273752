import { create } from "kubo-rpc-client";
import { ConclaveError, ConfigError } from "../errors.ts";
import { parseCid } from "./cid.ts";
import { dialPeer } from "./dial.ts";
import type { ContentStore } from "./content-store.ts";
import { ContentInvalidError, ContentUnavailableError, IpfsUnreachableError, PeerUnreachableError } from "./errors.ts";
import { readAll, unavailableIfAborted, type ReadOptions } from "./read.ts";

interface KuboStoreOptions {
  /** The daemon's RPC API, e.g. http://127.0.0.1:5001 (the client appends /api/v0). */
  url: string;
  log?: (event: string, fields: object) => void;
}

/**
 * A ContentStore backed by a Kubo daemon over its RPC API. The daemon does its own networking, so
 * this store has no addresses to offer. Resolves once the daemon answered `version`, so a wrong URL
 * shows at startup rather than at the first job.
 */
export async function createKuboStore(opts: KuboStoreOptions): Promise<ContentStore> {
  const log = opts.log ?? (() => {});
  let kubo;
  try {
    kubo = create({ url: opts.url });
  } catch (error) {
    throw new ConfigError(`invalid Kubo RPC URL ${JSON.stringify(opts.url)}`, { cause: error });
  }
  const url = opts.url;
  const { version } = await call(url, () => kubo.version({ signal: AbortSignal.timeout(10_000) }));
  log("ipfs.kubo", { url, version });

  return {
    async add(bytes, { signal } = {}) {
      const { cid } = await call(
        url,
        () => kubo.add(bytes, { cidVersion: 1, rawLeaves: true, pin: true, signal }),
        signal,
      );
      log("ipfs.added", { cid: cid.toString(), bytes: bytes.byteLength });
      return cid.toString();
    },

    async get(cidString, read: ReadOptions = {}) {
      const cid = parseCid(cidString);
      const { signal, maxBytes } = read;
      try {
        // One byte more than allowed is enough to tell an oversized file without streaming it all.
        const length = maxBytes === undefined ? undefined : maxBytes + 1;
        const bytes = await readAll(cidString, kubo.cat(cid, { signal, length }), read);
        log("ipfs.fetched", { cid: cidString, bytes: bytes.byteLength });
        return bytes;
      } catch (error) {
        throw mapCatError(url, cidString, error, signal);
      }
    },

    async pin(cidString, { signal } = {}) {
      await call(url, () => kubo.pin.add(parseCid(cidString), { signal }), signal);
      log("ipfs.pinned", { cid: cidString });
    },

    async release(cids) {
      for (const c of cids) {
        await call(url, () => kubo.pin.rm(parseCid(c))).catch((error: unknown) => {
          // Not pinned (any more) is what we want.
          if (!/not pinned/i.test(String((error as Error).message))) throw error;
        });
      }
      log("ipfs.released", { cids: cids.length });
    },

    multiaddrs() {
      return [];
    },

    async dial(address) {
      await dialPeer(
        address,
        (ma) => kubo.swarm.connect(ma),
        (error) =>
          isHttpError(error)
            ? new PeerUnreachableError(`Kubo cannot dial ${address}`, { cause: error })
            : unreachable(url, error),
      );
      log("ipfs.dialled", { address });
    },

    async stop() {},
  };
}

/** Runs one RPC call; transport failures and daemon errors become IpfsUnreachableError. */
async function call<T>(url: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    // The caller's own abort is not a daemon fault: hand it back untouched.
    if (signal?.aborted) throw error;
    throw unreachable(url, error);
  }
}

function unreachable(url: string, error: unknown): unknown {
  if (error instanceof ConclaveError) return error;
  return new IpfsUnreachableError(`Kubo RPC at ${url} failed`, { cause: error });
}

function mapCatError(url: string, cid: string, error: unknown, signal: AbortSignal | undefined): unknown {
  if (error instanceof ConclaveError) return error;
  if (signal?.aborted) return unavailableIfAborted(cid, error, signal);
  if (isHttpError(error)) {
    // Kubo answers HTTP 500 both for "not a file" and for "cannot fetch"; only the text differs.
    if (/is a directory|not a file/i.test((error as Error).message)) {
      return new ContentInvalidError(`${cid} is not a UnixFS file`, { cause: error });
    }
    return new ContentUnavailableError(`Kubo could not fetch ${cid}`, { cause: error });
  }
  return unreachable(url, error);
}

/** An error answer from the daemon (as opposed to no answer): kubo-rpc-client names them so. */
function isHttpError(error: unknown): boolean {
  return error instanceof Error && (error.name === "HTTPError" || error.name === "TimeoutError");
}
