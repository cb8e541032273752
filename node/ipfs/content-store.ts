import type { ReadOptions } from "./read.ts";

/**
 * Content-addressed storage for weights, large inputs and outputs. Two engines implement it: an
 * embedded Helia node (the default) and a Kubo daemon reached over its RPC API. CIDs are CIDv1
 * with raw leaves, equal to what `ipfs add --cid-version=1` prints for the same bytes.
 */
export interface ContentStore {
  /** Adds (and pins) bytes; resolves to the CID string. */
  add(bytes: Uint8Array, opts?: { signal?: AbortSignal }): Promise<string>;
  /**
   * Fetches the bytes of a CID (a UnixFS file or a raw block), verifying every block against its
   * hash. `onProgress` is called with the bytes received so far; `maxBytes` aborts larger files;
   * `digests` receives the sha256 of the bytes when the engine computed it on the way.
   */
  get(cid: string, opts?: ReadOptions): Promise<Uint8Array>;
  /**
   * Pins a CID this node already holds the blocks of (fetched with `get`), so it keeps them and
   * serves them to other peers (blocks a peer fetches are otherwise freed by the next `release`).
   * Optional: without it, callers pin by `add`ing the bytes again.
   */
  pin?(cid: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Drops the pins of CIDs this node no longer needs to serve and frees their blocks (a Kubo
   * daemon frees them at its own garbage collection).
   */
  release(cids: string[]): Promise<void>;
  /**
   * True when `get` fetches by CID and checks every block against its hash, walking the DAG from
   * that CID (the embedded Helia node): the bytes are then exactly those the CID names, and callers
   * need not recompute the CID from them. Absent or false (a remote daemon, whose answer is taken
   * on trust): callers recompute it.
   */
  readonly verifiesBlocks?: boolean;
  /** URL of this node's trustless gateway (HTTP), where it serves the blocks it holds; null if none. */
  gatewayUrl?(): string | null;
  /** Addresses other nodes can dial to fetch from this one (empty for a remote daemon). */
  multiaddrs(): string[];
  /** Connects to a peer by multiaddr (for private networks without discovery). */
  dial(multiaddr: string): Promise<void>;
  stop(): Promise<void>;
}
