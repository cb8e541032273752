import {
  BaseError,
  HttpRequestError,
  keccak256,
  parseEventLogs,
  TimeoutError,
  WebSocketRequestError,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
  type Log,
  type PublicClient,
} from "viem";
import { loadArtifact } from "../chain/artifacts.ts";
import { chainNow } from "../chain/clock.ts";
import type { Job } from "../attest/attestation.ts";
import { decodeOutputRef, OutputRefError } from "../attest/output-ref.ts";
import { canonicalResultHash, quantumFromChain } from "../attest/result-hash.ts";
import type { Wallet } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import { AdaptiveRange, logsToHead } from "../chain/logs.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";
import {
  InputTooLargeError,
  JobTimeoutError,
  OutputTooLargeError,
  RequestRevertedError,
  ResultMismatchError,
  TagsOutOfRangeError,
} from "./errors.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import { ContentTooLargeError } from "../ipfs/errors.ts";
import type { TensorMap } from "../tensors/dtypes.ts";
import { decodeSafetensors, encodeSafetensors } from "../tensors/safetensors.ts";
import { ChallengeOutcome, JOB_STATUS, JobStatus } from "../chain/statuses.ts";
import { jobOfWords, MAX_JOB_TAGS } from "../attest/job-words.ts";

/** Outputs fetched at most, unless the caller says otherwise: a provider cannot make a client read without bound. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

interface InferenceRequest {
  model: string;
  /** Exact version, or 0 for the active one. */
  version?: number;
  inputs: TensorMap;
  redundancy?: number;
  feePerProvider: bigint;
  token?: Address;
  deadlineInSeconds?: number;
  requiredTags?: bigint;
  /** Inputs larger than the market's inline limit go to IPFS through this store. */
  content?: ContentStore;
}

/** The market call of a request: the JobRequest struct and the escrow to send or approve. */
export async function jobRequestOf(publicClient: PublicClient, record: DeploymentRecord, r: InferenceRequest) {
  const requiredTags = r.requiredTags ?? 0n;
  // Providers may hold any of 256 tags, but a job carries bits 0-63 (its packed word): say so
  // here rather than as the market's revert.
  if (requiredTags < 0n || requiredTags > MAX_JOB_TAGS)
    throw new TagsOutOfRangeError(
      `required tags 0x${requiredTags.toString(16)} use a bit above 63: a job can require tags bit0..bit63 only`,
    );
  const { market } = conclaveContracts(record, publicClient);
  const policy = await market.read.policy();
  const input = encodeSafetensors(r.inputs);
  const byCid = input.byteLength > policy.maxInlineInputBytes;
  if (byCid && !r.content)
    throw new InputTooLargeError(
      `input of ${input.byteLength} bytes is above the market's inline limit of ${policy.maxInlineInputBytes} bytes and no IPFS node was given`,
    );
  const inputCid = byCid ? await r.content!.add(input) : "";
  const redundancy = r.redundancy ?? 1;
  const token = r.token ?? zeroAddress;
  const escrow = await market.read.escrowOf([redundancy, r.feePerProvider, policy.protocolFeeBps]);
  const now = Number(await chainNow(publicClient));
  const request = {
    modelId: keccak256(toHex(r.model)),
    version: r.version ?? 0,
    redundancy,
    feePerProvider: r.feePerProvider,
    token,
    deadline: now + (r.deadlineInSeconds ?? 600),
    requiredTags,
    input: byCid ? ("0x" as Hex) : toHex(input),
    inputCid,
  };
  return { request, escrow, value: token === zeroAddress ? escrow : 0n };
}

/** The job a requestJob receipt created, and the block it was requested in (where its events start). */
export function requestedJob(logs: Log[]): { jobId: bigint; job: Job; block: bigint } {
  const [event] = parseEventLogs({ abi: loadArtifact("InferenceMarket").abi, logs, eventName: "JobRequested" });
  if (!event) throw new Error("the transaction created no job");
  return { jobId: event.args.jobId, job: jobOfWords(event.args.job), block: event.blockNumber };
}

