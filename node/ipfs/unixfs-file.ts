import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import type { CID } from "multiformats/cid";
import { ContentInvalidError } from "./errors.ts";

/** The UnixFS pieces that the gateway's server and its fetchers both read. */

export const DAG_PB = 0x70;
export const RAW = 0x55;

/** A dag-pb node of a UnixFS file: its links, its own data and the size it declares (ContentInvalidError if it is not one). */
export function fileNode(
  root: CID,
  c: CID,
  b: Uint8Array,
): { links: CID[]; data: Uint8Array | undefined; size: bigint } {
  try {
    const pb = dagPb.decode(b);
    if (!pb.Data) throw new Error("no UnixFS data");
    const fs = UnixFS.unmarshal(pb.Data);
    if (fs.type !== "file" && fs.type !== "raw") throw new Error(`a UnixFS ${fs.type}`);
    return { links: pb.Links.map((l) => l.Hash), data: fs.data, size: fs.fileSize() };
  } catch (error) {
    throw new ContentInvalidError(`${c} (in ${root}) is not part of a UnixFS file`, { cause: error });
  }
}

/** Blocks are keyed by multihash, so CIDv0 and CIDv1 (and any codec) of the same bytes meet. */
export function hashKey(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString("base64");
}
