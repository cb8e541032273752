import { expect } from "chai";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import path from "node:path";
import { keccak256, parseEther, stringToHex, toHex, zeroAddress, type Hex } from "viem";
import { commitmentOf } from "../../node/attest/attestation.ts";
import { canonicalResultHash, quantumFromChain } from "../../node/attest/result-hash.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { createChainReader } from "../../node/chain/reader.ts";
import { requestInference, waitForJob } from "../../node/client/jobs.ts";
import { mined, passOnLocalChain } from "../../node/dao/proposals.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { tensorFrom } from "../../node/tensors/dtypes.ts";
import { encodeSafetensors } from "../../node/tensors/safetensors.ts";
import {
  activateAction,
  devAccount,
  runnerConfig,
  spawnRunner,
  startDevnet,
  type Devnet,
  type RunnerProcess,
} from "../helpers/devnet.ts";
import { startProxy } from "../helpers/tcp-proxy.ts";
import { seatCollateral } from "../helpers/collateral.ts";
import { until } from "../helpers/until.ts";
import { jobWords } from "../../node/attest/job-words.ts";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Transactions of one kind a runner's journal holds for a job (read straight from its SQLite file). */
function journalTxs(dataDir: string, jobId: bigint, kind: string): { nonce: number; status: string }[] {
  const db = new DatabaseSync(path.join(dataDir, "journal.sqlite"), { readOnly: true });
  try {
    return db.prepare("SELECT nonce, status FROM txs WHERE job_id = ? AND kind = ?").all(jobId.toString(), kind) as {
      nonce: number;
      status: string;
    }[];
  } finally {
    db.close();
  }
}

async function httpJson(url: string) {
  return (await (await fetch(url)).json()) as Record<string, unknown>;
}

