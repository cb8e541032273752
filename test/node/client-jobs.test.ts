import { expect } from "chai";
import { getAddress, keccak256, toHex, type Address, type Hex, type PublicClient } from "viem";
import { encodeOutputRef } from "../../node/attest/output-ref.ts";
import { canonicalResultHash, quantumFromChain } from "../../node/attest/result-hash.ts";
import { createChainReader } from "../../node/chain/reader.ts";
import { CONTRACT_NAMES } from "../../node/chain/artifacts.ts";
import type { DeploymentRecord } from "../../node/chain/deployment.ts";
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  fetchVerifiedOutputs,
  jobRequestOf,
  waitForJob,
  type Delivery,
} from "../../node/client/jobs.ts";
import { OutputTooLargeError, ResultMismatchError, TagsOutOfRangeError } from "../../node/client/errors.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { ContentTooLargeError } from "../../node/ipfs/errors.ts";
import { tensorFrom } from "../../node/tensors/dtypes.ts";
import { encodeSafetensors } from "../../node/tensors/safetensors.ts";
import { rejection } from "../helpers/errors.ts";
import { rpcErrors } from "../helpers/fake-chain.ts";

const DEPLOYED_AT = 100;
const addr = (n: number) => `0x${n.toString(16).padStart(40, "0")}` as Address;
const record: DeploymentRecord = {
  chainId: 31337,
  contracts: Object.fromEntries(CONTRACT_NAMES.map((name, i) => [name, { address: addr(i + 1), block: DEPLOYED_AT }])),
};
const WINNER = keccak256(toHex("winner"));
const PROVIDER = addr(0xbeef);

interface FakeEvent {
  block: number;
  eventName: string;
  args: Record<string, unknown>;
  transactionHash: Hex;
}

/**
 * A public client holding a job's events, with a provider that refuses eth_getLogs over
 * `maxBlocks` blocks; it records every query's span.
 */
function fakeClient(events: FakeEvent[], head: number, maxBlocks = 500) {
  const queries: { from: number; to: number; ok: boolean }[] = [];
  const client = {
    getBlockNumber: async () => BigInt(head),
    readContract: async () => [3, 1, 1, 0],
    getContractEvents: async (args: { fromBlock: bigint; toBlock: bigint; eventName?: string }) => {
      const from = Number(args.fromBlock);
      const to = Number(args.toBlock);
      if (to - from + 1 > maxBlocks) {
        queries.push({ from, to, ok: false });
        throw rpcErrors.blockRange();
      }
      queries.push({ from, to, ok: true });
      return events
        .filter((e) => e.block >= from && e.block <= to && (!args.eventName || e.eventName === args.eventName))
        .map((e) => ({ ...e, blockNumber: BigInt(e.block) }));
    },
  };
  return { client: client as unknown as PublicClient, queries };
}

/** The accepted queries tile [from, to] exactly, in order. */
function expectTiled(queries: { from: number; to: number; ok: boolean }[], from: number, to: number) {
  let next = from;
  for (const q of queries.filter((x) => x.ok)) {
    expect(q.from).to.equal(next);
    next = q.to + 1;
  }
  expect(next).to.equal(to + 1);
}

describe("settled results and job events, scanned from the job's request block (finding 7)", function () {
  const REQUESTED_AT = 50_000;
  const HEAD = 52_300;
  const events: FakeEvent[] = [
    {
      block: REQUESTED_AT + 3,
      eventName: "ResultSubmitted",
      args: { jobId: 7n, provider: PROVIDER, resultHash: WINNER, outputRef: "0x01" },
      transactionHash: keccak256("0x01"),
    },
    {
      block: REQUESTED_AT + 2_100,
      eventName: "JobSettled",
      args: { jobId: 7n, resultHash: WINNER },
      transactionHash: keccak256("0x02"),
    },
  ];

  it("the runner's reader: delivery(jobId, fromBlock) starts at the job's block and splits on range limits", async function () {
    const { client, queries } = fakeClient(events, HEAD);
    const reader = createChainReader(client, record, PROVIDER);
    expect(await reader.delivery(7n, REQUESTED_AT)).to.deep.equal({
      provider: getAddress(PROVIDER),
      resultHash: WINNER,
    });
    expect(queries[0]!.from).to.equal(REQUESTED_AT);
    expect(Math.min(...queries.map((q) => q.from))).to.equal(REQUESTED_AT);
    expectTiled(queries, REQUESTED_AT, HEAD);
  });

  it("the reader keeps what it learnt: the next scan does not start again from the maximum range", async function () {
    const { client, queries } = fakeClient(events, HEAD);
    const reader = createChainReader(client, record, PROVIDER);
    await reader.delivery(7n, REQUESTED_AT);
    const first = queries.length;
    await reader.delivery(7n, REQUESTED_AT);
    const next = queries[first]!;
    expect(next.to - next.from + 1).to.be.lessThan(2_000);
  });

  it("the client: waitForJob with the request block reads the deliveries from there", async function () {
    const { client, queries } = fakeClient(events, HEAD);
    const outcome = await waitForJob(client, record, 7n, { fromBlock: BigInt(REQUESTED_AT), timeoutMs: 5_000 });
    expect(outcome.status).to.equal("settled");
    expect(outcome.resultHash).to.equal(WINNER);
    expect(outcome.deliveries.map((d) => d.provider)).to.deep.equal([PROVIDER]);
    expect(queries[0]!.from).to.equal(REQUESTED_AT);
    expectTiled(queries, REQUESTED_AT, HEAD);
  });

  it("the client: events read from a node behind the one that said 'settled' are read again until they show", async function () {
    // The result is in the head's block; the first scan's answers come from a node 2 blocks behind.
    const atHead = [{ ...events[0]!, block: HEAD }];
    const { client } = fakeClient(atHead, HEAD);
    const fake = client as unknown as { getContractEvents: (args: { toBlock: bigint }) => Promise<unknown[]> };
    const inStep = fake.getContractEvents;
    let scans = 0;
    fake.getContractEvents = async (args) => {
      if (args.toBlock === BigInt(HEAD)) scans++;
      return scans <= 1 ? (await inStep(args)).filter((e) => (e as { block: number }).block <= HEAD - 2) : inStep(args);
    };
    const outcome = await waitForJob(client, record, 7n, { fromBlock: BigInt(REQUESTED_AT), timeoutMs: 5_000 });
    expect(outcome.status).to.equal("settled");
    expect(outcome.resultHash).to.equal(WINNER);
    expect(outcome.deliveries.map((d) => d.provider)).to.deep.equal([PROVIDER]);
    expect(scans).to.equal(2);
  });

  it("the client without a request block falls back to the deployment block, still in bounded ranges", async function () {
    const { client, queries } = fakeClient(events, HEAD);
    const outcome = await waitForJob(client, record, 7n, { timeoutMs: 5_000 });
    expect(outcome.resultHash).to.equal(WINNER);
    expectTiled(queries, DEPLOYED_AT, HEAD);
  });
});

