import type { AddFileOptions, unixfs } from "@helia/unixfs";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { CID } from "multiformats/cid";
import { InvalidCidError } from "./errors.ts";

export type CidVersion = 0 | 1;

/** What @helia/unixfs asks of a blockstore; importing only ever calls `put`. */
type ImportTarget = Parameters<typeof unixfs>[0]["blockstore"];

/**
 * Kubo's default `ipfs add` recipe (IPIP-499 `unixfs-v0-2015` chunking and layout): 256 KiB fixed
 * chunks, balanced DAG with at most 174 links per node. As with `--cid-version`, CIDv1 implies raw
 * leaves and CIDv0 implies dag-pb leaves. Every field is set explicitly because @helia/unixfs 8
 * defaults to 1 MiB chunks and 1024 links (`unixfs-v1-2025`), which gives different CIDs.
 */
function kuboImportOptions(cidVersion: CidVersion = 1): AddFileOptions {
  return {
    cidVersion,
    rawLeaves: cidVersion === 1,
    chunker: fixedSize({ chunkSize: 262_144 }),
    layout: balanced({ maxChildrenPerNode: 174 }),
    reduceSingleLeafToSelf: true,
    leafType: "file",
    fieldOrder: "links-first",
  };
}

/** Imports bytes as a UnixFS file into `blockstore`; the one code path behind `add` and `cidOfBytes`. */
export async function importUnixfs(
  bytes: Uint8Array,
  blockstore: ImportTarget,
  opts: { cidVersion?: CidVersion; signal?: AbortSignal } = {},
): Promise<CID> {
  // Loaded on first use: @helia/unixfs takes about 0.3 s to import, which every CLI command
  // would pay for, and few of them compute a CID.
  const { unixfs: unixfsOf } = await import("@helia/unixfs");
  return unixfsOf({ blockstore }).addBytes(bytes, { ...kuboImportOptions(opts.cidVersion), signal: opts.signal });
}

/** Discards blocks: computing a CID must not need memory proportional to the file. */
const discard: ImportTarget = {
  put: async (cid) => cid,
  has: async () => false,
  get: () => {
    throw new Error("discarding blockstore holds no blocks");
  },
};

/** The CID `ipfs add --cid-version=<v>` prints for these bytes, computed without a node. */
export async function cidOfBytes(bytes: Uint8Array, opts: { cidVersion?: CidVersion } = {}): Promise<string> {
  return (await importUnixfs(bytes, discard, opts)).toString();
}

/** Parses a CID string (v0 or v1, any multibase multiformats knows by default). */
export function parseCid(s: string): CID {
  try {
    return CID.parse(s);
  } catch (error) {
    throw new InvalidCidError(`not a CID: ${JSON.stringify(s.slice(0, 100))}`, { cause: error });
  }
}
