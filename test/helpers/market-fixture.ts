import {
  getAddress,
  keccak256,
  parseEther,
  parseEventLogs,
  stringToHex,
  toHex,
  type Address,
  type Hash,
  type Hex,
} from "viem";
import type { Job } from "../../node/attest/attestation.ts";
import type { Wallet } from "../../node/chain/clients.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { LOCAL_DEFAULTS } from "../../node/deploy/params.ts";
import { deployStack } from "../../node/deploy/stack.ts";
import { TOKENS, viem, networkHelpers } from "./hardhat-stack.ts";
import { jobOfWords } from "../../node/attest/job-words.ts";

export const MODEL = "tiny-linear";
export const MODEL_ID = keccak256(toHex(MODEL));
export const ETH = "0x0000000000000000000000000000000000000000" as Address;
export const CAPS = {
  memoryMB: 4096,
  accelerator: stringToHex("cpu", { size: 32 }),
  region: stringToHex("eu", { size: 32 }),
  tags: 1n,
};

/**
 * The whole stack with a market on the in-process network: an active model version, three
 * approved providers (wallets 4-6), a client (wallet 7) holding ETH and a DAO-allowlisted ERC-20.
 * DAO actions are sent as the impersonated timelock; the vote itself is tested in test/governance.
 */
export async function marketFixture() {
  const wallets = (await viem.getWalletClients()) as unknown as Wallet[];
  const publicClient = await viem.getPublicClient();
  const [deployer, alice, , , p1, p2, p3, client, relayer] = wallets as Wallet[] as [
    Wallet,
    Wallet,
    Wallet,
    Wallet,
    Wallet,
    Wallet,
    Wallet,
    Wallet,
    Wallet,
  ];
  const providers = [p1, p2, p3];
  const usd = await viem.deployContract("MockERC20", ["Test Dollar", "TUSD", 18]);
  const params = {
    ...LOCAL_DEFAULTS,
    // These tests choose which provider serves; assignment has its own tests (InferenceMarketAssignment.t.sol).
    priorityWindow: 0,
    guardian: wallets[wallets.length - 1]!.account.address,
    holders: [
      { address: alice.account.address, amount: TOKENS(1_000_000) },
      ...providers.map((p) => ({ address: p.account.address, amount: TOKENS(10_000) })),
    ],
    paymentTokens: [{ token: getAddress(usd.address), ratePerEth: 10n ** 18n }],
  };
  const record = await deployStack({ publicClient: publicClient as never, wallet: deployer }, params);
  const timelock = record.contracts.ConclaveTimelock!.address;
  await networkHelpers.impersonateAccount(timelock);
  await networkHelpers.setBalance(timelock, parseEther("10"));
  const dao = conclaveContracts(record, (await viem.getWalletClient(timelock)) as unknown as Wallet);

  const as = (w: Wallet) => conclaveContracts(record, w);
  await as(alice).models.write.publishVersion([
    MODEL,
    {
      weightsCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
      weightsSha256: keccak256(toHex("weights")),
      schemaCid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
      runtime: stringToHex("onnxruntime-1.30-cpu", { size: 32 }),
      outputQuantum: 10n ** 14n,
      minMemoryMB: 64,
      minFee: 0n,
    },
  ]);
  await dao.models.write.activateVersion([MODEL_ID, 1]);
  for (const p of providers) {
    await as(p).token.write.approve([record.contracts.ProviderRegistry!.address, TOKENS(1_000)]);
    await as(p).providers.write.register([TOKENS(1_000), CAPS, "ipfs://provider"]);
    await dao.providers.write.approveProvider([p.account.address, CAPS.tags]);
  }
  await usd.write.mint([client.account.address, TOKENS(1_000)]);
  await usd.write.approve([record.contracts.InferenceMarket!.address, TOKENS(1_000)], { account: client.account });
  return { record, params, publicClient, deployer, alice, providers, client, relayer, usd, dao, as, timelock };
}

export type MarketFixture = Awaited<ReturnType<typeof marketFixture>>;

/** Requests a job and returns its id and the Job struct from the JobRequested event. */
export async function requestJob(
  f: MarketFixture,
  opts: { redundancy?: number; fee?: bigint; token?: Address; deadlineIn?: number; input?: Hex; value?: bigint } = {},
): Promise<{ jobId: bigint; job: Job; hash: Hash }> {
  const market = f.as(f.client).market;
  const redundancy = opts.redundancy ?? 1;
  const fee = opts.fee ?? parseEther("0.01");
  const token = opts.token ?? ETH;
  const escrow = await market.read.escrowOf([redundancy, fee, f.params.protocolFeeBps]);
  const now = Number((await f.publicClient.getBlock()).timestamp);
  const hash = await market.write.requestJob(
    [
      {
        modelId: MODEL_ID,
        version: 0,
        redundancy,
        feePerProvider: fee,
        token,
        deadline: now + (opts.deadlineIn ?? 600),
        requiredTags: 1n,
        input: opts.input ?? "0x0102030405",
        inputCid: "",
      },
    ],
    { value: opts.value ?? (token === ETH ? escrow : 0n) },
  );
  const receipt = await f.publicClient.waitForTransactionReceipt({ hash });
  const [log] = parseEventLogs({ abi: market.abi, logs: receipt.logs, eventName: "JobRequested" });
  return { jobId: log!.args.jobId, job: jobOfWords(log!.args.job), hash };
}
