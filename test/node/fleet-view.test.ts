import { expect } from "chai";
import type { Address, Hex } from "viem";
import {
  fleetText,
  fleetView,
  notReady,
  runnerUrlOf,
  type ChainProvider,
  type FetchLike,
} from "../../node/fleet/fleet-view.ts";

const P1 = "0x1111111111111111111111111111111111111111" as Address;
const P2 = "0x2222222222222222222222222222222222222222" as Address;
const P3 = "0x3333333333333333333333333333333333333333" as Address;
const MODEL = `0x${"ab".repeat(32)}` as Hex;

const provider = (address: Address, over: Partial<ChainProvider> = {}): ChainProvider => ({
  address,
  status: "Approved",
  eligible: true,
  metadataURI: "",
  disagreed: 0,
  missed: 0,
  ...over,
});

/** Runners by URL: a /ready status and body, or a connection error. */
function fakeFetch(answers: Record<string, { status: number; body: unknown } | Error>): {
  fetch: FetchLike;
  asked: string[];
} {
  const asked: string[] = [];
  return {
    asked,
    fetch: async (url) => {
      asked.push(url);
      const a = answers[url];
      if (!a) throw new TypeError("fetch failed");
      if (a instanceof Error) throw a;
      return { status: a.status, json: async () => a.body };
    },
  };
}

describe("conclave fleet: the view", function () {
  it("takes a runner URL from a metadata URI only when it is http(s)", function () {
    expect(runnerUrlOf("https://runner.example:8080/")).to.equal("https://runner.example:8080");
    expect(runnerUrlOf("http://127.0.0.1:9000")).to.equal("http://127.0.0.1:9000");
    expect(runnerUrlOf("ipfs://bafy")).to.equal(null);
    expect(runnerUrlOf("")).to.equal(null);
    expect(runnerUrlOf("not a url")).to.equal(null);
  });

  it("joins the chain's providers with what their runners' /ready say", async function () {
    const models = [
      {
        model: "tiny-mlp",
        modelId: MODEL,
        version: 1,
        held: true,
        warm: true,
        role: "active",
        prefetch: "warm",
        downloads: 1,
      },
      {
        model: "tiny-mlp",
        modelId: MODEL,
        version: 2,
        held: true,
        warm: false,
        role: "candidate",
        prefetch: "warming",
        downloads: 1,
      },
    ];
    const { fetch, asked } = fakeFetch({
      "http://deploy-1/ready": {
        status: 200,
        body: { ready: true, details: { head: 100, processed: 99, blocksBehind: 1, models } },
      },
      "https://meta-2/ready": {
        status: 503,
        body: { ready: false, details: { head: 100, processed: 40, blocksBehind: 60, models: [] } },
      },
    });
    const view = await fleetView({
      head: async () => 100,
      providers: async () => [
        provider(P1, { disagreed: 1, metadataURI: "https://ignored" }),
        provider(P2, { metadataURI: "https://meta-2/" }),
        provider(P3, { status: "Pending", eligible: false, metadataURI: "ipfs://x" }),
      ],
      results: async () => new Map([[P1.toLowerCase(), 8]]),
      deploymentRunners: new Map([[P1.toLowerCase(), "http://deploy-1"]]),
      fetch,
      timeoutMs: 100,
    });
    expect(asked.sort()).to.deep.equal(["http://deploy-1/ready", "https://meta-2/ready"]);
    const [a, b, c] = view.providers;
    expect(a).to.include({ disagreed: 1, results: 8 });
    expect(a!.runner).to.include({
      url: "http://deploy-1",
      source: "deployment",
      reachable: true,
      ready: true,
      blocksBehind: 1,
      head: 100,
      processed: 99,
    });
    expect(a!.runner!.versions.map((v) => [v.version, v.held, v.warm, v.role])).to.deep.equal([
      [1, true, true, "active"],
      [2, true, false, "candidate"],
    ]);
    expect(b!.runner).to.include({ source: "metadata", reachable: true, ready: false, blocksBehind: 60 });
    expect(b!.results).to.equal(0);
    expect(c!.runner).to.equal(null);
    expect(view.summary).to.deep.equal({ providers: 3, eligible: 2, runners: 2, reachable: 2, ready: 1 });
    expect(notReady(view).map((p) => p.address)).to.deep.equal([P2]);
    const text = fleetText(view);
    expect(text).to.contain("runners known 2, reachable 2, ready 1");
    expect(text).to.match(/tiny-mlp\s+v2\s+held\s+candidate/);
    expect(text).to.contain("NOT READY, 60 block(s) behind");
  });

  it("an unreachable runner or an odd answer is reported, never thrown", async function () {
    const { fetch } = fakeFetch({
      "http://bad/ready": { status: 500, body: {} },
      "http://gone/ready": new Error("ECONNREFUSED"),
    });
    const view = await fleetView({
      head: async () => 5,
      providers: async () => [
        provider(P1, { metadataURI: "http://gone" }),
        provider(P2, { metadataURI: "http://bad" }),
      ],
      results: async () => new Map(),
      deploymentRunners: new Map(),
      fetch,
      timeoutMs: 100,
    });
    expect(view.providers[0]!.runner).to.include({ reachable: false, ready: null });
    expect(view.providers[0]!.runner!.error).to.contain("ECONNREFUSED");
    expect(view.providers[1]!.runner).to.include({ reachable: true, ready: null });
    expect(view.providers[1]!.runner!.error).to.contain("HTTP 500");
    expect(notReady(view)).to.have.length(2);
    expect(fleetText(view)).to.contain("unreachable");
  });
});
