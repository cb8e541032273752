import { readFileSync } from "node:fs";
import type { InferenceSession } from "onnxruntime-node";
import { publishModel } from "../../dao/publish.ts";
import { parseSchema, type ModelSchema } from "../../inference/schema.ts";
import { SAMPLE_RUNTIME } from "../../models/samples.ts";
import { getAddress, keccak256, toHex, zeroAddress } from "viem";
import { conclaveContracts } from "../../chain/contracts.ts";
import { address, amount, integer, RequestError, required, resolveModelName, str, type Command } from "../command.ts";
import { sendTx } from "../tx.ts";
import { oneLine } from "../../errors.ts";

function readFile(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new RequestError(`cannot read ${what} ${file}`);
  }
}

/** Loads the model once with onnxruntime: the file must be ONNX and its tensors the schema's. */
async function checkAgainstSchema(file: string, weights: Uint8Array, schema: ModelSchema): Promise<void> {
  // Loaded here, not with the module: every conclave command (the runner's `node run` too) would
  // otherwise load the native addon at start.
  const { ort } = await import("../../inference/ort.ts");
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(weights);
  } catch (error) {
    throw new RequestError(`${file} is not a model onnxruntime can load: ${oneLine(error)}`);
  }
  try {
    const same = (a: readonly string[], b: string[]) => a.length === b.length && a.every((n) => b.includes(n));
    if (
      !same(
        session.inputNames,
        schema.inputs.map((i) => i.name),
      )
    )
      throw new RequestError(
        `the model's inputs are [${session.inputNames.join(", ")}], the schema's [${schema.inputs.map((i) => i.name).join(", ")}]`,
      );
    if (
      !same(
        session.outputNames,
        schema.outputs.map((o) => o.name),
      )
    )
      throw new RequestError(
        `the model's outputs are [${session.outputNames.join(", ")}], the schema's [${schema.outputs.map((o) => o.name).join(", ")}]`,
      );
  } finally {
    await session.release();
  }
}

