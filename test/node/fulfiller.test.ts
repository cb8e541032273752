import { expect } from "chai";
import {
  decodeFunctionData,
  encodeAbiParameters,
  encodeEventTopics,
  getAddress,
  keccak256,
  zeroAddress,
  type Address,
  type Log,
  type Hex,
  type TransactionReceipt,
} from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { RpcFailedError } from "../../node/chain/logs.ts";
import { TxRevertedError, TxWouldRevertError, type TxRequest, type TxSubmitter } from "../../node/chain/tx-sender.ts";
import {
  callbackOutcome,
  decideFulfil,
  decideReclaim,
  deliveryMode,
  fulfilRank,
  isAlreadyFulfilled,
  isAlreadyReclaimed,
  ownFulfil,
  reclaimRank,
  type FulfilFacts,
  type ReclaimFacts,
} from "../../node/consumers/fulfil-policy.ts";
import { rankOf } from "../../node/jobs/take-policy.ts";
import {
  createFulfiller,
  type FulfillerChain,
  type JobResult,
  type MarketView,
} from "../../node/consumers/fulfiller.ts";
import { createPreimageSource, participantsOf, resultOf } from "../../node/consumers/chain.ts";
import { CallbackStatus } from "../../node/chain/statuses.ts";
import { encodeOutputRef } from "../../node/attest/output-ref.ts";
import { resultHashPreimage } from "../../node/attest/result-hash.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { encodeSafetensors } from "../../node/tensors/safetensors.ts";
import type { TxRecord } from "../../node/journal/journal.ts";
import { createLogger } from "../../node/log.ts";

const ME = "0x00000000000000000000000000000000000000a1" as Address;
const OTHER = "0x00000000000000000000000000000000000000b2" as Address;
const ROUTER = "0x00000000000000000000000000000000000000cc" as Address;
const MARKET = "0x00000000000000000000000000000000000000dd" as Address;
const PRE = new Uint8Array([1, 2, 3, 4]);
const HASH = keccak256(PRE);
const routerAbi = loadArtifact("ConsumerRouter").abi;
const marketAbi = loadArtifact("InferenceMarket").abi;

const facts = (over: Partial<FulfilFacts> = {}): FulfilFacts => ({
  status: CallbackStatus.Funded,
  ownTx: "none",
  market: "result",
  final: true,
  myTurn: true,
  maxGasPrice: 10n,
  gasPrice: 5n,
  preimage: PRE,
  resultHash: HASH,
  maxInlineOutputBytes: 256,
  ...over,
});

