/**
 * The clients of the chaos harness: development accounts that request tiny-mlp jobs, a seeded mix
 * of k = 1 and k = 3, at a steady rate or all at once. They talk to the node directly (not through
 * the fault proxies) and sign with explicit nonces, so one account can have many requests in
 * flight in one block; every signed request is kept so it can be sent again if a reorg drops it.
 */
import { encodeFunctionData, parseEther, parseTransaction, type Address, type Hex, type PublicClient } from "viem";
import type { HDAccount } from "viem/accounts";
import type { DeploymentRecord } from "../../chain/deployment.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import { jobRequestOf } from "../../client/jobs.ts";
import type { Logger } from "../../log.ts";
import { TINY_MLP_INPUTS } from "../../models/tiny-onnx.ts";
import { tensorFrom, type TensorMap } from "../../tensors/dtypes.ts";
import { randomInt, type Random } from "./random.ts";

const CHAOS_MODEL = "tiny-mlp";
const CHAOS_FEE_PER_PROVIDER = parseEther("0.0001");

interface JobSpec {
  seq: number;
  redundancy: 1 | 3;
  inputs: TensorMap;
}

/** The seeded job mix: `k3Share` of the jobs are k = 3; inputs are 1–3 rows on a 1/16 grid (exact in f32). */
export function jobMix(count: number, k3Share: number, random: Random): JobSpec[] {
  return Array.from({ length: count }, (_, seq) => {
    const rows = randomInt(random, 1, 3);
    const values = Array.from({ length: rows * TINY_MLP_INPUTS }, () => randomInt(random, -32, 32) / 16);
    return {
      seq,
      redundancy: random() < k3Share ? 3 : 1,
      inputs: { x: tensorFrom("F32", [rows, TINY_MLP_INPUTS], values) },
    };
  });
}

interface SentRequest {
  seq: number;
  redundancy: 1 | 3;
  client: Address;
  nonce: number;
  hash: Hex;
  raw: Hex;
  /** Wall-clock ms when it was broadcast. */
  sentAt: number;
  /** Broadcasts after the first (the request was not on chain any more). */
  resends: number;
  /** Replacements at a higher fee (it waited in the pool below the base fee). */
  repriced?: number;
  /** The request could not be built or broadcast (it never reached the node). */
  error?: string;
}

interface LoadDeps {
  publicClient: PublicClient;
  record: DeploymentRecord;
  accounts: HDAccount[];
  log: Logger;
  /**
   * Seconds from request to the deadline of k = 1 jobs (k = 3 jobs keep the client's default of
   * 600 s). A client in a hurry sets it short; a job every runner abstained from is then refunded
   * that much sooner, and the run ends sooner.
   */
  k1DeadlineSeconds?: number;
}

const MAX_IN_FLIGHT = 32;
/** Tries of a request refused for its fee (a base-fee spike lasts a few blocks). */
const SEND_RETRIES = 40;
/**
 * Tries of building a request whose reads failed: a read made as a reorg lands can name a block
 * the node no longer has, and a dropped connection fails one; a client reads again.
 */
const BUILD_TRIES = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Per-account signing in nonce order: broadcasts of one account leave in the order they were signed. */
class ClientAccount {
  private nonce: number | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  readonly account: HDAccount;
  private readonly deps: LoadDeps;

  constructor(account: HDAccount, deps: LoadDeps) {
    this.account = account;
    this.deps = deps;
  }

