import { expect } from "chai";
import { ContractFunctionExecutionError, getAddress, type Abi, type Address } from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { connect, walletFor } from "../../node/chain/clients.ts";
import { devAccount } from "../../node/devnet/accounts.ts";
import { startAnvil, type AnvilNode } from "../../node/devnet/anvil-node.ts";

/** Calls sent, by method, as the runner's metric counts them (what an RPC provider bills). */
function counter() {
  const counts = new Map<string, number>();
  return {
    counts,
    onCall: (method: string, _endpoint: number, n: number) => counts.set(method, (counts.get(method) ?? 0) + n),
  };
}

describe("a runner's chain reads go together in one eth_call (viem's multicall, deployless; issue 14)", function () {
  let node: AnvilNode;
  let token: Address;
  const abi = loadArtifact("MockERC20").abi as Abi;
  const holders = Array.from({ length: 20 }, (_, i) => getAddress(`0x${(i + 1).toString(16).padStart(40, "0")}`));

  before(async function () {
    node = await startAnvil();
    const { publicClient, chain, close } = await connect(node.rpcUrl);
    try {
      const wallet = walletFor(node.rpcUrl, chain, devAccount(0));
      const { bytecode } = loadArtifact("MockERC20");
      const hash = await wallet.deployContract({ abi, bytecode, args: ["Test Dollar", "TUSD", 18] });
      token = getAddress((await publicClient.waitForTransactionReceipt({ hash })).contractAddress!);
      for (const [i, holder] of holders.entries()) {
        const minted = await wallet.writeContract({
          address: token,
          abi,
          functionName: "mint",
          args: [holder, BigInt(i + 1)],
          chain,
          account: wallet.account,
        });
        await publicClient.waitForTransactionReceipt({ hash: minted });
      }
    } finally {
      close();
    }
  });
  after(async function () {
    await node?.stop();
  });

  const balances = (c: Awaited<ReturnType<typeof connect>>, of: readonly Address[]) =>
    of.map((holder) => c.publicClient.readContract({ address: token, abi, functionName: "balanceOf", args: [holder] }));

  it("reads made together are one eth_call, each answered as alone", async function () {
    const { counts, onCall } = counter();
    const c = await connect(node.rpcUrl, { retryCount: 0, onCall, multicall: true });
    try {
      const got = await Promise.all(balances(c, holders));
      expect(got).to.deep.equal(holders.map((_, i) => BigInt(i + 1)));
      expect(counts.get("eth_call")).to.equal(1);
    } finally {
      c.close();
    }
  });

  it("a read that fails among them fails alone, as it would alone; the others are answered", async function () {
    const { counts, onCall } = counter();
    const c = await connect(node.rpcUrl, { retryCount: 0, onCall, multicall: true });
    const plain = await connect(node.rpcUrl, { retryCount: 0 });
    try {
      // No contract at this address: the read returns no data, alone or in the batch.
      const nowhere = getAddress(`0x${"ee".repeat(20)}`);
      const read = (client: typeof c) =>
        client.publicClient.readContract({ address: nowhere, abi, functionName: "balanceOf", args: [holders[0]!] });
      const [bad, ...good] = await Promise.allSettled([read(c), ...balances(c, holders.slice(0, 3))]);
      expect(good.map((r) => (r.status === "fulfilled" ? r.value : r.reason))).to.deep.equal([1n, 2n, 3n]);
      expect(counts.get("eth_call")).to.equal(1);
      const alone = await read(plain).then(
        () => null,
        (e: unknown) => e,
      );
      expect(bad!.status).to.equal("rejected");
      const batched = (bad as PromiseRejectedResult).reason as unknown;
      expect(batched).to.be.instanceOf(ContractFunctionExecutionError);
      expect(alone).to.be.instanceOf(ContractFunctionExecutionError);
      expect((batched as Error).name).to.equal((alone as Error).name);
    } finally {
      c.close();
      plain.close();
    }
  });

  it("a client without it (the CLI's) sends each read alone", async function () {
    const { counts, onCall } = counter();
    const c = await connect(node.rpcUrl, { retryCount: 0, onCall });
    try {
      await Promise.all(balances(c, holders));
      expect(counts.get("eth_call")).to.equal(holders.length);
    } finally {
      c.close();
    }
  });
});
