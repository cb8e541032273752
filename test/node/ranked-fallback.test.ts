import { expect } from "chai";
import { createPublicClient, custom, type Transport } from "viem";
import { rankedFallback, type RankedFallback } from "../../node/chain/ranked-fallback.ts";
import { until } from "../helpers/until.ts";

interface Endpoint {
  transport: Transport;
  failing: boolean;
  /** Milliseconds each ping takes to answer. */
  pingMs: number;
  pings: number;
  calls: number;
  /** Set: the next call waits until `release` is called, then answers (or fails) as the endpoint is then. */
  hold: boolean;
  release?: () => void;
}

const RATE_LIMITED = { code: -32005, message: "rate limited" };
const REVERTED = { code: 3, message: "execution reverted: no" };

/** Pings ask eth_blockNumber; calls in these tests ask eth_chainId, so the two are told apart. */
function endpoint(chainId: number): Endpoint {
  const e: Endpoint = {
    failing: false,
    pingMs: 0,
    pings: 0,
    calls: 0,
    hold: false,
    transport: custom({
      async request({ method }: { method: string }) {
        if (method === "eth_blockNumber") {
          e.pings++;
          if (e.pingMs) await new Promise((r) => setTimeout(r, e.pingMs));
          if (e.failing) throw RATE_LIMITED;
          return "0x1";
        }
        e.calls++;
        if (e.hold) {
          e.hold = false;
          await new Promise<void>((r) => (e.release = r));
        }
        if (e.failing) throw RATE_LIMITED;
        if (method === "eth_call") throw REVERTED;
        return `0x${chainId.toString(16)}`;
      },
    }),
  };
  return e;
}

describe("ranked fallback transport: endpoints ranked by pings, each call keeping its order", function () {
  let ranked: RankedFallback | undefined;
  afterEach(() => ranked?.close());

  const start = (endpoints: Endpoint[], retryCount = 0) => {
    ranked = rankedFallback(
      endpoints.map((e) => e.transport),
      { intervalMs: 5, sampleCount: 2, pingTimeoutMs: 1_000, retryCount, retryDelayMs: 1 },
    );
    return createPublicClient({ transport: ranked.transport });
  };

  it("a call whose first endpoint fails goes to the next one even when the ranking changes while the first try is in flight", async function () {
    // viem's fallback({ rank }) reads the ranking again for the second try: re-ranked meanwhile, the
    // second try went to the same failing endpoint and the call failed with its rate limit.
    const a = endpoint(1);
    const b = endpoint(2);
    b.pingMs = 50;
    const client = start([a, b]);
    await until("a ping round", () => a.pings > 0 && b.pings > 0, { intervalMs: 1 });
    await until("the faster endpoint to rank first", () => ranked!.order()[0] === 0, { intervalMs: 1 });
    a.hold = true;
    const call = client.getChainId();
    await until("the call to reach the first endpoint", () => a.release, { intervalMs: 1 });
    a.failing = true;
    await until("the failing endpoint to rank last", () => ranked!.order()[0] === 1, { intervalMs: 1 });
    a.release!();
    expect(await call).to.equal(2);
    expect(a.calls).to.equal(1);
    expect(b.calls).to.equal(1);
  });

  it("ranks an endpoint whose pings fail last and a slower one behind a faster one", async function () {
    const a = endpoint(1);
    const b = endpoint(2);
    const c = endpoint(3);
    const client = start([a, b, c]);
    // Before the first ping round answers, calls go in the order the endpoints were given.
    expect(ranked!.order()).to.deep.equal([0, 1, 2]);
    a.failing = true;
    b.pingMs = 100;
    await until("a ranked last, b behind c", () => ranked!.order().join() === "2,1,0", { intervalMs: 1 });
    expect(await client.getChainId()).to.equal(3);
    expect(a.calls + b.calls).to.equal(0);
  });

  it("goes on to the next endpoint on a rate limit but not on a revert, which every endpoint would answer the same", async function () {
    const a = endpoint(1);
    const b = endpoint(2);
    b.pingMs = 50;
    const client = start([a, b]);
    a.failing = true;
    expect(await client.getChainId()).to.equal(2);
    a.failing = false;
    await until("a to rank first again", () => a.pings > 2 && ranked!.order()[0] === 0, { intervalMs: 1 });
    const before = b.calls;
    const error = await client.call({ to: "0x0000000000000000000000000000000000000001" }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(error)).to.match(/execution reverted/);
    expect(b.calls).to.equal(before);
  });

  it("fails a call with the last endpoint's error once every endpoint has failed, and retries the whole list retryCount times", async function () {
    const a = endpoint(1);
    const b = endpoint(2);
    a.failing = b.failing = true;
    const client = start([a, b], 2);
    const error = await client.getChainId().then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(error)).to.match(/rate limited/);
    expect(a.calls).to.equal(3);
    expect(b.calls).to.equal(3);
  });

  it("stops pinging once closed", async function () {
    const a = endpoint(1);
    const b = endpoint(2);
    start([a, b]);
    await until("a few ping rounds", () => a.pings > 3, { intervalMs: 1 });
    ranked!.close();
    const pings = a.pings;
    // Ten rounds' time: a round in flight when closed was counted when it was sent.
    await new Promise((r) => setTimeout(r, 50));
    expect(a.pings).to.equal(pings);
  });
});
