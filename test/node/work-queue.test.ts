import { expect } from "chai";
import { Gate, WorkQueue, type Lane } from "../../node/jobs/work-queue.ts";

/** A queue of one slot whose runs record their key and wait until the test lets them end. */
function recordingQueue(fairness?: number) {
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
    fairness,
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
  it("runs urgent keys first, then normal ones, taking a background key every fourth pick while both wait", async function () {
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
    expect(order).to.deep.equal(["blocker", "u1", "n1", "n2", "n3", "b1", "n4", "n5", "b2"]);
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
