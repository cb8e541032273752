import { bytesToHex, concat, encodeAbiParameters, hexToBytes, numberToHex, size, type Hex } from "viem";
import { InvalidAttestationError } from "../errors.ts";
import type { Job } from "./attestation.ts";
import { jobWords } from "./job-words.ts";

/** One signed k = 1 result of a batch (the fields of IInferenceMarketTypes.SignedResult). */
export interface SignedResult {
  jobId: bigint;
  job: Job;
  resultHash: Hex;
  outputRef: Hex;
  /** The provider's EIP-712 Attestation signature, 65 bytes (r, s, v). */
  signature: Hex;
}

/** Bytes of an item's length prefix (uint32, big-endian). */
const PREFIX = 4;
/** ABI words of a job: its six packed words (job-words.ts). */
const JOB_WORDS = 6;
/** Bytes of an own-results item after its prefix, but the outputRef: jobId, the job's 6 words, resultHash. */
export const RESULT_ITEM_FIXED_BYTES = 32 + JOB_WORDS * 32 + 32;
/** Bytes of a signed item after its prefix, but the outputRef: an own-results item's, and the signature. */
const ITEM_FIXED_BYTES = RESULT_ITEM_FIXED_BYTES + 65;

/** One k = 1 result of the sender's own batch (no signature: the transaction's signs them all). */
export type OwnResult = Omit<SignedResult, "signature">;

/**
 * Encodes the sender's own results as `InferenceMarket.submitResults(bytes)` frames them: each item
 * `[len:uint32][jobId:32][job: its 6 words][resultHash:32][outputRef]`, `len` counting the bytes
 * after it. As in a signed batch, one bad item is skipped (AttestationRejected), not the batch.
 */
export function encodeResultBatch(items: readonly OwnResult[]): Hex {
  return concat(items.map(encodeResultItem));
}

/** One framed item of the sender's own batch (see {@link encodeResultBatch}). */
export function encodeResultItem(item: OwnResult): Hex {
  return frame(resultBody(item));
}

function resultBody(item: OwnResult): Hex {
  return concat([
    encodeAbiParameters(
      [{ type: "uint256" }, { type: "uint256[6]" }, { type: "bytes32" }],
      [item.jobId, jobWords(item.job), item.resultHash],
    ),
    item.outputRef,
  ]);
}

function frame(body: Hex): Hex {
  return concat([numberToHex(size(body), { size: PREFIX }), body]);
}

/**
 * Encodes signed results as `InferenceMarket.submitAttestations(bytes)` frames them: each item
 * `[len:uint32][jobId:32][job: its 6 words][resultHash:32][outputRef][signature:65]`,
 * `len` counting the bytes after it. The market frames the bytes itself, so one bad item is
 * skipped (AttestationRejected) instead of reverting the batch.
 */
export function encodeAttestationBatch(items: readonly SignedResult[]): Hex {
  return concat(items.map(encodeAttestationItem));
}

/** One framed item (see {@link encodeAttestationBatch}). */
export function encodeAttestationItem(item: SignedResult): Hex {
  if (size(item.signature) !== 65) {
    throw new InvalidAttestationError(
      `job ${item.jobId}: a batch signature must be 65 bytes (r, s, v), got ${size(item.signature)}`,
    );
  }
  return frame(concat([resultBody(item), item.signature]));
}

/** A batch's items as the market frames them, and where framing stopped if it did (a malformed item). */
interface DecodedBatch {
  /** The items long enough to hold one, in order, with the byte offset of each (its prefix). */
  items: { offset: number; jobId: bigint; resultHash: Hex; outputRef: Hex; signature: Hex; body: Hex }[];
  /** Offsets of items the market rejects as malformed (too short, or running past the end). */
  malformed: number[];
}

/**
 * Frames a batch's bytes exactly as the market does (for readers of past transactions, such as
 * the client's attestation check): the job words of each item stays raw in `body`.
 */
export function decodeAttestationBatch(data: Hex): DecodedBatch {
  const bytes = hexToBytes(data);
  const out: DecodedBatch = { items: [], malformed: [] };
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < PREFIX) {
      out.malformed.push(at);
      break;
    }
    const len = new DataView(bytes.buffer, bytes.byteOffset + at, PREFIX).getUint32(0);
    const next = at + PREFIX + len;
    if (next > bytes.length) {
      out.malformed.push(at);
      break;
    }
    if (len < ITEM_FIXED_BYTES) {
      out.malformed.push(at);
      at = next;
      continue;
    }
    const body = bytes.subarray(at + PREFIX, next);
    out.items.push({
      offset: at,
      jobId: BigInt(bytesToHex(body.subarray(0, 32))),
      resultHash: bytesToHex(body.subarray(32 + JOB_WORDS * 32, 64 + JOB_WORDS * 32)),
      outputRef: bytesToHex(body.subarray(64 + JOB_WORDS * 32, len - 65)),
      signature: bytesToHex(body.subarray(len - 65)),
      body: bytesToHex(body),
    });
    at = next;
  }
  return out;
}
