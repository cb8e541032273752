import { expect } from "chai";
import { keccak256, toHex, type Hex } from "viem";
import { withLogsLeftOut, type BloomedBlock } from "../../node/chain/logs-left-out.ts";
import { bloomOf, FULL_BLOOM } from "../helpers/fake-chain.ts";

const OURS = "0x00000000000000000000000000000000000000aa";
const OTHER = "0x00000000000000000000000000000000000000bb";
const block = (n: number, logsBloom: Hex | null): BloomedBlock => ({
  number: BigInt(n),
  hash: keccak256(toHex(n)),
  logsBloom,
});
const log = (n: number, i: number) => ({ blockNumber: BigInt(n), logIndex: i, id: `${n}:${i}` });

describe("events a range's eth_getLogs answer left out (a node behind the head)", function () {
  it("reads by hash only the blocks in range whose bloom names our contract and of which the answer held nothing; merges in chain order", async function () {
    const blocks = [
      block(9, bloomOf([OURS])), // below the range
      block(10, bloomOf([OURS])), // answered
      block(11, bloomOf([OTHER])), // ruled out by its bloom
      block(12, bloomOf([OURS, OTHER])), // left out
      block(13, null), // no bloom given: asked
      block(14, FULL_BLOOM), // a busy block: asked, nothing there
      block(15, bloomOf([OURS])), // above the range
    ];
    const atHash = new Map<Hex, ReturnType<typeof log>[]>([
      [blocks[3]!.hash, [log(12, 0), log(12, 3)]],
      [blocks[4]!.hash, [log(13, 1)]],
      [blocks[5]!.hash, []],
    ]);
    const asked: number[] = [];
    const leftOut: [number, number][] = [];
    const got = await withLogsLeftOut({
      logs: [log(10, 2), log(10, 5)],
      from: 10,
      to: 14,
      blocks,
      addresses: [OURS],
      byHash: async (hash) => {
        asked.push(blocks.findIndex((b) => b.hash === hash) + 9);
        return atHash.get(hash) ?? [];
      },
      onLeftOut: (n, events) => leftOut.push([n, events]),
    });
    expect(asked).to.deep.equal([12, 13, 14]);
    expect(leftOut).to.deep.equal([
      [12, 2],
      [13, 1],
    ]);
    expect(got.map((l) => l.id)).to.deep.equal(["10:2", "10:5", "12:0", "12:3", "13:1"]);
  });

  it("an answer that holds every block's events is returned as it is, with no ask", async function () {
    const logs = [log(5, 0), log(6, 1)];
    const got = await withLogsLeftOut({
      logs,
      from: 5,
      to: 6,
      blocks: [block(5, bloomOf([OURS])), block(6, bloomOf([OURS]))],
      addresses: [OURS],
      byHash: async () => {
        throw new Error("no ask expected");
      },
    });
    expect(got).to.equal(logs);
  });
});
