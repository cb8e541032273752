/**
 * The TypeScript path for contract developers (issue 13), on the ConsumerRouter: a job's callback
 * state, follow it, and retry, reclaim and withdraw (the example consumer, SpeechGate, is
 * node/client/speech-gate.ts). Every function takes viem clients and the
 * deployment record, like node/client/jobs.ts.
 */
import {
  decodeFunctionData,
  getAddress,
  hexToString,
  parseEventLogs,
  toFunctionSelector,
  toHex,
  type Address,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from "viem";
import { quantumFromChain, resultHashPreimage } from "../attest/result-hash.ts";
import { loadArtifact } from "../chain/artifacts.ts";
import type { Wallet } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import { contractAddress, type DeploymentRecord } from "../chain/deployment.ts";
import { AdaptiveRange, logsToHead } from "../chain/logs.ts";
import { CALLBACK_STATUS, CallbackStatus, JOB_STATUS } from "../chain/statuses.ts";
import { CallbackTimeoutError, ConsumerCallError } from "./errors.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import { fetchVerifiedOutputs, waitForJob } from "./jobs.ts";
import { jobOfWords } from "../attest/job-words.ts";

const routerArtifact = () => loadArtifact("ConsumerRouter");

/** The deployment's ConsumerRouter: address and ABI. */
export function consumerRouter(record: DeploymentRecord) {
  return { address: contractAddress(record, "ConsumerRouter"), abi: routerArtifact().abi } as const;
}

/** Waits for a transaction's receipt; a revert is a ConsumerCallError naming `what`. */
export async function mined(publicClient: PublicClient, hash: Hex, what: string): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 300_000 });
  if (receipt.status !== "success") throw new ConsumerCallError(`${what} reverted (tx ${hash})`);
  return receipt;
}

export interface CallbackState {
  jobId: bigint;
  status: (typeof CALLBACK_STATUS)[number];
  statusCode: number;
  consumer: Address;
  callbackGasLimit: number;
  maxGasPrice: bigint;
  /** The wei held for the callback (while funded). */
  deposit: bigint;
  /** The result kept for a retry (failed or hash only), else null. */
  retryHash: Hex | null;
  /** The job on the market. */
  jobStatus: string;
}

/** Where a job's callback stands on the router (and the job on the market). */
export async function callbackState(
  publicClient: PublicClient,
  record: DeploymentRecord,
  jobId: bigint,
): Promise<CallbackState> {
  const router = consumerRouter(record);
  const [r, deposit, retryHash, [jobStatus]] = await Promise.all([
    publicClient.readContract({ ...router, functionName: "requestOf", args: [jobId] }),
    publicClient.readContract({ ...router, functionName: "depositOf", args: [jobId] }),
    publicClient.readContract({ ...router, functionName: "retryHashOf", args: [jobId] }),
    conclaveContracts(record, publicClient).market.read.jobState([jobId]),
  ]);
  const code = Number(r.status);
  return {
    jobId,
    status: CALLBACK_STATUS[code] ?? "none",
    statusCode: code,
    consumer: r.consumer,
    callbackGasLimit: Number(r.callbackGasLimit),
    maxGasPrice: BigInt(r.maxGasPrice),
    deposit,
    retryHash: /^0x0+$/.test(retryHash) ? null : retryHash,
    jobStatus: JOB_STATUS[Number(jobStatus)] ?? "unknown",
  };
}

/** One delivery attempt of a callback, from the router's events and the transaction's calldata. */
export interface CallbackAttempt {
  delivered: boolean;
  retry: boolean;
  hashOnly: boolean;
  resultHash: Hex | null;
  /** The callback's gas. */
  gasUsed: bigint;
  /** A failure's revert data (first 256 bytes; empty: out of gas), null when delivered. */
  reason: Hex | null;
  txHash: Hex;
  block: bigint;
  /**
   * Who sent it, and (first fulfil only) what it was reimbursed, for how much gas (what the
   * router measured the fulfil transaction to be charged), and what the consumer was refunded.
   */
  from: Address;
  reimbursed: bigint | null;
  reimbursedGas: bigint | null;
  refund: bigint | null;
  /** The outputs the callback was given (the fulfil's or retry's calldata), null if unreadable. */
  outputs: Hex | null;
}