  send(spec: JobSpec, request: { data: Hex; value: bigint; gas: bigint }): Promise<SentRequest> {
    const run = async (): Promise<SentRequest> => {
      const { publicClient } = this.deps;
      this.nonce ??= await publicClient.getTransactionCount({ address: this.account.address, blockTag: "pending" });
      // A node refuses a transaction priced below the base fee (a spike): like a real client,
      // price it again from the next block and retry for a while before giving up.
      let raw: Hex;
      let hash: Hex;
      for (let attempt = 0; ; attempt++) {
        const tip = 1_000_000_000n;
        // Twice the next block's base fee plus a tip: enough for a few full blocks.
        const maxFeePerGas = 2n * (await nextBaseFee(publicClient)) + tip;
        raw = await this.account.signTransaction({
          chainId: publicClient.chain!.id,
          type: "eip1559",
          to: this.deps.record.contracts.InferenceMarket!.address,
          data: request.data,
          value: request.value,
          gas: request.gas,
          nonce: this.nonce,
          maxFeePerGas,
          maxPriorityFeePerGas: tip,
        });
        try {
          hash = await publicClient.sendRawTransaction({ serializedTransaction: raw });
          break;
        } catch (error) {
          if (
            attempt >= SEND_RETRIES ||
            !/base fee|fee cap|underpriced|Transaction creation failed/i.test(String(error))
          )
            throw error;
          await sleep(500);
        }
      }
      const sent: SentRequest = {
        seq: spec.seq,
        redundancy: spec.redundancy,
        client: this.account.address,
        nonce: this.nonce,
        hash,
        raw,
        sentAt: Date.now(),
        resends: 0,
      };
      this.nonce++;
      return sent;
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /**
   * A request waiting in the pool below the base fee (a spike came after it was priced) holds up
   * every later nonce of its client: like a wallet's "speed up", it is signed again with the same
   * nonce at twice the base fee (at least the pool's +10 %) and replaces the waiting one.
   */
  async reprice(s: SentRequest, baseFee: bigint): Promise<boolean> {
    const { publicClient } = this.deps;
    const old = parseTransaction(s.raw);
    if (old.maxFeePerGas === undefined || old.maxFeePerGas >= baseFee) return false;
    const tip = old.maxPriorityFeePerGas ?? 0n;
    const bumped = (old.maxFeePerGas * 112n) / 100n;
    const raw = await this.account.signTransaction({
      chainId: publicClient.chain!.id,
      type: "eip1559",
      to: old.to!,
      data: old.data!,
      value: old.value ?? 0n,
      gas: old.gas!,
      nonce: s.nonce,
      maxFeePerGas: 2n * baseFee + tip > bumped ? 2n * baseFee + tip : bumped,
      maxPriorityFeePerGas: (tip * 112n) / 100n + 1n,
    });
    // Refused (mined meanwhile, or the pool wants more): the request stays as it was.
    const hash = await publicClient.sendRawTransaction({ serializedTransaction: raw }).catch(() => null);
    if (hash === null) return false;
    s.raw = raw;
    s.hash = hash;
    s.repriced = (s.repriced ?? 0) + 1;
    return true;
  }
}

interface LoadGenerator {
  /** Requests every job of `specs`: at `rate` per second, or all at once when `rate` is null. Resolves when all are broadcast. */
  run(specs: JobSpec[], rate: number | null, stop?: AbortSignal): Promise<void>;
  sent(): SentRequest[];
  /**
   * Makes sure every request is on chain: one with no receipt and not in the pool (a reorg dropped
   * it and nobody sent it again) is broadcast again, as its client would. Returns how many were.
   */
  ensureLanded(timeoutMs: number): Promise<number>;
}

export function createLoadGenerator(deps: LoadDeps): LoadGenerator {
  const clients = deps.accounts.map((a) => new ClientAccount(a, deps));
  const sent: SentRequest[] = [];
  const market = conclaveContracts(deps.record, deps.publicClient).market;

  /** The request's calldata, value and gas, from the market's policy and an estimate. */
  const build = async (spec: JobSpec, client: ClientAccount) => {
    const { request, value } = await jobRequestOf(deps.publicClient, deps.record, {
      model: CHAOS_MODEL,
      inputs: spec.inputs,
      redundancy: spec.redundancy,
      feePerProvider: CHAOS_FEE_PER_PROVIDER,
      ...(spec.redundancy === 1 && deps.k1DeadlineSeconds !== undefined
        ? { deadlineInSeconds: deps.k1DeadlineSeconds }
        : {}),
    });
    const data = encodeFunctionData({ abi: market.abi, functionName: "requestJob", args: [request] });
    const estimate = await deps.publicClient.estimateGas({
      account: client.account.address,
      to: market.address,
      data,
      value,
    });
    return { data, value, gas: (estimate * 13n) / 10n };
  };

  const one = async (spec: JobSpec) => {
    const client = clients[spec.seq % clients.length]!;
    try {
      let built: Awaited<ReturnType<typeof build>>;
      for (let attempt = 1; ; attempt++) {
        try {
          built = await build(spec, client);
          break;
        } catch (error) {
          if (attempt >= BUILD_TRIES) throw error;
          deps.log.info("request not built; reading again", { seq: spec.seq, attempt, error });
          await sleep(500 * attempt);
        }
      }
      const request_ = await client.send(spec, built);
      sent.push(request_);
      unmined.add(request_);
    } catch (error) {
      deps.log.warn("request not sent", { seq: spec.seq, error });
      sent.push({
        seq: spec.seq,
        redundancy: spec.redundancy,
        client: client.account.address,
        nonce: -1,
        hash: "0x",
        raw: "0x",
        sentAt: Date.now(),
        resends: 0,
        error: String(error),
      });
    }
  };

  // Requests broadcast and not seen mined yet: looked at once a second, like a wallet does with its
  // pending transactions: put back in the pool when the node lost one (a reorg, a dropped
  // connection: every later nonce of that client would wait behind the gap), re-priced when the
  // base fee rose above it.
  const unmined = new Set<SentRequest>();
  const repriceOnce = async () => {
    if (unmined.size === 0) return;
    const baseFee = await nextBaseFee(deps.publicClient);
    const chainNonce = new Map<Address, number>();
    for (const s of [...unmined].sort((a, b) => a.nonce - b.nonce)) {
      const state = await landing(s, chainNonce);
      if (state === "mined") unmined.delete(s);
      else if (state === "lost") {
        await deps.publicClient.sendRawTransaction({ serializedTransaction: s.raw }).then(
          () => void s.resends++,
          () => undefined,
        );
      } else
        await clients
          .find((c) => c.account.address === s.client)!
          .reprice(s, baseFee)
          .catch(() => false);
    }
  };
  let stopRepricing = false;
  let repricing: Promise<void> | null = null;
  const startRepricing = () => {
    repricing ??= (async () => {
      while (!stopRepricing) {
        await repriceOnce().catch((error: unknown) => deps.log.warn("re-pricing requests failed", { error }));
        await sleep(1_000);
      }
    })();
  };

  return {
    sent: () => [...sent],
    async run(specs, rate, stop) {
      startRepricing();
      const started = Date.now();
      const pending = new Set<Promise<void>>();
      for (const [i, spec] of specs.entries()) {
        if (stop?.aborted) break;
        if (rate !== null) {
          const due = started + (i * 1000) / rate;
          if (due > Date.now()) await sleep(due - Date.now());
        }
        // A burst still builds requests a few dozen at a time: thousands of parallel reads would
        // only queue up in the node's HTTP server.
        while (pending.size >= MAX_IN_FLIGHT) await Promise.race(pending);
        const p: Promise<void> = one(spec).finally(() => pending.delete(p));
        pending.add(p);
      }
      await Promise.all(pending);
    },
    async ensureLanded(timeoutMs) {
      try {
        return await landAll(timeoutMs);
      } finally {
        stopRepricing = true;
        await repricing;
      }
    },
  };

  /**
   * Where a request stands: mined (its receipt, or its nonce used by another version of it, an
   * earlier price a reorg put back), waiting in the node's pool, or lost (neither).
   */
  async function landing(s: SentRequest, chainNonce: Map<Address, number>): Promise<"mined" | "pooled" | "lost"> {
    if (
      await deps.publicClient.getTransactionReceipt({ hash: s.hash }).then(
        () => true,
        () => false,
      )
    )
      return "mined";
    if (!chainNonce.has(s.client))
      chainNonce.set(s.client, await deps.publicClient.getTransactionCount({ address: s.client, blockTag: "latest" }));
    if (chainNonce.get(s.client)! > s.nonce) return "mined";
    return (await deps.publicClient.getTransaction({ hash: s.hash }).catch(() => null)) ? "pooled" : "lost";
  }

  async function landAll(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let resent = 0;
    for (;;) {
      const missing: SentRequest[] = [];
      let waiting = 0;
      const chainNonce = new Map<Address, number>();
      for (const s of sent) {
        if (s.error) continue;
        const state = await landing(s, chainNonce);
        if (state === "lost") missing.push(s);
        if (state === "pooled") waiting++;
      }
      // Pending ones (in the pool, e.g. under a base-fee spike) land by themselves; wait for them.
      if (missing.length === 0 && waiting === 0) return resent;
      if (Date.now() > deadline) return resent;
      // In nonce order per client: a later nonce would wait in the pool for an earlier one.
      for (const s of missing.sort((a, b) => a.nonce - b.nonce)) {
        await deps.publicClient.sendRawTransaction({ serializedTransaction: s.raw }).then(
          () => {
            s.resends++;
            resent++;
          },
          (error: unknown) => deps.log.warn("request not re-sent", { seq: s.seq, error }),
        );
      }
      await sleep(2_000);
    }
  }
}

/** The base fee the next block charges (eth_feeHistory's last entry): what the node checks a new transaction against. */
async function nextBaseFee(publicClient: PublicClient): Promise<bigint> {
  return (await publicClient.getFeeHistory({ blockCount: 1, rewardPercentiles: [] })).baseFeePerGas.at(-1) ?? 0n;
}
