/**
 * The fulfiller's chain reads over viem, and where a runner finds a job's canonical preimage (its
 * own saved outputs, else the deliveries' output references: inline or IPFS).
 */
import { getAddress, keccak256, zeroAddress, type Abi, type Address, type Hex, type PublicClient } from "viem";
import { jobEndsAt } from "../attest/attestation.ts";
import { decodeOutputRef } from "../attest/output-ref.ts";
import { quantumFromChain, resultHashPreimage } from "../attest/result-hash.ts";
import { loadArtifact } from "../chain/artifacts.ts";
import { chainNow } from "../chain/clock.ts";
import { contractAddress, type DeploymentRecord } from "../chain/deployment.ts";
import { AdaptiveRange, getLogsAdaptive, logsToHead, type AdaptiveRangeOptions } from "../chain/logs.ts";
import { withLogsLeftOut, type BloomedBlock } from "../chain/logs-left-out.ts";
import { reuseFor } from "../chain/reuse-for.ts";
import { JobStatus } from "../chain/statuses.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import { decodeSafetensors } from "../tensors/safetensors.ts";
import type { FulfillerChain, FundedCallback, JobResult, MarketView, PreimageSource } from "./fulfiller.ts";
import { jobOfWords, jobWords, type JobWords } from "../attest/job-words.ts";

/** Blocks below the safe head whose answers are checked against their blooms (no node lags more). */
const RECHECKED_BLOCKS = 64;

type EventLog = { eventName: string; args: Record<string, unknown>; blockNumber: bigint };

/** The ConsumerRouter of a deployment, or null when it has none (deployed before issue 13). */
export function routerOf(record: DeploymentRecord): { address: Address; block: number } | null {
  return record.contracts.ConsumerRouter ?? null;
}

export function createFulfillerChain(
  publicClient: PublicClient,
  record: DeploymentRecord,
  opts: {
    confirmations: number;
    logRange?: AdaptiveRangeOptions;
    /** The highest block to act on, when the caller knows it without a call (a runner: its watcher's processed block). */
    safeHead?: () => number;
    /**
     * Headers of blocks near the head (a runner: its watcher's): a block whose bloom names the
     * router and of which a range answer held no event is read again by its hash (see
     * logs-left-out.ts). Without it, answers are taken as given.
     */
    headerAt?: (block: number) => BloomedBlock | undefined;
  },
): FulfillerChain {
  const router = { address: contractAddress(record, "ConsumerRouter"), abi: loadArtifact("ConsumerRouter").abi };
  const marketAbi = loadArtifact("InferenceMarket").abi;
  const market = { address: contractAddress(record, "InferenceMarket"), abi: marketAbi };
  const marketBlock = record.contracts.InferenceMarket!.block;
  const range = new AdaptiveRange(opts.logRange);
  const requestBlocks = new Map<string, number>();
  const now = reuseFor(500, async () => Number(await chainNow(publicClient)));
  const maxInline = reuseFor(10_000, async () =>
    Number(await publicClient.readContract({ ...router, functionName: "maxInlineOutputBytes" })),
  );
  const required = new Map<number, bigint>();

  const jobEvents = async (jobId: bigint): Promise<EventLog[]> => {
    const from = requestBlocks.get(jobId.toString()) ?? marketBlock;
    return (await logsToHead(
      publicClient,
      from,
      (fromBlock, toBlock) =>
        publicClient.getContractEvents({ ...market, fromBlock, toBlock, args: { jobId } as never }),
      range,
    )) as unknown as EventLog[];
  };

  return {
    async safeHead() {
      if (opts.safeHead) return opts.safeHead();
      return Number(await publicClient.getBlockNumber({ cacheTime: 0 })) - opts.confirmations;
    },
    now,
    async fundedEvents(from, to) {
      const funded = (q: { fromBlock: bigint; toBlock: bigint } | { blockHash: Hex }) =>
        publicClient.getContractEvents({ ...router, eventName: "CallbackFunded", ...q });
      const answered = await getLogsAdaptive({
        fromBlock: from,
        toBlock: to,
        range,
        query: (f, t) => funded({ fromBlock: BigInt(f), toBlock: BigInt(t) }),
      });
      const headers: BloomedBlock[] = [];
      if (opts.headerAt)
        for (let n = Math.max(from, to - RECHECKED_BLOCKS + 1); n <= to; n++) {
          const h = opts.headerAt(n);
          if (h) headers.push(h);
        }
      const logs = await withLogsLeftOut({
        logs: answered,
        from,
        to,
        blocks: headers,
        addresses: [router.address],
        byHash: (blockHash) => funded({ blockHash }),
      });
      return logs.map((l): FundedCallback => {
        const a = l.args as { jobId: bigint; consumer: Address; callbackGasLimit: number; maxGasPrice: bigint };
        return {
          jobId: a.jobId,
          consumer: a.consumer,
          callbackGasLimit: Number(a.callbackGasLimit),
          maxGasPrice: a.maxGasPrice,
          block: Number(l.blockNumber),
        };
      });
    },
    async callback(jobId) {
      const r = await publicClient.readContract({ ...router, functionName: "requestOf", args: [jobId] });
      return {
        status: Number(r.status),
        callbackGasLimit: Number(r.callbackGasLimit),
        maxGasPrice: BigInt(r.maxGasPrice),
      };
    },
    async job(jobId, atOrBefore) {
      // A ConclaveConsumer requests and deposits in one transaction: look in that block first.
      const query = (fromBlock: bigint, toBlock: bigint) =>
        publicClient.getContractEvents({ ...market, eventName: "JobRequested", fromBlock, toBlock, args: { jobId } });
      let logs = await query(BigInt(atOrBefore), BigInt(atOrBefore));
      if (logs.length === 0)
        logs = await getLogsAdaptive({
          fromBlock: marketBlock,
          toBlock: atOrBefore,
          range,
          query: (f, t) => query(BigInt(f), BigInt(t)),
        });
      const found = logs[0];
      if (!found) throw new Error(`job ${jobId} has no JobRequested event up to block ${atOrBefore}`);
      requestBlocks.set(jobId.toString(), Number(found.blockNumber));
      return jobOfWords((found.args as { job: JobWords }).job);
    },
    async market(jobId, job): Promise<MarketView> {
      const [status, , , since] = await publicClient.readContract({
        ...market,
        functionName: "jobState",
        args: [jobId],
      });
      if (status === JobStatus.Refunded) return { kind: "refunded" };
      // Open or revealing past its last moment: only a finalize moves it now.
      if ((status === JobStatus.Open || status === JobStatus.Revealing) && (await now()) > jobEndsAt(job))
        return { kind: "ended" };
      if (status === JobStatus.Delivered) {
        // Final once its challenge window has passed (isFinalResult checks it again).
        const finalAt = Number(since) + Number(job.challengeWindow) + 1;
        if ((await now()) < finalAt) return { kind: "wait", notBefore: finalAt };
      } else if (status !== JobStatus.Settled) {
        return { kind: "wait" };
      }
      const result = resultOf(await jobEvents(jobId), job.redundancy);
      return result ? { kind: "result", result } : { kind: "wait" };
    },
    async isFinal(jobId, job, result) {
      return publicClient.readContract({
        ...market,
        functionName: "isFinalResult",
        args: [jobId, jobWords(job), result.provider, result.resultHash],
      });
    },
    maxInlineOutputBytes: maxInline,
    async requiredGas(limit) {
      let g = required.get(limit);
      if (g === undefined) {
        g = await publicClient.readContract({ ...router, functionName: "requiredGas", args: [BigInt(limit)] });
        required.set(limit, g);
      }
      return g;
    },
    async gasPrice() {
      const [history, tip] = await Promise.all([
        publicClient.getFeeHistory({ blockCount: 1, rewardPercentiles: [] }),
        publicClient.estimateMaxPriorityFeePerGas(),
      ]);
      return (history.baseFeePerGas.at(-1) ?? 0n) + tip;
    },
    async participants(jobId) {
      return participantsOf(await jobEvents(jobId));
    },
  };
}

