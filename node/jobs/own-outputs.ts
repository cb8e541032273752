import type { ContentStore } from "../ipfs/content-store.ts";
import type { Journal } from "../journal/journal.ts";
import { safeDecodeRef } from "./processor-options.ts";

/** The output tensors (safetensors bytes) of a job this runner computed; null when it holds none. */
export type OwnOutputs = (jobId: bigint) => Promise<Uint8Array | null>;

/**
 * A job's outputs from what the runner already keeps for its delivery: the output reference in its
 * journal row, which holds the bytes inline, or a CID its IPFS node added and keeps pinned until
 * the job is pruned. For `/jobs/<id>/outputs` and consumer callbacks. A file written per job for
 * this held the same bytes a third time, and cost the event loop about 0.3 ms of file I/O for
 * every job of a burst (issue 14).
 */
export function createOwnOutputs(deps: {
  journal: Pick<Journal, "getJob">;
  content: Pick<ContentStore, "get">;
  /** Longest wait for the local IPFS node (the blocks are pinned there: a wait means it is stuck). */
  fetchTimeoutMs: number;
}): OwnOutputs {
  return async (jobId) => {
    const ref = deps.journal.getJob(jobId)?.outputRef;
    const decoded = ref ? safeDecodeRef(ref) : null;
    if (!decoded) return null;
    if (decoded.kind === "inline") return decoded.bytes;
    try {
      return await deps.content.get(decoded.cid, { signal: AbortSignal.timeout(deps.fetchTimeoutMs) });
    } catch {
      return null;
    }
  };
}