describe("fulfiller decisions", function () {
  it("sends the outputs inline once the result is final, it is our turn and the price is covered", function () {
    const d = decideFulfil(facts());
    expect(d).to.include({ action: "send", hashOnly: false, outputs: "0x01020304" });
  });

  it("waits while the result is not final, no result exists yet, or another runner goes first", function () {
    expect(decideFulfil(facts({ final: false })).action).to.equal("wait");
    expect(decideFulfil(facts({ market: "wait", final: false })).action).to.equal("wait");
    expect(decideFulfil(facts({ myTurn: false })).action).to.equal("wait");
  });

  it("is done once anyone delivered (or the callback failed, was reclaimed), or our own fulfil landed", function () {
    for (const status of [
      CallbackStatus.Delivered,
      CallbackStatus.HashOnly,
      CallbackStatus.Failed,
      CallbackStatus.Reclaimed,
      CallbackStatus.None,
    ]) {
      expect(decideFulfil(facts({ status })).action, `status ${status}`).to.equal("done");
    }
    expect(decideFulfil(facts({ ownTx: "mined" })).action).to.equal("done");
  });

  it("never signs a second fulfil while one of ours may still land", function () {
    expect(decideFulfil(facts({ ownTx: "pending" }))).to.include({ action: "wait" });
  });

  it("is done with a job that ended without a result (refunded)", function () {
    expect(decideFulfil(facts({ market: "refunded" })).action).to.equal("done");
  });

  it("does not fulfil while the gas price is above the consumer's cap (the reimbursement would not cover it)", function () {
    expect(decideFulfil(facts({ gasPrice: 11n, maxGasPrice: 10n })).action).to.equal("wait");
    expect(decideFulfil(facts({ gasPrice: 10n, maxGasPrice: 10n })).action).to.equal("send");
  });

  it("delivers the hash only when the outputs are not held, do not match, or exceed maxInlineOutputBytes", function () {
    expect(deliveryMode(null, HASH, 256)).to.include({ hashOnly: true, outputs: "0x" });
    expect(deliveryMode(new Uint8Array([9]), HASH, 256)).to.include({ hashOnly: true, outputs: "0x" });
    expect(deliveryMode(PRE, HASH, 3)).to.include({ hashOnly: true, outputs: "0x" });
    expect(deliveryMode(PRE, HASH, 4)).to.include({ hashOnly: false });
    expect(decideFulfil(facts({ preimage: null }))).to.include({ action: "send", hashOnly: true });
  });

  it("ranks the job's providers first, in an order fixed per job, and others after them", function () {
    const deliverers = [ME, OTHER];
    const r1 = fulfilRank(1n, deliverers, ME);
    const r2 = fulfilRank(1n, deliverers, OTHER);
    expect([r1, r2].sort()).to.deep.equal([0, 1]);
    expect(fulfilRank(1n, deliverers, ROUTER)).to.equal(2);
    expect(fulfilRank(1n, [ME], ME)).to.equal(0);
  });

  it("reads our own fulfil transactions from the journal", function () {
    const tx = (status: TxRecord["status"]) => ({ status }) as TxRecord;
    expect(ownFulfil([])).to.equal("none");
    expect(ownFulfil([tx("replaced"), tx("sent")])).to.equal("pending");
    expect(ownFulfil([tx("reverted")])).to.equal("none");
    expect(ownFulfil([tx("replaced"), tx("mined")])).to.equal("mined");
  });

  it("takes a router revert for 'already fulfilled' as done, not other reverts", function () {
    expect(isAlreadyFulfilled(new TxWouldRevertError("x", "ConsumerRouterInvalidStatus"))).to.equal(true);
    expect(isAlreadyFulfilled(new TxWouldRevertError("x", "ConsumerRouterNotFinal"))).to.equal(false);
    expect(isAlreadyFulfilled(new TxRevertedError("x"))).to.equal(false);
  });

  it("reclaims a refunded job's deposit once it is our turn, never while a reclaim of ours may land, not when turned off", function () {
    const r = (over: Partial<ReclaimFacts> = {}) =>
      decideReclaim({ status: CallbackStatus.Funded, ownTx: "none", enabled: true, myTurn: true, ...over }).action;
    expect(r()).to.equal("send");
    expect(r({ myTurn: false })).to.equal("wait");
    expect(r({ ownTx: "pending" })).to.equal("wait");
    expect(r({ ownTx: "mined" })).to.equal("done");
    expect(r({ enabled: false })).to.equal("done");
    for (const status of [CallbackStatus.Reclaimed, CallbackStatus.Delivered, CallbackStatus.None])
      expect(r({ status }), `status ${status}`).to.equal("done");
  });

  it("ranks a refunded job's providers first; a job nobody took part in goes by the job's assignment order", function () {
    const [a, b] = [fulfilRank(3n, [ME, OTHER], ME), fulfilRank(3n, [ME, OTHER], OTHER)];
    expect(reclaimRank(3n, 0n, [ME, OTHER], ME, { rosterIndex: 0n, rosterSize: 5n })).to.equal(a);
    expect(reclaimRank(3n, 0n, [ME, OTHER], OTHER, { rosterIndex: 0n, rosterSize: 5n })).to.equal(b);
    expect(reclaimRank(3n, 0n, [OTHER], ME, { rosterIndex: 0n, rosterSize: 5n })).to.equal(1);
    // No participants: the market's permutation of the roster for the job's seed, one runner per rank.
    const seed = 0x1234_5678_9abc_def0_1357n;
    const ranks = [0n, 1n, 2n, 3n, 4n].map((i) => reclaimRank(3n, seed, [], ME, { rosterIndex: i, rosterSize: 5n }));
    expect([...ranks].sort()).to.deep.equal([0, 1, 2, 3, 4]);
    expect(ranks).to.deep.equal([0n, 1n, 2n, 3n, 4n].map((i) => rankOf(seed, i, 5n)));
    // Not on the roster: after every provider on it.
    expect(reclaimRank(3n, seed, [], ME, { rosterIndex: 5n, rosterSize: 5n })).to.equal(5);
  });

  it("takes a reclaim's 'invalid status' revert as reclaimed by another, not 'job not refunded'", function () {
    expect(isAlreadyReclaimed(new TxWouldRevertError("x", "ConsumerRouterInvalidStatus"))).to.equal(true);
    expect(isAlreadyReclaimed(new TxWouldRevertError("x", "ConsumerRouterJobNotRefunded"))).to.equal(false);
    expect(isAlreadyReclaimed(new TxRevertedError("x"))).to.equal(false);
  });

  it("finds the providers that took part in a job in the market's events", function () {
    const ev = (eventName: string, provider: Address) => ({ eventName, args: { provider }, blockNumber: 1n });
    expect(
      participantsOf([
        ev("SeatCommitted", ME),
        ev("ResultRevealed", ME),
        ev("ResultSubmitted", OTHER),
        ev("DeliveryClaimed", ROUTER),
      ]),
    ).to.deep.equal([ME, OTHER].map((a) => getAddress(a)));
    expect(participantsOf([])).to.deep.equal([]);
  });

  it("reads a mined fulfil's outcome from the router's events", function () {
    const delivered = (hashOnly: boolean) =>
      ({
        address: ROUTER,
        topics: encodeEventTopics({ abi: routerAbi, eventName: "CallbackDelivered", args: { jobId: 7n } }),
        data: encodeAbiParameters(
          [{ type: "bytes32" }, { type: "bool" }, { type: "uint256" }, { type: "bool" }],
          [HASH, hashOnly, 1n, false],
        ),
      }) as unknown as Log;
    expect(callbackOutcome(routerAbi, [delivered(false)])).to.equal("delivered");
    expect(callbackOutcome(routerAbi, [delivered(true)])).to.equal("hash_only");
    expect(callbackOutcome(routerAbi, [])).to.equal("failed");
  });

  it("finds a job's result in the market's events: k > 1 the settled hash and its revealers, k = 1 the delivery", function () {
    const ev = (eventName: string, args: Record<string, unknown>) => ({ eventName, args, blockNumber: 1n });
    const k3 = resultOf(
      [
        ev("ResultRevealed", { provider: ME, resultHash: HASH, outputRef: "0x01" }),
        ev("ResultRevealed", { provider: OTHER, resultHash: "0x02", outputRef: "0x02" }),
        ev("JobSettled", { resultHash: HASH }),
      ],
      3,
    );
    expect(k3).to.deep.equal({
      provider: zeroAddress,
      resultHash: HASH,
      deliveries: [{ provider: ME, outputRef: "0x01" }],
    });
    expect(resultOf([ev("ResultRevealed", { provider: ME, resultHash: HASH, outputRef: "0x01" })], 3)).to.equal(null);
    expect(
      resultOf([ev("ResultSubmitted", { provider: OTHER, resultHash: HASH, outputRef: "0x03" })], 1),
    ).to.deep.equal({ provider: OTHER, resultHash: HASH, deliveries: [{ provider: OTHER, outputRef: "0x03" }] });
  });
});

