import { expect } from "chai";
import { createPublicClient, custom, type PublicClient } from "viem";
import { anvil } from "viem/chains";
import { txRpcOf } from "../../node/chain/tx-sender.ts";
import { devAccount } from "../../node/devnet/accounts.ts";

/**
 * A node that answers what a public RPC provider answers and nothing more: no eth_fillTransaction
 * (geth's, which most providers do not serve). Every method asked is recorded.
 */
function publicProvider() {
  const asked: string[] = [];
  const client = createPublicClient({
    chain: anvil,
    transport: custom({
      request({ method }: { method: string }) {
        asked.push(method);
        switch (method) {
          case "eth_estimateGas":
            return Promise.resolve("0x5208");
          case "eth_getTransactionCount":
          case "eth_maxPriorityFeePerGas":
            return Promise.resolve("0x1");
          case "eth_getBlockByNumber":
            return Promise.resolve({
              number: "0x1",
              baseFeePerGas: "0x1",
              hash: `0x${"11".repeat(32)}`,
              transactions: [],
            });
          default:
            return Promise.reject(Object.assign(new Error(`the method ${method} does not exist`), { code: -32601 }));
        }
      },
    }),
  });
  return { client: client as unknown as PublicClient, asked };
}

describe("tx RPC facade", function () {
  it("estimates a transaction's gas with one eth_estimateGas call, nothing else (no nonce, fee or fill reads)", async function () {
    const { client, asked } = publicProvider();
    const rpc = txRpcOf(client);
    const account = devAccount(1);
    for (let i = 0; i < 3; i++)
      expect(await rpc.estimateGas({ account, to: account.address, data: "0x", value: 0n })).to.equal(21_000n);
    // Before: viem prepared each estimate as a whole transaction, eth_fillTransaction first, then
    // the nonce and both fee reads: four calls against a provider's rate limit instead of one.
    expect(asked).to.deep.equal(["eth_estimateGas", "eth_estimateGas", "eth_estimateGas"]);
  });
});
