import { expect } from "chai";
import { jobWords } from "../../node/attest/job-words.ts";
import {
  encodeAbiParameters,
  encodeEventTopics,
  getAbiItem,
  keccak256,
  parseEventLogs,
  toHex,
  type AbiEvent,
  type Log,
} from "viem";
import { parseEventLogsInSlices } from "../../node/chain/watcher.ts";
import { LoopBudget, throughLoopBudget, type TurnRank } from "../../node/loop-budget.ts";
import { makeJob, MARKET, marketAbi, PROVIDER } from "../helpers/fake-runner-deps.ts";

/** Keeps this thread busy for `ms` (a piece of CPU-bound work). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** A piece of work that waits its turn at `rank`, then keeps the loop busy `ms` and notes its name. */
const pieceOf =
  (budget: LoopBudget, order: string[], ms: number) =>
  async (name: string, rank: TurnRank = "other"): Promise<void> => {
    await budget.turn(rank);
    busy(ms);
    order.push(name);
  };
describe("loop budget (issue 14: the event loop in a burst)", function () {
  it("lets timers in between pieces of work once a stretch used its budget, whatever the number of pieces", async function () {
    const budget = new LoopBudget(4);
    let timerAtPiece = -1;
    let piece = 0;
    setTimeout(() => (timerAtPiece = piece), 0);
    // 40 pieces of 1 ms, all in flight at once (a burst's job steps): without the budget they run
    // back to back in one turn of the loop and the timer waits for all of them.
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        await budget.turn();
        busy(1);
        piece++;
      }),
    );
    expect(piece).to.equal(40);
    expect(timerAtPiece, "pieces done when the timer ran").to.be.within(1, 39);
    expect(budget.waits).to.be.greaterThan(0);
  });

  it("runs a piece at once when the loop is not busy (no wait, no turn lost)", async function () {
    // A budget far above the 1 ms of work: a preempted or loaded machine cannot push the stretch past it.
    const budget = new LoopBudget(10_000);
    await new Promise((r) => setTimeout(r, 5));
    await budget.turn();
    busy(1);
    await budget.turn(); // still within the stretch's budget
    expect(budget.waits).to.equal(0);
    expect(() => new LoopBudget(0)).to.throw(RangeError);
  });

  it("lets pieces asked first go before every waiting piece, each group in order", async function () {
    const budget = new LoopBudget(1);
    const order: string[] = [];
    const piece = pieceOf(budget, order, 1);
    // The first piece starts a stretch and uses it up: the rest wait for the next turn of the loop.
    await Promise.all([
      piece("step1"),
      piece("step2"),
      piece("k1-1", "prompt"),
      piece("step3"),
      piece("event1", "event"),
      piece("k1-2", "prompt"),
      piece("event2", "event"),
    ]);
    expect(order).to.deep.equal(["step1", "event1", "event2", "k1-1", "k1-2", "step2", "step3"]);
  });

  it("lets one other piece through after every 16 pieces asked first (a backfill of events does not hold every job step)", async function () {
    const budget = new LoopBudget(1);
    const order: string[] = [];
    const piece = pieceOf(budget, order, 0.2);
    await Promise.all([
      piece("blocker"),
      piece("step1"),
      piece("step2"),
      ...Array.from({ length: 40 }, (_, i) => piece(`event${i}`, "event")),
    ]);
    expect(order.indexOf("step1")).to.equal(1 + 16);
    expect(order.indexOf("step2")).to.equal(1 + 16 + 1 + 16);
    expect(order.filter((n) => n.startsWith("event"))).to.deep.equal(Array.from({ length: 40 }, (_, i) => `event${i}`));
  });

  it("lets an other piece go before prompt pieces once it waited a second (a flood of k = 1 steps holds commits and payments no longer)", async function () {
    const clock = { now: 0 };
    const budget = new LoopBudget(1_000_000, () => clock.now);
    const order: string[] = [];
    // Each piece takes 300 ms of the (fake) clock.
    const piece = async (name: string, rank: TurnRank = "other") => {
      await budget.turn(rank);
      clock.now += 300;
      order.push(name);
    };
    await Promise.all([
      piece("blocker"),
      piece("commit1"),
      ...Array.from({ length: 6 }, (_, i) => piece(`k1-${i}`, "prompt")),
      piece("commit2"),
    ]);
    // commit1 asked at 0 and goes once 1,000 ms passed (at 1,200); commit2 likewise, right after.
    expect(order).to.deep.equal(["blocker", "k1-0", "k1-1", "k1-2", "commit1", "commit2", "k1-3", "k1-4", "k1-5"]);
  });

  it("throughLoopBudget: the same answers and errors, through the target's methods as they are at call time", async function () {
    const budget = new LoopBudget(4);
    const target = {
      calls: 0,
      async read(x: number) {
        this.calls++;
        return x * 2;
      },
      async fail(): Promise<never> {
        throw new Error("nope");
      },
    };
    const wrapped = throughLoopBudget(target, budget);
    expect(await wrapped.read(21)).to.equal(42);
    expect(target.calls).to.equal(1);
    expect(wrapped.calls).to.equal(1);
    target.read = async (x: number) => x + 1; // a test replacing a fake's method
    expect(await wrapped.read(1)).to.equal(2);
    let error: unknown;
    await wrapped.fail().catch((e: unknown) => (error = e));
    expect((error as Error).message).to.equal("nope");
  });

  it("parseEventLogsInSlices decodes what one parseEventLogs call does, in order", async function () {
    const requested = getAbiItem({ abi: marketAbi, name: "JobRequested" }) as AbiEvent;
    const submitted = getAbiItem({ abi: marketAbi, name: "ResultSubmitted" }) as AbiEvent;
    const logs: Log[] = [];
    for (let i = 0; i < 21; i++) {
      const jobId = BigInt(i);
      const job = makeJob({ feePerProvider: BigInt(i + 1) });
      const [event, topics, data] =
        i % 3 === 2
          ? [
              submitted,
              encodeEventTopics({
                abi: [submitted],
                eventName: "ResultSubmitted",
                args: { jobId, provider: PROVIDER.address } as never,
              }),
              encodeAbiParameters(
                submitted.inputs.filter((x) => !x.indexed),
                [keccak256(toHex(i)), toHex(`ipfs://${i}`)],
              ),
            ]
          : [
              requested,
              encodeEventTopics({
                abi: [requested],
                eventName: "JobRequested",
                args: { jobId, client: job.client, modelId: job.modelId } as never,
              }),
              encodeAbiParameters(
                requested.inputs.filter((x) => !x.indexed),
                [jobWords(job), toHex(`input ${i}`), ""],
              ),
            ];
      void event;
      logs.push({
        address: MARKET,
        topics,
        data,
        blockNumber: 5n,
        blockHash: keccak256("0x01"),
        logIndex: i,
        transactionHash: keccak256("0x02"),
        transactionIndex: 0,
        removed: false,
      } as unknown as Log);
    }
    // A log of no event in the ABI is left out by both.
    logs.splice(4, 0, { ...logs[0]!, topics: [keccak256("0x99")] } as Log);
    const sliced = await parseEventLogsInSlices({ abi: marketAbi, logs, strict: true });
    expect(sliced).to.deep.equal(parseEventLogs({ abi: marketAbi, logs, strict: true }));
    expect(sliced).to.have.length(21);
  });
});