/** The service with a scripted chain, sender and journal. */
function harness(opts: { deliverers?: Address[]; sendError?: () => Error; fulfil?: boolean; reclaim?: boolean } = {}) {
  const job: Job = {
    client: OTHER,
    token: zeroAddress,
    modelId: HASH,
    version: 1,
    redundancy: 1,
    quorum: 1,
    protocolFeeBps: 0,
    feePerProvider: 1n,
    requestedAt: 1,
    deadline: 2,
    commitDeadline: 0,
    revealWindow: 0,
    priorityWindow: 0,
    minMemoryMB: 0,
    collateral: 0n,
    requiredTags: 0n,
    inputHash: HASH,
    seed: 0n,
    challengeWindow: 30,
    counted: false,
  };
  const result: JobResult = {
    provider: OTHER,
    resultHash: HASH,
    deliveries: (opts.deliverers ?? [ME]).map((provider) => ({ provider, outputRef: "0x" as Hex })),
  };
  const state = {
    status: CallbackStatus.Funded as number,
    view: { kind: "result", result } as MarketView,
    final: true,
    head: 10,
    price: 1n,
    /** Providers that took part in the job (read for a refunded job). */
    participants: [] as Address[],
    /** This runner's place on the provider roster. */
    roster: { rosterIndex: 0n, rosterSize: 1n },
  };
  const txs: TxRecord[] = [];
  const meta = new Map<string, string>();
  const sent: { jobId: bigint; outputs: Hex; minGas?: bigint }[] = [];
  const reclaims: bigint[] = [];
  const finalizes: bigint[] = [];
  const resumed: Hex[] = [];
  /** Every send, whether it went through or threw. */
  const attempts: string[] = [];
  let now = 1_000_000;
  const chain: FulfillerChain = {
    safeHead: async () => state.head,
    now: async () => 100,
    fundedEvents: async (from, to) =>
      from <= 5 && 5 <= to
        ? [{ jobId: 7n, consumer: OTHER, callbackGasLimit: 100_000, maxGasPrice: 10n, block: 5 }]
        : [],
    callback: async () => ({ status: state.status, callbackGasLimit: 100_000, maxGasPrice: 10n }),
    job: async () => job,
    market: async () => state.view,
    isFinal: async () => state.final,
    maxInlineOutputBytes: async () => 256,
    requiredGas: async () => 200_000n,
    gasPrice: async () => state.price,
    participants: async () => state.participants,
  };
  const sender: TxSubmitter = {
    address: ME,
    init: async () => {},
    resume: async (tx: TxRecord) => {
      resumed.push(tx.hash);
      tx.status = "mined";
      if (tx.kind === "finalize")
        state.view = { kind: "ended" }; // the market's refund not seen yet
      else state.status = tx.kind === "reclaim" ? CallbackStatus.Reclaimed : CallbackStatus.Delivered;
      return { transactionHash: tx.hash } as unknown as TransactionReceipt;
    },
    reconcile: async () => {},
    close: () => {},
    send: async (req: TxRequest) => {
      attempts.push(req.kind);
      if (opts.sendError) throw opts.sendError();
      if (req.kind === "finalize") {
        const { functionName, args } = decodeFunctionData({ abi: marketAbi, data: req.data }) as unknown as {
          functionName: string;
          args: [bigint];
        };
        expect(functionName).to.equal("finalize");
        expect(req).to.include({ jobId: args[0], to: MARKET });
        finalizes.push(args[0]);
        txs.push({ jobId: req.jobId, kind: req.kind, status: "mined", hash: "0x03", nonce: 0 } as unknown as TxRecord);
        // The market refunds it: the next look sees that.
        state.view = { kind: "refunded" };
        return { transactionHash: "0x03", gasUsed: 1n, effectiveGasPrice: 1n } as unknown as TransactionReceipt;
      }
      const { functionName, args } = decodeFunctionData({ abi: routerAbi, data: req.data }) as unknown as {
        functionName: string;
        args: [bigint, readonly bigint[], Address, Hex, Hex];
      };
      if (functionName === "reclaim") {
        expect(req).to.include({ kind: "reclaim", jobId: args[0], to: ROUTER });
        reclaims.push(args[0]);
        txs.push({ jobId: req.jobId, kind: req.kind, status: "mined", hash: "0x02", nonce: 0 } as unknown as TxRecord);
        state.status = CallbackStatus.Reclaimed;
        return { transactionHash: "0x02", gasUsed: 1n, effectiveGasPrice: 1n } as unknown as TransactionReceipt;
      }
      sent.push({ jobId: args[0], outputs: args[4], minGas: req.minGas });
      txs.push({ jobId: req.jobId, kind: req.kind, status: "mined", hash: "0x01", nonce: 0 } as unknown as TxRecord);
      state.status = CallbackStatus.Delivered;
      return { transactionHash: "0x01", gasUsed: 1n, effectiveGasPrice: 1n } as unknown as TransactionReceipt;
    },
  };
  const reclaimOutcomes: string[] = [];
  const fulfiller = createFulfiller({
    chain,
    sender,
    journal: {
      txsFor: (jobId, kind) => txs.filter((t) => t.jobId === jobId && t.kind === kind),
      getMeta: (k) => meta.get(k) ?? null,
      setMeta: (k, v) => void meta.set(k, v),
    },
    router: ROUTER,
    routerAbi,
    market: MARKET,
    marketAbi,
    preimage: async () => PRE,
    log: createLogger({ level: "debug", write: (l) => process.env.FULFIL_DEBUG && console.log(l) }),
    startBlock: 1,
    turnSeconds: 6,
    roster: async () => state.roster,
    ...(opts.fulfil === undefined ? {} : { fulfil: opts.fulfil }),
    ...(opts.reclaim === undefined ? {} : { reclaim: opts.reclaim }),
    onReclaim: (outcome) => reclaimOutcomes.push(outcome),
    lookIntervalMs: 0,
    clock: () => now,
  });
  return {
    fulfiller,
    state,
    sent,
    reclaims,
    finalizes,
    reclaimOutcomes,
    attempts,
    resumed,
    txs,
    meta,
    advance: (ms: number) => (now += ms),
  };
}

