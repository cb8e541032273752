import { erc20Abi, getAddress, zeroAddress } from "viem";
import { conclaveContracts } from "../../chain/contracts.ts";
import {
  fetchVerifiedOutputs,
  jobRequestOf,
  requestedJob,
  requestGasLimit,
  waitForJob,
  type Delivery,
} from "../../client/jobs.ts";
import { JobTimeoutError } from "../../client/errors.ts";
import { checkAttestation } from "../../client/verify.ts";
import { oneLine } from "../../errors.ts";
import { parseSchema, validateTensors, type ModelSchema } from "../../inference/schema.ts";
import type { TensorMap } from "../../tensors/dtypes.ts";
import { tensorsToJson } from "../../tensors/json-tensors.ts";
import {
  amount,
  formatToken,
  integer,
  RequestError,
  required,
  resolveModel,
  str,
  tokenInfo,
  type Command,
} from "../command.ts";
import type { Session } from "../session.ts";
import { readTensorFile, writeTensorFile } from "../tensor-files.ts";
import { formatTags, parseTags, TAG_USAGE } from "../tags.ts";
import { sendTx } from "../tx.ts";
import { VersionStatus } from "../../chain/statuses.ts";

async function fetchSchema(s: Session, cid: string): Promise<ModelSchema | null> {
  s.out.progress(`fetching the model's schema ${cid}`);
  try {
    const content = await s.content();
    return parseSchema(await content.get(cid, { signal: AbortSignal.timeout(20_000), maxBytes: 1024 * 1024 }));
  } catch (error) {
    s.out.note(`warning: cannot fetch the schema (${oneLine(error)}); the input is checked by the providers only`);
    return null;
  }
}

