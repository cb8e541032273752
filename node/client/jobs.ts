import { BaseError, HttpRequestError, keccak256, parseEventLogs, TimeoutError, WebSocketRequestError, toHex, zeroAddress, type Address, type Hex, type Log, type PublicClient } from "viem";
import { loadArtifact } from "../chain/artifacts.ts";
import { chainNow } from "../chain/clock.ts";
import type { Job } from "../attest/attestation.ts";
import { decodeOutputRef } from "../attest/output-ref.ts";
import { canonicalResultHash, quantumFromChain } from "../attest/result-hash.ts";
import type { Wallet } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";
import { FatalError, RetryableError } from "../errors.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import type { TensorMap } from "../tensors/dtypes.ts";
import { decodeSafetensors, encodeSafetensors } from "../tensors/safetensors.ts";

/** A delivered result does not hash to what its provider committed to. */
export class ResultMismatchError extends FatalError {
  readonly code = "RESULT_MISMATCH";
}

/** The input is too large to travel inline and there is no IPFS node to put it on. */
export class InputTooLargeError extends FatalError {
  readonly code = "INPUT_TOO_LARGE";
}

/** The job did not end before the wait's deadline. */
export class JobTimeoutError extends RetryableError {
  readonly code = "JOB_TIMEOUT";
}

export interface InferenceRequest {
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
  const { market } = conclaveContracts(record, publicClient);
  const policy = await market.read.policy();
  const input = encodeSafetensors(r.inputs);
  const byCid = input.byteLength > policy.maxInlineInputBytes;
  if (byCid && !r.content) throw new InputTooLargeError(`input of ${input.byteLength} bytes is above the market's inline limit of ${policy.maxInlineInputBytes} bytes and no IPFS node was given`);
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
    requiredTags: r.requiredTags ?? 0n,
    input: byCid ? ("0x" as Hex) : toHex(input),
    inputCid,
  };
  return { request, escrow, value: token === zeroAddress ? escrow : 0n };
}

/** The job a requestJob receipt created. */
export function requestedJob(logs: Log[]): { jobId: bigint; job: Job } {
  const [event] = parseEventLogs({ abi: loadArtifact("InferenceMarket").abi, logs, eventName: "JobRequested" });
  if (!event) throw new Error("the transaction created no job");
  const args = event.args as { jobId: bigint; job: Job };
  return { jobId: args.jobId, job: args.job };
}

/** Requests a job: encodes the inputs as safetensors, escrows the fee, returns the pinned job. */
export async function requestInference(publicClient: PublicClient, record: DeploymentRecord, client: Wallet, r: InferenceRequest): Promise<{ jobId: bigint; job: Job }> {
  const { market } = conclaveContracts(record, client);
  const { request, value } = await jobRequestOf(publicClient, record, r);
  const hash = await market.write.requestJob([request], { value });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
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
  status: "settled" | "refunded";
  resultHash: Hex | null;
  deliveries: Delivery[];
}

/** Waits until the job settles or is refunded, reading the market's events. */
export async function waitForJob(publicClient: PublicClient, record: DeploymentRecord, jobId: bigint, opts: { timeoutMs?: number; onProgress?: (status: string) => void } = {}): Promise<JobOutcome> {
  const market = conclaveContracts(record, publicClient).market;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const fromBlock = BigInt(record.contracts.InferenceMarket!.block);
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
    const label = ["none", "open", "revealing", "settled", "refunded"][Number(status)] ?? "unknown";
    const line = `${label} (${seated} seated, ${revealed} revealed)`;
    if (line !== last) opts.onProgress?.(line);
    last = line;
    if (status === 3 || status === 4) {
      const logs = await publicClient.getContractEvents({ address: market.address, abi: market.abi, fromBlock, args: { jobId } as never });
      const deliveries: Delivery[] = [];
      let resultHash: Hex | null = null;
      for (const l of logs as unknown as { eventName: string; args: Record<string, unknown>; transactionHash: Hex }[]) {
        if (l.eventName === "ResultSubmitted" || l.eventName === "ResultRevealed") {
          deliveries.push({ provider: l.args.provider as Address, resultHash: l.args.resultHash as Hex, outputRef: l.args.outputRef as Hex, txHash: l.transactionHash });
          if (l.eventName === "ResultSubmitted") resultHash = l.args.resultHash as Hex;
        }
        if (l.eventName === "JobSettled") resultHash = l.args.resultHash as Hex;
      }
      return { status: status === 3 ? "settled" : "refunded", resultHash, deliveries };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new JobTimeoutError(`job ${jobId} did not end within ${opts.timeoutMs ?? 120_000} ms`);
}

function isTransportError(error: unknown): boolean {
  return error instanceof BaseError && error.walk((e) => e instanceof HttpRequestError || e instanceof WebSocketRequestError || e instanceof TimeoutError) !== null;
}

/** Fetches a delivery's outputs and checks that they hash to the result hash on-chain. */
export async function fetchVerifiedOutputs(delivery: Delivery, outputQuantum: bigint, content?: ContentStore): Promise<TensorMap> {
  const ref = decodeOutputRef(delivery.outputRef);
  const bytes = ref.kind === "inline" ? ref.bytes : await content!.get(ref.cid, { signal: AbortSignal.timeout(30_000) });
  const outputs = decodeSafetensors(bytes).tensors;
  const hash = canonicalResultHash(outputs, quantumFromChain(outputQuantum));
  if (hash !== delivery.resultHash) throw new ResultMismatchError(`outputs from ${delivery.provider} hash to ${hash}, not ${delivery.resultHash}`);
  return outputs;
}
