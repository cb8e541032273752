import { encodeAbiParameters, keccak256, verifyTypedData, type Address, type Hex } from "viem";
import type { Wallet } from "../chain/clients.ts";

/** The immutable parameters of a job as the market commits to them (IInferenceMarket.Job). */
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
  minMemoryMB: number;
  collateral: bigint;
  requiredTags: bigint;
  inputHash: Hex;
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
