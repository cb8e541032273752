import { expect } from "chai";
import {
  encodeFunctionData,
  getAddress,
  keccak256,
  parseEther,
  parseEventLogs,
  toHex,
  zeroAddress,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import { jobWords } from "../../node/attest/job-words.ts";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import type { Wallet } from "../../node/chain/clients.ts";
import { consumerRouter } from "../../node/client/consumer.ts";
import { requestedJob } from "../../node/client/jobs.ts";
import { deliveryMode, REIMBURSED_INLINE_OUTPUT_BYTES } from "../../node/consumers/fulfil-policy.ts";
import { networkHelpers, viem } from "../helpers/hardhat-stack.ts";
import { marketFixture, MODEL_ID, type MarketFixture } from "../helpers/market-fixture.ts";

const CAP = 10n * 10n ** 9n;
const PRICE = 5n * 10n ** 9n;
const LIMIT = 200_000n;
const SWITCH = { RECORD: 0, REVERT: 1, BURN: 2 } as const;
const REF = toHex("ipfs://bafkreioutput");

/**
 * The gas a fulfil may be reimbursed beyond what it was charged: none. The router counts the
 * calldata exactly, and FULFIL_FIXED_GAS (the gas it cannot measure) is the same for every fulfil
 * up to 64 KB of outputs. (Over-payments exist where a credit is not written: a capped fulfil,
 * a fulfiller that is the consumer; see ConsumerRouter.)
 */
const MARGIN = 0n;

/** EIP-7623's calldata tokens: a zero byte 1, a non-zero byte 4. */
function tokensOf(data: Hex): bigint {
  let tokens = 0n;
  for (let i = 2; i < data.length; i += 2) tokens += data.slice(i, i + 2) === "00" ? 1n : 4n;
  return tokens;
}

/** `n` bytes, none zero. */
const nonZeroBytes = (n: number): Hex => toHex(Uint8Array.from({ length: n }, (_, i) => 1 + ((i * 131 + 7) % 255)));

/** `n` bytes like a canonical preimage's: little-endian int64s of small values, mostly zeros. */
const preimageLike = (n: number): Hex =>
  toHex(Uint8Array.from({ length: n }, (_, i) => (i % 8 === 0 ? 1 + (i % 200) : i % 8 === 1 ? 3 : 0)));

/**
 * ConsumerRouter's reimbursement with real transactions (issue 13): the fulfiller is credited
 * the gas its fulfil was charged (the receipt's gasUsed) at the price reimbursed, within the
 * deposit, whatever the fulfil wrote: first credits (fresh slots), a result kept for a retry,
 * kilobytes of outputs in calldata, a callback that reverts or runs out of gas.
 */
describe("ConsumerRouter reimburses the fulfil's measured gas (in-process network)", function () {
  let f: MarketFixture;
  let router: { address: Address; abi: Abi };
  const switchArtifact = loadArtifact("SwitchConsumer");
  let wallets: Wallet[];

  before(async function () {
    f = await marketFixture();
    router = consumerRouter(f.record);
    wallets = (await viem.getWalletClients()) as unknown as Wallet[];
  });

  const read = <T>(functionName: string, args: unknown[] = []) =>
    f.publicClient.readContract({ ...router, functionName, args } as never) as Promise<T>;

  async function deploySwitch(): Promise<Address> {
    const hash = await f.client.deployContract({
      abi: switchArtifact.abi,
      bytecode: switchArtifact.bytecode,
      args: [router.address],
    });
    const at = getAddress((await f.publicClient.waitForTransactionReceipt({ hash })).contractAddress!);
    await networkHelpers.setBalance(at, parseEther("100"));
    return at;
  }

  async function setMode(consumer: Address, mode: number) {
    await f.publicClient.waitForTransactionReceipt({
      hash: await f.client.writeContract({
        address: consumer,
        abi: switchArtifact.abi,
        functionName: "setMode",
        args: [mode],
      }),
    });
  }

  /** A k = 1 job requested by `consumer`, delivered with keccak256(`outputs`), past its window. */
  async function finalJob(consumer: Address, outputs: Hex, limit = LIMIT): Promise<{ jobId: bigint; job: Job }> {
    const now = Number((await f.publicClient.getBlock()).timestamp);
    const request = {
      modelId: MODEL_ID,
      version: 0,
      redundancy: 1,
      feePerProvider: parseEther("0.001"),
      token: zeroAddress,
      deadline: now + 600,
      requiredTags: 1n,
      input: "0x0102030405" as Hex,
      inputCid: "",
    };
    const receipt = await f.publicClient.waitForTransactionReceipt({
      hash: await f.client.writeContract({
        address: consumer,
        abi: switchArtifact.abi,
        functionName: "request",
        args: [request, Number(limit), CAP],
        gas: 1_500_000n,
      }),
    });
    expect(receipt.status).to.equal("success");
    const { jobId, job } = requestedJob(receipt.logs);
    await f.publicClient.waitForTransactionReceipt({
      hash: await f.as(f.providers[0]!).market.write.submitResult([jobId, jobWords(job), keccak256(outputs), REF]),
    });
    await networkHelpers.time.increase(job.challengeWindow + 1);
    return { jobId, job };
  }

  interface Fulfilled {
    receipt: TransactionReceipt;
    held: bigint;
    reimbursed: bigint;
    refund: bigint;
    /** The gas the router says it reimbursed (CallbackReimbursed's `gas`). */
    gas: bigint;
    /** The price reimbursed: the transaction's, at most the cap. */
    price: bigint;
    calldata: Hex;
    /** The callback returned (CallbackDelivered) or not (CallbackFailed). */
    delivered: boolean;
    /** The callback's gas (the event's `gasUsed`). */
    callbackGas: bigint;
  }

  /**
   * `fulfiller` fulfils the job with `outputs` (empty: the hash only, `o.resultHash`) at
   * `o.gasPrice` (default 5 gwei, below the 10 gwei cap).
   */
  async function fulfil(
    fulfiller: Wallet,
    j: { jobId: bigint; job: Job },
    outputs: Hex,
    o: { resultHash?: Hex; limit?: bigint; gasPrice?: bigint } = {},
  ): Promise<Fulfilled> {
    const held = await read<bigint>("depositOf", [j.jobId]);
    const required = await read<bigint>("requiredGas", [o.limit ?? LIMIT]);
    const resultHash = o.resultHash ?? keccak256(outputs);
    const args = [j.jobId, jobWords(j.job), f.providers[0]!.account.address, resultHash, outputs] as const;
    const calldata = encodeFunctionData({ abi: router.abi, functionName: "fulfill", args } as never);
    const hash = await fulfiller.writeContract({
      ...router,
      functionName: "fulfill",
      args,
      // Enough for the callback's limit (EIP-150) and EIP-7623's floor of the outputs.
      gas: required + 200_000n + 10n * tokensOf(calldata),
      gasPrice: o.gasPrice ?? PRICE,
    } as never);
    const receipt = await f.publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    const [paid] = parseEventLogs({ abi: router.abi, logs: receipt.logs, eventName: "CallbackReimbursed" });
    const a = (paid as unknown as { args: { reimbursed: bigint; refund: bigint; gas?: bigint } }).args;
    const price = receipt.effectiveGasPrice < CAP ? receipt.effectiveGasPrice : CAP;
    const [outcome] = parseEventLogs({
      abi: router.abi,
      logs: receipt.logs,
      eventName: ["CallbackDelivered", "CallbackFailed"],
    }) as unknown as { eventName: string; args: { gasUsed: bigint } }[];
    return {
      receipt,
      held,
      reimbursed: a.reimbursed,
      refund: a.refund,
      gas: a.gas ?? 0n,
      price,
      calldata,
      delivered: outcome!.eventName === "CallbackDelivered",
      callbackGas: outcome!.args.gasUsed,
    };
  }

  /** Reimbursed at least what the fulfil cost, at most MARGIN more, the rest refunded. */
  function expectCovered(r: Fulfilled, what: string) {
    const { gasUsed } = r.receipt;
    const reimbursedGas = r.reimbursed / r.price;
    expect(r.reimbursed % r.price, `${what}: a whole number of gas`).to.equal(0n);
    expect(
      reimbursedGas >= gasUsed,
      `${what}: reimbursed ${reimbursedGas} gas, the fulfil was charged ${gasUsed} (short ${gasUsed - reimbursedGas})`,
    ).to.equal(true);
    expect(
      reimbursedGas - gasUsed <= MARGIN,
      `${what}: reimbursed ${reimbursedGas} gas, charged ${gasUsed}: ${reimbursedGas - gasUsed} over`,
    ).to.equal(true);
    expect(r.gas, `${what}: CallbackReimbursed's gas`).to.equal(reimbursedGas);
    expect(r.reimbursed < r.held, `${what}: within the deposit`).to.equal(true);
    expect(r.reimbursed + r.refund, `${what}: the deposit shared`).to.equal(r.held);
  }

  it("covers the fulfiller's and the consumer's first credits (fresh slots), then later ones", async function () {
    const consumer = await deploySwitch();
    const fulfiller = wallets[9]!;
    expect(await read<bigint>("balanceOf", [fulfiller.account.address])).to.equal(0n);
    const outputs = preimageLike(71);
    const first = await fulfil(fulfiller, await finalJob(consumer, outputs), outputs);
    expect(first.delivered).to.equal(true);
    expectCovered(first, "both first credits");
    const later = await fulfil(fulfiller, await finalJob(consumer, outputs), outputs);
    expectCovered(later, "both later credits");
    // Beside the callback, the fresh slots cost 2 × 17,100 more (give or take the job words' calldata).
    const beside = (r: Fulfilled) => r.receipt.gasUsed - r.callbackGas;
    const fresh = beside(first) - beside(later);
    expect(fresh > 2n * 17_100n - 100n && fresh < 2n * 17_100n + 100n, `fresh slots: ${fresh}`).to.equal(true);
    // A new consumer's first credit, the fulfiller's later one.
    const other = await deploySwitch();
    expectCovered(await fulfil(fulfiller, await finalJob(other, outputs), outputs), "the consumer's first credit");
  });

  it("covers a hash-only delivery (the result kept for a retry) and a reverting or out-of-gas callback", async function () {
    const consumer = await deploySwitch();
    const fulfiller = wallets[10]!;
    const outputs = preimageLike(71);
    const resultHash = keccak256(outputs);
    // The hash-only fulfil of the e2e test that was short 6 %: both first credits and the retry hash.
    const hashOnly = await finalJob(consumer, outputs);
    const first = await fulfil(fulfiller, hashOnly, "0x", { resultHash });
    expect(first.delivered).to.equal(true);
    expectCovered(first, "hash only, first credits");
    expect(await read<Hex>("retryHashOf", [hashOnly.jobId])).to.equal(resultHash);
    expectCovered(
      await fulfil(fulfiller, await finalJob(consumer, outputs), "0x", { resultHash }),
      "hash only, later credits",
    );

    await setMode(consumer, SWITCH.REVERT);
    const reverted = await fulfil(fulfiller, await finalJob(consumer, outputs), outputs);
    expect(reverted.delivered).to.equal(false);
    expectCovered(reverted, "a reverting callback");
    await setMode(consumer, SWITCH.BURN);
    const burnt = await fulfil(fulfiller, await finalJob(consumer, outputs), outputs);
    expect(burnt.delivered).to.equal(false);
    expectCovered(burnt, "an out-of-gas callback (its whole limit)");
    expect(burnt.receipt.gasUsed > LIMIT).to.equal(true);
  });

  it("covers outputs in calldata: 2 KB like a preimage, 2 KB a third zeros, 4 KB all non-zero (and EIP-7623's floor)", async function () {
    const consumer = await deploySwitch();
    const fulfiller = wallets[11]!;
    await fulfil(fulfiller, await finalJob(consumer, preimageLike(64)), preimageLike(64)); // warm credits
    const twoKb = preimageLike(2_164);
    expectCovered(await fulfil(fulfiller, await finalJob(consumer, twoKb), twoKb), "2,164 bytes, mostly zeros");
    const mixed = toHex(Uint8Array.from({ length: 2_048 }, (_, i) => (i % 3 === 0 ? 0 : i % 251)));
    expectCovered(await fulfil(fulfiller, await finalJob(consumer, mixed), mixed), "2,048 bytes, a third zeros");
    const big = nonZeroBytes(4_096);
    const r = await fulfil(fulfiller, await finalJob(consumer, big), big);
    expect(r.delivered).to.equal(true);
    expectCovered(r, "4,096 non-zero bytes");
    // With a cheap callback the transaction is charged EIP-7623's floor, 21,000 + 10 a token.
    await setMode(consumer, SWITCH.REVERT);
    const floor = await fulfil(fulfiller, await finalJob(consumer, big), big);
    expect(floor.delivered).to.equal(false);
    expectCovered(floor, "4,096 non-zero bytes, a cheap callback (the floor)");
    expect(floor.receipt.gasUsed).to.equal(21_000n + 10n * tokensOf(floor.calldata));
  });

  it("the deposit's headroom, FULFIL_OVERHEAD, covers the worst realistic fulfil: first credits, a failed callback (result kept), 4 KB of non-zero outputs", async function () {
    const overhead = await read<bigint>("FULFIL_OVERHEAD");
    const big = nonZeroBytes(4_096);
    // Out of gas: the callback uses its whole limit, so the floor is below the standard cost.
    const consumer = await deploySwitch();
    await setMode(consumer, SWITCH.BURN);
    const r = await fulfil(wallets[12]!, await finalJob(consumer, big), big);
    expect(r.delivered).to.equal(false);
    expectCovered(r, "worst case, out of gas");
    const beside = r.receipt.gasUsed - LIMIT;
    expect(beside <= overhead, `${beside} gas beside the callback's limit, headroom ${overhead}`).to.equal(true);
    // A cheap reverting callback: the whole fulfil fits the headroom alone.
    const other = await deploySwitch();
    await setMode(other, SWITCH.REVERT);
    const cheap = await fulfil(wallets[13]!, await finalJob(other, big), big);
    expect(cheap.delivered).to.equal(false);
    expectCovered(cheap, "worst case, a cheap revert");
    expect(cheap.receipt.gasUsed <= overhead).to.equal(true);
    console.log(
      `      worst fulfils: ${beside} gas beside the callback's limit (out of gas), ${cheap.receipt.gasUsed} in all (a cheap revert); FULFIL_OVERHEAD ${overhead}`,
    );
  });

  it("covers 64 KB of outputs (the most the DAO may allow inline) while within the deposit, and is capped at the deposit beyond it", async function () {
    const dao = (await viem.getWalletClient(f.timelock)) as unknown as Wallet;
    await f.publicClient.waitForTransactionReceipt({
      hash: await dao.writeContract({ ...router, functionName: "setMaxInlineOutputBytes", args: [65_536n] } as never),
    });
    const consumer = await deploySwitch();
    await setMode(consumer, SWITCH.BURN);
    const limit = 1_000_000n;
    const outputs = preimageLike(65_536);
    // At 5 gwei under a 10 gwei cap the deposit covers twice the headroom: the most memory a fulfil uses.
    const within = await fulfil(wallets[14]!, await finalJob(consumer, outputs, limit), outputs, { limit });
    expectCovered(within, "64 KB");
    expect(within.receipt.gasUsed > limit + (await read<bigint>("FULFIL_OVERHEAD"))).to.equal(true);
    // At the cap the same fulfil costs more than the deposit: the fulfiller gets all of it.
    const capped = await fulfil(wallets[14]!, await finalJob(consumer, outputs, limit), outputs, {
      limit,
      gasPrice: 2n * CAP,
    });
    expect(capped.price).to.equal(CAP);
    expect(capped.reimbursed).to.equal(capped.held);
    expect(capped.refund).to.equal(0n);
    expect(capped.receipt.gasUsed * CAP > capped.held, "the fulfil cost more than the deposit").to.equal(true);
  });

  it("counting the calldata exactly costs 2 to 2.5 gas a byte, less than an upper bound of 16 a byte over-pays a preimage's zero bytes", async function () {
    /** The execution gas of calldataTokens(data) in a call (a trace: a transaction is charged EIP-7623's floor here). */
    const execution = async (data: Hex) => {
      const trace = (await f.publicClient.request({
        method: "debug_traceCall",
        params: [
          {
            from: f.client.account.address,
            to: router.address,
            data: encodeFunctionData({ abi: router.abi, functionName: "calldataTokens", args: [data] } as never),
          },
          "latest",
          { disableStorage: true, disableMemory: true, disableStack: true },
        ],
      } as never)) as { structLogs: { gas: number; gasCost: number }[] };
      const [first, last] = [trace.structLogs[0]!, trace.structLogs.at(-1)!];
      return BigInt(first.gas - last.gas + last.gasCost);
    };
    const empty = await execution("0x");
    for (const n of [512, 2_164, 4_096]) {
      const data = preimageLike(n);
      expect(await read<bigint>("calldataTokens", [data])).to.equal(tokensOf(data));
      const count = (await execution(data)) - empty;
      const zeros = BigInt(n) - (tokensOf(data) - BigInt(n)) / 3n;
      console.log(`      ${n} bytes: counted for ${count} gas; 16 a byte would over-pay ${12n * zeros}`);
      expect(count <= (BigInt(n) * 5n) / 2n, `${count} gas for ${n} bytes`).to.equal(true);
      expect(count < 12n * zeros).to.equal(true);
    }
  });

  it("runners deliver outputs the headroom does not cover as a hash", function () {
    const small = new Uint8Array(REIMBURSED_INLINE_OUTPUT_BYTES).fill(1);
    const large = new Uint8Array(REIMBURSED_INLINE_OUTPUT_BYTES + 1).fill(1);
    expect(deliveryMode(small, keccak256(small), 64 * 1024).hashOnly).to.equal(false);
    const m = deliveryMode(large, keccak256(large), 64 * 1024);
    expect(m.hashOnly).to.equal(true);
    expect(m.reason).to.match(/headroom/);
    expect(deliveryMode(large, keccak256(large), 256).reason).to.match(/maxInlineOutputBytes/);
  });
});
