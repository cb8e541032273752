/**
 * The figures of a chaos run, from the chain (the market's and the registry's events, every
 * block's receipts) and the runners' journals; nothing is taken from what the harness itself
 * believes it did, except how many requests it sent.
 *
 * Why it stays one file over 400 lines: it is one pass from the chain's ledger and the journals
 * to the run's figures (per job, then per provider), every step reading the same ledger types;
 * its pure pieces (slashCause, refundReason, percentile) are exported for the unit tests.
 */
import { getAddress, type Address, type Hex, type PublicClient } from "viem";
import type { Job } from "../../attest/attestation.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import { AdaptiveRange, getLogsAdaptive } from "../../chain/logs.ts";
import { revertReasonOfTx } from "../../chain/revert.ts";
import type { DeploymentRecord } from "../../chain/deployment.ts";
import { readJournal, type JournalSummary } from "./journals.ts";
import { jobOfWords } from "../../attest/job-words.ts";

export interface JobLedger {
  jobId: bigint;
  job: Job;
  redundancy: number;
  requestedBlock: bigint;
  /** Payouts: k = 1 ResultSubmitted, k > 1 JobSettled, and JobRefunded or JobCancelled, each with its block. */
  submitted: { provider: Address; block: bigint }[];
  settled: { block: bigint; resultHash: Hex }[];
  refunded: { block: bigint; noQuorum: boolean; cancelled?: boolean }[];
  seats: Address[];
  /** The block of each SeatCommitted, in the order of `seats`. */
  seatBlocks: bigint[];
  revealed: { provider: Address; resultHash: Hex }[];
}

/**
 * How many blocks before `block` the job had moved past a transaction of `kind` that `provider`
 * got mined there and that reverted: another provider's k = 1 result, or the commit that took a
 * k > 1 job's last seat. 0: in the same block, a race no estimate can see; 1 or more: the
 * transaction was estimated on an older state (a node behind the head) or sent late. Null when
 * the ledger does not say (another kind; nothing of the kind by others).
 */
