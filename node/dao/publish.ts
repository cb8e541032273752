import { createHash } from "node:crypto";
import { parseEventLogs, stringToHex, type Hex, type PublicClient } from "viem";
import type { Wallet } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";
import type { ModelSchema } from "../inference/schema.ts";
import type { ContentStore } from "../ipfs/content-store.ts";

interface PublishRequest {
  name: string;
  weights: Uint8Array;
  schema: ModelSchema;
  runtime: string;
  outputQuantum: bigint;
  minMemoryMB: number;
  minFee: bigint;
}

export interface Published {
  modelId: Hex;
  version: number;
  weightsCid: string;
  weightsSha256: Hex;
  schemaCid: string;
}

/**
 * Adds a model's weights and schema to IPFS and publishes a version in the ModelRegistry. The
 * version takes jobs only once the DAO activates it.
 */
export async function publishModel(opts: {
  publicClient: PublicClient;
  record: DeploymentRecord;
  publisher: Wallet;
  content: ContentStore;
  model: PublishRequest;
}): Promise<Published> {
  const { model } = opts;
  const weightsCid = await opts.content.add(model.weights);
  const schemaCid = await opts.content.add(new TextEncoder().encode(JSON.stringify(model.schema)));
  const weightsSha256 = `0x${createHash("sha256").update(model.weights).digest("hex")}` as Hex;
  const { models } = conclaveContracts(opts.record, opts.publisher);
  const hash = await models.write.publishVersion([
    model.name,
    {
      weightsCid,
      weightsSha256,
      schemaCid,
      runtime: stringToHex(model.runtime, { size: 32 }),
      outputQuantum: model.outputQuantum,
      minMemoryMB: model.minMemoryMB,
      minFee: model.minFee,
    },
  ]);
  const receipt = await opts.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new Error(`publishVersion reverted (tx ${hash})`);
  const [event] = parseEventLogs({ abi: models.abi, logs: receipt.logs, eventName: "VersionPublished" });
  const args = event!.args as { modelId: Hex; version: number };
  return { modelId: args.modelId, version: Number(args.version), weightsCid, weightsSha256, schemaCid };
}
