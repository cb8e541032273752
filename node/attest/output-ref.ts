import { fromHex, toHex, type Hex } from "viem";
import { FatalError } from "../errors.ts";

/** A result reference that is neither an ipfs:// CID nor an inline data: URL. */
export class OutputRefError extends FatalError {
  readonly code = "OUTPUT_REF_INVALID";
}

const INLINE_PREFIX = "data:application/vnd.safetensors;base64,";

/**
 * Where a result's outputs are, as the bytes posted on-chain: the UTF-8 of `ipfs://<cid>` for
 * outputs pinned to IPFS, or `data:application/vnd.safetensors;base64,<bytes>` for small ones.
 */
type OutputRef = { kind: "ipfs"; cid: string } | { kind: "inline"; bytes: Uint8Array };

export function encodeOutputRef(ref: OutputRef): Hex {
  const text =
    ref.kind === "ipfs" ? `ipfs://${ref.cid}` : `${INLINE_PREFIX}${Buffer.from(ref.bytes).toString("base64")}`;
  return toHex(text);
}

export function decodeOutputRef(hex: Hex): OutputRef {
  let text: string;
  try {
    text = fromHex(hex, "string");
  } catch (cause) {
    throw new OutputRefError("output reference is not UTF-8", { cause });
  }
  if (text.startsWith("ipfs://") && text.length > 7) return { kind: "ipfs", cid: text.slice(7) };
  if (text.startsWith(INLINE_PREFIX))
    return { kind: "inline", bytes: new Uint8Array(Buffer.from(text.slice(INLINE_PREFIX.length), "base64")) };
  throw new OutputRefError(`unknown output reference ${text.slice(0, 40)}`);
}
