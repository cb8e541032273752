import { expect } from "chai";
import {
  concat,
  getAddress,
  hashTypedData,
  keccak256,
  numberToHex,
  parseEther,
  parseEventLogs,
  toFunctionSelector,
  toHex,
  type Address,
  type Hex,
} from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import {
  attestationDomain,
  attestationFor,
  ATTESTATION_TYPES,
  commitmentOf,
  signAttestation,
  verifyAttestation,
} from "../../node/attest/attestation.ts";
import {
  decodeAttestationBatch,
  encodeAttestationBatch,
  encodeAttestationItem,
  encodeResultBatch,
  encodeResultItem,
  type OwnResult,
  type SignedResult,
} from "../../node/attest/batch.ts";
import { checkAttestation } from "../../node/client/verify.ts";
import { InvalidAttestationError } from "../../node/errors.ts";
import { errorName, rejection } from "../helpers/errors.ts";
import { seatCollateral } from "../helpers/collateral.ts";
import { networkHelpers, TOKENS } from "../helpers/hardhat-stack.ts";
import { ETH, marketFixture, MODEL, MODEL_ID, requestJob, type MarketFixture } from "../helpers/market-fixture.ts";
import { jobWords } from "../../node/attest/job-words.ts";

const JobStatus = { Open: 1, Revealing: 2, Settled: 3, Refunded: 4, Delivered: 5 } as const;

/** A k = 1 delivery is paid by a claim once its challenge window passed: a keeper claims it here. */
async function claimAfterWindow(f: MarketFixture, jobId: bigint, job: Job, provider: Address): Promise<void> {
  expect(await status(f, jobId)).to.equal(JobStatus.Delivered);
  await networkHelpers.time.increase(job.challengeWindow + 1);
  await f.as(f.relayer).court.write.claim([[{ jobId, job: jobWords(job), provider, resultHash: RESULT }]]);
  expect(await status(f, jobId)).to.equal(JobStatus.Settled);
}
/** The collateral a provider's open seats hold in the fixture's market. */
const inSeats = (f: MarketFixture, who: Address) => seatCollateral(f.publicClient, f.record, who);

const RESULT = keccak256(toHex("the canonical result"));
const OTHER = keccak256(toHex("a different result"));
const OUTPUT_REF = toHex("ipfs://bafkreioutput");

async function balances(f: MarketFixture, token: `0x${string}`, accounts: `0x${string}`[]) {
  return Promise.all(accounts.map((a) => f.as(f.client).market.read.balanceOf([a, token])));
}

async function status(f: MarketFixture, jobId: bigint) {
  const [s] = await f.as(f.client).market.read.jobState([jobId]);
  return Number(s);
}

async function ethBalance(f: MarketFixture, a: `0x${string}`) {
  return f.publicClient.getBalance({ address: a });
}

async function gasCost(f: MarketFixture, hash: Hex) {
  const r = await f.publicClient.waitForTransactionReceipt({ hash });
  return r.gasUsed * r.effectiveGasPrice;
}

