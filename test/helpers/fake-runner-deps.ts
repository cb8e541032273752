/**
 * Fakes of the job processor's dependencies (chain reads, transaction sender, model store,
 * IPFS, executor), scripted per test: the processor runs its real state machine against a real
 * journal, and the test decides what the chain says and when.
 */
import path from "node:path";
import {
  decodeFunctionData,
  getAddress,
  keccak256,
  toHex,
  zeroAddress,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { jobHash, type Job } from "../../node/attest/attestation.ts";
import { marketAbiWithCourt } from "../../node/chain/artifacts.ts";
import type { TxRequest } from "../../node/chain/tx-sender.ts";
import type { DecodedLog } from "../../node/chain/watcher.ts";
import { createMetrics } from "../../node/http/metrics.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { createDeliveryBatcher, type DeliveryBatcher } from "../../node/jobs/delivery-batcher.ts";
import { createJobProcessor, type JobProcessor } from "../../node/jobs/processor.ts";
import type { ChainReader, ProcessorOptions, TxSubmitter } from "../../node/jobs/processor-options.ts";
import { openJournal, type JobRecord, type Journal, type TxRecord } from "../../node/journal/journal.ts";
import { createLogger } from "../../node/log.ts";
import type { VersionInfo } from "../../node/models/store.ts";
import { tensorFrom, type TensorMap } from "../../node/tensors/dtypes.ts";
import { encodeSafetensors } from "../../node/tensors/safetensors.ts";
import { jobWords } from "../../node/attest/job-words.ts";
import { testDir } from "./temp-dir.ts";

export const MARKET: Address = "0x00000000000000000000000000000000000000a1";
export const MODEL_ID: Hex = `0x${"ab".repeat(32)}`;
export const PROVIDER = privateKeyToAccount(`0x${"11".repeat(32)}`);
export const OTHER: Address = "0x000000000000000000000000000000000000bEEF";
export const marketAbi = marketAbiWithCourt() as Abi;

export const INPUT: Hex = toHex(encodeSafetensors({ x: tensorFrom("F32", [1, 2], [1, 2]) }));

export function makeJob(over: Partial<Job> = {}): Job {
  return {
    client: OTHER,
    token: zeroAddress,
    modelId: MODEL_ID,
    version: 1,
    redundancy: 1,
    quorum: 1,
    protocolFeeBps: 0,
    feePerProvider: 10n,
    requestedAt: 1_000,
    deadline: 1_600,
    commitDeadline: 1_120,
    revealWindow: 120,
    priorityWindow: 0,
    minMemoryMB: 0,
    collateral: 0n,
    requiredTags: 0n,
    inputHash: keccak256(INPUT),
    seed: 0n,
    challengeWindow: 0,
    counted: false,
    ...over,
  };
}

export function requested(
  jobId: bigint,
  job: Job,
  opts: { input?: Hex; inputCid?: string; block?: number; blockHash?: Hex } = {},
): DecodedLog {
  return {
    eventName: "JobRequested",
    args: {
      jobId,
      job: jobWords(job),
      input: opts.inputCid ? "0x" : (opts.input ?? INPUT),
      inputCid: opts.inputCid ?? "",
    },
    blockNumber: BigInt(opts.block ?? 10),
    blockHash: opts.blockHash ?? `0x${"0a".repeat(32)}`,
  } as unknown as DecodedLog;
}

export function event(eventName: string, args: Record<string, unknown>): DecodedLog {
  return { eventName, args, blockNumber: 11n, blockHash: `0x${"0b".repeat(32)}` } as unknown as DecodedLog;
}

interface ChainJob {
  status: number;
  seated: number;
  revealed: number;
  revealStartedAt: number;
}

/** A scripted chain: time, job states, the sender's receipts. Counts every read. */
export class FakeChain implements ChainReader {
  time = 1_000;
  jobs = new Map<bigint, ChainJob>();
  reads = { jobState: 0, now: 0, version: 0, seatSlashed: 0 };
  accepting = true;
  active = true;
  freeStake = 10n ** 21n;

  async now() {
    this.reads.now++;
    return this.time;
  }
  async jobState(jobId: bigint) {
    this.reads.jobState++;
    return this.jobs.get(jobId) ?? { status: 1, seated: 0, revealed: 0, revealStartedAt: 0 };
  }
  async version(modelId: Hex, version: number): Promise<VersionInfo & { accepting: boolean }> {
    this.reads.version++;
    return {
      modelId,
      version,
      weightsCid: "bafyweights",
      weightsSha256: `0x${"00".repeat(32)}`,
      schemaCid: "bafyschema",
      outputQuantum: 10n ** 12n,
      minMemoryMB: 0,
      accepting: this.accepting,
    };
  }
  /** This provider's place on the registry's roster (alone on it by default: rank 0 of every job). */
  roster = { rosterIndex: 0n, rosterSize: 1n };
  async providerTerms() {
    return { active: this.active, tags: 0n, memoryMB: 1_024, freeStake: this.freeStake, ...this.roster };
  }
  /** Who sits in each seat of a job (seatOf), by job id. */
  seats = new Map<bigint, Address[]>();
  async seatOf(jobId: bigint, seat: number): Promise<Address> {
    return this.seats.get(jobId)?.[seat] ?? zeroAddress;
  }
  /** k = 1 deliveries on the chain (ResultSubmitted), by job id. */
  deliveries = new Map<bigint, { provider: Address; resultHash: Hex }>();
  async delivery(jobId: bigint) {
    return this.deliveries.get(jobId) ?? null;
  }
  /** This provider's revealed result (its ResultRevealed event), by job id. */
  reveals = new Map<bigint, Hex>();
  async revealedResult(jobId: bigint) {
    return this.reveals.get(jobId) ?? null;
  }
  /** Jobs whose SeatSlashed events name this provider. */
  slashed = new Set<bigint>();
  async seatSlashed(jobId: bigint) {
    this.reads.seatSlashed++;
    return this.slashed.has(jobId);
  }
  set(jobId: bigint, s: Partial<ChainJob>): void {
    this.jobs.set(jobId, { status: 1, seated: 0, revealed: 0, revealStartedAt: 0, ...this.jobs.get(jobId), ...s });
  }
}

export interface SentTx {
  req: TxRequest;
  functionName: string;
  args: readonly unknown[];
}

/** Records what would be sent; each send resolves with a receipt the test may shape. */
export class FakeSender implements TxSubmitter {
  readonly address = getAddress(PROVIDER.address);
  sent: SentTx[] = [];
  /** Call onQueued as soon as sent (the real sender: once signed); false keeps it until mined. */
  queueBeforeMined = true;
  /** The block the receipts say their transactions were mined in (none by default). */
  blockNumber: bigint | undefined = undefined;
  /** Called for each send; may throw (a revert) or return receipt logs. */
  onSend: (tx: SentTx) => Promise<TransactionReceipt["logs"]> | TransactionReceipt["logs"] = () => [];
  private readonly journal: Journal;
  private nonce = 0;

  constructor(journal: Journal) {
    this.journal = journal;
  }

  async send(req: TxRequest): Promise<TransactionReceipt> {
    const { functionName, args } = decodeFunctionData({ abi: marketAbi, data: req.data });
    const tx = { req, functionName, args: args ?? [] };
    // Like the real sender: a refusal (would revert) leaves nothing sent and nothing recorded.
    this.sent.push(tx);
    if (this.queueBeforeMined) req.onQueued?.();
    let logs;
    try {
      logs = await this.onSend(tx);
    } catch (error) {
      this.sent.splice(this.sent.indexOf(tx), 1);
      throw error;
    }
    const hash = keccak256(toHex(`${req.kind}-${this.nonce}`));
    this.journal.recordTx({ jobId: req.jobId, kind: req.kind, nonce: this.nonce++, hash, raw: "0x00" }, req.jobIds);
    this.journal.setTxStatus(hash, "mined");
    const mined = this.blockNumber === undefined ? {} : { blockNumber: this.blockNumber };
    return { status: "success", transactionHash: hash, logs, ...mined } as unknown as TransactionReceipt;
  }

  /** Transactions resumed (a journaled one of an earlier run); scripted by onResume. */
  resumed: TxRecord[] = [];
  onResume: ((tx: TxRecord) => Promise<TransactionReceipt["logs"]> | TransactionReceipt["logs"]) | null = null;

  async resume(tx: TxRecord): Promise<TransactionReceipt> {
    if (!this.onResume) throw new Error("not scripted");
    this.resumed.push(tx);
    const logs = await this.onResume(tx);
    this.journal.setTxStatus(tx.hash, "mined");
    return { status: "success", transactionHash: tx.hash, blockNumber: 1n, logs } as unknown as TransactionReceipt;
  }

  kinds(): string[] {
    return this.sent.map((t) => t.functionName);
  }
}

const OUTPUTS: TensorMap = { y: tensorFrom("F32", [1, 2], [0.25, 0.75]) };

export interface Harness {
  processor: JobProcessor;
  journal: Journal;
  chain: FakeChain;
  sender: FakeSender;
  /** Wall clock the processor sees (ms); tests move it. */
  clock: { now: number };
  content: ContentStore & { gets: string[]; concurrent: number; maxConcurrent: number };
  executor: {
    runs: number;
    run: ProcessorOptions["executor"]["run"];
    load: ProcessorOptions["executor"]["load"];
    unload: ProcessorOptions["executor"]["unload"];
  };
  models: {
    ensured: string[];
    ensure: ProcessorOptions["models"]["ensure"];
    evict: ProcessorOptions["models"]["evict"];
  };
  /** Advances every due job until nothing changes (no timers involved). */
  settle(): Promise<void>;
  dir: string;
}

export function harness(over: Partial<ProcessorOptions> = {}, dir = testDir("conclave-processor-")): Harness {
  const journal = openJournal(path.join(dir, "journal.sqlite"));
  const chain = new FakeChain();
  const sender = new FakeSender(journal);
  // Starts at the real time: the journal stamps rows with Date.now(), and pruning compares with it.
  const clock = { now: Date.now() };
  const content = {
    gets: [] as string[],
    concurrent: 0,
    maxConcurrent: 0,
    get: async (cid: string) => {
      content.gets.push(cid);
      content.concurrent++;
      content.maxConcurrent = Math.max(content.maxConcurrent, content.concurrent);
      await new Promise((r) => setTimeout(r, 5));
      content.concurrent--;
      return new Uint8Array(Buffer.from(INPUT.slice(2), "hex"));
    },
    add: async () => "bafyoutput",
    release: async () => undefined,
    multiaddrs: () => [],
    dial: async () => undefined,
    stop: async () => undefined,
  };
  const executor = {
    runs: 0,
    load: async () => undefined,
    unload: async () => undefined,
    run: async () => {
      executor.runs++;
      return { outputs: OUTPUTS, inferenceMs: 1 };
    },
  };
  const models = {
    ensured: [] as string[],
    ensure: async (v: VersionInfo) => {
      models.ensured.push(`${v.modelId}-${v.version}`);
      return {
        key: `${v.modelId}-${v.version}`,
        path: "/dev/null",
        schema: { inputs: [], outputs: [] } as never,
        bytes: 0,
      };
    },
    evict: () => undefined,
  };
  const processor = createJobProcessor({
    journal,
    chain,
    sender,
    market: MARKET,
    marketAbi,
    models,
    content,
    executor,
    metrics: createMetrics({ provider: PROVIDER.address }),
    log: createLogger({ write: () => {} }),
    allowedModels: null,
    minFee: () => 0n,
    maxConcurrentJobs: 2,
    maxInputBytes: 1 << 20,
    inlineOutputMaxBytes: 1_024,
    inferenceTimeoutMs: 1_000,
    fetchTimeoutMs: 1_000,
    expireStaleJobs: "own",
    prefetch: true,
    commitMarginSeconds: 6,
    revealMarginSeconds: 20,
    retryBaseMs: 1_000,
    retryMaxMs: 60_000,
    followIntervalMs: 5_000,
    retentionMs: 3_600_000,
    maxConcurrentSteps: 8,
    spreadMs: 0,
    clock: () => clock.now,
    ...over,
  });
  const settle = async () => {
    await processor.idle();
    for (let i = 0; i < 50; i++) {
      await processor.tick();
      await processor.idle();
      if (journal.dueJobs(clock.now, 1).length === 0) return;
    }
  };
  return { processor, journal, chain, sender, clock, content, executor, models, settle, dir };
}

export { jobHash };

/**
 * A harness whose processor delivers, claims, commits and reveals through a real batcher (50 items
 * at most, each waiting one block for others) over the harness's fake sender; its head is block 100.
 */
export function batchingHarness(): { h: Harness; b: DeliveryBatcher } {
  const box: { h?: Harness } = {};
  const sender = {
    get address() {
      return box.h!.sender.address;
    },
    send: (r: TxRequest) => box.h!.sender.send(r),
    resume: (t: TxRecord) => box.h!.sender.resume(t),
  };
  const log = createLogger({ write: () => {} });
  const b = createDeliveryBatcher({ sender, market: MARKET, marketAbi, log, maxBatch: 50, maxWaitBlocks: 1 });
  b.onBlock(100);
  box.h = harness({ batcher: b });
  return { h: box.h, b };
}

/** Journals job `id` as a first run left it: requested in block 10, then `fields` (its state, result, salt...). */
export function journalJob(journal: Journal, id: bigint, job: Job, fields: Partial<JobRecord>): void {
  journal.upsertJob({
    jobId: id,
    paramsHash: jobHash(job),
    job,
    input: INPUT,
    inputCid: null,
    block: 10,
    blockHash: `0x${"0a".repeat(32)}`,
  });
  journal.updateJob(id, journal.getJob(id)!, fields);
}

/**
 * A batcher whose parts a test scripts (`parts`); every part it leaves out rejects (nothing of
 * that kind in the test) or counts nothing queued.
 */
export function fakeBatcher(parts: Partial<DeliveryBatcher>): DeliveryBatcher {
  const none = (what: string) => () => Promise.reject(new Error(`no ${what} in this test`));
  return {
    start: () => undefined,
    stop: async () => undefined,
    deliver: none("k = 1 result"),
    claim: none("claim"),
    resume: none("batch to resume"),
    commit: none("commit"),
    reveal: none("reveal"),
    resumeSeat: none("seat batch to resume"),
    onBlock: () => undefined,
    queued: () => 0,
    queuedClaims: () => 0,
    queuedCommits: () => 0,
    queuedReveals: () => 0,
    ...parts,
  };
}
