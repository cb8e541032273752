import { expect } from "chai";
import { keccak256 } from "viem";
import { KeccakThread, MIN_OFF_THREAD_BYTES } from "../../node/attest/keccak-off-thread.ts";

const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("keccak256 on a worker thread (issue 14)", function () {
  it("gives keccak256's answers, small inputs on this thread and large ones on the worker, many at once and in any order", async function () {
    const thread = new KeccakThread();
    try {
      const inputs = [0, 1, 100, MIN_OFF_THREAD_BYTES - 1, MIN_OFF_THREAD_BYTES, 3_100, 65_536].flatMap((n, i) => [bytesOf(n, i), bytesOf(n, i + 100)]);
      const hashes = await Promise.all(inputs.map((b) => thread.hash(b)));
      expect(hashes).to.deep.equal(inputs.map((b) => keccak256(b)));
    } finally {
      await thread.close();
    }
  });

  it("hashes on this thread once the worker is gone: what was pending, and what comes after", async function () {
    const thread = new KeccakThread();
    const big = bytesOf(8_192, 7);
    expect(await thread.hash(big)).to.equal(keccak256(big));
    const pending = thread.hash(bytesOf(4_096, 9));
    await thread.close();
    expect(await pending).to.equal(keccak256(bytesOf(4_096, 9)));
    expect(await thread.hash(big)).to.equal(keccak256(big));
  });
});