type RouterLog = { eventName: string; args: Record<string, unknown>; transactionHash: Hex; blockNumber: bigint };

/** Every delivery attempt of a job's callback, oldest first. */
export async function callbackAttempts(
  publicClient: PublicClient,
  record: DeploymentRecord,
  jobId: bigint,
  opts: { fromBlock?: bigint | number; maxLogRange?: number } = {},
): Promise<CallbackAttempt[]> {
  const router = consumerRouter(record);
  const from = Math.max(record.contracts.ConsumerRouter!.block, Number(opts.fromBlock ?? 0));
  const logs = (await logsToHead(
    publicClient,
    from,
    (fromBlock, toBlock) => publicClient.getContractEvents({ ...router, fromBlock, toBlock, args: { jobId } as never }),
    new AdaptiveRange({ maxRange: opts.maxLogRange }),
  )) as unknown as RouterLog[];
  const attempts: CallbackAttempt[] = [];
  for (const l of logs) {
    if (l.eventName !== "CallbackDelivered" && l.eventName !== "CallbackFailed") continue;
    const tx = await publicClient.getTransaction({ hash: l.transactionHash });
    let outputs: Hex | null = null;
    try {
      const call = decodeFunctionData({ abi: router.abi, data: tx.input });
      if (call.functionName === "fulfill") outputs = call.args[4];
      if (call.functionName === "retryCallback") outputs = call.args[1];
    } catch {
      // sent through another contract: the calldata is not the router's
    }
    const paid = logs.find((p) => p.eventName === "CallbackReimbursed" && p.transactionHash === l.transactionHash);
    const delivered = l.eventName === "CallbackDelivered";
    attempts.push({
      delivered,
      retry: delivered ? Boolean(l.args.retry) : outputs !== null && tx.input.startsWith(retrySelector()),
      hashOnly: delivered ? Boolean(l.args.hashOnly) : outputs === "0x",
      resultHash: delivered ? (l.args.resultHash as Hex) : null,
      gasUsed: l.args.gasUsed as bigint,
      reason: delivered ? null : (l.args.reason as Hex),
      txHash: l.transactionHash,
      block: l.blockNumber,
      from: getAddress(tx.from),
      reimbursed: paid ? (paid.args.reimbursed as bigint) : null,
      reimbursedGas: paid ? (paid.args.gas as bigint) : null,
      refund: paid ? (paid.args.refund as bigint) : null,
      outputs,
    });
  }
  return attempts;
}

const retrySelector = (): Hex => toFunctionSelector("retryCallback(uint256,bytes)");

/** A failed callback's revert data read as text where it is a plain `Error(string)`, else the custom error's selector or "out of gas". */
export function describeFailure(reason: Hex | null): string {
  if (reason === null) return "";
  if (reason === "0x") return "no revert data (out of gas, or an empty revert)";
  if (reason.startsWith("0x08c379a0") && reason.length >= 138) {
    try {
      const len = Number(BigInt(`0x${reason.slice(74, 138)}`));
      return `Error(${JSON.stringify(hexToString(`0x${reason.slice(138, 138 + len * 2)}`))})`;
    } catch {
      // fall through
    }
  }
  return `revert data ${reason.slice(0, 10)}${reason.length > 10 ? "…" : ""}`;
}

interface FollowOptions {
  timeoutMs?: number;
  onProgress?: (line: string) => void;
  fromBlock?: bigint | number;
  /** Wait for these router statuses (default: delivered, hash only, failed, reclaimed). */
  until?: readonly number[];
}

