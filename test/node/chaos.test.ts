import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError } from "../../node/errors.ts";
import {
  beatenBlocksBefore,
  percentile,
  readLedger,
  refundReason,
  slashCause,
  type JobLedger,
} from "../../node/devnet/chaos/audit.ts";
import { jobWords } from "../../node/attest/job-words.ts";
import { CONTRACT_NAMES } from "../../node/chain/artifacts.ts";
import type { DeploymentRecord } from "../../node/chain/deployment.ts";
import { rpcErrors } from "../helpers/fake-chain.ts";
import type { JournalSummary } from "../../node/devnet/chaos/journals.ts";
import { makeJob, MARKET, OTHER } from "../helpers/fake-runner-deps.ts";
import { FAULT_KINDS, parseChaosArgs } from "../../node/devnet/chaos/options.ts";
import { planFaults, runFaults } from "../../node/devnet/chaos/faults.ts";
import type { Fleet } from "../../node/devnet/chaos/fleet.ts";
import { startAnvil } from "../../node/devnet/anvil-node.ts";
import { connect } from "../../node/chain/clients.ts";
import { keccak256, type Hex, type PublicClient } from "viem";
import { createLoadGenerator, jobMix } from "../../node/devnet/chaos/load.ts";
import { devAccount } from "../../node/devnet/accounts.ts";
import { createLogger } from "../../node/log.ts";
import { seededRandom } from "../../node/devnet/chaos/random.ts";
import { RATE_LIMITED_CODE, startRpcProxy, type RpcProxy } from "../../node/devnet/chaos/rpc-proxy.ts";

