import { expect } from "chai";
import { InFlight } from "../../node/in-flight.ts";

describe("InFlight: work of one key done once at a time", function () {
  it("joins a caller to the key's work in flight, and starts afresh once it settled (a failure too)", async function () {
    const inFlight = new InFlight<string, number>();
    let starts = 0;
    let finish!: (n: number) => void;
    const start = () => {
      starts++;
      return new Promise<number>((resolve) => (finish = resolve));
    };
    const first = inFlight.join("a", start);
    const second = inFlight.join("a", start);
    expect(second).to.equal(first);
    expect(starts).to.equal(1);
    const other = inFlight.join("b", async () => 7);
    expect(await other).to.equal(7);
    finish(1);
    expect(await first).to.equal(1);
    expect(inFlight.get("a")).to.equal(undefined);
    const failed = inFlight.join("a", async () => Promise.reject(new Error("boom")));
    await failed.catch(() => undefined);
    expect(inFlight.get("a")).to.equal(undefined);
    expect(await inFlight.join("a", async () => 2)).to.equal(2);
  });
});
