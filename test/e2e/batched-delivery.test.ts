import { expect } from "chai";
import { existsSync } from "node:fs";
import path from "node:path";
import {
  decodeFunctionData,
  encodeFunctionData,
  getAddress,
  parseEther,
  parseEventLogs,
  type Abi,
  type Hex,
} from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { jobRequestOf } from "../../node/client/jobs.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { devAccount, spawnRunners, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { until } from "../helpers/until.ts";

/** IInferenceMarket.JobStatus.Settled: a k = 1 delivery's fee was claimed after its window. */
const SETTLED = 3;
const JOBS = 40;

describe("batched k = 1 delivery end to end (Anvil with 1 s blocks, one runner)", function () {
  this.timeout(300_000);
  let net: Devnet;
  let runner: RunnerProcess;
  let stopped = false;

  before(async function () {
    // A short challenge window: the jobs are paid (claimed) within the test.
    net = await startDevnet({
      providers: [4],
      models: [sampleModel("tiny-mlp")],
      blockTimeSeconds: 1,
      params: { challengeWindow: 5 },
    });
    // Results wait for the next block (maxWaitBlocks 1): the batches do not depend on how fast this
    // machine computes (with 0 they form only while another batch is being signed).
    runner = (await spawnRunners(net, [4], { delivery: { maxBatch: 50, maxWaitBlocks: 1 } }))[0]!;
  });
  after(async function () {
    if (stopped) return;
    await runner?.stop();
    await net?.stop();
  });

  it("many concurrent k = 1 jobs: one result each, fewer delivery transactions than jobs, every job paid after its window, none refunded", async function () {
    const market = net.record.contracts.InferenceMarket!.address;
    const abi = loadArtifact("InferenceMarket").abi as Abi;
    const sample = sampleModel("tiny-mlp");
    const client = devAccount(7);
    const { request, value } = await jobRequestOf(net.publicClient, net.record, {
      model: sample.name,
      inputs: sample.exampleInputs(),
      feePerProvider: parseEther("0.001"),
      deadlineInSeconds: 600,
    });
    const data = encodeFunctionData({ abi, functionName: "requestJob", args: [request] });
    const gas =
      ((await net.publicClient.estimateGas({ account: client.address, to: market, data, value })) * 15n) / 10n;
    const fees = await net.publicClient.estimateFeesPerGas();
    const nonce = await net.publicClient.getTransactionCount({ address: client.address, blockTag: "pending" });
    const fromBlock = await net.publicClient.getBlockNumber();
    const runnerNonce = await net.publicClient.getTransactionCount({ address: runner.address });
    // Every request signed first, then sent at once: they land in the same block or two.
    const raws = await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        client.signTransaction({
          chainId: net.chain.id,
          type: "eip1559",
          to: market,
          data,
          value,
          gas,
          nonce: nonce + i,
          maxFeePerGas: fees.maxFeePerGas * 3n,
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
        }),
      ),
    );
    const hashes = await Promise.all(
      raws.map((raw) => net.publicClient.sendRawTransaction({ serializedTransaction: raw })),
    );
    const jobIds: bigint[] = [];
    for (const hash of hashes) {
      const receipt = await net.publicClient.waitForTransactionReceipt({ hash });
      expect(receipt.status).to.equal("success");
      const [ev] = parseEventLogs({ abi, logs: receipt.logs, eventName: "JobRequested" });
      jobIds.push((ev!.args as { jobId: bigint }).jobId);
    }

    // Wait for states: every job settled (its fee claimed once the window passed).
    const status = async (jobId: bigint) =>
      Number(
        (
          (await net.publicClient.readContract({
            address: market,
            abi,
            functionName: "jobState",
            args: [jobId],
          })) as readonly unknown[]
        )[0],
      );
    await until("every job settled", async () => (await Promise.all(jobIds.map(status))).every((s) => s === SETTLED), {
      timeoutMs: 240_000,
      intervalMs: 500,
    });

    const toBlock = await net.publicClient.getBlockNumber();
    const events = await net.publicClient.getContractEvents({ address: market, abi, fromBlock, toBlock });
    const ours = new Set(jobIds.map(String));
    const count = (name: string) => {
      const per = new Map<string, number>();
      for (const e of events) {
        const id = (e.args as { jobId?: bigint }).jobId;
        if (e.eventName === name && id !== undefined && ours.has(String(id)))
          per.set(String(id), (per.get(String(id)) ?? 0) + 1);
      }
      return per;
    };
    const results = count("ResultSubmitted");
    const claims = count("DeliveryClaimed");
    expect(
      jobIds.every((id) => results.get(String(id)) === 1),
      "one result per job",
    ).to.equal(true);
    expect(
      jobIds.every((id) => claims.get(String(id)) === 1),
      "each job paid once",
    ).to.equal(true);
    expect(count("JobRefunded").size, "no job refunded").to.equal(0);
    expect(count("AttestationRejected").size, "no item rejected").to.equal(0);
    for (const e of events) {
      if (e.eventName === "ResultSubmitted")
        expect(getAddress((e.args as { provider: Hex }).provider)).to.equal(getAddress(runner.address));
    }

    // The runner's delivery transactions: fewer than the jobs they delivered.
    const deliveries = new Set<Hex>();
    for (const e of events)
      if (e.eventName === "ResultSubmitted" && ours.has(String((e.args as { jobId: bigint }).jobId)))
        deliveries.add(e.transactionHash!);
    expect(deliveries.size, `${deliveries.size} delivery transactions for ${JOBS} jobs`).to.be.lessThan(JOBS);
    let batched = 0;
    for (const hash of deliveries) {
      const tx = await net.publicClient.getTransaction({ hash });
      expect(getAddress(tx.from)).to.equal(getAddress(runner.address));
      if (decodeFunctionData({ abi, data: tx.input }).functionName === "submitResults") batched++;
    }
    expect(batched, "at least one submitResults").to.be.greaterThan(0);
    // Claims ride together too: every transaction the runner sent (deliveries and claims) is fewer than the jobs.
    const sent = (await net.publicClient.getTransactionCount({ address: runner.address })) - runnerNonce;
    expect(sent, `${sent} transactions sent by the runner for ${JOBS} jobs`).to.be.lessThan(JOBS);
  });

  // Last: it stops the network. Before, every test run left its deployment folder and each
  // runner's data dir (journal, blockstore, model cache: megabytes each) in the OS temp dir.
  it("stopping the network removes the temporary folders it made: the deployment's and the runner's data dir", async function () {
    const dirs = net.tempDirs.list();
    expect(dirs).to.include.members([path.dirname(net.deploymentFile), runner.dataDir]);
    expect(existsSync(path.join(runner.dataDir, "journal.sqlite"))).to.equal(true);
    stopped = true;
    await runner.stop();
    await net.stop();
    for (const dir of dirs) expect(existsSync(dir), dir).to.equal(false);
  });
});