/**
 * Waits until a job's callback ran (delivered, hash only or failed) or its deposit was reclaimed,
 * reporting the job's and the callback's progress; returns the callback's state and its attempts.
 */
export async function followCallback(
  publicClient: PublicClient,
  record: DeploymentRecord,
  jobId: bigint,
  opts: FollowOptions = {},
): Promise<{ state: CallbackState; attempts: CallbackAttempt[] }> {
  const until = opts.until ?? [
    CallbackStatus.Delivered,
    CallbackStatus.HashOnly,
    CallbackStatus.Failed,
    CallbackStatus.Reclaimed,
  ];
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  let last = "";
  for (;;) {
    const state = await callbackState(publicClient, record, jobId);
    if (state.statusCode === CallbackStatus.None)
      throw new ConsumerCallError(`job ${jobId} has no callback deposit on the router`);
    const line = `job ${state.jobStatus}, callback ${state.status}`;
    if (line !== last) opts.onProgress?.(line);
    last = line;
    if (until.includes(state.statusCode))
      return { state, attempts: await callbackAttempts(publicClient, record, jobId, { fromBlock: opts.fromBlock }) };
    if (Date.now() > deadline)
      throw new CallbackTimeoutError(
        `job ${jobId}'s callback is still ${state.status} after ${opts.timeoutMs ?? 300_000} ms (job ${state.jobStatus})`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The canonical preimage of a job's final result: from an earlier attempt's calldata when one
 * carried it, else fetched from a delivery's output reference (IPFS through `content`) and checked
 * against the result hash.
 */
async function resultPreimage(
  publicClient: PublicClient,
  record: DeploymentRecord,
  jobId: bigint,
  content?: ContentStore,
): Promise<Hex> {
  const attempts = await callbackAttempts(publicClient, record, jobId);
  const carried = attempts.find((a) => a.outputs !== null && a.outputs !== "0x");
  if (carried) return carried.outputs!;
  const outcome = await waitForJob(publicClient, record, jobId, { timeoutMs: 10_000 });
  if (!outcome.resultHash) throw new ConsumerCallError(`job ${jobId} has no result`);
  const { market, models } = conclaveContracts(record, publicClient);
  const requested = (
    await publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "JobRequested",
      args: { jobId },
      fromBlock: BigInt(record.contracts.InferenceMarket!.block),
    })
  )[0];
  if (!requested) throw new ConsumerCallError(`job ${jobId} was not requested on this market`);
  const job = jobOfWords(requested.args.job!);
  const quantum = (await models.read.getVersion([job.modelId, job.version])).outputQuantum;
  for (const d of outcome.deliveries.filter((x) => x.resultHash === outcome.resultHash)) {
    try {
      const outputs = await fetchVerifiedOutputs(d, quantum, content);
      return toHex(resultHashPreimage(outputs, quantumFromChain(quantum)));
    } catch {
      // the next delivery
    }
  }
  throw new ConsumerCallError(`job ${jobId}: no delivery's outputs could be fetched and verified`);
}

/**
 * Retries a failed callback (or delivers a hash-only one's outputs), paid by the wallet: with the
 * outputs given, or those of the earlier attempt, or fetched (`content`). The gas is the estimate
 * with a margin and at least what the router needs to give the callback its limit; `gas` overrides.
 */
export async function retryConsumerCallback(
  publicClient: PublicClient,
  record: DeploymentRecord,
  wallet: Wallet,
  jobId: bigint,
  opts: { outputs?: Hex; gas?: bigint; content?: ContentStore } = {},
): Promise<{ receipt: TransactionReceipt; attempt: CallbackAttempt }> {
  const router = consumerRouter(record);
  const state = await callbackState(publicClient, record, jobId);
  if (state.statusCode !== CallbackStatus.Failed && state.statusCode !== CallbackStatus.HashOnly)
    throw new ConsumerCallError(
      `job ${jobId}'s callback is ${state.status}: only a failed or hash-only callback can be retried`,
    );
  const outputs =
    opts.outputs ??
    (await resultPreimage(publicClient, record, jobId, opts.content).catch((error: unknown) => {
      if (state.statusCode === CallbackStatus.HashOnly) throw error;
      return "0x" as Hex;
    }));
  const required = await publicClient.readContract({
    ...router,
    functionName: "requiredGas",
    args: [BigInt(state.callbackGasLimit)],
  });
  let gas = opts.gas;
  if (gas === undefined) {
    const estimate = await publicClient.estimateContractGas({
      ...router,
      functionName: "retryCallback",
      args: [jobId, outputs],
      account: wallet.account,
    });
    const floor = required + 150_000n;
    gas = (estimate * 13n) / 10n > floor ? (estimate * 13n) / 10n : floor;
  }
  const hash = await wallet.writeContract({
    ...router,
    functionName: "retryCallback",
    args: [jobId, outputs],
    gas,
    account: wallet.account,
    chain: wallet.chain,
  });
  const receipt = await mined(publicClient, hash, "retryCallback");
  const attempt = (await callbackAttempts(publicClient, record, jobId, { fromBlock: receipt.blockNumber })).find(
    (a) => a.txHash === hash,
  );
  if (!attempt) throw new ConsumerCallError(`retryCallback ${hash} emitted no callback event`);
  return { receipt, attempt };
}

/**
 * Credits a job's deposit back to its consumer after the job ended without a result. Runners do it
 * on their own soon after the refund (`consumers.reclaim`): a deposit already reclaimed, or one
 * whose callback ran, is refused here with what happened to it.
 */
export async function reclaimCallbackDeposit(
  publicClient: PublicClient,
  record: DeploymentRecord,
  wallet: Wallet,
  jobId: bigint,
): Promise<{ amount: bigint; consumer: Address; receipt: TransactionReceipt }> {
  const router = consumerRouter(record);
  const state = await callbackState(publicClient, record, jobId);
  if (state.statusCode === CallbackStatus.Reclaimed)
    throw new ConsumerCallError(`job ${jobId}'s deposit was already reclaimed for ${state.consumer}`);
  if (state.statusCode !== CallbackStatus.Funded)
    throw new ConsumerCallError(
      `job ${jobId}'s callback is ${state.status}: only the deposit of a funded callback can be reclaimed`,
    );
  const hash = await wallet.writeContract({
    ...router,
    functionName: "reclaim",
    args: [jobId],
    account: wallet.account,
    chain: wallet.chain,
  });
  const receipt = await mined(publicClient, hash, "reclaim");
  const [e] = parseEventLogs({ abi: router.abi, logs: receipt.logs, eventName: "DepositReclaimed" });
  return { amount: e!.args.amount, consumer: e!.args.consumer, receipt };
}

/** Withdraws the wallet's router credits (a fulfiller's reimbursements) to `to` (default: itself). */
export async function withdrawRouterCredits(
  publicClient: PublicClient,
  record: DeploymentRecord,
  wallet: Wallet,
  to?: Address,
): Promise<{ amount: bigint; receipt: TransactionReceipt }> {
  const router = consumerRouter(record);
  const balance = await publicClient.readContract({
    ...router,
    functionName: "balanceOf",
    args: [wallet.account.address],
  });
  if (balance === 0n) throw new ConsumerCallError(`${wallet.account.address} has no router credits to withdraw`);
  const hash = to
    ? await wallet.writeContract({
        ...router,
        functionName: "withdrawTo",
        args: [to],
        account: wallet.account,
        chain: wallet.chain,
      })
    : await wallet.writeContract({ ...router, functionName: "withdraw", account: wallet.account, chain: wallet.chain });
  const receipt = await mined(publicClient, hash, "withdraw");
  return { amount: balance, receipt };
}
