import { expect } from "chai";
import { reuseFor } from "../../node/chain/reuse-for.ts";

describe("chain reader: reuseFor", function () {
  it("serves concurrent and recent callers from one call, reads again after the time-to-live, and keeps no failure", async function () {
    let t = 0;
    let calls = 0;
    let fail = false;
    const read = reuseFor(
      500,
      async () => {
        calls++;
        if (fail) throw new Error("429");
        return calls;
      },
      () => t,
    );
    expect(await Promise.all([read(), read(), read()])).to.deep.equal([1, 1, 1]);
    t = 499;
    expect(await read()).to.equal(1);
    t = 500;
    fail = true;
    await read().then(
      () => expect.fail("should fail"),
      () => undefined,
    );
    fail = false;
    expect(await read()).to.equal(3); // the failure was not kept
    expect(calls).to.equal(3);
  });

  it("forget() makes the next call read again within the time-to-live (a reorg: the answer may be of a chain that is gone)", async function () {
    let calls = 0;
    const read = reuseFor(
      500,
      async () => ++calls,
      () => 0,
    );
    expect(await read()).to.equal(1);
    expect(await read()).to.equal(1);
    read.forget();
    expect(await read()).to.equal(2);
    expect(await read()).to.equal(2);
  });
});