describe("fulfiller service (fakes)", function () {
  it("learns a funded job from the router's events and fulfils it once, with the outputs and the router's gas", async function () {
    const h = harness();
    await h.fulfiller.tick();
    expect(h.sent).to.deep.equal([{ jobId: 7n, outputs: "0x01020304", minGas: 350_000n }]);
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(1);
    expect(h.fulfiller.open()).to.deep.equal([]);
    expect(h.meta.get("consumers.fundedFrom")).to.equal("11");
  });

  it("keeps the job open until the result is final, and remembers where to rescan from", async function () {
    const h = harness();
    h.state.final = false;
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(0);
    expect(h.fulfiller.open()).to.deep.equal([7n]);
    expect(h.meta.get("consumers.fundedFrom")).to.equal("5");
    h.state.final = true;
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(1);
  });

  it("a runner that did not serve the job waits its turn", async function () {
    const h = harness({ deliverers: [OTHER] });
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(0);
    h.advance(6_001);
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(1);
  });

  it("drops a job another runner fulfilled first (status read, or the router's revert)", async function () {
    const h = harness();
    h.state.status = CallbackStatus.Delivered;
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(0);
    expect(h.fulfiller.open()).to.deep.equal([]);

    const r = harness({
      sendError: () => new TxWouldRevertError("fulfil would revert", "ConsumerRouterInvalidStatus"),
    });
    await r.fulfiller.tick();
    expect(r.fulfiller.open()).to.deep.equal([]);
  });

  it("keeps the job for the next look after an RPC failure or a revert it cannot explain", async function () {
    const h = harness({ sendError: () => new TxRevertedError("reverted") });
    await h.fulfiller.tick();
    expect(h.fulfiller.open()).to.deep.equal([7n]);
  });

  it("waits while the gas price is above the consumer's cap", async function () {
    const h = harness();
    h.state.price = 11n;
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(0);
    h.state.price = 10n;
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(1);
  });

  it("reclaims the deposit of a funded job the market refunded: exactly one reclaim transaction, then the job is closed", async function () {
    const h = harness();
    h.state.view = { kind: "refunded" };
    await h.fulfiller.tick();
    expect(h.reclaims).to.deep.equal([7n]);
    expect(h.sent).to.have.length(0);
    await h.fulfiller.tick();
    expect(h.reclaims).to.have.length(1);
    expect(h.fulfiller.open()).to.deep.equal([]);
    expect(h.reclaimOutcomes).to.deep.equal(["reclaimed"]);
  });

  it("sends no reclaim once the deposit is no longer Funded (reclaimed by another, or the callback delivered)", async function () {
    for (const status of [CallbackStatus.Reclaimed, CallbackStatus.Delivered, CallbackStatus.Failed]) {
      const h = harness();
      h.state.view = { kind: "refunded" };
      h.state.status = status;
      await h.fulfiller.tick();
      expect(h.attempts, `status ${status}`).to.deep.equal([]);
      expect(h.fulfiller.open(), `status ${status}`).to.deep.equal([]);
    }
  });

  it("takes the router's 'already reclaimed' revert as done: no retry", async function () {
    const h = harness({
      sendError: () => new TxWouldRevertError("reclaim would revert", "ConsumerRouterInvalidStatus"),
    });
    h.state.view = { kind: "refunded" };
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal(["reclaim"]);
    expect(h.fulfiller.open()).to.deep.equal([]);
    expect(h.reclaimOutcomes).to.deep.equal(["already"]);
    h.advance(60_000);
    await h.fulfiller.tick();
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal(["reclaim"]);
  });

  it("looks again after a reclaim that reverted for another reason (the refund undone by a reorg) or was not mined", async function () {
    for (const error of [
      new TxWouldRevertError("reclaim would revert", "ConsumerRouterJobNotRefunded"),
      new TxRevertedError("reverted"),
    ]) {
      const h = harness({ sendError: () => error });
      h.state.view = { kind: "refunded" };
      await h.fulfiller.tick();
      expect(h.fulfiller.open(), error.message).to.deep.equal([7n]);
      await h.fulfiller.tick();
      expect(h.attempts, error.message).to.deep.equal(["reclaim", "reclaim"]);
    }
  });

  it("a runner that did not take part in a refunded job waits its turn, and sends nothing once another reclaimed", async function () {
    const h = harness();
    h.state.view = { kind: "refunded" };
    h.state.participants = [OTHER];
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal([]);
    expect(h.fulfiller.open()).to.deep.equal([7n]);
    // The job's provider reclaims during our wait.
    h.state.status = CallbackStatus.Reclaimed;
    h.advance(6_001);
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal([]);
    expect(h.fulfiller.open()).to.deep.equal([]);

    // Nobody else did: it reclaims once its turn (one rank after the job's provider) has come.
    const late = harness();
    late.state.view = { kind: "refunded" };
    late.state.participants = [OTHER];
    await late.fulfiller.tick();
    late.advance(5_000);
    await late.fulfiller.tick();
    expect(late.reclaims).to.deep.equal([]);
    late.advance(1_001);
    await late.fulfiller.tick();
    expect(late.reclaims).to.deep.equal([7n]);
  });

  it("a refunded job nobody took part in: runners reclaim in the job's assignment order over the provider roster", async function () {
    // Seed 0 over a roster of 3 ranks index i at i (rankOf): index 2 waits two turns.
    const h = harness();
    h.state.view = { kind: "refunded" };
    h.state.roster = { rosterIndex: 2n, rosterSize: 3n };
    await h.fulfiller.tick();
    h.advance(11_000);
    await h.fulfiller.tick();
    expect(h.reclaims).to.deep.equal([]);
    h.advance(1_001);
    await h.fulfiller.tick();
    expect(h.reclaims).to.deep.equal([7n]);
  });

  it("a funded job past its last moment that nobody finalized: finalizes it (the refund), then reclaims its deposit; once each", async function () {
    const h = harness();
    h.state.view = { kind: "ended" };
    await h.fulfiller.tick();
    expect(h.finalizes).to.deep.equal([7n]);
    expect(h.reclaims).to.deep.equal([]);
    expect(h.fulfiller.open()).to.deep.equal([7n]);
    await h.fulfiller.tick();
    expect(h.reclaims).to.deep.equal([7n]);
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal(["finalize", "reclaim"]);
    expect(h.fulfiller.open()).to.deep.equal([]);
  });

  it("an ended job: waits its turn to finalize, never finalizes twice (its own or the expiry service's finalize), and not with reclaiming off", async function () {
    const late = harness();
    late.state.view = { kind: "ended" };
    late.state.participants = [OTHER];
    await late.fulfiller.tick();
    expect(late.attempts).to.deep.equal([]);
    late.advance(6_001);
    await late.fulfiller.tick();
    expect(late.finalizes).to.deep.equal([7n]);

    // A finalize of ours (this service's or the processor's expiry, same kind) still in flight.
    const pending = harness();
    pending.state.view = { kind: "ended" };
    pending.txs.push({ jobId: 7n, kind: "finalize", status: "sent", hash: "0xee", nonce: 2 } as unknown as TxRecord);
    await pending.fulfiller.tick();
    expect(pending.resumed).to.deep.equal(["0xee"]);
    expect(pending.attempts).to.deep.equal([]);
    // Mined, and the market not yet showing the refund (the next look will): nothing sent.
    await pending.fulfiller.tick();
    expect(pending.attempts).to.deep.equal([]);
    expect(pending.fulfiller.open()).to.deep.equal([7n]);

    // Another runner finalized first: the revert is looked past, the refund is reclaimed later.
    const raced = harness({
      sendError: () => new TxWouldRevertError("finalize would revert", "InferenceMarketNotFinalizable"),
    });
    raced.state.view = { kind: "ended" };
    await raced.fulfiller.tick();
    expect(raced.attempts).to.deep.equal(["finalize"]);
    expect(raced.fulfiller.open()).to.deep.equal([7n]);

    // Reclaiming off: nothing sent, and the job stays open (a k > 1 job whose quorum revealed
    // settles with a result once anyone finalizes it; then it is fulfilled).
    const off = harness({ reclaim: false });
    off.state.view = { kind: "ended" };
    await off.fulfiller.tick();
    expect(off.attempts).to.deep.equal([]);
    expect(off.fulfiller.open()).to.deep.equal([7n]);
    off.state.view = {
      kind: "result",
      result: { provider: OTHER, resultHash: HASH, deliveries: [{ provider: ME, outputRef: "0x" }] },
    };
    await off.fulfiller.tick();
    expect(off.attempts).to.deep.equal(["fulfil"]);
  });

  it("a finalize that keeps failing is tried again after waits that grow (about 1 s, then 2 s), not at every look", async function () {
    const h = harness({ sendError: () => new RpcFailedError("connection reset") });
    h.state.view = { kind: "ended" };
    await h.fulfiller.tick();
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal(["finalize"]);
    h.advance(700); // under the first wait's least (0.75 s)
    await h.fulfiller.tick();
    expect(h.attempts).to.have.length(1);
    h.advance(600); // past its most (1.25 s)
    await h.fulfiller.tick();
    expect(h.attempts).to.have.length(2);
    h.advance(1_400); // under the second wait's least (1.5 s)
    await h.fulfiller.tick();
    expect(h.attempts).to.have.length(2);
    h.advance(1_200); // past its most (2.5 s)
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal(["finalize", "finalize", "finalize"]);
    expect(h.fulfiller.open()).to.deep.equal([7n]);
  });

  it("a finalize of ours journaled as mined while the job stays open (a reorg undid it) is sent again after a minute", async function () {
    const h = harness();
    h.state.view = { kind: "ended" };
    h.txs.push({ jobId: 7n, kind: "finalize", status: "mined", hash: "0xee", nonce: 2 } as unknown as TxRecord);
    await h.fulfiller.tick();
    h.advance(59_000);
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal([]);
    h.advance(1_001);
    await h.fulfiller.tick();
    expect(h.finalizes).to.deep.equal([7n]);
    await h.fulfiller.tick();
    expect(h.reclaims).to.deep.equal([7n]);
    expect(h.fulfiller.open()).to.deep.equal([]);
  });

  it("after a restart, waits for the reclaim an earlier run signed instead of signing another", async function () {
    const h = harness();
    h.meta.set("consumers.fundedFrom", "5");
    h.state.view = { kind: "refunded" };
    h.txs.push({ jobId: 7n, kind: "reclaim", status: "sent", hash: "0xcd", nonce: 4 } as unknown as TxRecord);
    await h.fulfiller.tick();
    expect(h.resumed).to.deep.equal(["0xcd"]);
    expect(h.attempts).to.deep.equal([]);
    await h.fulfiller.tick();
    expect(h.attempts).to.deep.equal([]);
    expect(h.fulfiller.open()).to.deep.equal([]);
  });

  it("follows the provider's policy: consumers.reclaim false leaves a refunded job's deposit, consumers.fulfil false a result", async function () {
    const noReclaim = harness({ reclaim: false });
    noReclaim.state.view = { kind: "refunded" };
    await noReclaim.fulfiller.tick();
    expect(noReclaim.attempts).to.deep.equal([]);
    expect(noReclaim.fulfiller.open()).to.deep.equal([]);

    const noFulfil = harness({ fulfil: false });
    await noFulfil.fulfiller.tick();
    expect(noFulfil.attempts).to.deep.equal([]);
    expect(noFulfil.fulfiller.open()).to.deep.equal([]);
    const reclaimOnly = harness({ fulfil: false });
    reclaimOnly.state.view = { kind: "refunded" };
    await reclaimOnly.fulfiller.tick();
    expect(reclaimOnly.reclaims).to.deep.equal([7n]);
  });

  it("after a restart, waits for the fulfil an earlier run signed instead of signing another, and rescans from the journal's cursor", async function () {
    const h = harness();
    h.meta.set("consumers.fundedFrom", "5");
    h.txs.push({ jobId: 7n, kind: "fulfil", status: "sent", hash: "0xab", nonce: 3 } as unknown as TxRecord);
    await h.fulfiller.tick();
    expect(h.resumed).to.deep.equal(["0xab"]);
    expect(h.sent).to.have.length(0);
    await h.fulfiller.tick();
    expect(h.sent).to.have.length(0);
    expect(h.fulfiller.open()).to.deep.equal([]);
  });
});

