import { expect } from "chai";
import {
  encodeAbiParameters,
  encodeEventTopics,
  keccak256,
  parseEventLogs,
  toHex,
  type Hex,
  type Log,
  type PublicClient,
} from "viem";
import { CONTRACT_NAMES, loadArtifact } from "../../node/chain/artifacts.ts";
import type { DeploymentRecord } from "../../node/chain/deployment.ts";
import { createFulfillerChain } from "../../node/consumers/chain.ts";
import { bloomOf } from "../helpers/fake-chain.ts";

const record: DeploymentRecord = {
  chainId: 31337,
  contracts: Object.fromEntries(
    CONTRACT_NAMES.map((name, i) => [name, { address: `0x${(i + 1).toString(16).padStart(40, "0")}`, block: 1 }]),
  ),
};
const router = record.contracts.ConsumerRouter!.address;
const routerAbi = loadArtifact("ConsumerRouter").abi;
const CONSUMER = "0x00000000000000000000000000000000000000cc";
const hashOf = (n: number) => keccak256(toHex(`block ${n}`));

/** A CallbackFunded log of job `jobId` in block `n`, as a node returns it. */
function funded(jobId: bigint, n: number): Log {
  return {
    address: router,
    topics: encodeEventTopics({
      abi: routerAbi,
      eventName: "CallbackFunded",
      args: { jobId, consumer: CONSUMER },
    } as never) as [Hex, ...Hex[]],
    data: encodeAbiParameters(
      [{ type: "uint32" }, { type: "uint128" }, { type: "uint256" }],
      [200_000, 10n ** 9n, 10n ** 15n],
    ),
    blockNumber: BigInt(n),
    blockHash: hashOf(n),
    logIndex: 0,
    transactionHash: keccak256(toHex(`tx ${n}`)),
    transactionIndex: 0,
    removed: false,
  };
}

describe("fulfiller chain reads", function () {
  it("a CallbackFunded event that a node behind the head left out of the range's answer is read by block hash", async function () {
    // Funded callbacks in blocks 10 and 12; the node answering the range is at block 11.
    const chainLogs = [funded(1n, 10), funded(2n, 12)];
    const byHash: Hex[] = [];
    const publicClient = {
      getContractEvents: async (args: { fromBlock?: bigint; toBlock?: bigint; blockHash?: Hex }) => {
        const pick = args.blockHash
          ? (byHash.push(args.blockHash), chainLogs.filter((l) => l.blockHash === args.blockHash))
          : chainLogs.filter((l) => l.blockNumber! >= args.fromBlock! && l.blockNumber! <= 11n);
        return parseEventLogs({ abi: routerAbi, logs: pick });
      },
    } as unknown as PublicClient;
    const headers = new Map(
      [10, 11, 12].map((n) => [
        n,
        { number: BigInt(n), hash: hashOf(n), logsBloom: bloomOf(n === 11 ? [] : [router]) },
      ]),
    );
    const chain = createFulfillerChain(publicClient, record, {
      confirmations: 0,
      safeHead: () => 12,
      headerAt: (n) => headers.get(n),
    });
    const events = await chain.fundedEvents(10, 12);
    expect(events.map((e) => [e.jobId, e.block])).to.deep.equal([
      [1n, 10],
      [2n, 12],
    ]);
    expect(byHash).to.deep.equal([hashOf(12)]);
  });
});