describe("node runner faults", function () {
  this.timeout(300_000);
  let net: Devnet;
  const started: RunnerProcess[] = [];
  const run = async (...args: Parameters<typeof spawnRunner>) => {
    const r = await spawnRunner(...args);
    started.push(r);
    return r;
  };

  before(async function () {
    // Provider 7 is registered too: the test itself takes a seat as a third provider.
    net = await startDevnet({ providers: [4, 5, 7] });
  });
  afterEach(async function () {
    await Promise.all(started.splice(0).map((r) => r.stop("SIGKILL")));
  });
  after(async function () {
    await net?.stop();
  });

  it("a runner killed with SIGKILL between commit and reveal resumes from its journal: the job settles, nothing is sent twice", async function () {
    const sample = sampleModel("tiny-mlp");
    const a = await run(net, 4);
    const b = await run(net, 5);
    const inputs = sample.exampleInputs();
    const { jobId, job } = await requestInference(net.publicClient, net.record, net.wallet(8), {
      model: "tiny-mlp",
      inputs,
      redundancy: 3,
      feePerProvider: parseEther("0.01"),
    });
    const market = conclaveContracts(net.record, net.publicClient).market;
    await until("two seats", async () => (await market.read.jobState([jobId]))[1] === 2);
    a.process.kill("SIGKILL");
    await a.exited;

    // The third seat: this test, as provider 7, with the honest result.
    const resultHash = canonicalResultHash(await honestOutputs(inputs), quantumFromChain(sample.outputQuantum));
    const c = conclaveContracts(net.record, net.wallet(7));
    const salt = keccak256(toHex("test-salt"));
    await mined(
      net.publicClient,
      c.market.write.commit([jobId, jobWords(job), commitmentOf(jobId, devAccount(7).address, resultHash, salt)]),
    );
    await until("b to reveal", async () => (await market.read.jobState([jobId]))[2] >= 1);
    await mined(net.publicClient, c.market.write.reveal([jobId, jobWords(job), 2, resultHash, salt, "0x"]));
    expect((await market.read.jobState([jobId]))[0]).to.equal(2); // still revealing: a has not revealed

    const again = await run(net, 4, { file: a.configFile, dataDir: a.dataDir });
    await until("settlement", async () => (await market.read.jobState([jobId]))[0] === 3);
    expect(await market.read.balanceOf([again.address, zeroAddress])).to.equal(parseEther("0.01"));
    for (const [kind, n] of [
      ["commit", 1],
      ["reveal", 1],
    ] as const) {
      expect(new Set(journalTxs(a.dataDir, jobId, kind).map((t) => t.nonce)).size, kind).to.equal(n);
    }
    const commits = await net.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "SeatCommitted",
      args: { jobId },
      fromBlock: 0n,
    });
    expect(commits.filter((l) => (l.args as { provider: string }).provider === again.address)).to.have.length(1);
    expect(b.address).to.not.equal(again.address);
  });

  it("issue 11: a squatter that takes a seat of a k = 3 job and never reveals is slashed; the honest runners are paid and compensated", async function () {
    const a = await run(net, 4);
    const b = await run(net, 5);
    const client = net.wallet(8);
    const fee = parseEther("0.01");
    const market = conclaveContracts(net.record, net.publicClient).market;
    const stakeToken = await market.read.stakeToken();
    // Credits so far (earlier tests of this file pay the same accounts): compared as deltas.
    const credits = () =>
      Promise.all(
        [a.address, b.address, client.account.address].flatMap((who) => [
          market.read.balanceOf([who, zeroAddress]),
          market.read.balanceOf([who, stakeToken]),
        ]),
      );
    const before = await credits();
    const { jobId, job, block } = await requestInference(net.publicClient, net.record, client, {
      model: "tiny-mlp",
      inputs: sampleModel("tiny-mlp").exampleInputs(),
      redundancy: 3,
      feePerProvider: fee,
    });
    const providers = conclaveContracts(net.record, net.publicClient).providers;
    const squatter = devAccount(7).address;
    const stakeBefore = (await providers.read.getProvider([squatter])).stake;
    // The squatter (provider 7, driven by this test) takes a seat with a commitment it never opens.
    await mined(
      net.publicClient,
      conclaveContracts(net.record, net.wallet(7)).market.write.commit([
        jobId,
        jobWords(job),
        keccak256(toHex("never opened")),
      ]),
    );
    await until("both runners to reveal", async () => (await market.read.jobState([jobId]))[2] === 2);
    expect((await market.read.jobState([jobId]))[0]).to.equal(2); // the squatter's seat keeps the round open

    // Past the reveal window the round ends (the runners finalize the jobs they sit in; the
    // client tries too, whichever lands first).
    await net.publicClient.request({ method: "evm_increaseTime" as never, params: [job.revealWindow + 1] as never });
    await net.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    const clientMarket = conclaveContracts(net.record, client).market;
    await until("settlement", async () => {
      if ((await market.read.jobState([jobId]))[0] === 3) return true;
      await clientMarket.write
        .finalize([jobId, jobWords(job)])
        .then((hash) => net.publicClient.waitForTransactionReceipt({ hash }))
        .catch(() => undefined);
      return false;
    });

    const c = job.collateral;
    const slashes = await net.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "SeatSlashed",
      args: { jobId },
      fromBlock: block,
    });
    expect(slashes.map((l) => [l.args.provider, l.args.amount, l.args.revealed])).to.deep.equal([[squatter, c, false]]);
    expect((await providers.read.getProvider([squatter])).stake).to.equal(stakeBefore - c);
    expect((await providers.read.getProvider([squatter])).missed).to.equal(1n);
    // Each runner: its fee (ETH) and a quarter of c (stake token); the client: one unused fee
    // and its protocol share (ETH) and half of c (stake token).
    const gained = (await credits()).map((x, i) => x - before[i]!);
    expect(gained).to.deep.equal([fee, c / 4n, fee, c / 4n, fee + fee / 100n, c / 2n]);
    for (const r of [a, b]) expect(await seatCollateral(net.publicClient, net.record, r.address)).to.equal(0n);
    // Each runner's journal takes its outcome from the chain: paid, while the reader finds the
    // squatter's SeatSlashed and none for the runners.
    for (const r of [a, b])
      await until(`${r.address} paid`, async () => (await httpJson(`${r.http}/jobs/${jobId}`)).state === "paid");
    expect(await createChainReader(net.publicClient, net.record, squatter).seatSlashed(jobId, Number(block))).to.equal(
      true,
    );
    expect(await createChainReader(net.publicClient, net.record, a.address).seatSlashed(jobId, Number(block))).to.equal(
      false,
    );
  });

  it("a job reorged out is re-evaluated: its replacement under the same id is served once, with the new input", async function () {
    const a = await run(net, 4);
    const market = conclaveContracts(net.record, net.publicClient).market;
    const rpc = (method: string, params: unknown[] = []) =>
      net.publicClient.request({ method: method as never, params: params as never });
    const snapshot = (await rpc("evm_snapshot")) as Hex;
    const x = (v: number) => ({ x: tensorFrom("F32", [1, 4], [v, v, v, v]) });
    const first = await requestInference(net.publicClient, net.record, net.wallet(8), {
      model: "tiny-mlp",
      inputs: x(1),
      feePerProvider: parseEther("0.001"),
    });
    expect((await waitForJob(net.publicClient, net.record, first.jobId, { timeoutMs: 30_000 })).status).to.equal(
      "delivered",
    );

    // The chain drops the request and the result, and grows past the runner's cursor without them.
    await rpc("evm_revert", [snapshot]);
    for (let i = 0; i < 5; i++) await rpc("evm_mine");
    const second = await requestInference(net.publicClient, net.record, net.wallet(9), {
      model: "tiny-mlp",
      inputs: x(2),
      feePerProvider: parseEther("0.002"),
    });
    expect(second.jobId).to.equal(first.jobId);
    const outcome = await waitForJob(net.publicClient, net.record, second.jobId, { timeoutMs: 60_000 }).catch(
      (e: unknown) => {
        console.log(a.logs.slice(-30).join("\n"));
        throw e;
      },
    );
    expect(outcome.status).to.equal("delivered");
    const expected = canonicalResultHash(
      await honestOutputs(x(2)),
      quantumFromChain(sampleModel("tiny-mlp").outputQuantum),
    );
    expect(outcome.resultHash).to.equal(expected);
    const delivered = await net.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "ResultSubmitted",
      args: { jobId: second.jobId },
      fromBlock: 0n,
    });
    expect(delivered).to.have.length(1);
  });

  it("processes the backlog after its RPC connection is cut and restored", async function () {
    const proxy = await startProxy(net.node.port);
    const config = runnerConfig(net, 4, { rpcUrl: proxy.url });
    const a = await run(net, 4, config);
    await proxy.cut();
    const jobs: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      jobs.push(
        (
          await requestInference(net.publicClient, net.record, net.wallet(8), {
            model: "tiny-mlp",
            inputs: sampleModel("tiny-mlp").exampleInputs(),
            feePerProvider: parseEther("0.001"),
          })
        ).jobId,
      );
    }
    await wait(1_500);
    const market = conclaveContracts(net.record, net.publicClient).market;
    for (const id of jobs) expect((await market.read.jobState([id]))[0]).to.equal(1); // nobody served them while cut
    await proxy.restore();
    for (const id of jobs) {
      const outcome = await waitForJob(net.publicClient, net.record, id, { timeoutMs: 30_000 }).catch((e: unknown) => {
        console.log(a.logs.join("\n"));
        throw e;
      });
      expect(outcome.status).to.equal("delivered");
      expect(outcome.deliveries[0]!.provider).to.equal(a.address);
    }
    await a.stop();
    await proxy.stop();
  });

  it("refuses weights whose bytes do not match the registry (log line and metric); the job fails and the client is refunded", async function () {
    const members = [1, 2, 3].map(net.wallet);
    const sample = sampleModel("tiny-mlp");
    const weightsCid = await net.publisher.add(sample.onnx());
    const schemaCid = await net.publisher.add(new TextEncoder().encode(JSON.stringify(sample.schema)));
    const wrongSha = `0x${createHash("sha256").update("not the weights").digest("hex")}` as Hex;
    const models = conclaveContracts(net.record, members[0]!).models;
    await mined(
      net.publicClient,
      models.write.publishVersion([
        "tampered",
        {
          weightsCid,
          weightsSha256: wrongSha,
          schemaCid,
          runtime: stringToHex("onnxruntime-1.30-cpu", { size: 32 }),
          outputQuantum: 10n ** 14n,
          minMemoryMB: 64,
          minFee: 0n,
        },
      ]),
    );
    await passOnLocalChain({
      publicClient: net.publicClient,
      record: net.record,
      members,
      description: "Activate tampered v1",
      actions: [activateAction(net.record, keccak256(toHex("tampered")), 1)],
    });
    const a = await run(net, 4, runnerConfig(net, 4, { expireStaleJobs: "all" }));
    const client = net.wallet(8);
    const market = conclaveContracts(net.record, client).market;
    const { jobId } = await requestInference(net.publicClient, net.record, client, {
      model: "tampered",
      inputs: sample.exampleInputs(),
      feePerProvider: parseEther("0.001"),
      deadlineInSeconds: 120,
    });
    const record = await until("job failure", async () => {
      const j = await httpJson(`${a.http}/jobs/${jobId}`);
      return j.state === "failed" ? j : null;
    });
    expect(String(record.reason)).to.match(/sha256/);
    expect(a.logs.some((l) => l.includes("refusing weights"))).to.equal(true);
    // At least once: the prefetch on activation and the job's own fetch may both see the bad bytes.
    expect(await (await fetch(`${a.http}/metrics`)).text()).to.match(
      /conclave_weights_rejected_total\{[^}]*check="sha256"[^}]*\} [1-9]/,
    );
    await refundedAfterDeadline(net, market, jobId, client.account.address);
  });

  it("ends a job with a malformed input with a reason the client can read, and the client gets its money back", async function () {
    const a = await run(net, 4, runnerConfig(net, 4, { expireStaleJobs: "all" }));
    const client = net.wallet(8);
    const market = conclaveContracts(net.record, client).market;
    const bad = { x: tensorFrom("F32", [2, 5], new Array(10).fill(0.5)) }; // the schema wants [*, 4]
    const { jobId } = await requestInference(net.publicClient, net.record, client, {
      model: "tiny-mlp",
      inputs: bad,
      feePerProvider: parseEther("0.001"),
      deadlineInSeconds: 120,
    });
    const record = await until("job failure", async () => {
      const j = await httpJson(`${a.http}/jobs/${jobId}`);
      return j.state === "failed" ? j : null;
    });
    expect(String(record.reason)).to.match(/shape/);
    await refundedAfterDeadline(net, market, jobId, client.account.address);
    expect(encodeSafetensors(bad).byteLength).to.be.greaterThan(0);
  });
});

