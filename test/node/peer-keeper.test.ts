import { expect } from "chai";
import { createHeliaStore } from "../../node/ipfs/helia-store.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { createPeerKeeper } from "../../node/ipfs/peer-keeper.ts";
import type { Logger } from "../../node/log.ts";
import { until } from "../helpers/until.ts";

/** A logger that keeps what it is told. */
function recordingLogger() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields?: Record<string, unknown>): void =>
      void lines.push({ level, msg, fields });
  const log: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), child: () => log };
  return { log, lines };
}

describe("IPFS peer keeper: configured peers are dialled again until they are reached", function () {
  this.timeout(60_000);

  it("a peer whose first dials fail is dialled again until it answers; each peer's trouble is logged once, and its return", async function () {
    const calls = new Map<string, number>();
    const content = {
      dial: async (peer: string) => {
        const n = (calls.get(peer) ?? 0) + 1;
        calls.set(peer, n);
        if (peer === "/down" || n <= 2) throw new Error("connection refused");
      },
    };
    const { log, lines } = recordingLogger();
    const keeper = createPeerKeeper({ content, peers: ["/flaky", "/down"], log, everyMs: 5 });
    await keeper.dialAll();
    await keeper.start();
    try {
      await until("the flaky peer dialled", () => lines.some((l) => l.msg === "IPFS peer dialled"), {
        timeoutMs: 10_000,
        intervalMs: 2,
      });
      await until("the down peer tried four times", () => (calls.get("/down") ?? 0) >= 4, {
        timeoutMs: 10_000,
        intervalMs: 2,
      });
    } finally {
      await keeper.stop();
    }
    const warned = lines.filter((l) => l.level === "warn").map((l) => l.fields?.peer);
    expect(warned.sort()).to.deep.equal(["/down", "/flaky"]);
    expect(lines.filter((l) => l.msg === "IPFS peer dialled").map((l) => l.fields?.peer)).to.deep.equal(["/flaky"]);
    const after = calls.get("/down");
    await new Promise((r) => setTimeout(r, 30));
    expect(calls.get("/down"), "dials after stop").to.equal(after);
  });

  it("eight nodes dialling one at once: libp2p refuses some (5 new connections a second from one host), and with the keeper every one fetches from it", async function () {
    const holder = await createHeliaStore({});
    const nodes: ContentStore[] = [];
    const keepers: ReturnType<typeof createPeerKeeper>[] = [];
    try {
      const cid = await holder.add(new TextEncoder().encode("weights every runner needs"));
      const peer = holder.multiaddrs()[0]!;
      nodes.push(...(await Promise.all(Array.from({ length: 8 }, () => createHeliaStore({})))));
      const { log } = recordingLogger();
      for (const node of nodes) keepers.push(createPeerKeeper({ content: node, peers: [peer], log, everyMs: 200 }));
      // Usually three of the eight are refused here (a dial at start-up was all they got before).
      await Promise.all(keepers.map((k) => k.dialAll()));
      await Promise.all(keepers.map((k) => k.start()));
      // No gateway, no discovery: only a connection to the holder can answer.
      const got = await Promise.all(
        nodes.map(async (n) => new TextDecoder().decode(await n.get(cid, { signal: AbortSignal.timeout(20_000) }))),
      );
      expect(got).to.deep.equal(Array(8).fill("weights every runner needs"));
    } finally {
      await Promise.all(keepers.map((k) => k.stop()));
      await Promise.allSettled([...nodes, holder].map((n) => n.stop()));
    }
  });
});
