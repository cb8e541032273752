/**
 * How a node some blocks behind the head answers a call, for the chaos proxy's lag fault: a
 * load-balanced provider sends each call to one of its nodes, and they are not in step. Its head
 * and "latest" are its own; blocks, receipts and logs above them are not there yet (it answers
 * null, an unknown block, or a range up to its head, without a word); its state is its head's.
 */
type Json = Record<string, unknown>;

/** A JSON-RPC answer's body: a result or an error. */
export type Reply = { result: unknown } | { error: { code: number; message: string } };

/** A direct reply, or the call to forward (maybe rewritten) and the reply to make of the node's result. */
export type LaggingAnswer = { reply: Reply } | { forward: Json; reply?: (result: unknown) => Reply };

const hex = (n: bigint) => `0x${n.toString(16)}`;
const isNumber = (tag: unknown): tag is string => typeof tag === "string" && /^0x[0-9a-f]+$/i.test(tag);
const TIP_TAGS = new Set([undefined, "latest", "pending", "safe", "finalized"]);
/** The block an object of the chain (a block, a receipt, a log) is in, if it says. */
const blockOf = (r: unknown): bigint | null => {
  if (r === null || typeof r !== "object") return null;
  const n = (r as Json).blockNumber ?? (r as Json).number;
  return isNumber(n) ? BigInt(n) : null;
};
const above = (r: unknown, top: bigint) => (blockOf(r) ?? -1n) > top;

/**
 * The lagging node's answer to one JSON-RPC call, or null where it answers as the head's node
 * would (sending transactions, fees, anything not tied to the tip). `top` gives its head.
 */
export async function laggingAnswer(call: Json, top: () => Promise<bigint>): Promise<LaggingAnswer | null> {
  const params = Array.isArray(call.params) ? (call.params as unknown[]) : [];
  switch (call.method) {
    case "eth_blockNumber":
      return { reply: { result: hex(await top()) } };
    case "eth_getBlockByNumber": {
      const t = await top();
      if (isNumber(params[0])) return BigInt(params[0]) > t ? { reply: { result: null } } : null;
      return { forward: { ...call, params: [hex(t), ...params.slice(1)] } };
    }
    case "eth_getBlockByHash":
    case "eth_getTransactionReceipt": {
      const t = await top();
      return { forward: call, reply: (r) => ({ result: above(r, t) ? null : r }) };
    }
    case "eth_getTransactionCount":
    case "eth_getBalance":
    case "eth_call":
    case "eth_estimateGas": {
      // The block tag is the second parameter of each (an estimate without one is at "latest"); a
      // pending nonce is the pool's, not the tip's. A block above its head it has not got: geth's
      // answer.
      const tag = params[1];
      if (tag === "pending") return null;
      const t = await top();
      if (isNumber(tag) && BigInt(tag) > t) return { reply: { error: { code: -32000, message: "header not found" } } };
      if (isNumber(tag) || !TIP_TAGS.has(tag as string)) return null;
      return { forward: { ...call, params: [params[0], hex(t), ...params.slice(2)] } };
    }
    case "eth_getLogs": {
      const filter = (params[0] ?? {}) as Json;
      const t = await top();
      if (filter.blockHash !== undefined)
        return {
          forward: call,
          reply: (r) =>
            Array.isArray(r) && r.some((l) => above(l, t))
              ? { error: { code: -32000, message: "unknown block" } }
              : { result: r },
        };
      const from = isNumber(filter.fromBlock) ? BigInt(filter.fromBlock) : filter.fromBlock === "earliest" ? 0n : t;
      const to = isNumber(filter.toBlock) ? BigInt(filter.toBlock) : t;
      if (to <= t && isNumber(filter.toBlock)) return null;
      if (from > t) return { reply: { result: [] } };
      return { forward: { ...call, params: [{ ...filter, toBlock: hex(t) }] } };
    }
    default:
      return null;
  }
}