/**
 * Moves the chain past the job's deadline; the runner finalizes it (these runners finalize every
 * stale job they saw: expireStaleJobs "all") and the client withdraws.
 */
async function refundedAfterDeadline(
  net: Devnet,
  market: ReturnType<typeof conclaveContracts>["market"],
  jobId: bigint,
  client: `0x${string}`,
) {
  await net.publicClient.request({ method: "evm_increaseTime" as never, params: [200] as never });
  await net.publicClient.request({ method: "evm_mine" as never, params: [] as never });
  await until("refund", async () => (await market.read.jobState([jobId]))[0] === 4);
  const credited = await market.read.balanceOf([client, zeroAddress]);
  expect(credited > 0n).to.equal(true);
  const before = await net.publicClient.getBalance({ address: client });
  const receipt = await net.publicClient.waitForTransactionReceipt({
    hash: await market.write.withdraw([zeroAddress]),
  });
  expect(await net.publicClient.getBalance({ address: client })).to.equal(
    before + credited - receipt.gasUsed * receipt.effectiveGasPrice,
  );
}

async function honestOutputs(inputs: ReturnType<ReturnType<typeof sampleModel>["exampleInputs"]>) {
  const { tinyMlpReference } = await import("../../node/models/tiny-onnx.ts");
  const x = inputs.x!;
  const values = new Float32Array(x.data.buffer.slice(x.data.byteOffset, x.data.byteOffset + x.data.byteLength));
  const probs = Float32Array.from(tinyMlpReference(values, x.shape[0]!));
  return { probs: { dtype: "F32" as const, shape: [x.shape[0]!, 3], data: new Uint8Array(probs.buffer) } };
}
