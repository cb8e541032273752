import { formatEther, formatGwei, getAddress, parseGwei, type Address, type Hex } from "viem";
import {
  callbackAttempts,
  callbackState,
  consumerRouter,
  describeFailure,
  followCallback,
  reclaimCallbackDeposit,
  retryConsumerCallback,
  withdrawRouterCredits,
  type CallbackAttempt,
  type CallbackState,
} from "../../client/consumer.ts";
import { CallbackTimeoutError } from "../../client/errors.ts";
import { deploySpeechGate, requestSpeechFrame, SPEECH_GATE_DEFAULTS, speechVerdict } from "../../client/speech-gate.ts";
import { loadArtifact } from "../../chain/artifacts.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import { sendTx } from "../tx.ts";
import { address, amount, integer, RequestError, required, str, type Command } from "../command.ts";
import type { Session } from "../session.ts";
import { readTensorFile } from "../tensor-files.ts";

function jobIdArg(v: string): bigint {
  if (!/^\d+$/.test(v)) throw new RequestError(`<jobId> must be a job number, got ${JSON.stringify(v)}`);
  return BigInt(v);
}

function gasPriceArg(v: string): bigint {
  if (!/^\d+(\.\d+)?$/.test(v))
    throw new RequestError(`--max-gas-price must be in gwei like 10 or 2.5, got ${JSON.stringify(v)}`);
  return parseGwei(v);
}

/** Is `at` a SpeechGate (or any contract answering its `verdicts`)? */
async function isSpeechGate(s: Session, at: Address): Promise<boolean> {
  try {
    await s.publicClient.readContract({ address: at, abi: loadArtifact("SpeechGate").abi, functionName: "threshold" });
    return true;
  } catch {
    return false;
  }
}

const stateJson = (st: CallbackState) => ({
  jobId: st.jobId.toString(),
  status: st.status,
  job: st.jobStatus,
  consumer: st.consumer,
  callbackGasLimit: st.callbackGasLimit,
  maxGasPrice: st.maxGasPrice.toString(),
  deposit: st.deposit.toString(),
  retryHash: st.retryHash,
});

const attemptJson = (a: CallbackAttempt) => ({
  delivered: a.delivered,
  retry: a.retry,
  hashOnly: a.hashOnly,
  resultHash: a.resultHash,
  gasUsed: a.gasUsed.toString(),
  reason: a.reason,
  failure: a.delivered ? null : describeFailure(a.reason),
  tx: a.txHash,
  block: a.block.toString(),
  from: a.from,
  reimbursed: a.reimbursed?.toString() ?? null,
  reimbursedGas: a.reimbursedGas?.toString() ?? null,
  refund: a.refund?.toString() ?? null,
  outputs: a.outputs,
});

function attemptLine(a: CallbackAttempt): string {
  const what = a.delivered
    ? `delivered${a.hashOnly ? " (hash only)" : ` with ${(a.outputs?.length ?? 2) / 2 - 1} bytes of outputs`}`
    : `failed: ${describeFailure(a.reason)}`;
  const paid =
    a.reimbursed === null
      ? ""
      : `; fulfiller reimbursed ${formatEther(a.reimbursed)} ETH for ${a.reimbursedGas ?? "?"} gas, consumer refunded ${formatEther(a.refund ?? 0n)} ETH`;
  return `${a.retry ? "retry" : "fulfil"} by ${a.from} in block ${a.block}: ${what} (callback gas ${a.gasUsed})${paid}`;
}