describe("fulfiller preimage source", function () {
  const outputs = {
    y: { dtype: "F32" as const, shape: [2], data: new Uint8Array(Float32Array.from([0.5, -1.25]).buffer) },
  };
  const safetensors = encodeSafetensors(outputs);
  const preimage = resultHashPreimage(outputs, 1e-4);
  const resultHash = keccak256(preimage);
  const job = { modelId: HASH, version: 1 } as unknown as Job;
  const source = (local: Uint8Array | null, content: Partial<ContentStore> = {}) =>
    createPreimageSource({
      localOutputs: async () => local,
      content: content as ContentStore,
      outputQuantum: async () => 10n ** 14n,
      fetchTimeoutMs: 1_000,
    });
  const result = (outputRef: Hex): JobResult => ({
    provider: OTHER,
    resultHash,
    deliveries: [{ provider: OTHER, outputRef }],
  });

  it("uses the outputs the runner saved when it served the job", async function () {
    expect(await source(safetensors)(1n, job, result("0x"), 4096)).to.deep.equal(preimage);
  });

  it("otherwise fetches them by the delivery's output reference (inline or IPFS), checked against the result", async function () {
    expect(
      await source(null)(1n, job, result(encodeOutputRef({ kind: "inline", bytes: safetensors })), 4096),
    ).to.deep.equal(preimage);
    const asked: string[] = [];
    const ipfs = source(encodeSafetensors({ y: { dtype: "F32", shape: [1], data: new Uint8Array(4) } }), {
      get: async (cid: string) => (asked.push(cid), safetensors),
    });
    expect(await ipfs(1n, job, result(encodeOutputRef({ kind: "ipfs", cid: "bafyout" })), 4096)).to.deep.equal(
      preimage,
    );
    expect(asked).to.deep.equal(["bafyout"]);
  });

  it("gives null (hash only) when nothing held or fetched hashes to the result", async function () {
    const other = encodeSafetensors({ y: { dtype: "F32", shape: [1], data: new Uint8Array(4) } });
    expect(await source(other)(1n, job, result(encodeOutputRef({ kind: "inline", bytes: other })), 4096)).to.equal(
      null,
    );
    expect(
      await source(null, { get: async () => Promise.reject(new Error("gone")) })(
        1n,
        job,
        result(encodeOutputRef({ kind: "ipfs", cid: "bafyout" })),
        4096,
      ),
    ).to.equal(null);
  });
});
