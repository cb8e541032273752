import { expect } from "chai";
import type { Hex } from "viem";
import { encodeOutputRef } from "../../node/attest/output-ref.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import type { JobRecord } from "../../node/journal/journal.ts";
import { createOwnOutputs } from "../../node/jobs/own-outputs.ts";

describe("a runner's own outputs (own-outputs.ts): read from the journal's output reference, no file per job", function () {
  const safetensors = new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  const rows = new Map<bigint, Partial<JobRecord>>([
    [1n, { outputRef: encodeOutputRef({ kind: "inline", bytes: safetensors }) }],
    [
      2n,
      {
        outputRef: encodeOutputRef({
          kind: "ipfs",
          cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        }),
      },
    ],
    [3n, { outputRef: null }], // not computed yet
    [4n, { outputRef: "0x1234" as Hex }], // not an output reference
  ]);
  const fetched: string[] = [];
  const own = (get: ContentStore["get"]) =>
    createOwnOutputs({
      journal: { getJob: (id) => (rows.get(id) as JobRecord | undefined) ?? null },
      content: { get },
      fetchTimeoutMs: 1_000,
    });

  it("inline: the reference's bytes; IPFS: the bytes of its CID from the runner's node", async function () {
    const outputs = own(async (cid, opts) => {
      expect(opts?.signal, "a stuck node cannot hold the request forever").to.be.instanceOf(AbortSignal);
      fetched.push(cid);
      return safetensors;
    });
    expect(await outputs(1n)).to.deep.equal(safetensors);
    expect(fetched, "an inline reference needs no fetch").to.deep.equal([]);
    expect(await outputs(2n)).to.deep.equal(safetensors);
    expect(fetched).to.deep.equal(["bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"]);
  });

  it("null for a job it holds no outputs of: unknown or pruned, not computed, a bad reference, or blocks its node cannot give", async function () {
    const outputs = own(async () => {
      throw new Error("block not found");
    });
    expect(await outputs(9n)).to.equal(null);
    expect(await outputs(3n)).to.equal(null);
    expect(await outputs(4n)).to.equal(null);
    expect(await outputs(2n)).to.equal(null);
  });
});