/**
 * The gas limit of a requestJob from its estimate. The cost of a request depends on the block it
 * lands in: while a staged rollout runs, the block's prevrandao draws whether a version-0 request
 * goes to the candidate (about 800 gas more on the local chain), and the estimate may have taken
 * the champion's path: an exact limit then runs out of gas (seen in about a sixth of the requests
 * of a 20 % canary). Unused gas costs nothing.
 */
export const requestGasLimit = (estimate: bigint): bigint => (estimate * 13n) / 10n;

/** Requests a job: encodes the inputs as safetensors, escrows the fee, returns the pinned job. */
export async function requestInference(
  publicClient: PublicClient,
  record: DeploymentRecord,
  client: Wallet,
  r: InferenceRequest,
): Promise<{ jobId: bigint; job: Job; block: bigint }> {
  const { market } = conclaveContracts(record, client);
  const { request, value } = await jobRequestOf(publicClient, record, r);
  const estimate = await market.estimateGas.requestJob([request], { value, account: client.account });
  const hash = await market.write.requestJob([request], { value, gas: requestGasLimit(estimate) });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success")
    throw new RequestRevertedError(
      `requestJob ${hash} reverted in block ${receipt.blockNumber} (gas used ${receipt.gasUsed} of ${requestGasLimit(estimate)})`,
    );
  return requestedJob(receipt.logs);
}

export interface Delivery {
  provider: Address;
  resultHash: Hex;
  outputRef: Hex;
  /** The transaction that delivered it: the provider's own, or a batch of signed attestations. */
  txHash: Hex;
}

export interface JobOutcome {
  /**
   * settled: paid out (k > 1 by quorum; k = 1 claimed, or upheld by a jury). delivered: a k = 1
   * result is in and usable now; it may still be challenged during its challenge window (a jury
   * that finds it wrong refunds the client and reveals the right result). refunded: the escrow
   * came back (expired, no quorum, or a k = 1 result a jury found wrong).
   */
  status: "settled" | "delivered" | "refunded";
  resultHash: Hex | null;
  deliveries: Delivery[];
}

interface WaitOptions {
  timeoutMs?: number;
  onProgress?: (status: string) => void;
  /**
   * The block the job was requested in (from {@link requestInference} or the request's receipt):
   * its events are searched from there. Without it, from the market's deployment block.
   */
  fromBlock?: bigint | number;
  /** Most blocks per eth_getLogs query; smaller ones are used when the provider refuses. */
  maxLogRange?: number;
}

