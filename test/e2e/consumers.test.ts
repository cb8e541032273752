import { expect } from "chai";
import { getAddress, parseEther, toFunctionSelector, zeroAddress, type Abi, type Address, type Hex } from "viem";
import { quantize, quantumFromChain, resultHashPreimage } from "../../node/attest/result-hash.ts";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { callbackAttempts, consumerRouter, followCallback, retryConsumerCallback } from "../../node/client/consumer.ts";
import { deploySpeechGate, requestSpeechFrame, speechVerdict } from "../../node/client/speech-gate.ts";
import { jobRequestOf, requestedJob } from "../../node/client/jobs.ts";
import { CallbackStatus, JobStatus } from "../../node/chain/statuses.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { tensorValues } from "../../node/tensors/dtypes.ts";
import { cliFor, expectFailure } from "../helpers/cli-process.ts";
import { directRun } from "../helpers/direct-run.ts";
import { spawnRunners, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { depositFor, expectFulfilReimbursed, expectRouterSolvent } from "../helpers/router-solvency.ts";
import { until } from "../helpers/until.ts";

const RUNNERS = [4, 5, 6];
const CAP = 10n * 10n ** 9n;
const SWITCH = { RECORD: 0, REVERT: 1, BURN: 2 } as const;

/**
 * On-chain consumers end to end (issue 13): consumer contracts request jobs on the local network,
 * real runners serve them, and the runners' fulfillers (never the test) deliver the callbacks.
 */
describe("on-chain consumers end to end (Anvil, three runners, SpeechGate and a switchable consumer)", function () {
  this.timeout(600_000);
  let net: Devnet;
  let runners: RunnerProcess[] = [];
  const switchAbi = loadArtifact("SwitchConsumer").abi as Abi;
  const marketOf = () => conclaveContracts(net.record, net.publicClient).market;

  before(async function () {
    // A short challenge window: k = 1 results are final (and paid) within the test.
    net = await startDevnet({ params: { challengeWindow: 5 } });
    // No runner challenges another's k = 1 result here; the fulfil turns are short.
    runners = await spawnRunners(net, RUNNERS, { jobs: { checkRate: 0 }, consumers: { fulfil: true, turnSeconds: 3 } });
  });
  after(async function () {
    await Promise.all(runners.map((r) => r.stop()));
    await net?.stop();
  });

  async function deploySwitch(fund: bigint): Promise<Address> {
    const { abi, bytecode } = loadArtifact("SwitchConsumer");
    const owner = net.wallet(8);
    const hash = await owner.deployContract({ abi, bytecode, args: [consumerRouter(net.record).address] });
    const at = getAddress((await net.publicClient.waitForTransactionReceipt({ hash })).contractAddress!);
    await net.publicClient.waitForTransactionReceipt({ hash: await owner.sendTransaction({ to: at, value: fund }) });
    return at;
  }

  async function setMode(consumer: Address, mode: number) {
    const hash = await net
      .wallet(8)
      .writeContract({ address: consumer, abi: switchAbi, functionName: "setMode", args: [mode] });
    await net.publicClient.waitForTransactionReceipt({ hash });
  }

  /** A tiny-mlp job requested through the switch consumer; its callback gets `limit` gas. */
  async function switchRequest(consumer: Address, k: number, limit: number, nonce?: number): Promise<Hex> {
    const sample = sampleModel("tiny-mlp");
    const { request } = await jobRequestOf(net.publicClient, net.record, {
      model: sample.name,
      inputs: sample.exampleInputs(),
      redundancy: k,
      feePerProvider: parseEther("0.001"),
      deadlineInSeconds: 600,
    });
    return net.wallet(8).writeContract({
      address: consumer,
      abi: switchAbi,
      functionName: "request",
      args: [request, limit, CAP],
      gas: 1_500_000n,
      ...(nonce === undefined ? {} : { nonce }),
    });
  }

  async function jobOf(hash: Hex): Promise<bigint> {
    const receipt = await net.publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    return requestedJob(receipt.logs).jobId;
  }

  const jobStatus = async (jobId: bigint) => Number((await marketOf().read.jobState([jobId]))[0]);
  const runnerAddresses = () => new Set(runners.map((r) => r.address.toLowerCase()));

  it("SpeechGate requests a k = 3 silero-vad-v5 job; three runners serve it; a runner's fulfiller delivers outputs equal to a direct onnxruntime run", async function () {
    const sample = sampleModel("silero-vad-v5");
    const inputs = sample.exampleInputs();
    const owner = net.wallet(7);
    const gate = await deploySpeechGate(net.publicClient, net.record, owner, { fund: parseEther("1") });
    const fee = parseEther("0.01");
    const before = await Promise.all(runners.map((r) => marketOf().read.balanceOf([r.address, zeroAddress])));
    const { jobId, block } = await requestSpeechFrame(net.publicClient, net.record, owner, gate.address, {
      inputs,
      redundancy: 3,
      feePerProvider: fee,
    });

    const { state, attempts } = await followCallback(net.publicClient, net.record, jobId, {
      fromBlock: block,
      timeoutMs: 300_000,
    });
    expect(state.status).to.equal("delivered");
    expect(attempts).to.have.length(1);
    const [attempt] = attempts;
    expect(attempt!.delivered).to.equal(true);
    expect(attempt!.hashOnly).to.equal(false);
    // Delivered by a runner's fulfiller, not by the test's accounts.
    expect(runnerAddresses().has(attempt!.from.toLowerCase()), attempt!.from).to.equal(true);

    // The reference: the same model and input run directly, quantized with the version's quantum.
    const expected = await directRun("silero-vad-v5", inputs);
    const quantum = quantumFromChain(sample.outputQuantum);
    const preimage = resultHashPreimage(expected, quantum);
    // The raw outputs bytes the callback got (the fulfil's calldata, checked by the router against the result hash) ...
    expect(attempt!.outputs).to.equal(`0x${Buffer.from(preimage).toString("hex")}`);
    // ... and the value SpeechGate decoded and stored.
    const verdict = await speechVerdict(net.publicClient, gate.address, jobId);
    const probability = quantize(tensorValues(expected.output!)[0] as number, quantum);
    expect(verdict.delivered).to.equal(true);
    expect(verdict.probability).to.equal(probability);
    expect(verdict.speech).to.equal(probability >= 5_000n);

    // The job settled and its three providers were paid.
    expect(await jobStatus(jobId)).to.equal(JobStatus.Settled);
    const after = await Promise.all(runners.map((r) => marketOf().read.balanceOf([r.address, zeroAddress])));
    after.forEach((a, i) => expect(a - before[i]!, runners[i]!.address).to.equal(fee));
  });

  it("a reverting and an out-of-gas callback: the jobs settle, providers are paid, CallbackFailed is recorded, and a retry delivers once the switch is off", async function () {
    const consumer = await deploySwitch(parseEther("1"));
    const market = marketOf();
    const fee = parseEther("0.001");

    await setMode(consumer, SWITCH.REVERT);
    const reverting = await jobOf(await switchRequest(consumer, 1, 200_000));
    const failedRevert = await followCallback(net.publicClient, net.record, reverting, { timeoutMs: 120_000 });
    await setMode(consumer, SWITCH.BURN);
    const burning = await jobOf(await switchRequest(consumer, 1, 200_000));
    const failedBurn = await followCallback(net.publicClient, net.record, burning, { timeoutMs: 120_000 });

    // CallbackFailed: the revert's reason (SwitchConsumerRefused(jobId)), and an out-of-gas with no data and the whole limit used.
    expect(failedRevert.state.status).to.equal("failed");
    const [revert] = failedRevert.attempts;
    expect(revert!.delivered).to.equal(false);
    expect(revert!.reason!.slice(0, 10)).to.equal(selectorOf(switchAbi, "SwitchConsumerRefused"));
    expect(BigInt(`0x${revert!.reason!.slice(10)}`)).to.equal(reverting);
    expect(failedBurn.state.status).to.equal("failed");
    const [burn] = failedBurn.attempts;
    expect(burn!.reason).to.equal("0x");
    expect(burn!.gasUsed >= 200_000n).to.equal(true);
    // The fulfillers were reimbursed all the same: their fulfils' gas, within the cap and the deposit.
    for (const [jobId, a] of [
      [reverting, revert!],
      [burning, burn!],
    ] as const) {
      expect(runnerAddresses().has(a.from.toLowerCase())).to.equal(true);
      const [paid] = await net.publicClient.getContractEvents({
        ...consumerRouter(net.record),
        eventName: "CallbackReimbursed",
        args: { jobId } as never,
        fromBlock: BigInt(net.record.contracts.ConsumerRouter!.block),
      });
      const { reimbursed } = await expectFulfilReimbursed(net.publicClient, paid!, depositFor(200_000n, CAP), CAP);
      expect(reimbursed).to.equal(a.reimbursed);
    }

    // The jobs settle (their fees claimed after the window) and their providers are paid.
    for (const jobId of [reverting, burning]) {
      await until(`job ${jobId} settled`, async () => (await jobStatus(jobId)) === JobStatus.Settled, {
        timeoutMs: 120_000,
        intervalMs: 250,
      });
      const claimed = await net.publicClient.getContractEvents({
        address: market.address,
        abi: market.abi,
        eventName: "DeliveryClaimed",
        args: { jobId },
        fromBlock: BigInt(net.record.contracts.InferenceMarket!.block),
      });
      expect(claimed).to.have.length(1);
      expect((claimed[0]!.args as { fee: bigint }).fee).to.equal(fee);
    }

    // Switch off; retry one through the client function and the other through the CLI.
    await setMode(consumer, SWITCH.RECORD);
    const { attempt: retried } = await retryConsumerCallback(net.publicClient, net.record, net.wallet(9), reverting);
    expect(retried).to.include({ delivered: true, retry: true, hashOnly: false });
    const cli = cliFor({ rpc: net.node.rpcUrl, deployment: net.deploymentFile, cwd: process.cwd() });
    const out = await cli(["consumer", "retry", String(burning), "--dev-account", "9"]);
    expect(out.code, out.stderr).to.equal(0);
    expect(out.json).to.include({ delivered: true, retry: true, hashOnly: false });
    const status = await cli(["consumer", "status", String(burning)]);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.json.status).to.equal("delivered");

    for (const jobId of [reverting, burning]) {
      const attempts = await callbackAttempts(net.publicClient, net.record, jobId);
      expect(attempts.map((a) => [a.delivered, a.retry])).to.deep.equal([
        [false, false],
        [true, true],
      ]);
      const resultHash = attempts[1]!.resultHash!;
      expect(
        await net.publicClient.readContract({
          address: consumer,
          abi: switchAbi,
          functionName: "deliveries",
          args: [jobId],
        }),
      ).to.equal(1n);
      expect(
        await net.publicClient.readContract({
          address: consumer,
          abi: switchAbi,
          functionName: "resultHashes",
          args: [jobId],
        }),
      ).to.equal(resultHash);
      // What the callback got hashes to the result (the router checked it; the consumer recorded it).
      expect(
        await net.publicClient.readContract({
          address: consumer,
          abi: switchAbi,
          functionName: "outputsHashes",
          args: [jobId],
        }),
      ).to.equal(resultHash);
    }
  });

  it("10 k = 1 and 5 k = 3 concurrent consumer jobs on three runners: each delivered exactly once, fulfillers reimbursed within the cap, the rest refunded, the router solvent", async function () {
    const consumer = await deploySwitch(parseEther("2"));
    const router = consumerRouter(net.record);
    const owner = net.wallet(8).account.address;
    const nonce = await net.publicClient.getTransactionCount({ address: owner, blockTag: "pending" });
    const ks = [...Array(10).fill(1), ...Array(5).fill(3)] as number[];
    const hashes = await Promise.all(ks.map((k, i) => switchRequest(consumer, k, 150_000, nonce + i)));
    const jobIds = await Promise.all(hashes.map(jobOf));

    await until(
      "every callback delivered",
      async () => {
        const states = await Promise.all(
          jobIds.map((jobId) => net.publicClient.readContract({ ...router, functionName: "requestOf", args: [jobId] })),
        );
        return states.every((s) => Number(s.status) === CallbackStatus.Delivered);
      },
      { timeoutMs: 420_000, intervalMs: 500 },
    );

    const fromBlock = BigInt(net.record.contracts.ConsumerRouter!.block);
    for (const jobId of jobIds) {
      // Exactly once: one delivery, one reimbursement, one callback that returned.
      const events = await net.publicClient.getContractEvents({ ...router, fromBlock, args: { jobId } as never });
      const delivered = events.filter((e) => e.eventName === "CallbackDelivered");
      const paid = events.filter((e) => e.eventName === "CallbackReimbursed");
      expect(delivered, `job ${jobId}`).to.have.length(1);
      expect(paid, `job ${jobId}`).to.have.length(1);
      expect(events.some((e) => e.eventName === "CallbackFailed")).to.equal(false);
      expect(
        await net.publicClient.readContract({
          address: consumer,
          abi: switchAbi,
          functionName: "deliveries",
          args: [jobId],
        }),
      ).to.equal(1n);
      const { fulfiller } = paid[0]!.args as { fulfiller: Address };
      expect(runnerAddresses().has(fulfiller.toLowerCase())).to.equal(true);
      // Reimbursed the fulfil's gas within the cap; the consumer refunded the rest of its deposit.
      const { reimbursed, cost } = await expectFulfilReimbursed(
        net.publicClient,
        paid[0]!,
        depositFor(150_000n, CAP),
        CAP,
      );
      // The reimbursement covered what the fulfiller paid for its transaction.
      expect(cost <= reimbursed, `job ${jobId}: paid ${cost}, reimbursed ${reimbursed}`).to.equal(true);
    }

    await expectRouterSolvent(net.publicClient, net.record);
  });

  it("the CLI path: conclave consumer deploy-example, request, follow, status; errors are one line", async function () {
    const cli = cliFor({ rpc: net.node.rpcUrl, deployment: net.deploymentFile, cwd: process.cwd() });
    const deployed = await cli(["consumer", "deploy-example", "--fund", "0.5", "--dev-account", "7"]);
    expect(deployed.code, deployed.stderr).to.equal(0);
    const gate = deployed.json.address as Address;
    const requested = await cli([
      "consumer",
      "request",
      gate,
      "--input",
      "examples/silero-vad.input.json",
      "--max-fee",
      "0.001",
      "--dev-account",
      "7",
    ]);
    expect(requested.code, requested.stderr).to.equal(0);
    const jobId = requested.json.jobId as string;
    const followed = await cli(["consumer", "follow", jobId, "--timeout", "180"]);
    expect(followed.code, followed.stderr).to.equal(0);
    expect(followed.json.status).to.equal("delivered");
    const [attempt] = followed.json.attempts as { delivered: boolean; from: string; outputs: Hex }[];
    expect(attempt!.delivered).to.equal(true);
    expect(runnerAddresses().has(attempt!.from.toLowerCase())).to.equal(true);
    const verdict = followed.json.verdict as { delivered: boolean; probability: string };
    expect(verdict.delivered).to.equal(true);
    expect((await speechVerdict(net.publicClient, gate, BigInt(jobId))).probability.toString()).to.equal(
      verdict.probability,
    );

    // Wrong calls exit 1 with one line naming why.
    expectFailure(await cli(["consumer", "follow", "abc"]), /job number/, "REQUEST_INVALID");
    expectFailure(
      await cli(["consumer", "retry", jobId, "--dev-account", "7"]),
      /only a failed or hash-only callback can be retried/,
      "CONSUMER_CALL_INVALID",
    );
    expectFailure(await cli(["consumer", "status", "999999"]), /no callback deposit/);
  });
});

function selectorOf(abi: Abi, name: string): Hex {
  const item = abi.find((i) => i.type === "error" && i.name === name) as unknown as {
    name: string;
    inputs: { type: string }[];
  };
  return toFunctionSelector(`${item.name}(${item.inputs.map((i) => i.type).join(",")})`);
}