describe("client output fetches are bounded (finding 16)", function () {
  const outputs = { y: tensorFrom("F32", [4], [0.5, 1, 1.5, 2]) };
  const bytes = encodeSafetensors(outputs);
  const quantum = 10n ** 12n;
  const resultHash = canonicalResultHash(outputs, quantumFromChain(quantum));
  const viaIpfs: Delivery = {
    provider: PROVIDER,
    resultHash,
    outputRef: encodeOutputRef({ kind: "ipfs", cid: "bafytest" }),
    txHash: keccak256("0x03"),
  };

  /** A store that serves `served` and, when `honoursLimit`, refuses above the caller's maxBytes. */
  function store(served: Uint8Array, honoursLimit: boolean) {
    const asked: (number | undefined)[] = [];
    const s: ContentStore = {
      add: async () => "bafytest",
      get: async (_cid, opts) => {
        asked.push(opts?.maxBytes);
        if (honoursLimit && opts?.maxBytes !== undefined && served.byteLength > opts.maxBytes)
          throw new ContentTooLargeError("too large");
        return served;
      },
      release: async () => {},
      multiaddrs: () => [],
      dial: async () => {},
      stop: async () => {},
    };
    return { s, asked };
  }

  it("passes a default limit to the store and verifies outputs within it", async function () {
    const { s, asked } = store(bytes, true);
    const got = await fetchVerifiedOutputs(viaIpfs, quantum, s);
    expect(Object.keys(got)).to.deep.equal(["y"]);
    expect(asked).to.deep.equal([DEFAULT_MAX_OUTPUT_BYTES]);
  });

  const cases: { name: string; delivery: () => Delivery; served: Uint8Array; honoursLimit: boolean }[] = [
    { name: "a store that enforces the limit", delivery: () => viaIpfs, served: bytes, honoursLimit: true },
    { name: "a store that ignores it", delivery: () => viaIpfs, served: bytes, honoursLimit: false },
    {
      name: "inline outputs",
      delivery: () => ({ ...viaIpfs, outputRef: encodeOutputRef({ kind: "inline", bytes }) }),
      served: bytes,
      honoursLimit: true,
    },
  ];
  for (const c of cases) {
    it(`outputs over maxBytes throw OutputTooLargeError: ${c.name}`, async function () {
      const { s } = store(c.served, c.honoursLimit);
      expect(
        await rejection(() => fetchVerifiedOutputs(c.delivery(), quantum, s, { maxBytes: bytes.byteLength - 1 })),
      ).to.be.instanceOf(OutputTooLargeError);
    });
  }

  it("outputs that hash to something else still throw ResultMismatchError", async function () {
    const { s } = store(bytes, true);
    const wrong = { ...viaIpfs, resultHash: keccak256("0x04") };
    expect(await rejection(() => fetchVerifiedOutputs(wrong, quantum, s))).to.be.instanceOf(ResultMismatchError);
  });
});

describe("a request's required tags", function () {
  it("a tag above bit 63 is refused before any chain call, naming the limit (the market's job word holds bits 0-63)", async function () {
    const noChain = new Proxy(
      {},
      {
        get() {
          throw new Error("the chain was called");
        },
      },
    ) as PublicClient;
    const request = {
      model: "m",
      inputs: { x: tensorFrom("F32", [1], [0]) },
      feePerProvider: 1n,
      requiredTags: 1n << 64n,
    };
    const error = await rejection(() => jobRequestOf(noChain, {} as DeploymentRecord, request));
    expect(error).to.be.instanceOf(TagsOutOfRangeError);
    expect((error as Error).message).to.equal(
      "required tags 0x10000000000000000 use a bit above 63: a job can require tags bit0..bit63 only",
    );
  });
});
