import { expect } from "chai";
import { parseEther, zeroAddress } from "viem";
import { canonicalResultHash, quantumFromChain } from "../../node/attest/result-hash.ts";
import { attestationFor, verifyAttestation } from "../../node/attest/attestation.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { fetchVerifiedOutputs, requestInference, waitForJob } from "../../node/client/jobs.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { tensorValues } from "../../node/tensors/dtypes.ts";
import { decodeSafetensors } from "../../node/tensors/safetensors.ts";
import { directRun } from "../helpers/direct-run.ts";
import { startDevnet, spawnRunner, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { jobOfWords } from "../../node/attest/job-words.ts";

describe("node runners end to end (Anvil JSON-RPC node, Helia, onnxruntime)", function () {
  this.timeout(300_000);
  let net: Devnet;
  let runners: RunnerProcess[] = [];

  /** The outputs a runner serves for a job (/jobs/<id>/outputs), once its journal has the result on chain. */
  async function servedOutputs(runner: RunnerProcess, jobId: bigint) {
    for (const end = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 100))) {
      const res = await fetch(`${runner.http}/jobs/${jobId}/outputs`);
      if (res.ok) return decodeSafetensors(new Uint8Array(await res.arrayBuffer())).tensors;
      if (Date.now() > end) throw new Error(`runner ${runner.index} serves no outputs for job ${jobId}: ${res.status}`);
    }
  }

  before(async function () {
    net = await startDevnet();
    runners = await Promise.all([4, 5, 6].map((i) => spawnRunner(net, i)));
  });
  after(async function () {
    await Promise.all(runners.map((r) => r.stop()));
    await net?.stop();
  });

  it("serves a k = 1 job on the generated tiny-mlp model: the result equals a direct onnxruntime run", async function () {
    const sample = sampleModel("tiny-mlp");
    const client = net.wallet(7);
    const inputs = sample.exampleInputs();
    const { jobId } = await requestInference(net.publicClient, net.record, client, {
      model: "tiny-mlp",
      inputs,
      feePerProvider: parseEther("0.01"),
    });
    const outcome = await waitForJob(net.publicClient, net.record, jobId, { timeoutMs: 60_000 });
    expect(outcome.status).to.equal("delivered");
    expect(outcome.deliveries).to.have.length(1);
    const delivery = outcome.deliveries[0]!;
    const outputs = await fetchVerifiedOutputs(delivery, sample.outputQuantum, net.publisher);
    const expected = await directRun("tiny-mlp", inputs);
    expect(canonicalResultHash(expected, quantumFromChain(sample.outputQuantum))).to.equal(delivery.resultHash);
    expect(tensorValues(outputs.probs!)).to.deep.equal(tensorValues(expected.probs!));

    // The runner serves its signed attestation by job id; anyone can verify it.
    const runner = runners.find((r) => r.address.toLowerCase() === delivery.provider.toLowerCase())!;
    // The runner shows the attestation once its own journal has the result on-chain; that can
    // trail the client's view of the chain by a receipt poll, so wait for that state.
    let served: { state: string; signature: `0x${string}` | null } = { state: "", signature: null };
    for (
      const end = Date.now() + 30_000;
      (served.signature ?? null) === null && Date.now() < end;
      await new Promise((r) => setTimeout(r, 100))
    ) {
      served = (await (await fetch(`${runner.http}/jobs/${jobId}`)).json()) as typeof served;
    }
    expect(served.signature, `job view state ${served.state}`).to.not.equal(null);
    const { job } = (
      await net.publicClient.getContractEvents({
        address: net.record.contracts.InferenceMarket!.address,
        abi: conclaveContracts(net.record, net.publicClient).market.abi,
        eventName: "JobRequested",
        args: { jobId },
        fromBlock: 0n,
      })
    )[0]!.args;
    const ok = await verifyAttestation(
      runner.address,
      31337,
      net.record.contracts.InferenceMarket!.address,
      attestationFor(jobId, jobOfWords(job!), delivery.resultHash, delivery.outputRef),
      served.signature!,
    );
    expect(ok).to.equal(true);
    // And the outputs themselves (inline in its delivery: read from the runner's journal).
    expect(tensorValues((await servedOutputs(runner, jobId)).probs!)).to.deep.equal(tensorValues(expected.probs!));
  });

  it("serves a k = 3 job on the published Silero VAD model: three providers agree and are paid, then withdraw", async function () {
    const sample = sampleModel("silero-vad-v5");
    const client = net.wallet(7);
    const inputs = sample.exampleInputs();
    const fee = parseEther("0.02");
    const market = conclaveContracts(net.record, net.publicClient).market;
    const before = await Promise.all(runners.map((r) => market.read.balanceOf([r.address, zeroAddress])));
    const { jobId } = await requestInference(net.publicClient, net.record, client, {
      model: "silero-vad-v5",
      inputs,
      redundancy: 3,
      feePerProvider: fee,
    });
    const outcome = await waitForJob(net.publicClient, net.record, jobId, { timeoutMs: 120_000 });
    expect(outcome.status).to.equal("settled");
    expect(outcome.deliveries).to.have.length(3);
    const expected = canonicalResultHash(
      await directRun("silero-vad-v5", inputs),
      quantumFromChain(sample.outputQuantum),
    );
    expect(outcome.resultHash).to.equal(expected);
    for (const d of outcome.deliveries) {
      expect(d.resultHash).to.equal(expected);
      // Silero's outputs are over the inline limit, so they are fetched from the runner's IPFS node.
      const runner = runners.find((r) => r.address.toLowerCase() === d.provider.toLowerCase())!;
      for (const addr of runner.ipfs) await net.publisher.dial(addr).catch(() => undefined);
      await fetchVerifiedOutputs(d, sample.outputQuantum, net.publisher);
      // The runner serves them too, from the CID its IPFS node keeps pinned.
      const served = await servedOutputs(runner, jobId);
      expect(canonicalResultHash(served, quantumFromChain(sample.outputQuantum))).to.equal(expected);
    }
    const after = await Promise.all(runners.map((r) => market.read.balanceOf([r.address, zeroAddress])));
    after.forEach((a, i) => expect(a - before[i]!).to.equal(fee));

    // Each provider withdraws its earnings.
    for (const r of runners) {
      const wallet = net.wallet(r.index);
      const balance = await market.read.balanceOf([r.address, zeroAddress]);
      const eth0 = await net.publicClient.getBalance({ address: r.address });
      const hash = await conclaveContracts(net.record, wallet).market.write.withdraw([zeroAddress]);
      const receipt = await net.publicClient.waitForTransactionReceipt({ hash });
      expect(await net.publicClient.getBalance({ address: r.address })).to.equal(
        eth0 + balance - receipt.gasUsed * receipt.effectiveGasPrice,
      );
      expect(await market.read.balanceOf([r.address, zeroAddress])).to.equal(0n);
    }
  });
});
