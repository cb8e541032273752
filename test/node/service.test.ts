import { expect } from "chai";
import { createTicker, serviceOf } from "../../node/service.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("service lifecycle (service.ts)", function () {
  it("a ticker runs at start when asked, then every interval, until it stops", async function () {
    let runs = 0;
    const ticker = createTicker({ everyMs: 20, atStart: true, run: () => void runs++, onError: () => undefined });
    ticker.start();
    await sleep(5);
    expect(runs).to.equal(1);
    await sleep(70);
    await ticker.stop();
    const stoppedAt = runs;
    expect(stoppedAt).to.be.greaterThan(1);
    await sleep(50);
    expect(runs).to.equal(stoppedAt);
  });

  it("a ticker stops at the shutdown signal, and a failed run is reported without ending the ticker", async function () {
    const shutdown = new AbortController();
    const errors: unknown[] = [];
    let runs = 0;
    const ticker = createTicker({
      signal: shutdown.signal,
      everyMs: 10,
      run: () => {
        runs++;
        throw new Error("boom");
      },
      onError: (error) => errors.push(error),
    });
    ticker.start();
    await sleep(45);
    shutdown.abort();
    const at = runs;
    expect(at).to.be.greaterThan(1);
    expect(errors).to.have.length(at);
    await sleep(40);
    expect(runs).to.equal(at);
    ticker.start(); // after the shutdown: starts nothing
    await sleep(30);
    expect(runs).to.equal(at);
  });

  it("serviceOf gives a start/stop shape to a component closed by a function of its own", async function () {
    const calls: string[] = [];
    const service = serviceOf({ stop: () => void calls.push("close") });
    await service.start();
    await service.stop();
    expect(calls).to.deep.equal(["close"]);
  });
});
