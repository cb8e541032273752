/**
 * The faults of the chaos harness: a seeded plan (each kind a given number of times, spread over
 * the run) and what each does to the network when its time comes.
 *
 * - kill: SIGKILL a runner, leave it down a few seconds, start it again on the same data dir.
 * - drop / 429 / latency / lag: a window during which every runner's RPC proxy destroys a share
 *   of connections, answers a share of calls with HTTP 429, holds each call back, or answers a
 *   share of calls as a node a few blocks behind the head would (lagging-node.ts). With several
 *   endpoints per runner it is the primary endpoint's proxy (one RPC provider has an outage).
 * - reorg: Anvil's `anvil_reorg` replaces the last few blocks with empty ones. Anvil drops the
 *   transactions of the replaced blocks, where a real node returns them to its pool; so the
 *   harness sends them again itself, senders in a shuffled order, so that requests can land in
 *   another order and jobs change ids. Interval mining is paused meanwhile so no block is mined
 *   between reading the blocks and replacing them.
 * - basefee: the base fee jumps to `factor` times its value (at least `factor` gwei) and is held
 *   there a few blocks, then falls back by EIP-1559's 12.5 % a block: transactions priced before
 *   wait in the pool until they are re-priced or the fee falls.
 * - mempool: a window during which the node forgets every pending transaction twice a second
 *   (`anvil_dropAllTransactions`), as a provider's node does when it restarts or evicts under
 *   load, after it accepted them: senders must notice and broadcast again; a nonce gap holds
 *   every later transaction of theirs back until they do.
 */
import { type Hex, type PublicClient } from "viem";
import type { Logger } from "../../log.ts";
import type { Fleet } from "./fleet.ts";
import type { FaultKind } from "./options.ts";
import { randomInt, shuffled, type Random } from "./random.ts";

interface PlannedFault {
  kind: FaultKind;
  /** Seconds after the load starts. */
  at: number;
  /** How long the fault lasts (kill: time down; windows: window length; basefee: blocks held). */
  duration: number;
  /** Runner slot (kill only). */
  target: number | null;
}

export interface FaultRecord extends PlannedFault {
  /** Seconds after the load start when it began and ended, and the block at its start. */
  startedAt: number;
  endedAt: number;
  block: bigint;
  detail: string;
  error?: string;
}

const FAULT_SETTINGS = {
  killDownSeconds: 3,
  windowSeconds: 10,
  dropShare: 0.5,
  limitShare: 0.7,
  latencyMs: [200, 1500] as const,
  lagBlocks: 2,
  lagShare: 0.5,
  reorgDepth: 3,
  baseFeeFactor: 50n,
  baseFeeHoldBlocks: 5,
  mempoolFlushMs: 500,
};

/**
 * Each kind `repeats` times: round r holds every kind once in a shuffled order, rounds follow
 * each other, and faults are evenly spaced over the span (from 5 % to 85 % of it), so each kind
 * hits early and late in the run and no two overlap while the span allows.
 */
export function planFaults(
  kinds: readonly FaultKind[],
  repeats: number,
  spanSeconds: number,
  runners: number,
  random: Random,
): PlannedFault[] {
  const order: FaultKind[] = [];
  for (let r = 0; r < repeats; r++) order.push(...shuffled(random, kinds));
  const start = spanSeconds * 0.05;
  const step = order.length > 1 ? (spanSeconds * 0.8) / (order.length - 1) : 0;
  let nextVictim = randomInt(random, 0, Math.max(0, runners - 1));
  return order.map((kind, i) => {
    const target = kind === "kill" ? nextVictim++ % runners : null;
    const duration =
      kind === "kill"
        ? FAULT_SETTINGS.killDownSeconds
        : kind === "reorg"
          ? 0
          : kind === "basefee"
            ? FAULT_SETTINGS.baseFeeHoldBlocks
            : FAULT_SETTINGS.windowSeconds;
    return { kind, at: Math.round((start + i * step) * 10) / 10, duration, target };
  });
}