/**
 * A job's result from its market events: k > 1, the settled hash and the revealers that carried
 * it; k = 1, the last delivery (a challenge that stands keeps it).
 */
export function resultOf(logs: readonly EventLog[], redundancy: number): JobResult | null {
  if (redundancy > 1) {
    const settled = logs.find((l) => l.eventName === "JobSettled");
    if (!settled) return null;
    const resultHash = settled.args.resultHash as Hex;
    const deliveries = logs
      .filter((l) => l.eventName === "ResultRevealed" && l.args.resultHash === resultHash)
      .map((l) => ({ provider: l.args.provider as Address, outputRef: l.args.outputRef as Hex }));
    return { provider: zeroAddress, resultHash, deliveries };
  }
  const delivered = logs.filter((l) => l.eventName === "ResultSubmitted").at(-1);
  if (!delivered) return null;
  const provider = delivered.args.provider as Address;
  return {
    provider,
    resultHash: delivered.args.resultHash as Hex,
    deliveries: [{ provider, outputRef: delivered.args.outputRef as Hex }],
  };
}

/** The providers that took part in a job (delivered, committed or revealed), once each, in event order. */
export function participantsOf(logs: readonly EventLog[]): Address[] {
  const taking = new Set(["ResultSubmitted", "SeatCommitted", "ResultRevealed"]);
  const seen = new Set<Address>();
  for (const l of logs) if (taking.has(l.eventName)) seen.add(getAddress(l.args.provider as Address));
  return [...seen];
}

/** Outputs fetched at most to build a preimage (larger ones are delivered as a hash only). */
const MAX_FETCH_BYTES = 1024 * 1024;

/**
 * A runner's preimage source: its own outputs of the job (it served it), else each
 * delivery's output reference (inline, or IPFS through the runner's node), checked against the
 * result hash.
 */
export function createPreimageSource(opts: {
  localOutputs: (jobId: bigint) => Promise<Uint8Array | null>;
  content: ContentStore;
  outputQuantum: (modelId: Hex, version: number) => Promise<bigint>;
  fetchTimeoutMs: number;
}): PreimageSource {
  return async (jobId, job, result) => {
    const quantum = quantumFromChain(await opts.outputQuantum(job.modelId, job.version));
    const fromSafetensors = (bytes: Uint8Array): Uint8Array | null => {
      try {
        const pre = resultHashPreimage(decodeSafetensors(bytes).tensors, quantum);
        return keccak256(pre) === result.resultHash ? pre : null;
      } catch {
        return null;
      }
    };
    const local = await opts.localOutputs(jobId);
    const own = local ? fromSafetensors(local) : null;
    if (own) return own;
    for (const d of result.deliveries) {
      let ref;
      try {
        ref = decodeOutputRef(d.outputRef);
      } catch {
        continue;
      }
      let bytes: Uint8Array;
      if (ref.kind === "inline") bytes = ref.bytes;
      else {
        try {
          bytes = await opts.content.get(ref.cid, {
            signal: AbortSignal.timeout(opts.fetchTimeoutMs),
            maxBytes: MAX_FETCH_BYTES,
          });
        } catch {
          continue;
        }
      }
      const pre = fromSafetensors(bytes);
      if (pre) return pre;
    }
    return null;
  };
}

/** The router's ABI (for the sender's error names and encoding). */
export function routerAbi(): Abi {
  return loadArtifact("ConsumerRouter").abi as Abi;
}
