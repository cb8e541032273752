import { expect } from "chai";
import { encodeFunctionData, getAddress, type Abi } from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { connect, walletFor } from "../../node/chain/clients.ts";
import { revertReasonOfTx } from "../../node/chain/revert.ts";
import { devAccount } from "../../node/devnet/accounts.ts";
import { startAnvil, type AnvilNode } from "../../node/devnet/anvil-node.ts";

describe("why a mined transaction reverted, from the node's trace (chaos audit)", function () {
  let node: AnvilNode;
  before(async function () {
    node = await startAnvil();
  });
  after(async function () {
    await node?.stop();
  });

  it("names the custom error a mined transaction reverted with; a successful one has none", async function () {
    const { publicClient, chain, close } = await connect(node.rpcUrl);
    try {
      const wallet = walletFor(node.rpcUrl, chain, devAccount(0));
      const { abi, bytecode } = loadArtifact("MockERC20");
      const deployed = await wallet.deployContract({ abi: abi as Abi, bytecode, args: ["T", "T", 18] });
      const token = getAddress((await publicClient.waitForTransactionReceipt({ hash: deployed })).contractAddress!);
      // A transfer beyond the sender's balance, sent with a fixed gas limit: mined, and reverted.
      const data = encodeFunctionData({
        abi: abi as Abi,
        functionName: "transfer",
        args: [devAccount(1).address, 1n],
      });
      const hash = await wallet.sendTransaction({ to: token, data, gas: 100_000n, chain, account: wallet.account });
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      expect(receipt.status).to.equal("reverted");
      const request = (args: { method: string; params: unknown[] }) => publicClient.request(args as never);
      expect(await revertReasonOfTx(request, hash)).to.equal("ERC20InsufficientBalance");
      expect(await revertReasonOfTx(request, deployed)).to.equal(undefined);
    } finally {
      close();
    }
  });
});
