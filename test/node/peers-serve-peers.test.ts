import { expect } from "chai";
import path from "node:path";
import { createHeliaStore } from "../../node/ipfs/helia-store.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { ContentUnavailableError } from "../../node/ipfs/errors.ts";
import { testDir } from "../helpers/temp-dir.ts";

/**
 * Peers serve peers at the IPFS level (issue 12): runner A fetches weights from the publisher and
 * pins them; its next garbage collection keeps them; the publisher goes away; runner B, which
 * knows only A's address, still gets them from A.
 */
describe("IPFS: a runner serves the weights it holds after the publisher is gone", function () {
  this.timeout(60_000);
  const nodes: ContentStore[] = [];
  after(async function () {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  });

  it("A pins what it fetched, survives a gc, and B fetches from A alone", async function () {
    const dir = testDir("conclave-peers-");
    const publisher = await createHeliaStore({ dir: path.join(dir, "publisher") });
    const a = await createHeliaStore({ dir: path.join(dir, "a") });
    const b = await createHeliaStore({ dir: path.join(dir, "b") });
    nodes.push(publisher, a, b);
    const weights = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    const cid = await publisher.add(weights);

    await a.dial(publisher.multiaddrs()[0]!);
    expect(await a.get(cid)).to.deep.equal(weights);
    await a.pin!(cid);
    // A releases something else: its garbage collection frees every unpinned block.
    await a.release([]);
    await publisher.stop();

    await b.dial(a.multiaddrs()[0]!);
    const got = await b.get(cid, { signal: AbortSignal.timeout(20_000) });
    expect(got).to.deep.equal(weights);
  });

  it("without the pin, A's garbage collection frees the blocks and B cannot get them", async function () {
    const dir = testDir("conclave-peers-");
    const publisher = await createHeliaStore({ dir: path.join(dir, "publisher") });
    const a = await createHeliaStore({ dir: path.join(dir, "a") });
    const b = await createHeliaStore({ dir: path.join(dir, "b") });
    nodes.push(publisher, a, b);
    const cid = await publisher.add(new Uint8Array(300 * 1024).fill(9));
    await a.dial(publisher.multiaddrs()[0]!);
    await a.get(cid);
    await a.release([]);
    await publisher.stop();
    await b.dial(a.multiaddrs()[0]!);
    let error: unknown;
    await b.get(cid, { signal: AbortSignal.timeout(2_000) }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ContentUnavailableError);
  });
});
