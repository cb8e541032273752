import { parseEther } from "viem";
import { conclaveContracts } from "../chain/contracts.ts";
import { fetchVerifiedOutputs, requestInference, waitForJob } from "../client/jobs.ts";
import { checkAttestation } from "../client/verify.ts";
import { sampleModel } from "../models/samples.ts";
import { tensorsToJson } from "../tensors/json-tensors.ts";
import { DEV_ROLES } from "./accounts.ts";
import type { Devnet } from "./network.ts";

/**
 * The first paid inference of a fresh local network, as a client would make it: k = 3 on the
 * tiny MLP, paid in ETH, outputs fetched and checked against the canonical hash and every
 * provider's attestation.
 */
export async function firstInference(net: Devnet, say: (line: string) => void) {
  const model = sampleModel("tiny-mlp");
  const client = net.wallet(DEV_ROLES.clients[0]);
  const fee = parseEther("0.001");
  const { jobId, job, block } = await requestInference(net.publicClient, net.record, client, {
    model: model.name,
    inputs: model.exampleInputs(),
    redundancy: 3,
    feePerProvider: fee,
    content: net.publisher,
  });
  say(`  job ${jobId}: ${model.name} with k = 3, ${3 * 0.001} ETH escrowed by ${client.account.address}`);
  const outcome = await waitForJob(net.publicClient, net.record, jobId, {
    fromBlock: block,
    timeoutMs: 120_000,
    onProgress: (l) => say(`  job ${jobId}: ${l}`),
  });
  if (outcome.status === "refunded" || !outcome.resultHash)
    throw new Error(`the first job was ${outcome.status}, not served`);
  const version = await conclaveContracts(net.record, net.publicClient).models.read.getVersion([
    job.modelId,
    job.version,
  ]);
  const agreeing = outcome.deliveries.filter((d) => d.resultHash === outcome.resultHash);
  const outputs = await fetchVerifiedOutputs(agreeing[0]!, version.outputQuantum, net.publisher);
  const checks = await Promise.all(
    outcome.deliveries.map((d) =>
      checkAttestation(net.publicClient, net.record.contracts.InferenceMarket!.address, net.chain.id, jobId, job, d),
    ),
  );
  return { jobId, resultHash: outcome.resultHash, outputs: tensorsToJson(outputs), attestations: checks };
}
