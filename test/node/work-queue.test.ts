import { expect } from "chai";
import { Gate, WorkQueue, type Lane } from "../../node/jobs/work-queue.ts";

/** A queue of one slot whose runs record their key and wait until the test lets them end. */
function recordingQueue(now?: () => number) {
  const order: string[] = [];
  const waiting: (() => void)[] = [];
  const queue = new WorkQueue(
    1,
    (key) =>
      new Promise<void>((resolve) => {
        order.push(key);
        waiting.push(resolve);
      }),
    () => undefined,
    now,
  );
  /** Ends the running key and lets the next one start (each start is synchronous in pump). */
  const finishOne = async () => {
    waiting.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  const finishAll = async () => {
    while (waiting.length > 0) await finishOne();
  };
  return { queue, order, finishOne, finishAll };
}

describe("WorkQueue lanes: urgent, then normal, with background taken in turn", function () {
  it("runs urgent keys first, then normal ones, and background keys once no normal key waits", async function () {
    const { queue, order, finishAll } = recordingQueue();
    queue.push("blocker", "urgent");
    const pushes: [string, Lane][] = [
      ["b1", "background"],
      ["b2", "background"],
      ["n1", "normal"],
      ["n2", "normal"],
      ["n3", "normal"],
      ["n4", "normal"],
      ["n5", "normal"],
      ["u1", "urgent"],
    ];
    for (const [key, lane] of pushes) queue.push(key, lane);
    await finishAll();
    expect(order).to.deep.equal(["blocker", "u1", "n1", "n2", "n3", "n4", "n5", "b1", "b2"]);
  });

  it("takes a background key before normal ones once it waited its longest wait, counted from its first push (a flood of k = 1 jobs never holds a k = 3 commit past half its window)", async function () {
    const clock = { now: 0 };
    const { queue, order, finishOne, finishAll } = recordingQueue(() => clock.now);
    queue.push("blocker", "urgent");
    queue.push("b1", "background", 5_000);
    queue.push("b2", "background", 60_000);
    for (let i = 1; i <= 6; i++) queue.push(`n${i}`, "normal");
    await finishOne(); // the blocker: n1 starts
    clock.now = 4_999;
    queue.push("b1", "background", 1); // pushed again while queued: its first push counts
    await finishOne(); // n1: n2 starts
    clock.now = 5_000;
    await finishOne(); // n2: b1 has waited 5 s and goes before n3
    await finishAll();
    expect(order).to.deep.equal(["blocker", "n1", "n2", "b1", "n3", "n4", "n5", "n6", "b2"]);
  });

  it("takes the background key whose own wait is over, not only the oldest", async function () {
    const clock = { now: 0 };
    const { queue, order, finishOne, finishAll } = recordingQueue(() => clock.now);
    queue.push("blocker", "urgent");
    queue.push("b-long", "background", 60_000);
    queue.push("b-short", "background", 5_000);
    for (let i = 1; i <= 3; i++) queue.push(`n${i}`, "normal");
    clock.now = 5_000;
    await finishOne(); // the blocker: b-short's wait is over, b-long's is not
    await finishAll();
    expect(order).to.deep.equal(["blocker", "b-short", "n1", "n2", "n3", "b-long"]);
  });

  it("tells each run the lane its key was taken from (the step's rank in the loop budget follows it)", async function () {
    const runs: [string, Lane][] = [];
    const queue = new WorkQueue(
      4,
      async (key, lane) => {
        runs.push([key, lane]);
      },
      () => undefined,
    );
    queue.push("a", "background");
    queue.push("b", "urgent");
    queue.push("c");
    await queue.idle();
    expect(runs).to.deep.equal([
      ["a", "background"],
      ["b", "urgent"],
      ["c", "normal"],
    ]);
  });

  it("takes background keys alone when no normal key waits", async function () {
    const { queue, order, finishAll } = recordingQueue();
    queue.push("blocker", "urgent");
    queue.push("b1", "background");
    queue.push("b2", "background");
    await finishAll();
    expect(order).to.deep.equal(["blocker", "b1", "b2"]);
  });

  it("moves a queued key to a more urgent lane, never to a less urgent one, and never queues it twice", async function () {
    const { queue, order, finishAll } = recordingQueue();
    queue.push("blocker", "urgent");
    queue.push("n1", "normal");
    queue.push("b1", "background");
    queue.push("b1", "urgent");
    queue.push("n1", "background");
    queue.push("n1", "normal");
    expect(queue.size()).to.equal(3);
    await finishAll();
    expect(order).to.deep.equal(["blocker", "b1", "n1"]);
  });

  it("runs a key pushed while it runs once more, in the most urgent lane it was asked for", async function () {
    const { queue, order, finishOne, finishAll } = recordingQueue();
    queue.push("a", "normal");
    queue.push("n1", "normal");
    queue.push("a", "background");
    queue.push("a", "urgent");
    await finishOne();
    // "a" ended and went back in the urgent lane: ahead of n1, which waited since before.
    await finishAll();
    expect(order).to.deep.equal(["a", "a", "n1"]);
  });
});

describe("WorkQueue.outside: a key waiting on a receipt holds no slot (issue 14, fleet burst)", function () {
  it("lets queued keys run while a running key waits outside, and takes a slot again before them", async function () {
    const events: string[] = [];
    let receipt!: () => void;
    const mined = new Promise<void>((resolve) => (receipt = resolve));
    const ends = new Map<string, () => void>();
    const queue = new WorkQueue(
      1,
      async (key) => {
        events.push(`start ${key}`);
        if (key === "commit") {
          await queue.outside(key, mined);
          events.push("commit resumed");
          return;
        }
        await new Promise<void>((resolve) => ends.set(key, resolve));
        events.push(`end ${key}`);
      },
      () => undefined,
    );
    const settle = () => new Promise((r) => setImmediate(r));
    queue.push("commit", "background");
    queue.push("k1", "normal");
    queue.push("k2", "normal");
    await settle();
    // Before outside() a commit waiting for its receipt held the only slot: k1 could not start.
    expect(events).to.deep.equal(["start commit", "start k1"]);
    receipt();
    await settle();
    // The receipt came while k1 runs: the commit waits for the slot, ahead of k2.
    expect(events).to.deep.equal(["start commit", "start k1"]);
    ends.get("k1")!();
    await settle();
    expect(events).to.deep.equal(["start commit", "start k1", "end k1", "commit resumed", "start k2"]);
    ends.get("k2")!();
    await queue.idle();
    expect(queue.size()).to.equal(0);
  });

  it("just awaits the work for a key that is not running, or is already outside", async function () {
    const queue = new WorkQueue(
      1,
      async () => undefined,
      () => undefined,
    );
    expect(await queue.outside("nobody", Promise.resolve(7))).to.equal(7);
    let error: unknown;
    await queue.outside("nobody", Promise.reject(new Error("reverted"))).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.equal("reverted");
  });

  it("gives the slot back when the work outside fails, and never runs more keys than its slots", async function () {
    let running = 0;
    let most = 0;
    const failures: string[] = [];
    const queue = new WorkQueue(
      2,
      async (key) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 1));
        running--;
        const wait = new Promise<void>((resolve, reject) =>
          setTimeout(() => (key.endsWith("x") ? reject(new Error(key)) : resolve()), 2),
        );
        await queue.outside(key, wait);
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 1));
        running--;
      },
      (key) => failures.push(key),
    );
    for (let i = 0; i < 12; i++) queue.push(`k${i}${i % 3 === 0 ? "x" : ""}`);
    await new Promise((r) => setTimeout(r, 5));
    await queue.idle();
    expect(most).to.be.at.most(2);
    expect(failures.sort()).to.deep.equal(["k0x", "k3x", "k6x", "k9x"]);
    expect(queue.size()).to.equal(0);
  });
});

describe("Gate: a counting semaphore whose priority waiters go first", function () {
  it("lets priority waiters in before earlier plain ones, each group in its order, and never more than its slots", async function () {
    const gate = new Gate(1);
    const order: string[] = [];
    let inside = 0;
    const enter = async (name: string, priority: boolean) => {
      const release = await gate.acquire(priority);
      inside++;
      expect(inside).to.equal(1);
      order.push(name);
      await new Promise((r) => setImmediate(r));
      inside--;
      release();
      release(); // a second call is a no-op
    };
    const first = await gate.acquire();
    const all = [enter("p1", false), enter("p2", false), enter("k1", true), enter("k2", true)];
    first();
    await Promise.all(all);
    expect(order).to.deep.equal(["k1", "k2", "p1", "p2"]);
  });
});
