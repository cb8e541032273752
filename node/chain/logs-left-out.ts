/**
 * Events an eth_getLogs answer over a range left out. A load-balanced provider (or a fallback
 * endpoint not in step) can answer from a node a block or two behind the one that gave the head,
 * and such a node answers up to its own head without a word. A block whose header's logs bloom
 * names one of the contracts, and of which the answer holds nothing, is asked for again by its
 * hash, which any node answers in full or refuses. Blooms of busy blocks name almost anything, so
 * most such asks find nothing; blocks whose bloom rules the contracts out cost none. This is how
 * Ponder checks realtime logs too; no library offers it over viem's getLogs.
 */
import { Bloom } from "ox";
import type { Address, Hex } from "viem";

/** The header fields the check reads (null bloom: a node that gave none, so it is asked). */
export interface BloomedBlock {
  number: bigint;
  hash: Hex;
  logsBloom: Hex | null;
}

interface Positioned {
  blockNumber: bigint | null;
  logIndex: number | null;
}

/**
 * `logs` (the answer for [from, to]) with the events of the blocks it left out, in chain order;
 * `blocks` are the headers known in the range (blocks with no header are not checked).
 */
export async function withLogsLeftOut<T extends Positioned>(o: {
  logs: T[];
  from: number;
  to: number;
  blocks: Iterable<BloomedBlock>;
  addresses: readonly Address[];
  byHash: (blockHash: Hex) => Promise<T[]>;
  /** Each block the answer left out, with the events read by its hash. */
  onLeftOut?: (block: number, events: number) => void;
}): Promise<T[]> {
  const answered = new Set(o.logs.map((l) => Number(l.blockNumber)));
  const missed: T[] = [];
  for (const b of o.blocks) {
    const n = Number(b.number);
    if (n < o.from || n > o.to || answered.has(n)) continue;
    if (b.logsBloom !== null && !o.addresses.some((a) => Bloom.contains(b.logsBloom!, a))) continue;
    const found = await o.byHash(b.hash);
    if (found.length === 0) continue;
    o.onLeftOut?.(n, found.length);
    missed.push(...found);
  }
  if (missed.length === 0) return o.logs;
  const position = (l: Positioned) => [Number(l.blockNumber), l.logIndex ?? 0] as const;
  return [...o.logs, ...missed].sort((a, b) => {
    const [na, ia] = position(a);
    const [nb, ib] = position(b);
    return na === nb ? ia - ib : na - nb;
  });
}