export function beatenBlocksBefore(j: JobLedger, kind: string, block: bigint, provider: Address): number | null {
  let beaten: bigint | undefined;
  if (kind === "submit") beaten = j.submitted.find((s) => s.provider.toLowerCase() !== provider.toLowerCase())?.block;
  else if (kind === "commit") beaten = [...j.seatBlocks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[j.redundancy - 1];
  return beaten === undefined || beaten > block ? null : Number(block - beaten);
}

export interface Slash {
  jobId: bigint | null;
  provider: Address;
  amount: bigint;
  revealed: boolean | null;
}

/** Why one of our runners' seats was slashed. */
type SlashCause = "outvoted" | "missed while killed" | "missed";

/**
 * A seat slash of one of our runners, explained: revealed and outvoted; silent while the harness
 * had killed that runner during the job's life (from its request to the slash); or silent with
 * no kill to explain it.
 */
export function slashCause(
  slash: { provider: Address; revealed: boolean; block: bigint },
  requestedBlock: bigint | null,
  kills: readonly { address: Address; from: bigint; to: bigint }[],
): SlashCause {
  if (slash.revealed) return "outvoted";
  const from = requestedBlock ?? 0n;
  const killed = kills.some(
    (k) => k.address.toLowerCase() === slash.provider.toLowerCase() && k.from <= slash.block && k.to >= from,
  );
  return killed ? "missed while killed" : "missed";
}

/** A runner transaction that reverted: which runner (its dev account index), and where. */
export interface RevertedTx {
  provider: number;
  /** From the runner's journal (null when the journal does not know the transaction). */
  nonce: number | null;
  kind: string;
  jobId: bigint | null;
  block: bigint;
  /** The kinds of fault whose windows the block falls in (empty: outside all). */
  faults: string[];
  /** See {@link beatenBlocksBefore}. */
  beatenBlocksBefore: number | null;
  /** The custom error it reverted with, from the node's trace (undefined: the node did not say). */
  reason?: string;
}

interface ProviderFigures {
  index: number;
  address: Address;
  /** Jobs it was paid for on-chain: k = 1 results, k = 3 agreeing reveals. */
  paidK1: number;
  paidK3: number;
  txsSent: number;
  txsReverted: number;
  gasBurntWei: bigint;
  slashed: number;
  /** Jobs its journal holds as "lost" although the chain paid it for them. */
  paidButJournalLost: number;
  journal: Pick<JournalSummary, "states" | "reasons"> | null;
}

export interface AuditFigures {
  fromBlock: bigint;
  toBlock: bigint;
  requested: { total: number; k1: number; k3: number };
  settled: number;
  refunded: { total: number; reasons: Record<string, number> };
  /** Neither settled nor refunded. */
  lost: bigint[];
  /** More than one payout event (settlement or refund) for one job. */
  paidTwice: bigint[];
  /**
   * Slashes of the (honest) runners that nothing in the run excuses: a seat outvoted by a quorum
   * or left silent while its runner was up (SeatSlashed), or any other slash of its stake
   * (ProviderSlashed not caused by a seat).
   */
  honestSlashes: Slash[];
  /**
   * Seats the harness made silent: the runner was killed while the job ran, so it could not
   * reveal, and a silent seat is always slashed (a real fault, paid to the client and the other
   * revealers). Reported apart so a failed run says why; the harness's kills last seconds, far
   * less than a reveal window, so the verdict still counts them (a runner must resume and reveal).
   */
  killedSlashes: Slash[];
  /** byFault: reverted transactions mined inside (or just after) each kind of fault's windows; "none" outside all. */
  revertedTxs: {
    count: number;
    gasUsed: bigint;
    gasBurntWei: bigint;
    byKind: Record<string, number>;
    byFault: Record<string, number>;
    /** Each one, so that a run's reverts can be looked up in that runner's journal. */
    txs: RevertedTx[];
  };
  /** No-ops mined in place of transactions a reorg would have made revert (21,000 gas each, not a revert). */
  voidedTxs: { count: number; gasUsed: bigint };
  latency: {
    p50Seconds: number;
    p99Seconds: number;
    k1P99Seconds: number;
    k3P99Seconds: number;
    k1P50Blocks: number;
    k1P99Blocks: number;
    /** k = 1 jobs requested while no fault was active (nor recovering): how the fleet does between faults. */
    k1CalmP99Blocks: number;
    k1CalmJobs: number;
    /** k = 1 jobs requested inside (or just after) each kind of fault's windows: count, p50 and p99 in blocks. */
    k1ByFault: Record<string, { jobs: number; p50Blocks: number; p99Blocks: number }>;
    /** The slowest k = 1 jobs (for finding what held them up). */
    k1Slowest: { jobId: bigint; requestedBlock: bigint; blocks: number; provider: Address }[];
  };
  providers: ProviderFigures[];
}

/** The p-th percentile (nearest rank); NaN for none. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Every job requested by `clients` since `fromBlock`, with everything that happened to it. */
export async function readLedger(
  publicClient: PublicClient,
  record: DeploymentRecord,
  clients: readonly Address[],
  fromBlock: bigint,
  toBlock: bigint,
): Promise<Map<bigint, JobLedger>> {
  const { market } = conclaveContracts(record, publicClient);
  const ours = new Set(clients.map((c) => c.toLowerCase()));
  // In ranges that adapt: a soak's requests, inline inputs and all, are over viem's 10 MiB answer.
  const logs = await getLogsAdaptive({
    fromBlock: Number(fromBlock),
    toBlock: Number(toBlock),
    range: new AdaptiveRange(),
    query: (from, to) =>
      publicClient.getContractEvents({
        address: market.address,
        abi: market.abi,
        fromBlock: BigInt(from),
        toBlock: BigInt(to),
      }),
  });
  const jobs = new Map<bigint, JobLedger>();
  for (const l of logs) {
    if (l.eventName !== "JobRequested") continue;
    if (!ours.has(l.args.client!.toLowerCase())) continue;
    const job = jobOfWords(l.args.job!);
    jobs.set(l.args.jobId!, {
      jobId: l.args.jobId!,
      job,
      redundancy: Number(job.redundancy),
      requestedBlock: l.blockNumber,
      submitted: [],
      settled: [],
      refunded: [],
      seats: [],
      seatBlocks: [],
      revealed: [],
    });
  }
  for (const l of logs) {
    const id = (l.args as { jobId?: bigint }).jobId;
    const j = id === undefined ? undefined : jobs.get(id);
    if (!j) continue;
    switch (l.eventName) {
      case "ResultSubmitted":
        j.submitted.push({ provider: getAddress(l.args.provider!), block: l.blockNumber });
        break;
      case "SeatCommitted":
        j.seats.push(getAddress(l.args.provider!));
        j.seatBlocks.push(l.blockNumber);
        break;
      case "ResultRevealed":
        j.revealed.push({ provider: getAddress(l.args.provider!), resultHash: l.args.resultHash! });
        break;
      case "JobSettled":
        j.settled.push({ block: l.blockNumber, resultHash: l.args.resultHash! });
        break;
      case "JobRefunded":
        j.refunded.push({ block: l.blockNumber, noQuorum: l.args.noQuorum! });
        break;
      case "JobCancelled":
        j.refunded.push({ block: l.blockNumber, noQuorum: false, cancelled: true });
        break;
    }
  }
  return jobs;
}

/** Why a job was refunded, in the table's words. */
export function refundReason(j: JobLedger, journals: readonly (JournalSummary | null)[]): string {
  const r = j.refunded[0]!;
  if (r.cancelled) return "client-caused (cancelled by the client: its version stopped taking jobs)";
  if (r.noQuorum) return "no quorum (seated providers disagreed or did not reveal)";
  // A runner refused the job's input and none served it: the client sent something no honest runner can serve.
  if (j.seats.length === 0 && journals.some((jr) => jr?.failed.has(j.jobId)))
    return "client-caused (input refused by the runners)";
  // Every honest runner abstains alike: the input puts an output on a rounding boundary, where
  // honest machines could disagree (docs/canonical-result-hash.md).
  if (j.seats.length === 0 && j.submitted.length === 0 && journals.some((jr) => jr?.abstained.has(j.jobId)))
    return "client-caused (input puts an output on a rounding boundary: runners abstained)";
  // The request landed when its deadline had (nearly) passed: the runners skipped it on sight.
  if (j.seats.length === 0 && j.submitted.length === 0 && journals.some((jr) => jr?.tooLate.has(j.jobId)))
    return "client-caused (request landed at its deadline: runners skipped it)";
  if (j.redundancy === 1) return "expired unserved (k = 1, no result by the deadline)";
  return j.seats.length === 0
    ? "expired unseated (k = 3, no seat taken)"
    : `expired with too few seats (k = 3, ${j.seats.length} of ${j.job.quorum} needed)`;
}

interface Receipt {
  transactionHash: Hex;
  from: Address;
  status: Hex;
  gasUsed: Hex;
  effectiveGasPrice: Hex;
}

interface AuditInput {
  publicClient: PublicClient;
  record: DeploymentRecord;
  clients: readonly Address[];
  runners: readonly { index: number; address: Address; dataDir: string }[];
  fromBlock: bigint;
  toBlock?: bigint;
  /** Blocks during which a fault was active (and a few after, to recover): k = 1 latency is also given without them. */
  faultBlocks?: readonly { kind: string; from: bigint; to: bigint }[];
  /** Runners the harness killed, with the blocks from the kill to a few blocks after the restart. */
  kills?: readonly { address: Address; from: bigint; to: bigint }[];
  /** Per runner (same order): jobs it abstained from or refused, collected before it pruned them. */
  remembered?: readonly { abstained: ReadonlySet<bigint>; failed: ReadonlySet<bigint>; tooLate: ReadonlySet<bigint> }[];
}

export async function audit(input: AuditInput): Promise<AuditFigures> {
  const { publicClient, record } = input;
  const toBlock = input.toBlock ?? (await publicClient.getBlockNumber({ cacheTime: 0 }));
  const jobs = await readLedger(publicClient, record, input.clients, input.fromBlock, toBlock);
  const journals = input.runners.map((r, i) => {
    const j = readJournal(r.dataDir);
    const seen = input.remembered?.[i];
    if (!j || !seen) return j;
    return {
      ...j,
      abstained: new Set([...j.abstained, ...seen.abstained]),
      failed: new Set([...j.failed, ...seen.failed]),
      tooLate: new Set([...j.tooLate, ...seen.tooLate]),
    };
  });
  const byAddress = new Map(input.runners.map((r, i) => [r.address.toLowerCase(), i]));

  const stamps = new Map<bigint, bigint>();
  const timestamp = async (n: bigint) => {
    let t = stamps.get(n);
    if (t === undefined) {
      t = (await publicClient.getBlock({ blockNumber: n })).timestamp;
      stamps.set(n, t);
    }
    return t;
  };

  const providers: ProviderFigures[] = input.runners.map((r, i) => ({
    index: r.index,
    address: r.address,
    paidK1: 0,
    paidK3: 0,
    txsSent: 0,
    txsReverted: 0,
    gasBurntWei: 0n,
    slashed: 0,
    paidButJournalLost: 0,
    journal: journals[i] ? { states: journals[i]!.states, reasons: journals[i]!.reasons } : null,
  }));

  let settled = 0;
  const refundReasons: Record<string, number> = {};
  const lost: bigint[] = [];
  const paidTwice: bigint[] = [];
  const latS: number[] = [];
  const k1S: number[] = [];
  const k3S: number[] = [];
  const k1B: number[] = [];
  const k1Calm: number[] = [];
  const k1Fault = new Map<string, number[]>();
  const k1Jobs: { jobId: bigint; requestedBlock: bigint; blocks: number; provider: Address }[] = [];
  for (const j of jobs.values()) {
    const payouts = (j.redundancy === 1 ? j.submitted.length : j.settled.length) + j.refunded.length;
    if (payouts > 1) paidTwice.push(j.jobId);
    if (payouts === 0) {
      lost.push(j.jobId);
      continue;
    }
    if (j.refunded.length > 0 && (j.redundancy === 1 ? j.submitted.length : j.settled.length) === 0) {
      const reason = refundReason(j, journals);
      refundReasons[reason] = (refundReasons[reason] ?? 0) + 1;
      continue;
    }
    settled++;
    const endBlock = j.redundancy === 1 ? j.submitted[0]!.block : j.settled[0]!.block;
    const seconds = Number((await timestamp(endBlock)) - (await timestamp(j.requestedBlock)));
    latS.push(seconds);
    if (j.redundancy === 1) {
      k1S.push(seconds);
      k1B.push(Number(endBlock - j.requestedBlock));
      const blocks = Number(endBlock - j.requestedBlock);
      k1Jobs.push({ jobId: j.jobId, requestedBlock: j.requestedBlock, blocks, provider: j.submitted[0]!.provider });
      const windows = (input.faultBlocks ?? []).filter((w) => j.requestedBlock >= w.from && j.requestedBlock <= w.to);
      if (windows.length === 0) k1Calm.push(blocks);
      for (const kind of new Set(windows.map((w) => w.kind))) k1Fault.set(kind, [...(k1Fault.get(kind) ?? []), blocks]);
    } else k3S.push(seconds);
    const winners =
      j.redundancy === 1
        ? [j.submitted[0]!.provider]
        : j.revealed.filter((r) => r.resultHash === j.settled[0]!.resultHash).map((r) => r.provider);
    for (const w of winners) {
      const i = byAddress.get(w.toLowerCase());
      if (i === undefined) continue;
      if (j.redundancy === 1) providers[i]!.paidK1++;
      else providers[i]!.paidK3++;
      if (journals[i]?.lost.has(j.jobId)) providers[i]!.paidButJournalLost++;
    }
  }

  // Slashes of our runners, in the market (per seat) and in the registry (any reason).
  const { market, providers: registry } = conclaveContracts(record, publicClient);
  const honestSlashes: Slash[] = [];
  const killedSlashes: Slash[] = [];
  for (const l of await publicClient.getContractEvents({
    address: market.address,
    abi: market.abi,
    eventName: "SeatSlashed",
    fromBlock: input.fromBlock,
    toBlock,
  })) {
    const i = byAddress.get(l.args.provider!.toLowerCase());
    if (i === undefined) continue;
    providers[i]!.slashed++;
    const slash = {
      jobId: l.args.jobId!,
      provider: getAddress(l.args.provider!),
      amount: l.args.amount!,
      revealed: l.args.revealed!,
    };
    const cause = slashCause(
      { ...slash, block: l.blockNumber },
      jobs.get(slash.jobId)?.requestedBlock ?? null,
      input.kills ?? [],
    );
    (cause === "missed while killed" ? killedSlashes : honestSlashes).push(slash);
  }
  for (const l of await publicClient.getContractEvents({
    address: registry.address,
    abi: registry.abi,
    eventName: "ProviderSlashed",
    fromBlock: input.fromBlock,
    toBlock,
  })) {
    const i = byAddress.get(l.args.provider!.toLowerCase());
    if (i === undefined) continue;
    // The market's seizures of seats are the SeatSlashed events above; any other slash counts.
    if (l.args.by!.toLowerCase() === market.address.toLowerCase()) continue;
    providers[i]!.slashed++;
    honestSlashes.push({ jobId: null, provider: getAddress(l.args.provider!), amount: l.args.amount!, revealed: null });
  }

  // Every transaction our runners got mined, block by block; the journals say what each was for.
  const txOf = new Map<string, { kind: string; nonce: number; jobId: bigint | null }>();
  for (const jr of journals) for (const t of jr?.txs ?? []) txOf.set(t.hash, t);
  const reverted = {
    count: 0,
    gasUsed: 0n,
    gasBurntWei: 0n,
    byKind: {} as Record<string, number>,
    byFault: {} as Record<string, number>,
    txs: [] as RevertedTx[],
  };
  const voided = { count: 0, gasUsed: 0n };
  for (let n = input.fromBlock; n <= toBlock; n++) {
    const receipts = (await publicClient.request({
      method: "eth_getBlockReceipts" as never,
      params: [`0x${n.toString(16)}`] as never,
    })) as Receipt[] | null;
    for (const r of receipts ?? []) {
      const i = byAddress.get(r.from.toLowerCase());
      if (i === undefined) continue;
      providers[i]!.txsSent++;
      if (r.status !== "0x0") {
        if (txOf.get(r.transactionHash.toLowerCase())?.kind === "void") {
          voided.count++;
          voided.gasUsed += BigInt(r.gasUsed);
        }
        continue;
      }
      const gas = BigInt(r.gasUsed);
      const burnt = gas * BigInt(r.effectiveGasPrice);
      providers[i]!.txsReverted++;
      providers[i]!.gasBurntWei += burnt;
      reverted.count++;
      reverted.gasUsed += gas;
      reverted.gasBurntWei += burnt;
      const t = txOf.get(r.transactionHash.toLowerCase());
      const kind = t?.kind ?? "unknown";
      const job = t?.jobId == null ? undefined : jobs.get(t.jobId);
      reverted.byKind[kind] = (reverted.byKind[kind] ?? 0) + 1;
      const faults = new Set((input.faultBlocks ?? []).filter((w) => n >= w.from && n <= w.to).map((w) => w.kind));
      for (const f of faults.size > 0 ? faults : ["none"]) reverted.byFault[f] = (reverted.byFault[f] ?? 0) + 1;
      reverted.txs.push({
        provider: providers[i]!.index,
        nonce: t?.nonce ?? null,
        kind,
        jobId: t?.jobId ?? null,
        block: n,
        faults: [...faults],
        beatenBlocksBefore: job ? beatenBlocksBefore(job, kind, n, r.from) : null,
        reason: await revertReasonOfTx(
          (args) => publicClient.request(args as never) as Promise<unknown>,
          r.transactionHash as Hex,
        ),
      });
    }
  }

  const all = [...jobs.values()];
  return {
    fromBlock: input.fromBlock,
    toBlock,
    requested: {
      total: all.length,
      k1: all.filter((j) => j.redundancy === 1).length,
      k3: all.filter((j) => j.redundancy !== 1).length,
    },
    settled,
    refunded: { total: Object.values(refundReasons).reduce((a, b) => a + b, 0), reasons: refundReasons },
    lost,
    paidTwice,
    honestSlashes,
    killedSlashes,
    revertedTxs: reverted,
    voidedTxs: voided,
    latency: {
      p50Seconds: percentile(latS, 50),
      p99Seconds: percentile(latS, 99),
      k1P99Seconds: percentile(k1S, 99),
      k3P99Seconds: percentile(k3S, 99),
      k1P50Blocks: percentile(k1B, 50),
      k1P99Blocks: percentile(k1B, 99),
      k1CalmP99Blocks: percentile(k1Calm, 99),
      k1CalmJobs: k1Calm.length,
      k1Slowest: k1Jobs.sort((a, b) => b.blocks - a.blocks).slice(0, 8),
      k1ByFault: Object.fromEntries(
        [...k1Fault].map(([kind, xs]) => [
          kind,
          { jobs: xs.length, p50Blocks: percentile(xs, 50), p99Blocks: percentile(xs, 99) },
        ]),
      ),
    },
    providers,
  };
}