interface FaultDeps {
  /** A client straight to the node (never through a proxy). */
  publicClient: PublicClient;
  fleet: Fleet;
  /** The node's block interval, restored after a reorg. */
  blockTimeSeconds: number;
  random: Random;
  log: Logger;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gwei = (wei: bigint) => `${(Number(wei) / 1e9).toFixed(3)} gwei`;

type Rpc = (method: string, params: unknown[]) => Promise<unknown>;

async function reorg(deps: FaultDeps, rpc: Rpc, depth: number): Promise<string> {
  const { publicClient } = deps;
  await rpc("evm_setIntervalMining", [0]);
  try {
    const head = await publicClient.getBlockNumber({ cacheTime: 0 });
    const dropped: { from: string; nonce: number; raw: Hex }[] = [];
    for (let n = head - BigInt(depth) + 1n; n <= head; n++) {
      const block = await publicClient.getBlock({ blockNumber: n, includeTransactions: true });
      for (const tx of block.transactions) {
        dropped.push({
          from: tx.from.toLowerCase(),
          nonce: tx.nonce,
          raw: (await rpc("eth_getRawTransactionByHash", [tx.hash])) as Hex,
        });
      }
    }
    const oldHead = (await publicClient.getBlock({ blockNumber: head })).hash;
    await rpc("anvil_reorg", [depth, []]);
    const newHead = (await publicClient.getBlock({ blockNumber: head })).hash;
    // Back to the pool, senders in a random order (each sender's own in nonce order).
    const senders = shuffled(deps.random, [...new Set(dropped.map((d) => d.from))]);
    let back = 0;
    for (const from of senders) {
      for (const d of dropped.filter((x) => x.from === from).sort((a, b) => a.nonce - b.nonce)) {
        await rpc("eth_sendRawTransaction", [d.raw]).then(
          () => back++,
          () => undefined,
        );
      }
    }
    return `depth ${depth} at block ${head} (${oldHead.slice(0, 10)} → ${newHead.slice(0, 10)}), ${dropped.length} tx dropped, ${back} sent again`;
  } finally {
    await rpc("evm_setIntervalMining", [deps.blockTimeSeconds]);
  }
}

async function mempoolLoss(rpc: Rpc, windowSeconds: number): Promise<string> {
  const end = Date.now() + windowSeconds * 1000;
  let forgotten = 0;
  let flushes = 0;
  while (Date.now() < end) {
    const status = (await rpc("txpool_status", [])) as { pending: Hex; queued: Hex };
    await rpc("anvil_dropAllTransactions", []);
    forgotten += Number(status.pending) + Number(status.queued);
    flushes++;
    await sleep(Math.min(FAULT_SETTINGS.mempoolFlushMs, Math.max(0, end - Date.now())));
  }
  return `the node forgot every pending transaction ${flushes} times in ${windowSeconds} s (${forgotten} transactions)`;
}

async function baseFeeSpike(deps: FaultDeps, rpc: Rpc, holdBlocks: number): Promise<string> {
  const { publicClient } = deps;
  const before = (await publicClient.getBlock({ blockTag: "latest" })).baseFeePerGas ?? 0n;
  const floor = FAULT_SETTINGS.baseFeeFactor * 1_000_000_000n;
  const spiked = before * FAULT_SETTINGS.baseFeeFactor > floor ? before * FAULT_SETTINGS.baseFeeFactor : floor;
  let last = await publicClient.getBlockNumber({ cacheTime: 0 });
  const first = last + 1n;
  // Set before each of the next `holdBlocks` blocks; after that EIP-1559 brings it down by itself.
  await rpc("anvil_setNextBlockBaseFeePerGas", [`0x${spiked.toString(16)}`]);
  while (last < first + BigInt(holdBlocks) - 1n) {
    await sleep(100);
    const n = await publicClient.getBlockNumber({ cacheTime: 0 });
    if (n !== last) {
      last = n;
      if (n < first + BigInt(holdBlocks) - 1n)
        await rpc("anvil_setNextBlockBaseFeePerGas", [`0x${spiked.toString(16)}`]);
    }
  }
  return `${gwei(before)} → ${gwei(spiked)} for blocks ${first}–${first + BigInt(holdBlocks) - 1n}`;
}

/** Carries out one planned fault; resolves when it is over (a window closed, a runner is back). */
async function injectFault(deps: FaultDeps, fault: PlannedFault, t0: number): Promise<FaultRecord> {
  const rpc: Rpc = (method, params) => deps.publicClient.request({ method: method as never, params: params as never });
  const since = () => Math.round((Date.now() - t0) / 100) / 10;
  const startedAt = since();
  const block = await deps.publicClient.getBlockNumber({ cacheTime: 0 });
  const proxies = deps.fleet.runners.map((r) => r.proxy);
  let detail = "";
  let error: string | undefined;
  try {
    switch (fault.kind) {
      case "kill": {
        const slot = fault.target!;
        const r = deps.fleet.runners[slot]!;
        await deps.fleet.kill(slot);
        await sleep(fault.duration * 1000);
        const t = Date.now();
        // Its old ports can take a moment to free; a supervisor retries.
        for (let attempt = 1; ; attempt++) {
          try {
            await deps.fleet.restart(slot);
            break;
          } catch (e) {
            if (attempt >= 3) throw e;
            await sleep(2_000);
          }
        }
        detail = `SIGKILL runner ${r.index} (${r.address.slice(0, 8)}…), down ${fault.duration} s, back in ${((Date.now() - t) / 1000).toFixed(1)} s`;
        break;
      }
      case "drop":
      case "429":
      case "latency":
      case "lag": {
        const f =
          fault.kind === "drop"
            ? ({ kind: "drop", share: FAULT_SETTINGS.dropShare } as const)
            : fault.kind === "429"
              ? ({ kind: "429", share: FAULT_SETTINGS.limitShare } as const)
              : fault.kind === "lag"
                ? ({ kind: "lag", blocks: FAULT_SETTINGS.lagBlocks, share: FAULT_SETTINGS.lagShare } as const)
                : ({
                    kind: "latency",
                    minMs: FAULT_SETTINGS.latencyMs[0],
                    maxMs: FAULT_SETTINGS.latencyMs[1],
                  } as const);
        const before = proxies.map((p) => p.counters());
        for (const p of proxies) p.setFault(f);
        await sleep(fault.duration * 1000);
        for (const p of proxies) p.setFault({ kind: "none" });
        const after = proxies.map((p) => p.counters());
        const hit = after.reduce(
          (s, c, i) =>
            s +
            (c.dropped - before[i]!.dropped) +
            (c.limited - before[i]!.limited) +
            (c.delayed - before[i]!.delayed) +
            (c.lagged - before[i]!.lagged),
          0,
        );
        const what =
          f.kind === "drop"
            ? `${f.share * 100} % of connections dropped`
            : f.kind === "429"
              ? `${f.share * 100} % of calls answered 429`
              : f.kind === "lag"
                ? `${f.share * 100} % of calls answered by a node ${f.blocks} blocks behind the head`
                : `${f.minMs}–${f.maxMs} ms added`;
        const which = deps.fleet.runners.some((r) => r.fallbackProxies.length > 0)
          ? "primary RPC endpoint (fallbacks healthy)"
          : "RPC (their only endpoint)";
        detail = `all runners' ${which} for ${fault.duration} s: ${what} (${hit} calls hit)`;
        break;
      }
      case "reorg":
        detail = await reorg(deps, rpc, FAULT_SETTINGS.reorgDepth);
        break;
      case "basefee":
        detail = await baseFeeSpike(deps, rpc, fault.duration);
        break;
      case "mempool":
        detail = await mempoolLoss(rpc, fault.duration);
        break;
    }
  } catch (e) {
    error = String(e);
    deps.log.error("fault failed", { kind: fault.kind, error: e });
  }
  return { ...fault, startedAt, endedAt: since(), block, detail, ...(error === undefined ? {} : { error }) };
}

/** Runs the plan: each fault at its time (later if the one before is still going). */
export async function runFaults(
  deps: FaultDeps,
  plan: readonly PlannedFault[],
  t0: number,
  stop?: AbortSignal,
): Promise<FaultRecord[]> {
  const done: FaultRecord[] = [];
  for (const fault of plan) {
    const due = t0 + fault.at * 1000;
    while (Date.now() < due && !stop?.aborted) await sleep(Math.min(250, due - Date.now()));
    if (stop?.aborted) break;
    deps.log.info("fault", { kind: fault.kind, at: fault.at, target: fault.target });
    done.push(await injectFault(deps, fault, t0));
  }
  return done;
}