const call = (url: string, body: unknown) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("chaos harness pieces", function () {
  describe("RPC fault proxy", function () {
    let upstream: Server;
    let proxy: RpcProxy;
    let upstreamCalls = 0;

    before(async function () {
      // A fake node: answers every call with its method name.
      upstream = createServer((req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          upstreamCalls++;
          const { id, method } = JSON.parse(body) as { id: number; method: string };
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ jsonrpc: "2.0", id, result: method }));
        });
      });
      await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
      proxy = await startRpcProxy({
        upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        random: () => 0,
      });
    });
    after(async function () {
      await proxy.close();
      await new Promise((r) => upstream.close(r));
    });
    afterEach(() => proxy.setFault({ kind: "none" }));

    it("forwards calls unchanged when no fault is set", async function () {
      const res = await call(proxy.url, { jsonrpc: "2.0", id: 7, method: "eth_chainId", params: [] });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ jsonrpc: "2.0", id: 7, result: "eth_chainId" });
    });

    it("answers HTTP 429 with a JSON-RPC error per call of a batch, without reaching the node", async function () {
      proxy.setFault({ kind: "429", share: 1 });
      const before = upstreamCalls;
      const res = await call(proxy.url, [
        { jsonrpc: "2.0", id: 1, method: "eth_blockNumber" },
        { jsonrpc: "2.0", id: 2, method: "eth_chainId" },
      ]);
      expect(res.status).to.equal(429);
      const body = (await res.json()) as { id: number; error: { code: number } }[];
      expect(body.map((b) => b.id)).to.deep.equal([1, 2]);
      expect(body.every((b) => b.error.code === RATE_LIMITED_CODE)).to.equal(true);
      expect(upstreamCalls).to.equal(before);
      expect(proxy.counters().limited).to.equal(1);
    });

    it("drops the connection with no answer", async function () {
      proxy.setFault({ kind: "drop", share: 1 });
      let failed: unknown = null;
      await call(proxy.url, { jsonrpc: "2.0", id: 1, method: "eth_blockNumber" }).catch((e: unknown) => (failed = e));
      expect(failed).to.be.instanceOf(TypeError); // fetch's "fetch failed" on a destroyed socket
      expect(proxy.counters().dropped).to.equal(1);
    });

    it("holds calls back in a latency window, then forwards them", async function () {
      proxy.setFault({ kind: "latency", minMs: 50, maxMs: 50 });
      const res = await call(proxy.url, { jsonrpc: "2.0", id: 3, method: "eth_gasPrice" });
      expect(((await res.json()) as { result: string }).result).to.equal("eth_gasPrice");
      expect(proxy.counters().delayed).to.equal(1);
    });

    it("refuses, as a public provider does, the methods only a node of one's own serves; forwards the rest", async function () {
      const strict = await startRpcProxy({ upstream: proxy.url, publicMethodsOnly: true });
      try {
        const before = upstreamCalls;
        for (const method of [
          "eth_fillTransaction",
          "eth_sendTransaction",
          "anvil_mine",
          "evm_snapshot",
          "debug_traceTransaction",
        ]) {
          const body = (await (await call(strict.url, { jsonrpc: "2.0", id: 4, method })).json()) as {
            id: number;
            error: { code: number; message: string };
          };
          expect(body.id).to.equal(4);
          expect(body.error.code, method).to.equal(-32601);
          expect(body.error.message).to.include(method);
        }
        expect(upstreamCalls).to.equal(before);
        const res = await call(strict.url, { jsonrpc: "2.0", id: 5, method: "eth_estimateGas" });
        expect(((await res.json()) as { result: string }).result).to.equal("eth_estimateGas");
        expect(strict.counters().methodRefused).to.equal(5);
      } finally {
        await strict.close();
      }
    });

    it("answers 502 when the node is down", async function () {
      const orphan = await startRpcProxy({ upstream: "http://127.0.0.1:1" });
      try {
        expect((await call(orphan.url, { jsonrpc: "2.0", id: 1, method: "eth_chainId" })).status).to.equal(502);
        expect(orphan.counters().upstreamErrors).to.equal(1);
      } finally {
        await orphan.close();
      }
    });
  });

  describe("RPC fault proxy: calls answered by a node behind the head", function () {
    it("answers as a node 2 blocks behind would: its own head and 'latest', nothing above it, logs up to it", async function () {
      const forwarded: { method: string; params: unknown[] }[] = [];
      // A fake node at block 100 (0x64) that echoes what it is asked.
      const node = createServer((req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const { id, method, params } = JSON.parse(body) as { id: number; method: string; params: unknown[] };
          if (method !== "eth_blockNumber") forwarded.push({ method, params });
          const result =
            method === "eth_blockNumber"
              ? "0x64"
              : method === "eth_getLogs"
                ? (params[0] as { blockHash?: string }).blockHash === "0xab"
                  ? [{ blockNumber: "0x64" }]
                  : params
                : method === "eth_getTransactionReceipt"
                  ? { blockNumber: params[0] === "0x01" ? "0x64" : "0x50" }
                  : method === "eth_getBlockByNumber"
                    ? { number: params[0] }
                    : params;
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ jsonrpc: "2.0", id, result }));
        });
      });
      await new Promise<void>((r) => node.listen(0, "127.0.0.1", () => r()));
      const lagging = await startRpcProxy({ upstream: `http://127.0.0.1:${(node.address() as AddressInfo).port}` });
      const ask = async (method: string, params: unknown[]) =>
        (await (await call(lagging.url, { jsonrpc: "2.0", id: 1, method, params })).json()) as {
          result?: unknown;
          error?: { message: string };
        };
      try {
        lagging.setFault({ kind: "lag", blocks: 2, share: 1 });
        expect((await ask("eth_blockNumber", [])).result).to.equal("0x62");
        expect((await ask("eth_getBlockByNumber", ["latest", false])).result).to.deep.equal({ number: "0x62" });
        expect((await ask("eth_getBlockByNumber", ["0x63", false])).result).to.equal(null);
        expect((await ask("eth_getBlockByNumber", ["0x62", false])).result).to.deep.equal({ number: "0x62" });
        expect((await ask("eth_getTransactionReceipt", ["0x01"])).result).to.equal(null);
        expect((await ask("eth_getTransactionReceipt", ["0x02"])).result).to.deep.equal({ blockNumber: "0x50" });
        expect((await ask("eth_getTransactionCount", ["0xcc", "latest"])).result).to.deep.equal(["0xcc", "0x62"]);
        expect((await ask("eth_getTransactionCount", ["0xcc", "pending"])).result).to.deep.equal(["0xcc", "pending"]);
        // An estimate runs on its state: what reverts there reverts for the sender.
        expect((await ask("eth_estimateGas", [{ to: "0xcc" }])).result).to.deep.equal([{ to: "0xcc" }, "0x62"]);
        expect((await ask("eth_estimateGas", [{ to: "0xcc" }, "0x50"])).result).to.deep.equal([{ to: "0xcc" }, "0x50"]);
        // Asked at a block above its head (a sender pins its estimates to the newest head it knows):
        // it has not got it, as geth answers; nothing is forwarded.
        const asked = forwarded.length;
        expect((await ask("eth_estimateGas", [{ to: "0xcc" }, "0x63"])).error?.message).to.equal("header not found");
        expect((await ask("eth_call", [{ to: "0xcc" }, "0x64"])).error?.message).to.equal("header not found");
        expect(forwarded.length).to.equal(asked);
        expect((await ask("eth_getLogs", [{ fromBlock: "0x5a", toBlock: "0x64" }])).result).to.deep.equal([
          { fromBlock: "0x5a", toBlock: "0x62" },
        ]);
        // Wholly above its head: an empty answer, nothing forwarded.
        const before = forwarded.length;
        expect((await ask("eth_getLogs", [{ fromBlock: "0x63", toBlock: "0x64" }])).result).to.deep.equal([]);
        expect(forwarded.length).to.equal(before);
        expect((await ask("eth_getLogs", [{ fromBlock: "0x50", toBlock: "0x60" }])).result).to.deep.equal([
          { fromBlock: "0x50", toBlock: "0x60" },
        ]);
        // By the hash of a block above its head: unknown to it.
        expect((await ask("eth_getLogs", [{ blockHash: "0xab" }])).error?.message).to.equal("unknown block");
        expect((await ask("eth_sendRawTransaction", ["0xf0"])).result).to.deep.equal(["0xf0"]);
        lagging.setFault({ kind: "none" });
        expect((await ask("eth_blockNumber", [])).result).to.equal("0x64");
        expect((await ask("eth_getTransactionReceipt", ["0x01"])).result).to.deep.equal({ blockNumber: "0x64" });
      } finally {
        await lagging.close();
        await new Promise((r) => node.close(r));
      }
    });
  });

  describe("fault plan", function () {
    it("has every kind the asked number of times, in time order inside the span, kills spread over runners", function () {
      const plan = planFaults(FAULT_KINDS, 2, 300, 5, seededRandom(3));
      for (const k of FAULT_KINDS) expect(plan.filter((f) => f.kind === k)).to.have.length(2);
      const times = plan.map((f) => f.at);
      expect(times).to.deep.equal([...times].sort((a, b) => a - b));
      expect(Math.min(...times)).to.be.at.least(0);
      expect(Math.max(...times)).to.be.at.most(300);
      const victims = plan.filter((f) => f.kind === "kill").map((f) => f.target);
      expect(new Set(victims).size).to.equal(2);
      expect(victims.every((v) => v !== null && v >= 0 && v < 5)).to.equal(true);
    });

    it("is the same for the same seed", function () {
      expect(planFaults(FAULT_KINDS, 2, 100, 3, seededRandom(9))).to.deep.equal(
        planFaults(FAULT_KINDS, 2, 100, 3, seededRandom(9)),
      );
    });
  });

  describe("mempool fault", function () {
    it("makes the node forget transactions it accepted, during its window only", async function () {
      const node = await startAnvil();
      const { publicClient } = await connect(node.rpcUrl);
      const rpc = (method: string, params: unknown[]) =>
        publicClient.request({ method: method as never, params: params as never });
      const from = devAccount(1).address;
      const send = () => rpc("eth_sendTransaction", [{ from, to: OTHER, value: "0x1" }]);
      try {
        await rpc("evm_setAutomine", [false]);
        await send();
        const [record] = await runFaults(
          {
            publicClient,
            fleet: { runners: [] } as unknown as Fleet,
            blockTimeSeconds: 0,
            random: seededRandom(1),
            log: createLogger({ level: "error" }),
          },
          [{ kind: "mempool", at: 0, duration: 1, target: null }],
          Date.now(),
        );
        expect(record!.error).to.equal(undefined);
        expect(record!.detail).to.match(/\(1 transactions\)$/);
        await rpc("evm_mine", []);
        expect(await publicClient.getTransactionCount({ address: from })).to.equal(0);
        // After the window the node keeps what it is sent.
        await send();
        await rpc("evm_mine", []);
        expect(await publicClient.getTransactionCount({ address: from })).to.equal(1);
      } finally {
        await node.stop();
      }
    });
  });

  describe("job mix", function () {
    it("is seeded and holds about the asked share of k = 3 jobs", function () {
      const a = jobMix(1000, 0.4, seededRandom(1));
      expect(a).to.deep.equal(jobMix(1000, 0.4, seededRandom(1)));
      const k3 = a.filter((j) => j.redundancy === 3).length;
      expect(k3).to.be.within(340, 460);
      expect(jobMix(10, 0, seededRandom(1)).every((j) => j.redundancy === 1)).to.equal(true);
    });
  });

  describe("load generator", function () {
    it("chaos seed 23 (burst): a request whose policy read fails (a reorg landing) is built again and sent, not dropped", async function () {
      // Every contract the client's bindings name sits at the market's address: only the market is read.
      const record = {
        chainId: 31_337,
        contracts: new Proxy({}, { get: () => ({ address: MARKET, block: 0 }) }),
      };
      let policyReads = 0;
      const broadcast: Hex[] = [];
      // The node as the load generator reads it; the first policy read fails as one made while a
      // reorg lands does (the block it names is gone).
      const publicClient = {
        chain: { id: 31_337 },
        readContract: async ({ functionName }: { functionName: string }) => {
          if (functionName === "escrowOf") return 1_000n;
          if (functionName !== "policy") throw new Error(`unexpected read ${functionName}`);
          if (++policyReads === 1) throw new Error("BlockOutOfRangeError: block height is 120 but requested was 121");
          return { maxInlineInputBytes: 16_384, protocolFeeBps: 100 };
        },
        getBlock: async () => ({ timestamp: 1_000n }),
        estimateGas: async () => 100_000n,
        getTransactionCount: async () => 0,
        getFeeHistory: async () => ({ baseFeePerGas: [1n] }),
        sendRawTransaction: async ({ serializedTransaction }: { serializedTransaction: Hex }) => {
          broadcast.push(serializedTransaction);
          return keccak256(serializedTransaction);
        },
        getTransactionReceipt: async () => ({}),
      } as unknown as PublicClient;
      const load = createLoadGenerator({
        publicClient,
        record,
        accounts: [devAccount(7)],
        log: createLogger({ write: () => {} }),
      });
      await load.run(jobMix(1, 0, seededRandom(1)), null);
      await load.ensureLanded(1_000);
      const [request] = load.sent();
      expect(request!.error).to.equal(undefined);
      expect(policyReads).to.equal(2);
      expect(broadcast).to.have.length(1);
      expect(request!.hash).to.equal(keccak256(broadcast[0]!));
    });
  });

  describe("options", function () {
    it("parses the documented flags and rejects bad values with ConfigError", function () {
      const o = parseChaosArgs([
        "--jobs",
        "60",
        "--runners",
        "3",
        "--k3-share",
        "0.5",
        "--burst",
        "--faults",
        "kill,429",
        "--seed",
        "7",
      ])!;
      expect(o).to.include({ jobs: 60, runners: 3, k3Share: 0.5, burst: true, seed: 7 });
      expect(o.faults).to.deep.equal(["kill", "429"]);
      expect(parseChaosArgs(["--faults", "none"])!.faults).to.deep.equal([]);
      expect(parseChaosArgs(["--help"])).to.equal(null);
      expect(() => parseChaosArgs(["--faults", "meteor"])).to.throw(ConfigError);
      expect(() => parseChaosArgs(["--k3-share", "2"])).to.throw(ConfigError);
      expect(() => parseChaosArgs(["--jobs", "0"])).to.throw(ConfigError);
    });
  });

  describe("ledger", function () {
    it("soak of 3,600 jobs: a range whose events are over viem's 10 MiB answer is split, not the end of the audit", async function () {
      const record: DeploymentRecord = {
        chainId: 31337,
        contracts: Object.fromEntries(
          CONTRACT_NAMES.map((name, i) => [name, { address: `0x${(i + 1).toString(16).padStart(40, "0")}`, block: 1 }]),
        ),
      };
      const events = Array.from({ length: 100 }, (_, i) => [
        {
          block: 10 * (i + 1),
          eventName: "JobRequested",
          args: { jobId: BigInt(i), client: OTHER, job: jobWords(makeJob()) },
        },
        { block: 10 * (i + 1) + 1, eventName: "JobSettled", args: { jobId: BigInt(i), resultHash: keccak256("0x01") } },
      ]).flat();
      const spans: number[] = [];
      const client = {
        getContractEvents: async (args: { fromBlock: bigint; toBlock: bigint }) => {
          const [from, to] = [Number(args.fromBlock), Number(args.toBlock)];
          spans.push(to - from + 1);
          if (to - from + 1 > 100) throw rpcErrors.bodyTooLarge();
          return events
            .filter((e) => e.block >= from && e.block <= to)
            .map((e) => ({ ...e, blockNumber: BigInt(e.block) }));
        },
      } as unknown as PublicClient;
      const ledger = await readLedger(client, record, [OTHER], 1n, 1_200n);
      expect(spans[0]).to.equal(1_200);
      expect(ledger.size).to.equal(100);
      expect([...ledger.values()].every((j) => j.settled.length === 1)).to.equal(true);
    });
  });

  it("percentile is nearest-rank", function () {
    expect(percentile([5, 1, 3, 2, 4], 50)).to.equal(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).to.equal(10);
    expect(Number.isNaN(percentile([], 50))).to.equal(true);
  });

  it("says what beat a reverted runner transaction: a race in its block, or a state some blocks older", function () {
    const [me, other, third] = [devAccount(4).address, devAccount(5).address, devAccount(6).address];
    const ledger = (redundancy: number): JobLedger => ({
      jobId: 1n,
      job: makeJob({ redundancy }),
      redundancy,
      requestedBlock: 10n,
      submitted: [{ provider: other, block: 12n }],
      settled: [],
      refunded: [],
      seats: [third, other, me],
      seatBlocks: [13n, 11n, 12n],
      revealed: [],
    });
    // k = 1: the other provider's result at 12.
    expect(beatenBlocksBefore(ledger(1), "submit", 12n, me)).to.equal(0);
    expect(beatenBlocksBefore(ledger(1), "submit", 14n, me)).to.equal(2);
    // k = 3: the third seat, in block order, was taken at 13.
    expect(beatenBlocksBefore(ledger(3), "commit", 13n, devAccount(7).address)).to.equal(0);
    expect(beatenBlocksBefore(ledger(3), "commit", 14n, devAccount(7).address)).to.equal(1);
    // Nothing of the kind by another provider, or another kind: the ledger does not say.
    expect(beatenBlocksBefore(ledger(1), "submit", 12n, other)).to.equal(null);
    expect(beatenBlocksBefore(ledger(3), "reveal", 14n, me)).to.equal(null);
  });

  describe("refund reasons", function () {
    const refunded = (jobId: bigint, redundancy = 1): JobLedger => ({
      jobId,
      job: makeJob({ redundancy }),
      redundancy,
      requestedBlock: 10n,
      submitted: [],
      settled: [],
      refunded: [{ block: 20n, noQuorum: false }],
      seats: [],
      seatBlocks: [],
      revealed: [],
    });
    const journal = (over: Partial<JournalSummary>): JournalSummary => ({
      states: {},
      reasons: {},
      paid: new Set(),
      lost: new Set(),
      failed: new Set(),
      abstained: new Set(),
      tooLate: new Set(),
      txs: [],
      ...over,
    });
    it("names the client's doing from the runners' journals, and only then calls a job unserved", function () {
      const journals = [journal({ abstained: new Set([1n]), tooLate: new Set([2n]), failed: new Set([3n]) }), null];
      expect(refundReason(refunded(1n), journals)).to.match(
        /^client-caused \(input puts an output on a rounding boundary/,
      );
      expect(refundReason(refunded(2n), journals)).to.match(/^client-caused \(request landed at its deadline/);
      expect(refundReason(refunded(3n), journals)).to.match(/^client-caused \(input refused/);
      expect(refundReason(refunded(4n), journals)).to.match(/^expired unserved/);
      expect(refundReason(refunded(5n, 3), journals)).to.match(/^expired unseated/);
    });
  });

  describe("slash causes (issue 11: a silent seat is always slashed)", function () {
    const A = "0x00000000000000000000000000000000000000aa" as const;
    const B = "0x00000000000000000000000000000000000000bb" as const;
    const kills = [{ address: A, from: 100n, to: 110n }];
    it("a silent seat of a runner killed during the job is 'missed while killed'; any other slash is held against the runner", function () {
      // Killed while the job ran (requested at 95, slashed at 130): excused, reported apart.
      expect(slashCause({ provider: A, revealed: false, block: 130n }, 95n, kills)).to.equal("missed while killed");
      expect(slashCause({ provider: A, revealed: false, block: 105n }, 104n, kills)).to.equal("missed while killed");
      // The kill ended before the job was requested, or began after it ended: not excused.
      expect(slashCause({ provider: A, revealed: false, block: 150n }, 120n, kills)).to.equal("missed");
      expect(slashCause({ provider: A, revealed: false, block: 99n }, 90n, kills)).to.equal("missed");
      // Another runner, or a seat that revealed and was outvoted: never excused by a kill.
      expect(slashCause({ provider: B, revealed: false, block: 130n }, 95n, kills)).to.equal("missed");
      expect(slashCause({ provider: A, revealed: true, block: 130n }, 95n, kills)).to.equal("outvoted");
      expect(slashCause({ provider: A, revealed: false, block: 130n }, null, kills)).to.equal("missed while killed");
    });
  });
});
