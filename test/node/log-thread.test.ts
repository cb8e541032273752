import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  bytesToHex,
  encodeAbiParameters,
  encodeEventTopics,
  getAbiItem,
  keccak256,
  parseEventLogs,
  toHex,
  type Abi,
  type Hex,
  type Log,
} from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { createLogThread, type LogThread } from "../../node/chain/log-thread.ts";
import { AdaptiveRange, getLogsAdaptive, RpcFailedError, type LogErrorKind } from "../../node/chain/logs.ts";
import { jobWords } from "../../node/attest/job-words.ts";
import { makeJob } from "../helpers/fake-runner-deps.ts";
import { rejection } from "../helpers/errors.ts";

const abi = loadArtifact("InferenceMarket").abi as Abi;
const MARKET = "0x00000000000000000000000000000000000000aa";

/** A raw log of `eventName` in `block`, encoded as a node returns it. */
function rawLog(eventName: string, args: Record<string, unknown>, block: number, index: number): Log {
  const item = getAbiItem({ abi, name: eventName }) as unknown as { inputs: { name: string; indexed?: boolean }[] };
  const data = item.inputs.filter((i) => !i.indexed);
  return {
    address: MARKET,
    topics: encodeEventTopics({ abi, eventName, args } as never) as [Hex, ...Hex[]],
    data: encodeAbiParameters(data as never, data.map((i) => args[i.name]) as never),
    blockNumber: BigInt(block),
    blockHash: keccak256(toHex(`block ${block}`)),
    logIndex: index,
    transactionHash: keccak256(toHex(`tx ${block} ${index}`)),
    transactionIndex: index,
    removed: false,
  } as Log;
}

/** The JSON a node sends for a log (quantities as hex). */
const wire = (l: Log) => ({
  ...l,
  blockNumber: toHex(l.blockNumber!),
  logIndex: toHex(l.logIndex!),
  transactionIndex: toHex(l.transactionIndex!),
});

