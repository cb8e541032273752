/**
 * The example consumer, SpeechGate, from TypeScript (issue 13): deploy it pointed at the
 * deployment's router, request a frame through it, read its verdict. Its callback is followed with
 * node/client/consumer.ts.
 */
import { getAddress, keccak256, parseEventLogs, toHex, type Address, type Hex, type PublicClient } from "viem";
import { loadArtifact } from "../chain/artifacts.ts";
import type { Wallet } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import type { TensorMap } from "../tensors/dtypes.ts";
import { consumerRouter, mined } from "./consumer.ts";
import { ConsumerCallError } from "./errors.ts";
import { jobRequestOf } from "./jobs.ts";

interface SpeechGateOptions {
  /** The model the gate asks (default silero-vad-v5). */
  model?: string;
  /** The speech threshold in quanta of 10^-4 (default 5,000 = probability 0.5). */
  threshold?: number;
  /** The callback's gas (default 300,000: decoding 2.2 KB of outputs and the verdict's storage). */
  callbackGasLimit?: number;
  /** The gas price cap reimbursed (default 10 gwei). */
  maxGasPrice?: bigint;
  /** ETH sent to the gate after deployment, to pay for requests (default 0). */
  fund?: bigint;
}

export const SPEECH_GATE_DEFAULTS = {
  model: "silero-vad-v5",
  threshold: 5_000,
  callbackGasLimit: 300_000,
  maxGasPrice: 10n * 10n ** 9n,
} as const;

/** Deploys SpeechGate pointed at the deployment's router (and so its market) and the model; the wallet owns it. */
export async function deploySpeechGate(
  publicClient: PublicClient,
  record: DeploymentRecord,
  wallet: Wallet,
  opts: SpeechGateOptions = {},
): Promise<{ address: Address; block: bigint; modelId: Hex }> {
  const { abi, bytecode } = loadArtifact("SpeechGate");
  const o = { ...SPEECH_GATE_DEFAULTS, ...opts };
  const modelId = keccak256(toHex(o.model));
  const hash = await wallet.deployContract({
    abi,
    bytecode,
    args: [
      consumerRouter(record).address,
      modelId,
      wallet.account.address,
      BigInt(o.threshold),
      o.callbackGasLimit,
      o.maxGasPrice,
    ],
  });
  const receipt = await mined(publicClient, hash, "deploying SpeechGate");
  const address = getAddress(receipt.contractAddress!);
  if (opts.fund && opts.fund > 0n)
    await mined(publicClient, await wallet.sendTransaction({ to: address, value: opts.fund }), "funding SpeechGate");
  return { address, block: receipt.blockNumber, modelId };
}

interface FrameRequest {
  inputs: TensorMap;
  redundancy?: number;
  feePerProvider: bigint;
  deadlineInSeconds?: number;
  /** ETH sent to the gate with the request (it pays escrow and deposit from its balance). */
  value?: bigint;
  /** Inputs above the market's inline limit go to IPFS through this store. */
  content?: ContentStore;
}

/**
 * Submits a frame to a SpeechGate: the gate requests the job on the market and deposits the
 * callback's gas with the router, both from its balance (topped up by `value` first). Returns the
 * job id (from the market's JobRequested event).
 */
export async function requestSpeechFrame(
  publicClient: PublicClient,
  record: DeploymentRecord,
  wallet: Wallet,
  gate: Address,
  r: FrameRequest,
): Promise<{ jobId: bigint; block: bigint; txHash: Hex; deposit: bigint; escrow: bigint }> {
  const { abi } = loadArtifact("SpeechGate");
  const modelId = (await publicClient.readContract({ address: gate, abi, functionName: "modelId" })) as Hex;
  const models = conclaveContracts(record, publicClient).models;
  const name = (await models.read.getModel([modelId])).name;
  const { request, escrow } = await jobRequestOf(publicClient, record, {
    model: name,
    inputs: r.inputs,
    redundancy: r.redundancy ?? 1,
    feePerProvider: r.feePerProvider,
    deadlineInSeconds: r.deadlineInSeconds,
    content: r.content,
  });
  const [limit, cap] = await Promise.all([
    publicClient.readContract({ address: gate, abi, functionName: "callbackGasLimit" }),
    publicClient.readContract({ address: gate, abi, functionName: "maxGasPrice" }),
  ]);
  const router = consumerRouter(record);
  const deposit = await publicClient.readContract({
    ...router,
    functionName: "depositFor",
    args: [BigInt(limit), cap],
  });
  if (r.value && r.value > 0n)
    await mined(publicClient, await wallet.sendTransaction({ to: gate, value: r.value }), "funding the consumer");
  const balance = await publicClient.getBalance({ address: gate });
  if (balance < escrow + deposit)
    throw new ConsumerCallError(
      `the consumer ${gate} holds ${balance} wei; the job needs ${escrow} (escrow) + ${deposit} (callback deposit): send ETH with the request`,
    );
  const args = [request.input, request.inputCid, request.redundancy, request.feePerProvider, request.deadline] as const;
  const { request: call } = await publicClient.simulateContract({
    address: gate,
    abi,
    functionName: "submitFrame",
    args,
    account: wallet.account,
  });
  const estimate = await publicClient.estimateContractGas({
    address: gate,
    abi,
    functionName: "submitFrame",
    args,
    account: wallet.account,
  });
  const hash = await wallet.writeContract({ ...call, gas: (estimate * 13n) / 10n } as never);
  const receipt = await mined(publicClient, hash, "submitFrame");
  const [event] = parseEventLogs({
    abi: loadArtifact("InferenceMarket").abi,
    logs: receipt.logs,
    eventName: "JobRequested",
  });
  if (!event) throw new ConsumerCallError("the request created no job");
  return { jobId: event.args.jobId, block: receipt.blockNumber, txHash: hash, deposit, escrow };
}

/** A SpeechGate's verdict on a frame. */
export async function speechVerdict(
  publicClient: PublicClient,
  gate: Address,
  jobId: bigint,
): Promise<{ requested: boolean; delivered: boolean; speech: boolean; probability: bigint }> {
  const [requested, delivered, speech, probability] = (await publicClient.readContract({
    address: gate,
    abi: loadArtifact("SpeechGate").abi,
    functionName: "verdicts",
    args: [jobId],
  })) as readonly [boolean, boolean, boolean, bigint];
  return { requested, delivered, speech, probability: BigInt(probability) };
}
