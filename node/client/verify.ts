import { decodeFunctionData, getAddress, type Address, type Hex, type PublicClient } from "viem";
import { attestationFor, verifyAttestation, type Job } from "../attest/attestation.ts";
import { decodeAttestationBatch } from "../attest/batch.ts";
import { loadArtifact } from "../chain/artifacts.ts";
import type { Delivery } from "./jobs.ts";

interface AttestationCheck {
  provider: Address;
  resultHash: Hex;
  /** "eip712": a signed attestation in a batch; "transaction": the provider's own signed transaction. */
  signedBy: "eip712" | "transaction";
  valid: boolean;
  detail: string;
}

/**
 * Checks who vouched for a delivery, from the chain alone. A result posted by the provider's own
 * transaction carries the provider's transaction signature; a result relayed in a batch carries
 * an EIP-712 Attestation signature, which is recovered here against the market's domain.
 */
export async function checkAttestation(
  publicClient: PublicClient,
  market: Address,
  chainId: number,
  jobId: bigint,
  job: Job,
  d: Delivery,
): Promise<AttestationCheck> {
  const tx = await publicClient.getTransaction({ hash: d.txHash });
  const base = { provider: d.provider, resultHash: d.resultHash };
  const { functionName, args } = decodeFunctionData({ abi: loadArtifact("InferenceMarket").abi, data: tx.input });
  if (functionName === "submitAttestations") {
    // The batch is raw bytes that the market frames itself; frame them the same way.
    const { items } = decodeAttestationBatch((args as readonly [Hex])[0]);
    const item = items.find(
      (i) =>
        i.jobId === jobId && i.resultHash === d.resultHash && i.outputRef.toLowerCase() === d.outputRef.toLowerCase(),
    );
    if (!item) return { ...base, signedBy: "eip712", valid: false, detail: "no matching item in the batch" };
    const valid = await verifyAttestation(
      d.provider,
      chainId,
      market,
      attestationFor(jobId, job, d.resultHash, d.outputRef),
      item.signature,
    );
    return {
      ...base,
      signedBy: "eip712",
      valid,
      detail: valid
        ? "EIP-712 signature recovers to the provider"
        : "EIP-712 signature does not recover to the provider",
    };
  }
  const valid = getAddress(tx.from) === getAddress(d.provider);
  return {
    ...base,
    signedBy: "transaction",
    valid,
    detail: valid
      ? `${functionName} sent and signed by the provider`
      : `${functionName} sent by ${tx.from}, not the provider`,
  };
}
