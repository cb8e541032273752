import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { keccak256, serializeTransaction, type Hex, type PublicClient, type Transaction } from "viem";
import { FatalError } from "../errors.ts";

/** The local chain cannot be saved or brought back as it was. */
export class ChainStateError extends FatalError {
  readonly code = "CHAIN_STATE";
}

/**
 * A local chain as the list of its blocks: each block's timestamp and its signed transactions.
 * Hardhat cannot persist its state, but a chain whose transactions were all signed by their
 * senders is rebuilt exactly by replaying them into a node started at the same genesis date.
 */
export interface ChainState {
  chainId: number;
  /** The genesis block's date, which the replaying node must be started with. */
  genesisDate: string;
  head: { number: number; hash: Hex };
  blocks: { timestamp: number; txs: Hex[] }[];
}

function rawOf(tx: Transaction): Hex {
  const t = tx as Transaction & { input: Hex };
  const fields = { ...t, data: t.input, to: t.to ?? undefined } as never;
  const raw = serializeTransaction(fields, { r: t.r, s: t.s, yParity: t.yParity ?? (t.v === 28n ? 1 : 0) } as never);
  if (keccak256(raw) !== tx.hash) throw new ChainStateError(`transaction ${tx.hash} cannot be re-serialised; the chain cannot be saved`);
  return raw;
}

/** Reads every block of a local chain; written atomically to `file`. */
export async function saveChainState(publicClient: PublicClient, file: string): Promise<ChainState> {
  const head = await publicClient.getBlock({ blockTag: "latest" });
  const genesis = await publicClient.getBlock({ blockNumber: 0n });
  const blocks: ChainState["blocks"] = [];
  for (let n = 1n; n <= head.number; n++) {
    const b = await publicClient.getBlock({ blockNumber: n, includeTransactions: true });
    blocks.push({ timestamp: Number(b.timestamp), txs: b.transactions.map(rawOf) });
  }
  const state: ChainState = {
    chainId: await publicClient.getChainId(),
    genesisDate: new Date(Number(genesis.timestamp) * 1000).toISOString(),
    head: { number: Number(head.number), hash: head.hash },
    blocks,
  };
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  renameSync(`${file}.tmp`, file);
  return state;
}

export function readChainState(file: string): ChainState | null {
  if (!existsSync(file)) return null;
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as ChainState;
    if (typeof s.genesisDate !== "string" || !Array.isArray(s.blocks)) throw new Error("malformed");
    return s;
  } catch (cause) {
    throw new ChainStateError(`saved chain ${file} is unreadable; start with --fresh`, { cause });
  }
}

const rpc = (c: PublicClient, method: string, params: unknown[]) => c.request({ method: method as never, params: params as never });

/**
 * Replays a saved chain into a fresh node started at its genesis date. Resolves with whether the
 * rebuilt head has the saved hash (it differs only if the node changed how it builds blocks).
 */
export async function replayChainState(publicClient: PublicClient, state: ChainState, progress: (done: number, total: number) => void): Promise<boolean> {
  if ((await publicClient.getBlockNumber()) !== 0n) throw new ChainStateError("the node to replay into is not fresh");
  for (const [i, block] of state.blocks.entries()) {
    await rpc(publicClient, "evm_setNextBlockTimestamp", [block.timestamp]);
    if (block.txs.length === 0) {
      await rpc(publicClient, "evm_mine", []);
    } else if (block.txs.length === 1) {
      // A transaction that reverted the first time is mined again and reverts again; Hardhat
      // answers that with an error, so the block count, not the answer, says whether it went in.
      await rpc(publicClient, "eth_sendRawTransaction", [block.txs[0]]).catch(() => undefined);
    } else {
      await rpc(publicClient, "evm_setAutomine", [false]);
      for (const raw of block.txs) await rpc(publicClient, "eth_sendRawTransaction", [raw]).catch(() => undefined);
      await rpc(publicClient, "evm_mine", []);
      await rpc(publicClient, "evm_setAutomine", [true]);
    }
    const height = await publicClient.getBlockNumber({ cacheTime: 0 });
    if (height !== BigInt(i + 1)) throw new ChainStateError(`replaying block ${i + 1} failed (the node is at block ${height}); start with --fresh`);
    if (i % 50 === 0 || i === state.blocks.length - 1) progress(i + 1, state.blocks.length);
  }
  const head = await publicClient.getBlock({ blockTag: "latest" });
  if (Number(head.number) !== state.head.number) throw new ChainStateError(`replay ended at block ${head.number}, the saved chain at ${state.head.number}; start with --fresh`);
  return head.hash === state.head.hash;
}