export const consumerCommands: Record<string, Command> = {
  "consumer deploy-example": {
    summary: "deploy the example consumer contract SpeechGate on this network's router and market",
    usage: `[--threshold <quanta>] [--callback-gas <n>] [--max-gas-price <gwei>] [--fund <ETH>] [--model <name>]

Deploys contracts/examples/SpeechGate.sol pointed at the network's ConsumerRouter (and so its
market) and the model (default ${SPEECH_GATE_DEFAULTS.model}); the signer owns it. --threshold: the speech
probability in quanta of 0.0001 (default ${SPEECH_GATE_DEFAULTS.threshold}); --callback-gas: the gas its callback gets
(default ${SPEECH_GATE_DEFAULTS.callbackGasLimit}); --max-gas-price: the highest gas price a fulfiller is reimbursed at (default
${formatGwei(SPEECH_GATE_DEFAULTS.maxGasPrice)} gwei); --fund: ETH sent to it to pay for requests. Prints its address.`,
    options: {
      threshold: { type: "string" },
      "callback-gas": { type: "string" },
      "max-gas-price": { type: "string" },
      fund: { type: "string" },
      model: { type: "string" },
    },
    async run(ctx) {
      const s = await ctx.session();
      consumerRouter(s.record);
      const model = str(ctx, "model") ?? SPEECH_GATE_DEFAULTS.model;
      const threshold = integer(
        "--threshold",
        str(ctx, "threshold") ?? String(SPEECH_GATE_DEFAULTS.threshold),
        0,
        10_000,
      );
      const callbackGasLimit = integer(
        "--callback-gas",
        str(ctx, "callback-gas") ?? String(SPEECH_GATE_DEFAULTS.callbackGasLimit),
        1,
        5_000_000,
      );
      const maxGasPrice =
        str(ctx, "max-gas-price") === undefined
          ? SPEECH_GATE_DEFAULTS.maxGasPrice
          : gasPriceArg(str(ctx, "max-gas-price")!);
      const fund = str(ctx, "fund") === undefined ? 0n : amount("--fund", str(ctx, "fund")!, 18);
      const wallet = await s.signer();
      s.out.progress("deploying SpeechGate");
      const gate = await deploySpeechGate(s.publicClient, s.record, wallet, {
        model,
        threshold,
        callbackGasLimit,
        maxGasPrice,
        fund,
      });
      ctx.out.result(
        {
          address: gate.address,
          block: gate.block.toString(),
          model,
          modelId: gate.modelId,
          owner: wallet.account.address,
          router: consumerRouter(s.record).address,
          threshold,
          callbackGasLimit,
          maxGasPrice: maxGasPrice.toString(),
          funded: fund.toString(),
        },
        () =>
          `SpeechGate deployed at ${gate.address} (block ${gate.block}), owner ${wallet.account.address}; request with: conclave consumer request ${gate.address} --input <frame>`,
      );
    },
  },
  "consumer request": {
    summary: "request a job through a consumer contract (SpeechGate.submitFrame) and print its job id",
    usage: `<consumer> --input <file> [--redundancy <k>] [--max-fee <ETH>] [--value <ETH>] [--deadline <seconds>]
       [--callback-gas <n> --max-gas-price <gwei>]

Calls the consumer's request function: SpeechGate's submitFrame, which requests the job on the
market and deposits the callback's gas with the router, both paid from the contract's balance.
--value sends ETH to the contract first; --callback-gas and --max-gas-price change its gas terms
first (setSettings, owner only). <file> is .safetensors or JSON tensors (the model's input).
--max-fee: the fee per provider in ETH (default: the model version's minimum). Prints the job id;
follow it with conclave consumer follow <jobId>.`,
    options: {
      input: { type: "string" },
      redundancy: { type: "string" },
      "max-fee": { type: "string" },
      value: { type: "string" },
      deadline: { type: "string" },
      "callback-gas": { type: "string" },
      "max-gas-price": { type: "string" },
    },
    args: [1, 1],
    async run(ctx) {
      const inputs = readTensorFile(required(ctx, "input"));
      const gate = getAddress(address("consumer", ctx.positionals[0]!));
      const s = await ctx.session();
      if (!(await isSpeechGate(s, gate)))
        throw new RequestError(
          `${gate} is not a SpeechGate: call your consumer's own request function (this command knows SpeechGate's submitFrame)`,
        );
      const wallet = await s.signer();
      const abi = loadArtifact("SpeechGate").abi;
      if (str(ctx, "callback-gas") !== undefined || str(ctx, "max-gas-price") !== undefined) {
        const [threshold, limit, cap] = await Promise.all(
          ["threshold", "callbackGasLimit", "maxGasPrice"].map((f) =>
            s.publicClient.readContract({ address: gate, abi, functionName: f as "threshold" }),
          ),
        );
        const newLimit =
          str(ctx, "callback-gas") === undefined
            ? Number(limit)
            : integer("--callback-gas", str(ctx, "callback-gas")!, 1, 5_000_000);
        const newCap = str(ctx, "max-gas-price") === undefined ? BigInt(cap!) : gasPriceArg(str(ctx, "max-gas-price")!);
        await sendTx(s, "setting the callback's gas terms", {
          address: gate,
          abi,
          functionName: "setSettings",
          args: [BigInt(threshold!), newLimit, newCap],
        });
      }
      const modelId = (await s.publicClient.readContract({ address: gate, abi, functionName: "modelId" })) as Hex;
      const { models, market } = conclaveContracts(s.record, s.publicClient);
      const model = await models.read.getModel([modelId]);
      const version = await models.read.getVersion([modelId, model.activeVersion]);
      const policy = await market.read.policy();
      const redundancy = integer("--redundancy", str(ctx, "redundancy") ?? "1", 1, policy.maxRedundancy);
      const fee = str(ctx, "max-fee") === undefined ? version.minFee : amount("--max-fee", str(ctx, "max-fee")!, 18);
      const value = str(ctx, "value") === undefined ? 0n : amount("--value", str(ctx, "value")!, 18);
      const deadline = integer("--deadline", str(ctx, "deadline") ?? "600", 10, Number(policy.maxJobDuration));
      s.out.progress(`requesting ${model.name} (k=${redundancy}) through ${gate}`);
      const r = await requestSpeechFrame(s.publicClient, s.record, wallet, gate, {
        inputs,
        redundancy,
        feePerProvider: fee,
        deadlineInSeconds: deadline,
        value,
        content: await s.content(),
      });
      ctx.out.result(
        {
          jobId: r.jobId.toString(),
          consumer: gate,
          block: r.block.toString(),
          tx: r.txHash,
          escrow: r.escrow.toString(),
          deposit: r.deposit.toString(),
        },
        () => r.jobId.toString(),
      );
    },
  },
  "consumer follow": {
    summary: "wait for a consumer job's callback (delivered or failed) and show what the callback got",
    usage: `<jobId> [--timeout <seconds>]

Shows the job's and the callback's progress until the router delivered the callback
(CallbackDelivered) or recorded its failure (CallbackFailed), or the deposit was reclaimed; then
prints each attempt: who fulfilled it, the outputs the callback got (the canonical preimage) or
its failure, its gas and the reimbursement. For a SpeechGate, also its verdict.`,
    options: { timeout: { type: "string" } },
    args: [1, 1],
    async run(ctx) {
      const jobId = jobIdArg(ctx.positionals[0]!);
      const s = await ctx.session();
      const timeout = integer("--timeout", str(ctx, "timeout") ?? "600", 1);
      const { state, attempts } = await followCallback(s.publicClient, s.record, jobId, {
        timeoutMs: timeout * 1000,
        onProgress: (l) => s.out.progress(`job ${jobId}: ${l}`),
      }).catch((error: unknown) => {
        if (error instanceof CallbackTimeoutError) throw new RequestError(error.message);
        throw error;
      });
      const verdict = (await isSpeechGate(s, state.consumer))
        ? await speechVerdict(s.publicClient, state.consumer, jobId)
        : null;
      ctx.out.result(
        {
          ...stateJson(state),
          attempts: attempts.map(attemptJson),
          verdict: verdict && {
            delivered: verdict.delivered,
            speech: verdict.speech,
            probability: verdict.probability.toString(),
          },
        },
        () =>
          [
            `job ${jobId}: callback ${state.status} (consumer ${state.consumer})`,
            ...attempts.map(attemptLine),
            ...(attempts.at(-1)?.outputs && attempts.at(-1)!.outputs !== "0x"
              ? [
                  `outputs: ${attempts.at(-1)!.outputs!.slice(0, 200)}${attempts.at(-1)!.outputs!.length > 200 ? "…" : ""}`,
                ]
              : []),
            ...(verdict
              ? [
                  `SpeechGate verdict: ${verdict.delivered ? `${verdict.speech ? "speech" : "no speech"}, probability ${Number(verdict.probability) / 10_000}` : "pending"}`,
                ]
              : []),
          ].join("\n"),
      );
    },
  },
  "consumer status": {
    summary: "show a consumer job's callback: status, gas terms, deposit, attempts",
    usage: `<jobId>

Reads the router's record of the job's callback (funded, delivered, hash only, failed, reclaimed),
its gas terms and held deposit, and every delivery attempt so far.`,
    args: [1, 1],
    async run(ctx) {
      const jobId = jobIdArg(ctx.positionals[0]!);
      const s = await ctx.session();
      const state = await callbackState(s.publicClient, s.record, jobId);
      if (state.status === "none") throw new RequestError(`job ${jobId} has no callback deposit on the router`);
      const attempts = await callbackAttempts(s.publicClient, s.record, jobId);
      ctx.out.result({ ...stateJson(state), attempts: attempts.map(attemptJson) }, () =>
        [
          `job ${jobId} (${state.jobStatus}): callback ${state.status}, consumer ${state.consumer}, gas ${state.callbackGasLimit} at most ${formatGwei(state.maxGasPrice)} gwei, deposit held ${formatEther(state.deposit)} ETH`,
          ...attempts.map(attemptLine),
        ].join("\n"),
      );
    },
  },
  "consumer retry": {
    summary: "deliver a failed (or hash-only) callback again, at your own cost",
    usage: `<jobId> [--gas <n>] [--outputs <0x…>]

Calls router.retryCallback: the callback gets at least its limit and all the gas sent beyond it
(--gas raises it for a callback that ran out of gas). The outputs are those of the earlier
attempt, or fetched from the providers (a hash-only delivery), or --outputs.`,
    options: { gas: { type: "string" }, outputs: { type: "string" } },
    args: [1, 1],
    async run(ctx) {
      const jobId = jobIdArg(ctx.positionals[0]!);
      const outputs = str(ctx, "outputs");
      if (outputs !== undefined && !/^0x([0-9a-fA-F]{2})*$/.test(outputs))
        throw new RequestError("--outputs must be 0x-prefixed hex bytes");
      const s = await ctx.session();
      const gas =
        str(ctx, "gas") === undefined ? undefined : BigInt(integer("--gas", str(ctx, "gas")!, 21_000, 30_000_000));
      s.out.progress(`retrying job ${jobId}'s callback`);
      const { attempt } = await retryConsumerCallback(s.publicClient, s.record, await s.signer(), jobId, {
        gas,
        outputs: outputs as Hex | undefined,
        content: await s.content(),
      });
      if (!attempt.delivered)
        throw new RequestError(
          `job ${jobId}'s callback failed again (${describeFailure(attempt.reason)}, gas ${attempt.gasUsed}, tx ${attempt.txHash}); it stays retriable`,
        );
      ctx.out.result({ jobId: jobId.toString(), ...attemptJson(attempt) }, () => attemptLine(attempt));
    },
  },
  "consumer reclaim": {
    summary: "credit a callback deposit back to its consumer after the job ended without a result",
    usage: `<jobId>

Calls router.reclaim: for a job the market refunded (expired, cancelled, no quorum), the callback's
deposit is credited to the consumer (which withdraws it). Anyone may call it. Runners do it on
their own soon after the refund (consumers.reclaim, default true); this is the manual way, e.g.
where no runner does. A deposit already reclaimed is refused with an error saying so.`,
    args: [1, 1],
    async run(ctx) {
      const jobId = jobIdArg(ctx.positionals[0]!);
      const s = await ctx.session();
      const r = await reclaimCallbackDeposit(s.publicClient, s.record, await s.signer(), jobId);
      ctx.out.result(
        { jobId: jobId.toString(), consumer: r.consumer, amount: r.amount.toString(), tx: r.receipt.transactionHash },
        () => `job ${jobId}: ${formatEther(r.amount)} ETH credited back to ${r.consumer}`,
      );
    },
  },
  "consumer withdraw": {
    summary: "withdraw your router credits (fulfillers' reimbursements)",
    usage: `[--to <address>]

Sends the signer's ConsumerRouter credits (reimbursements for fulfilled callbacks) to itself or
--to. A consumer contract withdraws its own credits (refunded deposits) from its code.`,
    options: { to: { type: "string" } },
    async run(ctx) {
      const to = str(ctx, "to") === undefined ? undefined : getAddress(address("--to", str(ctx, "to")!));
      const s = await ctx.session();
      const r = await withdrawRouterCredits(s.publicClient, s.record, await s.signer(), to);
      const wallet = await s.signer();
      ctx.out.result(
        {
          account: wallet.account.address,
          to: to ?? wallet.account.address,
          amount: r.amount.toString(),
          tx: r.receipt.transactionHash,
        },
        () => `withdrew ${formatEther(r.amount)} ETH of router credits to ${to ?? wallet.account.address}`,
      );
    },
  },
};