export const modelCommands: Record<string, Command> = {
  "model publish": {
    summary: "add an ONNX model to IPFS and publish it as a new version (the DAO then activates it)",
    usage: `<file.onnx> --name <name> --schema <schema.json> [--runtime <id>] [--output-quantum <q>] [--min-memory <MB>] [--min-fee <amount>]

Checks that onnxruntime loads the file and that its inputs and outputs are the schema's, adds the
weights and schema to IPFS (the local network's node, or Kubo with --kubo-url), and publishes a
version in the ModelRegistry with their CIDs and the weights' sha256. The version takes jobs once
a DAO vote activates it: conclave dao propose activate <name> <version>.
--output-quantum is the rounding step of float outputs in the canonical result hash (default 0.0001).
--min-fee is the smallest fee per provider a job may offer, in ETH (default 0); a job paid in an
ERC-20 offers at least its value at the rate the DAO set for that token.`,
    options: {
      name: { type: "string" },
      schema: { type: "string" },
      runtime: { type: "string" },
      "output-quantum": { type: "string" },
      "min-memory": { type: "string" },
      "min-fee": { type: "string" },
    },
    args: [1, 1],
    async run(ctx) {
      const file = ctx.positionals[0]!;
      const name = required(ctx, "name");
      if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name))
        throw new RequestError(
          `--name must be 1-64 lower-case letters, digits, ".", "_" or "-", got ${JSON.stringify(name)}`,
        );
      const schemaFile = required(ctx, "schema");
      let schema: ModelSchema;
      try {
        schema = parseSchema(readFile("schema", schemaFile));
      } catch (error) {
        if (error instanceof RequestError) throw error;
        throw new RequestError(`schema ${schemaFile}: ${oneLine(error)}`);
      }
      const weights = new Uint8Array(readFile("model", file));
      await checkAgainstSchema(file, weights, schema);
      const quantum = amount("--output-quantum", str(ctx, "output-quantum") ?? "0.0001", 18);
      if (quantum === 0n) throw new RequestError("--output-quantum must be positive");
      const s = await ctx.session();
      const existing = await conclaveContracts(s.record, s.publicClient).models.read.getModel([keccak256(toHex(name))]);
      const me = (await s.signer()).account.address;
      if (existing.versionCount > 0 && existing.owner !== me) {
        throw new RequestError(
          `model ${name} belongs to ${existing.owner}: only its owner publishes versions under it (pick another name, or ask for it: conclave model transfer)`,
        );
      }
      s.out.progress(`adding ${weights.byteLength} bytes to IPFS`);
      const published = await publishModel({
        publicClient: s.publicClient,
        record: s.record,
        publisher: await s.signer(),
        content: await s.content(),
        model: {
          name,
          weights,
          schema,
          runtime: str(ctx, "runtime") ?? SAMPLE_RUNTIME,
          outputQuantum: quantum,
          minMemoryMB: integer("--min-memory", str(ctx, "min-memory") ?? "512", 0, 2 ** 32 - 1),
          minFee: amount("--min-fee", str(ctx, "min-fee") ?? "0", 18),
        },
      });
      ctx.out.result(
        { name, ...published },
        () =>
          `published ${name} v${published.version}\n  weights ${published.weightsCid} (sha256 ${published.weightsSha256})\n  schema  ${published.schemaCid}\n  next: conclave dao propose activate ${name} ${published.version}`,
      );
    },
  },
  "model transfer": {
    summary: "offer a model name you own to another address (it takes over with `model accept`)",
    usage: `<name> <address>

Only the owner of a model name (its first publisher, or whoever it was handed to) may publish new
versions under it. This offers the name to <address>; nothing changes until that address runs
conclave model accept <name>. Offering it to 0x0000000000000000000000000000000000000000 withdraws
an offer.`,
    args: [2, 2],
    async run(ctx) {
      const s = await ctx.session();
      const { models } = conclaveContracts(s.record, s.publicClient);
      const model = await resolveModelName(s, ctx.positionals[0]!);
      const to = getAddress(address("address", ctx.positionals[1]!));
      const me = (await s.signer()).account.address;
      if (model.owner !== me)
        throw new RequestError(`${me} does not own model ${model.name} (its owner is ${model.owner})`);
      if (to === me) throw new RequestError(`${me} already owns model ${model.name}`);
      const receipt = await sendTx(s, `offering ${model.name} to ${to}`, {
        address: models.address,
        abi: models.abi,
        functionName: "transferModel",
        args: [model.modelId, to],
      });
      ctx.out.result(
        { name: model.name, modelId: model.modelId, owner: me, pendingOwner: to, tx: receipt.transactionHash },
        () =>
          to === zeroAddress
            ? `withdrew the offer of ${model.name}`
            : `offered ${model.name} to ${to}\n  next, from that address: conclave model accept ${model.name}`,
      );
    },
  },
  "model accept": {
    summary: "take over a model name its owner offered to you",
    usage: `<name>

Completes \`conclave model transfer\`: the signing address becomes the owner of the model name and
the only one that may publish new versions under it.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const { models } = conclaveContracts(s.record, s.publicClient);
      const model = await resolveModelName(s, ctx.positionals[0]!);
      const me = (await s.signer()).account.address;
      const pending = await models.read.pendingModelOwner([model.modelId]);
      if (pending !== me)
        throw new RequestError(
          pending === zeroAddress
            ? `model ${model.name} is not offered to anyone`
            : `model ${model.name} is offered to ${pending}, not to ${me}`,
        );
      const receipt = await sendTx(s, `accepting ${model.name}`, {
        address: models.address,
        abi: models.abi,
        functionName: "acceptModel",
        args: [model.modelId],
      });
      ctx.out.result(
        {
          name: model.name,
          modelId: model.modelId,
          owner: me,
          previousOwner: model.owner,
          tx: receipt.transactionHash,
        },
        () => `${me} now owns model ${model.name}`,
      );
    },
  },
};