/** A JSON-RPC node that answers eth_getLogs from `logs` by block range, or with a scripted fault. */
async function fakeNode(logs: Log[]) {
  const faults: ("too-large" | "429")[] = [];
  const ranges: [number, number][] = [];
  const hashes: Hex[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const call = JSON.parse(body) as {
        id: number;
        method: string;
        params: [{ fromBlock: Hex; toBlock: Hex } | { blockHash: Hex }];
      };
      const fault = faults.shift();
      if (fault === "429") {
        res.writeHead(429).end("Too Many Requests");
        return;
      }
      res.setHeader("content-type", "application/json");
      if (fault === "too-large") {
        res.end(
          JSON.stringify({
            jsonrpc: "2.0",
            id: call.id,
            error: { code: -32005, message: "query returned more than 10000 results" },
          }),
        );
        return;
      }
      const q = call.params[0];
      if ("blockHash" in q) {
        hashes.push(q.blockHash);
        const result = logs.filter((l) => l.blockHash === q.blockHash).map(wire);
        res.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, result }));
        return;
      }
      const from = Number(q.fromBlock);
      const to = Number(q.toBlock);
      ranges.push([from, to]);
      const result = logs.filter((l) => Number(l.blockNumber) >= from && Number(l.blockNumber) <= to).map(wire);
      res.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, result }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, faults, ranges, hashes, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("chain-log thread: eth_getLogs and decoding off the event loop (issue 14)", function () {
  let node: Awaited<ReturnType<typeof fakeNode>>;
  let thread: LogThread;
  const input = (i: number) => toHex(new Uint8Array(3_000).map((_, j) => (i * 7 + j) & 0xff));
  const logs = Array.from({ length: 40 }, (_, i) =>
    i % 4 === 3
      ? rawLog(
          "ResultSubmitted",
          { jobId: BigInt(i), provider: MARKET, resultHash: keccak256(toHex(i)), outputRef: "0x01" },
          10 + i,
          0,
        )
      : rawLog(
          "JobRequested",
          {
            jobId: BigInt(i),
            client: MARKET,
            modelId: keccak256(toHex("m")),
            job: jobWords(makeJob()),
            input: i === 0 ? "0x" : input(i),
            inputCid: "",
          },
          10 + i,
          0,
        ),
  );

  beforeEach(async function () {
    node = await fakeNode(logs);
    thread = createLogThread({ urls: [node.url], timeoutMs: 5_000, retryCount: 0, abi });
  });
  afterEach(async function () {
    await thread.close();
    await node.close();
  });

  it("asks for one block by its hash (the watcher's check of a range answer a lagging node gave)", async function () {
    const blockHash = logs[7]!.blockHash!;
    const got = await thread.getLogs({ address: [MARKET], blockHash });
    expect(node.hashes).to.deep.equal([blockHash]);
    expect(node.ranges).to.deep.equal([]);
    expect(got.map((l) => [l.eventName, l.blockNumber, l.args.jobId])).to.deep.equal([["ResultSubmitted", 17n, 7n]]);
  });

  it("gives the events viem decodes from the same logs, in order, each job input as bytes", async function () {
    const got = await thread.getLogs({ address: [MARKET], fromBlock: 0n, toBlock: 100n });
    const want = parseEventLogs({ abi, logs, strict: true }) as unknown as {
      eventName: string;
      args: Record<string, unknown>;
      blockNumber: bigint;
      logIndex: number;
      transactionHash: Hex;
      blockHash: Hex;
    }[];
    expect(got.map((l) => [l.eventName, l.blockNumber, l.logIndex, l.transactionHash, l.blockHash])).to.deep.equal(
      want.map((l) => [l.eventName, l.blockNumber, l.logIndex, l.transactionHash, l.blockHash]),
    );
    for (const [i, l] of got.entries()) {
      const { input: wantInput, ...wantRest } = want[i]!.args;
      const { input: gotInput, ...gotRest } = l.args;
      expect(gotRest).to.deep.equal(wantRest);
      if (l.eventName !== "JobRequested") continue;
      expect(gotInput).to.be.instanceOf(Uint8Array);
      expect(bytesToHex(gotInput as Uint8Array)).to.equal(wantInput);
    }
    expect((got[0]!.args.input as Uint8Array).length).to.equal(0);
  });

  it("a provider's limits read as they would on the runner's thread: too large splits the range, a rate limit is a rate limit", async function () {
    node.faults.push("too-large", "429");
    const kinds: LogErrorKind[] = [];
    const range = new AdaptiveRange({ maxRange: 100 });
    const q = () =>
      getLogsAdaptive({
        fromBlock: 0,
        toBlock: 99,
        range,
        query: (f, t) => thread.getLogs({ address: [MARKET], fromBlock: BigInt(f), toBlock: BigInt(t) }),
        rateLimitRetries: 2,
        backoffMs: 1,
        onRpcError: (_e, kind) => kinds.push(kind),
      });
    const got = await q();
    expect(kinds).to.deep.equal(["too-large", "rate-limited"]);
    expect(range.size).to.equal(50);
    expect(got.map((l) => l.args.jobId)).to.deep.equal(logs.map((_, i) => BigInt(i)));
    expect(node.ranges).to.deep.equal([
      [0, 49],
      [50, 99],
    ]);
  });

  it("a thread that dies fails the queries out retryably, with its reason, and the next query starts another", async function () {
    const broken = createLogThread({ urls: ["ftp://127.0.0.1:1"], timeoutMs: 1_000, retryCount: 0, abi });
    try {
      for (let i = 0; i < 2; i++) {
        const e = await rejection(() => broken.getLogs({ address: [MARKET], fromBlock: 0n, toBlock: 1n }));
        expect(e).to.be.instanceOf(RpcFailedError);
        expect(String((e as Error).cause)).to.match(/unsupported RPC URL/);
      }
    } finally {
      await broken.close();
    }
  });

  it("tells the runner of each request it sent, failed ones included, by method and endpoint", async function () {
    const calls: [string, number, number][] = [];
    const counted = createLogThread(
      { urls: [node.url], timeoutMs: 5_000, retryCount: 0, abi },
      { onCall: (method, endpoint, count) => calls.push([method, endpoint, count]) },
    );
    try {
      await counted.getLogs({ address: [MARKET], fromBlock: 0n, toBlock: 100n });
      node.faults.push("429");
      await counted.getLogs({ address: [MARKET], fromBlock: 0n, toBlock: 100n }).catch(() => undefined);
      await counted.getLogs({ address: [MARKET], fromBlock: 0n, toBlock: 100n });
    } finally {
      await counted.close();
    }
    const sent = calls.filter(([m, e]) => m === "eth_getLogs" && e === 0).reduce((n, [, , c]) => n + c, 0);
    expect(sent).to.equal(3);
    expect(calls.every(([m]) => m === "eth_getLogs")).to.equal(true);
  });

  it("a closed thread fails its queries retryably", async function () {
    const out = rejection(() => thread.getLogs({ address: [MARKET], fromBlock: 0n, toBlock: 100n }));
    await thread.close();
    expect(await out).to.be.instanceOf(RpcFailedError);
    expect(await rejection(() => thread.getLogs({ address: [MARKET], fromBlock: 0n, toBlock: 1n }))).to.be.instanceOf(
      RpcFailedError,
    );
  });
});
