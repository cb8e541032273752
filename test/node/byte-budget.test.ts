import { expect } from "chai";
import { ByteBudget } from "../../node/jobs/byte-budget.ts";

/** Lets queued admissions run (each is a resolved promise's callback). */
const tick = () => new Promise((r) => setImmediate(r));

describe("byte budget (inputs queued for the inference workers)", function () {
  it("admits requests while they fit, in the order asked, and a large one is not overtaken", async function () {
    const budget = new ByteBudget(100);
    const order: string[] = [];
    const a = await budget.acquire(60);
    const b = budget.acquire(50).then((release) => (order.push("b"), release));
    const c = budget.acquire(10).then((release) => (order.push("c"), release));
    await tick();
    expect(order, "c fits beside a, but b asked first").to.deep.equal([]);
    expect(budget.heldBytes).to.equal(60);
    a();
    const [releaseB, releaseC] = await Promise.all([b, c]);
    expect(order).to.deep.equal(["b", "c"]);
    expect(budget.heldBytes).to.equal(60);
    releaseB();
    releaseC();
    expect(budget.heldBytes).to.equal(0);
  });

  it("lets a request larger than the whole budget in alone, and a release twice frees once", async function () {
    const budget = new ByteBudget(100);
    const small = await budget.acquire(30);
    let big: (() => void) | undefined;
    void budget.acquire(500).then((release) => (big = release));
    await tick();
    expect(big).to.equal(undefined);
    small();
    small();
    await tick();
    expect(budget.heldBytes).to.equal(500);
    let after = false;
    void budget.acquire(1).then(() => (after = true));
    await tick();
    expect(after).to.equal(false);
    big!();
    await tick();
    expect(after).to.equal(true);
    expect(budget.heldBytes).to.equal(1);
  });
});