describe("paid inference jobs (viem, Hardhat network)", function () {
  it("k = 1 in ETH: the provider submits, is credited once the challenge window passed and withdraws; the DAO gets the protocol fee", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const [p1] = f.providers;
    const fee = parseEther("0.01");
    const { jobId, job } = await requestJob(f, { fee });
    expect(job.version).to.equal(1); // "active" was pinned to the concrete version
    expect(await status(f, jobId)).to.equal(JobStatus.Open);

    await f.as(p1!).market.write.submitResult([jobId, jobWords(job), RESULT, OUTPUT_REF]);
    expect(await f.as(p1!).market.read.balanceOf([p1!.account.address, ETH])).to.equal(0n); // not before the window
    expect(await inSeats(f, p1!.account.address)).to.equal(job.collateral);
    await claimAfterWindow(f, jobId, job, p1!.account.address);
    expect(await inSeats(f, p1!.account.address)).to.equal(0n);
    const [provider, treasury] = await balances(f, ETH, [p1!.account.address, f.timelock]);
    expect(provider).to.equal(fee);
    expect(treasury).to.equal(0n); // protocol fees accrue per token, not to the treasury's balance
    expect(await f.as(f.client).market.read.protocolFees([ETH])).to.equal((fee * 100n) / 10_000n);
    const counters = await f.as(p1!).providers.read.getProvider([p1!.account.address]);
    expect([counters.disagreed, counters.missed]).to.deep.equal([0n, 0n]);

    const before = await ethBalance(f, p1!.account.address);
    const hash = await f.as(p1!).market.write.withdraw([ETH]);
    expect(await ethBalance(f, p1!.account.address)).to.equal(before + fee - (await gasCost(f, hash)));
    expect(await f.as(p1!).market.read.balanceOf([p1!.account.address, ETH])).to.equal(0n);
  });

  it("k = 1 in an ERC-20, delivered as a signed attestation relayed by someone else", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const [p1] = f.providers;
    const fee = TOKENS(5);
    const clientBefore = await f.usd.read.balanceOf([f.client.account.address]);
    const { jobId, job } = await requestJob(f, { fee, token: f.usd.address });
    expect(await f.usd.read.balanceOf([f.client.account.address])).to.equal(clientBefore - fee - fee / 100n);

    const chainId = await f.publicClient.getChainId();
    const market = f.record.contracts.InferenceMarket!.address;
    const attestation = attestationFor(jobId, job, RESULT, OUTPUT_REF);
    const signature = await signAttestation(p1!, chainId, market, attestation);
    // Anyone can check it with the standard library, and the contract computes the same digest.
    expect(await verifyAttestation(p1!.account.address, chainId, market, attestation, signature)).to.equal(true);
    expect(await f.as(p1!).market.read.attestationDigest([jobId, jobWords(job), RESULT, OUTPUT_REF])).to.equal(
      hashTypedData({
        domain: attestationDomain(chainId, market),
        types: ATTESTATION_TYPES,
        primaryType: "Attestation",
        message: attestation,
      }),
    );

    const hash = await f
      .as(f.relayer)
      .market.write.submitAttestations([
        encodeAttestationBatch([{ jobId, job, resultHash: RESULT, outputRef: OUTPUT_REF, signature }]),
      ]);
    const receipt = await f.publicClient.waitForTransactionReceipt({ hash });
    const delivered = parseEventLogs({ abi: f.as(p1!).market.abi, logs: receipt.logs, eventName: "ResultSubmitted" });
    expect(delivered[0]!.args.provider).to.equal(getAddress(p1!.account.address));
    await claimAfterWindow(f, jobId, job, getAddress(p1!.account.address));
    expect(await f.as(p1!).market.read.balanceOf([p1!.account.address, f.usd.address])).to.equal(fee);
    expect(await f.as(p1!).market.read.balanceOf([f.relayer.account.address, f.usd.address])).to.equal(0n);

    await f.as(p1!).market.write.withdraw([f.usd.address]);
    expect(await f.usd.read.balanceOf([p1!.account.address])).to.equal(fee);
  });

  it("a signed batch with a malformed item in the middle delivers the others, and the client's check frames it as the market does (finding 11)", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const [p1] = f.providers;
    const chainId = await f.publicClient.getChainId();
    const market = f.record.contracts.InferenceMarket!.address;
    const items: SignedResult[] = [];
    for (let i = 0; i < 2; i++) {
      const { jobId, job } = await requestJob(f, { fee: parseEther("0.01") });
      const signature = await signAttestation(p1!, chainId, market, attestationFor(jobId, job, RESULT, OUTPUT_REF));
      items.push({ jobId, job, resultHash: RESULT, outputRef: OUTPUT_REF, signature });
    }
    // 44 bytes claiming to be an item: far shorter than an item's fixed part.
    const junk = concat([numberToHex(40, { size: 4 }), numberToHex(999n, { size: 32 }), `0x${"ab".repeat(8)}`]);
    const batch = concat([encodeAttestationItem(items[0]!), junk, encodeAttestationItem(items[1]!)]);
    expect(concat([encodeAttestationItem(items[0]!), encodeAttestationItem(items[1]!)])).to.equal(
      encodeAttestationBatch(items),
    );

    const hash = await f.as(f.relayer).market.write.submitAttestations([batch]);
    const logs = (await f.publicClient.waitForTransactionReceipt({ hash })).logs;
    const abi = f.as(p1!).market.abi;
    expect(parseEventLogs({ abi, logs, eventName: "ResultSubmitted" }).map((l) => l.args.jobId)).to.deep.equal(
      items.map((i) => i.jobId),
    );
    const rejected = parseEventLogs({ abi, logs, eventName: "AttestationRejected" });
    expect(rejected.map((l) => [l.args.jobId, l.args.reason])).to.deep.equal([
      [999n, toFunctionSelector("InferenceMarketMalformedAttestation(uint256)")],
    ]);

    const framed = decodeAttestationBatch(batch);
    expect(framed.items.map((i) => i.jobId)).to.deep.equal(items.map((i) => i.jobId));
    expect(framed.malformed).to.have.length(1);
    const check = await checkAttestation(f.publicClient, market, chainId, items[1]!.jobId, items[1]!.job, {
      provider: p1!.account.address,
      resultHash: RESULT,
      outputRef: OUTPUT_REF,
      txHash: hash,
    });
    expect([check.signedBy, check.valid]).to.deep.equal(["eip712", true]);
    expect(() => encodeAttestationBatch([{ ...items[0]!, signature: "0x1234" }])).to.throw(InvalidAttestationError);
  });

  it("a provider's own batch (submitResults) delivers every item for its sender, rejects the bad one alone, and the client's check reads the transaction's signature", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const [p1, p2] = f.providers;
    const chainId = await f.publicClient.getChainId();
    const market = f.record.contracts.InferenceMarket!.address;
    const items: OwnResult[] = [];
    for (let i = 0; i < 3; i++) {
      const { jobId, job } = await requestJob(f, { fee: parseEther("0.01") });
      items.push({ jobId, job, resultHash: RESULT, outputRef: OUTPUT_REF });
    }
    // The middle item claims other job parameters: rejected alone, the batch goes on.
    const tampered = { ...items[1]!, job: { ...items[1]!.job, feePerProvider: items[1]!.job.feePerProvider + 1n } };
    const batch = encodeResultBatch([items[0]!, tampered, items[2]!]);
    expect(batch).to.equal(concat([items[0]!, tampered, items[2]!].map(encodeResultItem)));

    const hash = await f.as(p1!).market.write.submitResults([batch]);
    const logs = (await f.publicClient.waitForTransactionReceipt({ hash })).logs;
    const abi = f.as(p1!).market.abi;
    const delivered = parseEventLogs({ abi, logs, eventName: "ResultSubmitted" });
    expect(delivered.map((l) => [l.args.jobId, l.args.provider])).to.deep.equal([
      [items[0]!.jobId, getAddress(p1!.account.address)],
      [items[2]!.jobId, getAddress(p1!.account.address)],
    ]);
    const rejected = parseEventLogs({ abi, logs, eventName: "AttestationRejected" });
    expect(rejected.map((l) => [l.args.jobId, l.args.provider, l.args.reason])).to.deep.equal([
      [items[1]!.jobId, getAddress(p1!.account.address), toFunctionSelector("InferenceMarketJobMismatch(uint256)")],
    ]);

    // Sent by the provider itself: the client's check is the transaction's own signature.
    const check = await checkAttestation(f.publicClient, market, chainId, items[0]!.jobId, items[0]!.job, {
      provider: p1!.account.address,
      resultHash: RESULT,
      outputRef: OUTPUT_REF,
      txHash: hash,
    });
    expect([check.signedBy, check.valid]).to.deep.equal(["transaction", true]);
    // A copy of the batch sent by another provider delivers nothing twice.
    const copy = await f.as(p2!).market.write.submitResults([encodeResultBatch([items[0]!, items[2]!])]);
    const copyLogs = (await f.publicClient.waitForTransactionReceipt({ hash: copy })).logs;
    expect(parseEventLogs({ abi, logs: copyLogs, eventName: "ResultSubmitted" })).to.have.length(0);
    await claimAfterWindow(f, items[0]!.jobId, items[0]!.job, getAddress(p1!.account.address));
    expect(await f.as(p1!).market.read.balanceOf([p1!.account.address, ETH])).to.equal(parseEther("0.01"));
  });

  it("a migration: the DAO winds the market down; an open k = 1 job is refunded at once, a k = 3 job in its reveal settles, nothing new is taken (finding 12)", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const fee = parseEther("0.01");
    const open = await requestJob(f, { fee });
    const k3 = await requestJob(f, { redundancy: 3, fee });
    const salt = keccak256(toHex("salt"));
    for (const p of f.providers)
      await f
        .as(p)
        .market.write.commit([k3.jobId, jobWords(k3.job), commitmentOf(k3.jobId, p.account.address, RESULT, salt)]);

    await f.dao.court.write.windDown();
    expect(await f.as(f.client).court.read.woundDown()).to.equal(true);
    const market = f.record.contracts.InferenceMarket!.address;
    expect(
      await f.as(f.client).providers.read.hasRole([await f.as(f.client).providers.read.RETIRED_MARKET_ROLE(), market]),
    ).to.equal(true);
    // No new seat, not even on collateral the provider allocated here before (its first commit did).
    const refused = await rejection(() =>
      f.as(f.providers[0]!).market.simulate.submitResult([open.jobId, jobWords(open.job), RESULT, OUTPUT_REF]),
    );
    expect(errorName(refused)).to.equal("InferenceMarketWoundDown");
    expect(errorName(await rejection(() => requestJob(f, { fee })))).to.equal("InferenceMarketWoundDown");

    await f.as(f.relayer).market.write.finalize([open.jobId, jobWords(open.job)]);
    expect(await status(f, open.jobId)).to.equal(JobStatus.Refunded);
    for (const [i, p] of f.providers.entries())
      await f.as(p).market.write.reveal([k3.jobId, jobWords(k3.job), i, RESULT, salt, OUTPUT_REF]);
    expect(await status(f, k3.jobId)).to.equal(JobStatus.Settled);
    for (const p of f.providers) {
      expect(await inSeats(f, p.account.address)).to.equal(0n);
      await f.as(p).market.write.withdraw([ETH]);
    }
    expect(await f.as(f.client).market.read.balanceOf([f.client.account.address, ETH])).to.equal(fee + fee / 100n);
  });

  it("k = 3 in ETH: three providers commit, reveal the same result and are all paid; collateral is released", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const fee = parseEther("0.02");
    const { jobId, job } = await requestJob(f, { redundancy: 3, fee });
    expect(job.quorum).to.equal(2);
    const salts: Hex[] = [];
    for (const [i, p] of f.providers.entries()) {
      salts.push(keccak256(toHex(`salt-${i}`)));
      await f
        .as(p)
        .market.write.commit([jobId, jobWords(job), commitmentOf(jobId, p.account.address, RESULT, salts[i]!)]);
      expect(await inSeats(f, p.account.address)).to.equal(f.params.collateralPerJob);
    }
    expect(await status(f, jobId)).to.equal(JobStatus.Revealing);
    for (const [i, p] of f.providers.entries()) {
      await f.as(p).market.write.reveal([jobId, jobWords(job), i, RESULT, salts[i]!, OUTPUT_REF]);
    }
    expect(await status(f, jobId)).to.equal(JobStatus.Settled);
    for (const p of f.providers) {
      expect(await f.as(p).market.read.balanceOf([p.account.address, ETH])).to.equal(fee);
      expect(await inSeats(f, p.account.address)).to.equal(0n);
      const record = await f.as(p).providers.read.getProvider([p.account.address]);
      expect([record.disagreed, record.missed]).to.deep.equal([0n, 0n]);
    }
    expect(await f.as(f.client).market.read.protocolFees([ETH])).to.equal((3n * fee) / 100n);
    expect(await f.as(f.client).market.read.balanceOf([f.client.account.address, ETH])).to.equal(0n);
  });

  it("k = 3 in an ERC-20 with one dissenter: the majority is paid, the minority slashed to the client and the majority, the client refunded its share", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const fee = TOKENS(3);
    const { jobId, job } = await requestJob(f, { redundancy: 3, fee, token: f.usd.address });
    const results = [RESULT, RESULT, OTHER];
    const salt = keccak256(toHex("salt"));
    for (const [i, p] of f.providers.entries()) {
      await f
        .as(p)
        .market.write.commit([jobId, jobWords(job), commitmentOf(jobId, p.account.address, results[i]!, salt)]);
    }
    const slashedBefore = await f.as(f.client).providers.read.slashedFunds();
    for (const [i, p] of f.providers.entries()) {
      await f.as(p).market.write.reveal([jobId, jobWords(job), i, results[i]!, salt, OUTPUT_REF]);
    }
    const [p1, p2, p3] = f.providers as [typeof f.client, typeof f.client, typeof f.client];
    expect(await f.as(p1).market.read.balanceOf([p1.account.address, f.usd.address])).to.equal(fee);
    expect(await f.as(p2).market.read.balanceOf([p2.account.address, f.usd.address])).to.equal(fee);
    expect(await f.as(p3).market.read.balanceOf([p3.account.address, f.usd.address])).to.equal(0n);
    const dissenter = await f.as(p3).providers.read.getProvider([p3.account.address]);
    expect(dissenter.stake).to.equal(TOKENS(1_000) - f.params.collateralPerJob);
    expect(dissenter.disagreed).to.equal(1n);
    // The seized collateral compensates the client (half) and the winners (a quarter each), in
    // the stake token; nothing accrues to the DAO.
    const c = f.params.collateralPerJob;
    const stakeToken = await f.as(f.client).market.read.stakeToken();
    expect(getAddress(stakeToken)).to.equal(getAddress(f.record.contracts.ConclaveToken!.address));
    expect(await f.as(p3).providers.read.slashedFunds()).to.equal(slashedBefore);
    expect(
      await balances(f, stakeToken, [
        f.client.account.address,
        p1.account.address,
        p2.account.address,
        p3.account.address,
      ]),
    ).to.deep.equal([c / 2n, c / 4n, c / 4n, 0n]);
    const stakeBefore = await f.as(p1).token.read.balanceOf([p1.account.address]);
    await f.as(p1).market.write.withdraw([stakeToken]);
    expect(await f.as(p1).token.read.balanceOf([p1.account.address])).to.equal(stakeBefore + c / 4n);

    const refund = fee + fee / 100n; // one unpaid seat and its protocol fee
    expect(await f.as(f.client).market.read.balanceOf([f.client.account.address, f.usd.address])).to.equal(refund);
    const before = await f.usd.read.balanceOf([f.client.account.address]);
    await f.as(f.client).market.write.withdraw([f.usd.address]);
    expect(await f.usd.read.balanceOf([f.client.account.address])).to.equal(before + refund);
  });

  it("an expired k = 1 ERC-20 job is finalized by anyone and the client withdraws its whole escrow", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const start = await f.usd.read.balanceOf([f.client.account.address]);
    const { jobId, job } = await requestJob(f, { fee: TOKENS(2), token: f.usd.address, deadlineIn: 120 });
    await networkHelpers.time.increase(121);
    await f.as(f.providers[0]!).market.write.finalize([jobId, jobWords(job)]);
    expect(await status(f, jobId)).to.equal(JobStatus.Refunded);
    await f.as(f.client).market.write.withdraw([f.usd.address]);
    expect(await f.usd.read.balanceOf([f.client.account.address])).to.equal(start);
  });

  it("an expired k = 3 ETH job with no seats taken refunds the client in full", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const fee = parseEther("0.05");
    const { jobId, job } = await requestJob(f, { redundancy: 3, fee, deadlineIn: 300 });
    await networkHelpers.time.increase(301);
    await f.as(f.relayer).market.write.finalize([jobId, jobWords(job)]);
    const escrow = 3n * fee + (3n * fee) / 100n;
    expect(await f.as(f.client).market.read.balanceOf([f.client.account.address, ETH])).to.equal(escrow);
    const before = await ethBalance(f, f.client.account.address);
    const hash = await f.as(f.client).market.write.withdraw([ETH]);
    expect(await ethBalance(f, f.client.account.address)).to.equal(before + escrow - (await gasCost(f, hash)));
  });

  it("a retired version: its open jobs are still served; the client cancels one and withdraws the escrow to another address", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const [p1] = f.providers;
    const fee = parseEther("0.02");
    const served = await requestJob(f, { fee });
    const open = await requestJob(f, { redundancy: 3, fee });
    await f
      .as(p1!)
      .market.write.commit([
        open.jobId,
        jobWords(open.job),
        commitmentOf(open.jobId, p1!.account.address, RESULT, keccak256(toHex("salt"))),
      ]);
    await f.dao.models.write.retireVersion([MODEL_ID, served.job.version]);

    // Pinned to its version, the k = 1 job is still delivered and paid after the retirement.
    await f.as(p1!).market.write.submitResult([served.jobId, jobWords(served.job), RESULT, OUTPUT_REF]);
    await claimAfterWindow(f, served.jobId, served.job, p1!.account.address);

    const hash = await f.as(f.client).market.write.cancel([open.jobId, jobWords(open.job)]);
    const [cancelled] = parseEventLogs({
      abi: f.as(f.client).market.abi,
      eventName: "JobCancelled",
      logs: (await f.publicClient.waitForTransactionReceipt({ hash })).logs,
    });
    const escrow = 3n * fee + (3n * fee) / 100n;
    expect(cancelled!.args).to.deep.equal({ jobId: open.jobId, refund: escrow });
    expect(await status(f, open.jobId)).to.equal(JobStatus.Refunded);
    const provider = await f.as(p1!).providers.read.getProvider([p1!.account.address]);
    expect(await inSeats(f, p1!.account.address)).to.equal(0n); // its seat released, no fault
    expect(provider.missed).to.equal(0n);

    const cold = f.relayer.account.address;
    const before = await ethBalance(f, cold);
    await f.as(f.client).market.write.withdrawTo([ETH, cold]);
    expect(await ethBalance(f, cold)).to.equal(before + escrow);
    expect(await f.as(f.client).market.read.balanceOf([f.client.account.address, ETH])).to.equal(0n);
  });

  it("the minimum fee is in wei, converted into an ERC-20 at the DAO's rate; the DAO's settings are called on the market's address (finding 7)", async function () {
    const f = await networkHelpers.loadFixture(marketFixture);
    const market = f.as(f.client).market;
    // Deployed with the test dollar at 1e18 base units per ETH: one base unit per wei.
    expect(await market.read.minFeeIn([f.usd.address, parseEther("0.001")])).to.equal(parseEther("0.001"));
    const [allowed] = await f.publicClient.getContractEvents({
      address: market.address,
      abi: market.abi,
      eventName: "TokenAllowed",
      fromBlock: 0n,
    });
    expect(allowed!.args).to.deep.equal({ token: getAddress(f.usd.address), allowed: true, ratePerEth: 10n ** 18n });

    // A version whose minimum is 0.001 ETH, and the dollar at 2,000 per ETH: 2 dollars.
    const v1 = await f.as(f.client).models.read.getVersion([MODEL_ID, 1]);
    await f.as(f.alice).models.write.publishVersion([
      MODEL,
      {
        weightsCid: v1.weightsCid,
        weightsSha256: keccak256(toHex("weights v2")),
        schemaCid: v1.schemaCid,
        runtime: v1.runtime,
        outputQuantum: v1.outputQuantum,
        minMemoryMB: v1.minMemoryMB,
        minFee: parseEther("0.001"),
      },
    ]);
    await f.dao.models.write.activateVersion([MODEL_ID, 2]);
    await f.dao.court.write.setTokenAllowed([f.usd.address, true, parseEther("2000")]);
    expect(await market.read.minFeeIn([f.usd.address, parseEther("0.001")])).to.equal(parseEther("2"));
    expect(await market.read.minFeeIn([ETH, parseEther("0.001")])).to.equal(parseEther("0.001"));

    const refused = await requestJob(f, { fee: parseEther("1.99"), token: f.usd.address }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(refused)).to.match(/InferenceMarketFeeBelowMinimum/);
    const { job } = await requestJob(f, { fee: parseEther("2"), token: f.usd.address });
    expect(job.version).to.equal(2);
    expect(job.feePerProvider).to.equal(parseEther("2"));
    // ETH pays the wei minimum itself.
    expect((await requestJob(f, { fee: parseEther("0.001") })).job.feePerProvider).to.equal(parseEther("0.001"));

    // The treasury's protocol fees, also a DAO setting served by the court.
    const [p1] = f.providers;
    const paid = await requestJob(f, { fee: parseEther("0.01") });
    await f.as(p1!).market.write.submitResult([paid.jobId, jobWords(paid.job), RESULT, OUTPUT_REF]);
    await claimAfterWindow(f, paid.jobId, paid.job, p1!.account.address);
    const fees = await market.read.protocolFees([ETH]);
    expect(fees > 0n).to.equal(true);
    await f.dao.court.write.withdrawProtocolFees([ETH]);
    expect(await market.read.protocolFees([ETH])).to.equal(0n);
  });
});
