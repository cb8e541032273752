import { encodeAbiParameters, keccak256, verifyTypedData, type Address, type Hex } from "viem";
import type { Wallet } from "../chain/clients.ts";
import { jobWords } from "./job-words.ts";

/**
 * The immutable parameters of a job as the market commits to them, decoded: the market takes and
 * emits them as six packed words (see job-words.ts).
 */
export interface Job {
  client: Address;
  token: Address;
  modelId: Hex;
  version: number;
  redundancy: number;
  quorum: number;
  protocolFeeBps: number;
  feePerProvider: bigint;
  requestedAt: number;
  deadline: number;
  commitDeadline: number;
  revealWindow: number;
  /** Seconds each rank beyond the first k waits (0: no assignment); see InferenceMarket.assignment. */
  priorityWindow: number;
  minMemoryMB: number;
  collateral: bigint;
  requiredTags: bigint;
  inputHash: Hex;
  /** Draws the job's provider order on the registry's roster (see scheduler.ts `rankOf`). */
  seed: bigint;
  /** k = 1: seconds after a delivery during which it may be challenged (its fee is claimed after). */
  challengeWindow: number;
  /** A rollout's candidate job: the market reports how it ends to the model registry. */
  counted: boolean;
}

/** What a provider signs for a result (DESIGN.md §2), bound to one job, market and chain. */
export interface Attestation {
  jobId: bigint;
  modelId: Hex;
  version: number;
  inputHash: Hex;
  resultHash: Hex;
  outputRef: Hex;
}

export const ATTESTATION_TYPES = {
  Attestation: [
    { name: "jobId", type: "uint256" },
    { name: "modelId", type: "bytes32" },
    { name: "version", type: "uint32" },
    { name: "inputHash", type: "bytes32" },
    { name: "resultHash", type: "bytes32" },
    { name: "outputRef", type: "bytes" },
  ],
} as const;

export function attestationDomain(chainId: number, market: Address) {
  return { name: "ConclaveInferenceMarket", version: "1", chainId, verifyingContract: market } as const;
}

export function attestationFor(jobId: bigint, job: Job, resultHash: Hex, outputRef: Hex): Attestation {
  return { jobId, modelId: job.modelId, version: job.version, inputHash: job.inputHash, resultHash, outputRef };
}

/** Signs an attestation with EIP-712: locally for a key, or through the node for an unlocked account. */
export async function signAttestation(wallet: Wallet, chainId: number, market: Address, attestation: Attestation): Promise<Hex> {
  return wallet.signTypedData({
    account: wallet.account,
    domain: attestationDomain(chainId, market),
    types: ATTESTATION_TYPES,
    primaryType: "Attestation",
    message: attestation,
  });
}

/** Checks that `signature` is `provider`'s attestation, with the standard library only. */
export async function verifyAttestation(
  provider: Address,
  chainId: number,
  market: Address,
  attestation: Attestation,
  signature: Hex,
): Promise<boolean> {
  return verifyTypedData({
    address: provider,
    domain: attestationDomain(chainId, market),
    types: ATTESTATION_TYPES,
    primaryType: "Attestation",
    message: attestation,
    signature,
  });
}

/** The commitment of a k > 1 seat: keccak256(abi.encode(jobId, provider, resultHash, salt)). */
export function commitmentOf(jobId: bigint, provider: Address, resultHash: Hex, salt: Hex): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "uint256" }, { type: "address" }, { type: "bytes32" }, { type: "bytes32" }],
      [jobId, provider, resultHash, salt],
    ),
  );
}

/**
 * keccak256(abi.encode(job words)): the runner's local identity of a job's parameters (the
 * journal's compare-and-set key). Not what the market stores: its job word binds the top 200 bits
 * of keccak256(abi.encode(jobId, job words)), which binds the id too.
 */
export function jobHash(job: Job): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256[6]" }], [jobWords(job)]));
}