/** Waits until the job has a result (delivered or settled) or is refunded, reading the market's events. */
export async function waitForJob(
  publicClient: PublicClient,
  record: DeploymentRecord,
  jobId: bigint,
  opts: WaitOptions = {},
): Promise<JobOutcome> {
  const market = conclaveContracts(record, publicClient).market;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let last = "";
  while (Date.now() < deadline) {
    let state: readonly [number, number, number, ...unknown[]];
    try {
      state = await market.read.jobState([jobId]);
    } catch (error) {
      // A connection reset (an idle keep-alive socket the node closed as it was reused) or a
      // timed-out read is no answer: ask again until the deadline.
      if (!isTransportError(error)) throw error;
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const [status, seated, revealed] = state;
    const label = JOB_STATUS[Number(status)] ?? "unknown";
    const line = `${label} (${seated} seated, ${revealed} revealed)`;
    if (line !== last) opts.onProgress?.(line);
    last = line;
    if (status === JobStatus.Settled || status === JobStatus.Refunded || status === JobStatus.Delivered) {
      const outcome = await jobOutcome(publicClient, record, jobId, opts);
      if (outcome.resultHash === null && status !== JobStatus.Refunded) {
        // The state came from a node that has the result, the events from one behind it (a
        // load-balanced provider's nodes are not in step): read them again.
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      return {
        ...outcome,
        status: status === JobStatus.Settled ? "settled" : status === JobStatus.Refunded ? "refunded" : "delivered",
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new JobTimeoutError(`job ${jobId} did not end within ${opts.timeoutMs ?? 120_000} ms`);
}

/**
 * The deliveries and winning hash of an ended job, from its events: scanned from the job's
 * request block to the head in ranges that adapt to the provider's limits.
 */
async function jobOutcome(
  publicClient: PublicClient,
  record: DeploymentRecord,
  jobId: bigint,
  opts: Pick<WaitOptions, "fromBlock" | "maxLogRange"> = {},
): Promise<Omit<JobOutcome, "status">> {
  const market = conclaveContracts(record, publicClient).market;
  const deployed = record.contracts.InferenceMarket!.block;
  const logs = await logsToHead(
    publicClient,
    Math.max(deployed, Number(opts.fromBlock ?? deployed)),
    (from, to) =>
      publicClient.getContractEvents({
        address: market.address,
        abi: market.abi,
        fromBlock: from,
        toBlock: to,
        args: { jobId } as never,
      }),
    new AdaptiveRange({ maxRange: opts.maxLogRange }),
  );
  const deliveries: Delivery[] = [];
  let resultHash: Hex | null = null;
  for (const l of logs as unknown as { eventName: string; args: Record<string, unknown>; transactionHash: Hex }[]) {
    if (l.eventName === "ResultSubmitted" || l.eventName === "ResultRevealed") {
      deliveries.push({
        provider: l.args.provider as Address,
        resultHash: l.args.resultHash as Hex,
        outputRef: l.args.outputRef as Hex,
        txHash: l.transactionHash,
      });
      if (l.eventName === "ResultSubmitted") resultHash = l.args.resultHash as Hex;
    }
    if (l.eventName === "JobSettled") resultHash = l.args.resultHash as Hex;
    // A jury found the k = 1 result wrong: the client's result is the jury's (its reveals are
    // deliveries above), and its escrow was refunded.
    if (l.eventName === "ChallengeResolved" && Number(l.args.outcome) === ChallengeOutcome.ProviderWrong)
      resultHash = l.args.juryHash as Hex;
  }
  return { resultHash, deliveries };
}

function isTransportError(error: unknown): boolean {
  return (
    error instanceof BaseError &&
    error.walk(
      (e) => e instanceof HttpRequestError || e instanceof WebSocketRequestError || e instanceof TimeoutError,
    ) !== null
  );
}

/**
 * Fetches a delivery's outputs and checks that they hash to the result hash on-chain. Reads at
 * most `maxBytes` (default {@link DEFAULT_MAX_OUTPUT_BYTES}); larger outputs throw
 * {@link OutputTooLargeError} without being read in full.
 */
export async function fetchVerifiedOutputs(
  delivery: Delivery,
  outputQuantum: bigint,
  content?: ContentStore,
  opts: { maxBytes?: number; timeoutMs?: number } = {},
): Promise<TensorMap> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const ref = decodeOutputRef(delivery.outputRef);
  let bytes: Uint8Array;
  if (ref.kind === "inline") {
    bytes = ref.bytes;
  } else {
    if (!content)
      throw new OutputRefError(`outputs of ${delivery.provider} are on IPFS (${ref.cid}) and no IPFS node was given`);
    try {
      bytes = await content.get(ref.cid, { signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000), maxBytes });
    } catch (error) {
      if (error instanceof ContentTooLargeError)
        throw new OutputTooLargeError(`outputs of ${delivery.provider} are larger than ${maxBytes} bytes`, {
          cause: error,
        });
      throw error;
    }
  }
  // Also when a store ignores the limit, and for inline outputs.
  if (bytes.byteLength > maxBytes)
    throw new OutputTooLargeError(
      `outputs of ${delivery.provider} are ${bytes.byteLength} bytes, more than ${maxBytes}`,
    );
  const outputs = decodeSafetensors(bytes).tensors;
  const hash = canonicalResultHash(outputs, quantumFromChain(outputQuantum));
  if (hash !== delivery.resultHash)
    throw new ResultMismatchError(`outputs from ${delivery.provider} hash to ${hash}, not ${delivery.resultHash}`);
  return outputs;
}
