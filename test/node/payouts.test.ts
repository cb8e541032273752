import { expect } from "chai";
import { decodeFunctionData, getAddress, parseAbi, zeroAddress, type Abi, type Address } from "viem";
import type { TxRequest } from "../../node/chain/tx-sender.ts";
import { createLogger } from "../../node/log.ts";
import { createPayoutsTimer } from "../../node/payouts.ts";

const abi = parseAbi([
  "function stakeToken() view returns (address)",
  "function balanceOf(address provider, address token) view returns (uint256)",
  "function withdraw(address token)",
]) as Abi;
const MARKET: Address = getAddress("0x00000000000000000000000000000000000000aa");
const ME: Address = getAddress("0x00000000000000000000000000000000000000bb");
const FEE_TOKEN: Address = getAddress("0x00000000000000000000000000000000000000cc");
const STAKE: Address = getAddress("0x00000000000000000000000000000000000000dd");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("payouts timer", function () {
  it("withdraws each token (ETH, paid tokens, the stake token) whose balance reaches its threshold", async function () {
    const balances: Record<Address, bigint> = { [zeroAddress]: 5n, [FEE_TOKEN]: 3n, [STAKE]: 7n };
    const sent: Address[] = [];
    const shutdown = new AbortController();
    const timer = createPayoutsTimer({
      signal: shutdown.signal,
      sender: {
        send: async (req: TxRequest) => {
          const token = decodeFunctionData({ abi, data: req.data }).args![0] as Address;
          sent.push(token);
          balances[token] = 0n; // the market pays the whole balance out
          return {} as never;
        },
      },
      market: MARKET,
      marketAbi: abi,
      chain: {
        readContract: (async (args: { functionName: string; args?: readonly unknown[] }) => {
          if (args.functionName === "stakeToken") return STAKE;
          expect(args.args![0]).to.equal(ME);
          return balances[args.args![1] as Address] ?? 0n;
        }) as never,
      },
      provider: ME,
      journal: { paidTokens: () => [FEE_TOKEN.toLowerCase() as Address] },
      // Below its threshold: the fee token waits.
      minWithdraw: { [FEE_TOKEN]: 4n },
      intervalMs: 20,
      log: createLogger({ write: () => {} }),
    });
    timer.start();
    await sleep(70);
    shutdown.abort();
    await timer.stop();
    expect(sent).to.deep.equal([zeroAddress, STAKE]);
  });
});