/** Ask the local network's runners why they did not serve a job (they say so on /jobs/<id>). */
async function runnerReasons(s: Session, jobId: bigint): Promise<string[]> {
  const reasons: string[] = [];
  for (const r of s.record.runners ?? []) {
    try {
      const res = await fetch(`${r.http}/jobs/${jobId}`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { state?: string; reason?: string | null };
      if (body.reason) reasons.push(`${r.address.slice(0, 10)}…: ${body.state}: ${body.reason}`);
    } catch {
      // a runner that is gone has nothing to say
    }
  }
  return reasons;
}

export const inferCommands: Record<string, Command> = {
  infer: {
    summary: "pay for an inference, wait for it, verify and write the outputs",
    usage: `<model> --input <file> [--version <n>] [--redundancy <k>] [--max-fee <amount>] [--token <ETH|address>]
       [--deadline <seconds>] [--require <tags>] [--output <file>] [--timeout <seconds>]

Escrows k × fee plus the protocol fee, waits for the providers, fetches the outputs, checks that
they hash to the agreed canonical result hash and that every provider's attestation is signed by
that provider, then writes them. <file> is .safetensors or JSON ({"x": {"dtype": "F32", "data":
[[...]]}}); the output is written as safetensors when <file> ends in .safetensors, else JSON.
--max-fee is the fee per provider in whole tokens (default: the model version's minimum fee,
which is set in ETH and converted into an ERC-20 at the rate the DAO set for it).
--require: only providers the DAO granted these tags serve the job (${TAG_USAGE}).
If no result comes, the escrow is refunded to your market balance (conclave withdraw).`,
    options: {
      input: { type: "string" },
      version: { type: "string" },
      redundancy: { type: "string" },
      "max-fee": { type: "string" },
      token: { type: "string" },
      deadline: { type: "string" },
      output: { type: "string" },
      timeout: { type: "string" },
      require: { type: "string" },
    },
    args: [1, 1],
    async run(ctx) {
      const inputFile = required(ctx, "input");
      const inputs: TensorMap = readTensorFile(inputFile);
      const s = await ctx.session();
      const { market } = conclaveContracts(s.record, s.publicClient);
      const policy = await market.read.policy();
      const redundancy = integer("--redundancy", str(ctx, "redundancy") ?? "1", 1, policy.maxRedundancy);
      const model = await resolveModel(s, ctx.positionals[0]!, integer("--version", str(ctx, "version") ?? "0"));
      if (model.info.status !== VersionStatus.Active && model.info.status !== VersionStatus.Deprecated)
        throw new RequestError(
          `model ${model.name} v${model.version} does not take jobs (it is ${["none", "published, not yet activated", "", "", "retired"][model.info.status]})`,
        );
      const token = await tokenInfo(s, str(ctx, "token"));
      // The version's minimum is in wei; the market converts it into an ERC-20 at the DAO's rate.
      if (token.address !== zeroAddress && !(await market.read.isTokenAllowed([token.address])))
        throw new RequestError(`${token.symbol} (${token.address}) is not a payment token of this market`);
      const minFee = await market.read.minFeeIn([token.address, model.info.minFee]);
      const fee =
        str(ctx, "max-fee") === undefined ? minFee : amount("--max-fee", str(ctx, "max-fee")!, token.decimals);
      if (fee < minFee)
        throw new RequestError(
          `--max-fee ${formatToken(fee, token)} is below the model's minimum fee of ${formatToken(minFee, token)}`,
        );
      const deadlineS = integer("--deadline", str(ctx, "deadline") ?? "600", 10, Number(policy.maxJobDuration));

      const schema = await fetchSchema(s, model.info.schemaCid);
      if (schema) validateTensors(schema.inputs, inputs, "input");

      const wallet = await s.signer();
      const me = wallet.account.address;
      const { request, escrow, value } = await jobRequestOf(s.publicClient, s.record, {
        model: model.name,
        version: model.version,
        inputs,
        redundancy,
        feePerProvider: fee,
        token: token.address,
        deadlineInSeconds: deadlineS,
        requiredTags: str(ctx, "require") === undefined ? 0n : parseTags("--require", str(ctx, "require")!),
        content: await s.content(),
      });
      if (token.address === zeroAddress) {
        const balance = await s.publicClient.getBalance({ address: me });
        if (balance < escrow)
          throw new RequestError(
            `not enough funds: the job escrows ${formatToken(escrow, token)}, ${me} holds ${formatToken(balance, token)}`,
          );
      } else {
        const erc20 = { address: token.address, abi: erc20Abi } as const;
        const balance = await s.publicClient.readContract({ ...erc20, functionName: "balanceOf", args: [me] });
        if (balance < escrow)
          throw new RequestError(
            `not enough funds: the job escrows ${formatToken(escrow, token)}, ${me} holds ${formatToken(balance, token)}`,
          );
        const allowance = await s.publicClient.readContract({
          ...erc20,
          functionName: "allowance",
          args: [me, market.address],
        });
        if (allowance < escrow)
          await sendTx(s, `approving ${formatToken(escrow, token)} for the market`, {
            ...erc20,
            functionName: "approve",
            args: [market.address, escrow],
          });
      }
      const receipt = await sendTx(
        s,
        `requesting ${model.name} v${model.version} (k=${redundancy}, escrow ${formatToken(escrow, token)})`,
        {
          address: market.address,
          abi: market.abi,
          functionName: "requestJob",
          args: [request],
          value,
          gasLimit: requestGasLimit,
        },
      );
      const { jobId, job } = requestedJob(receipt.logs);
      ctx.out.note(`job ${jobId} requested in block ${receipt.blockNumber}`);

      const timeoutS =
        str(ctx, "timeout") === undefined ? deadlineS + 120 : integer("--timeout", str(ctx, "timeout")!, 1);
      const outcome = await waitForJob(s.publicClient, s.record, jobId, {
        fromBlock: receipt.blockNumber,
        timeoutMs: timeoutS * 1000,
        onProgress: (line) => s.out.progress(`job ${jobId}: ${line}`),
      }).catch((error: unknown) => {
        if (!(error instanceof JobTimeoutError)) throw error;
        throw new RequestError(
          `job ${jobId} has not ended after ${timeoutS} s; it ends by its deadline (${new Date(job.deadline * 1000).toISOString()}): follow it with conclave job status ${jobId}; if nobody serves it, conclave job finalize ${jobId} refunds the escrow to your market balance`,
        );
      });
      if (outcome.status === "refunded") {
        const reasons = await runnerReasons(s, jobId);
        throw new RequestError(
          `job ${jobId} ended without a result and was refunded to your market balance (conclave withdraw)${reasons.length ? `; runners said: ${reasons.join("; ")}` : ""}`,
        );
      }
      const agreeing = outcome.deliveries.filter((d) => d.resultHash === outcome.resultHash);
      let outputs: TensorMap | null = null;
      let from: Delivery | null = null;
      for (const d of agreeing) {
        s.out.progress(`fetching the outputs from ${d.provider}`);
        try {
          outputs = await fetchVerifiedOutputs(d, model.info.outputQuantum, await s.content());
          from = d;
          break;
        } catch (error) {
          s.out.note(`outputs of ${d.provider} unusable: ${oneLine(error)}`);
        }
      }
      if (!outputs || !from)
        throw new RequestError(
          `job ${jobId} settled on ${outcome.resultHash} but no provider's outputs could be fetched and verified`,
        );
      if (schema) validateTensors(schema.outputs, outputs, "output");
      s.out.progress("checking attestations");
      const attestations = await Promise.all(
        outcome.deliveries.map((d) => checkAttestation(s.publicClient, market.address, s.chain.id, jobId, job, d)),
      );
      const bad = attestations.filter((a) => a.resultHash === outcome.resultHash && !a.valid);
      if (bad.length > 0)
        throw new RequestError(
          `job ${jobId}: attestation of ${bad.map((a) => a.provider).join(", ")} does not verify: ${bad[0]!.detail}`,
        );
      const outFile = str(ctx, "output");
      if (outFile) writeTensorFile(outFile, outputs);
      const result = {
        jobId: jobId.toString(),
        model: model.name,
        version: model.version,
        redundancy,
        requiredTags: formatTags(request.requiredTags),
        status: outcome.status,
        resultHash: outcome.resultHash,
        escrow: escrow.toString(),
        token: token.address === zeroAddress ? "ETH" : getAddress(token.address),
        outputsFrom: from.provider,
        verified: { canonicalHash: true, attestations: attestations.filter((a) => a.valid).length },
        attestations,
        outputFile: outFile ?? null,
        outputs: tensorsToJson(outputs),
      };
      ctx.out.result(result, () =>
        [
          `job ${jobId} settled: result ${outcome.resultHash}`,
          `verified: outputs hash to the canonical result; ${attestations.map((a) => `${a.provider.slice(0, 10)}… ${a.valid ? "✓" : "✗"} (${a.signedBy}${a.resultHash === outcome.resultHash ? "" : ", disagreed"})`).join(", ")}`,
          ...Object.entries(result.outputs).map(
            ([name, t]) => `${name} ${t.dtype}[${t.shape.join(",")}] = ${JSON.stringify(t.data).slice(0, 200)}`,
          ),
          ...(outFile ? [`outputs written to ${outFile}`] : []),
        ].join("\n"),
      );
    },
  },
};
