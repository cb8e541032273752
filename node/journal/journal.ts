/**
 * The runner's journal (SQLite): the job, duty and transaction records its users share, and the
 * one class that reads and writes them.
 *
 * Why it stays one file over 400 lines: every table's methods share one connection, one cache of
 * prepared statements, one `atomically` transaction and one durability rule (a signed transaction
 * is synced before it is broadcast), and the writes that matter span tables: a rewind after a
 * reorg drops block hashes and reopens jobs in one SQLite transaction, a batch transaction is
 * recorded with the jobs it carries. Split by table, three modules would still have to agree on
 * one database and its transactions; the record types stay beside the class that stores them.
 */
import { closeSync, fsyncSync, mkdirSync, openSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Hex } from "viem";
import { jobEndsAt, type Job } from "../attest/attestation.ts";
import { startWalCheckpointer, type CheckpointerEvent, type WalCheckpointer } from "./wal-checkpointer.ts";

/**
 * Where a job is in this runner. Terminal states end in nothing more to do for the job.
 * seen → accepted → computed → (k = 1) submitted → paid (claimed after the challenge window,
 *                                               or upheld by a jury) | slashed (a jury found it wrong) | lost
 *                             (k > 1) committed → revealed → paid | slashed | refunded
 * seen → skipped (policy) ; any → failed (bad input, model unusable) ; any → expired
 */
export type JobState =
  | "seen"
  | "skipped"
  | "accepted"
  | "computed"
  | "submitted"
  | "committed"
  | "revealed"
  | "paid"
  | "lost"
  | "slashed"
  | "refunded"
  | "failed"
  | "expired";

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  "skipped",
  "paid",
  "lost",
  "slashed",
  "refunded",
  "failed",
  "expired",
]);
const OPEN_STATES: readonly JobState[] = ["seen", "accepted", "computed", "submitted", "committed", "revealed"];

type JobPatch = Partial<
  Pick<
    JobRecord,
    | "state"
    | "reason"
    | "resultHash"
    | "outputRef"
    | "signature"
    | "salt"
    | "seat"
    | "attempts"
    | "nextAttemptAt"
    | "settledHash"
    | "expiryDone"
    | "factsBlock"
  >
>;

/**
 * Jobs whose result may be on-chain, to be taken back to "computed" when the events that moved
 * them on are rewound: k > 1 with a commit made (a salt), k = 1 with a result made.
 */
const REOPENED = `result_hash IS NOT NULL AND (
  (json_extract(job, '$.redundancy') > 1 AND salt IS NOT NULL AND state IN ('committed', 'revealed', 'paid', 'lost', 'slashed', 'refunded'))
  OR (json_extract(job, '$.redundancy') = 1 AND state IN ('submitted', 'paid', 'lost')))`;

/** Every column but the inline input, which only computing a job needs ({@link Journal.inputBytes}). */
const LIGHT_COLUMNS =
  "job_id, params_hash, job, NULL AS input, input_cid, block, block_hash, state, reason, result_hash, output_ref, signature, salt, seat, attempts, next_attempt_at, settled_hash, delivered_by, expiry_done, ends_at, facts_block, updated_at";

/** What the chain's events say about a job, whatever this runner's state for it. */
interface ChainFact {
  settledHash?: Hex;
  seat?: number;
  deliveredBy?: Hex;
  /** The job ended on-chain (settled or refunded): nothing is left to finalize. */
  final?: boolean;
}

export interface JobRecord {
  jobId: bigint;
  paramsHash: Hex;
  job: Job;
  inputCid: string | null;
  block: number;
  blockHash: Hex;
  state: JobState;
  reason: string | null;
  resultHash: Hex | null;
  outputRef: Hex | null;
  /** EIP-712 signature over the result, served to clients by id. */
  signature: Hex | null;
  /** Commit–reveal secret, written before the commit is sent so a crash cannot lose it. */
  salt: Hex | null;
  seat: number | null;
  /** Failed attempts at the current step (retryable errors), for the backoff; reset on progress. */
  attempts: number;
  /** Wall-clock ms before which the job is not advanced again (backoff, or waiting for the chain). */
  nextAttemptAt: number;
  /** The agreed result hash, from the JobSettled (k > 1) or ResultSubmitted (k = 1) event. */
  settledHash: Hex | null;
  /** k = 1: the provider whose result the market took (ResultSubmitted); k > 1: this runner once its ResultRevealed is seen. */
  deliveredBy: Hex | null;
  /** Chain time after which nobody can act on the job any more but to finalize it. */
  endsAt: number;
  /** The newest block whose events (or receipt) gave a fact above; a reorg below it forgets them. */
  factsBlock: number;
  /** The expiry service is done with this job (finalized, or found final). */
  expiryDone: boolean;
  updatedAt: number;
}

/** What a compare-and-set on a job row must still find: same job parameters, same state. */
interface JobVersion {
  paramsHash: Hex;
  state: JobState;
}

/**
 * A duty of this runner towards another provider's k = 1 delivery (the court, issue 11):
 * checker: recompute a delivered result and challenge it if it differs;
 * juror: sit on the jury of a challenge (compute, commit, reveal).
 * new → computed → (juror) committed → revealed → done ; (checker) challenged → done ;
 * any → agreed (the checker's result matched) | skipped (not eligible, too late, abstained) | failed.
 */
type DutyRole = "checker" | "juror";
type DutyState =
  "new" | "computed" | "committed" | "revealed" | "challenged" | "done" | "agreed" | "skipped" | "failed";
export const TERMINAL_DUTY_STATES: ReadonlySet<DutyState> = new Set(["done", "agreed", "skipped", "failed"]);

/** IInferenceMarketTypes.Challenge, as emitted in ResultChallenged. */
export interface Challenge {
  provider: Hex;
  resultHash: Hex;
  challenger: Hex;
  jurySeed: bigint;
  challengedAt: number;
  commitWindow: number;
  revealWindow: number;
  jurySize: number;
  juryFee: bigint;
  challengerShareBps: number;
}

export interface DutyRecord {
  jobId: bigint;
  role: DutyRole;
  /** The challenge (a juror's from the start; a checker's once it challenged). */
  challenge: Challenge | null;
  state: DutyState;
  reason: string | null;
  resultHash: Hex | null;
  outputRef: Hex | null;
  /** A juror's commit–reveal secret, written before its commit is sent. */
  salt: Hex | null;
  seat: number | null;
  block: number;
  attempts: number;
  nextAttemptAt: number;
  updatedAt: number;
  /** Bumped each time an event replaces the duty (another role or challenge): see updateDuty. */
  generation: number;
}

/** The duty a compare-and-set expects to find. */
type DutyRef = Pick<DutyRecord, "jobId" | "state" | "generation">;

type DutyPatch = Partial<
  Pick<
    DutyRecord,
    "state" | "reason" | "resultHash" | "outputRef" | "salt" | "seat" | "challenge" | "attempts" | "nextAttemptAt"
  >
>;

/**
 * What a transaction was for; "void" is a no-op that took the nonce of one a reorg made revert;
 * "batch" delivers many k = 1 results at once, "commits" and "reveals" commit and reveal many of
 * our seats at once (their jobs are linked in `tx_jobs`, job id null).
 */
export type TxKind =
  | "submit"
  | "batch"
  | "commit"
  | "commits"
  | "reveal"
  | "reveals"
  | "finalize"
  | "withdraw"
  | "claim"
  | "challenge"
  | "jury-commit"
  | "jury-reveal"
  | "resolve"
  | "rollout"
  | "fulfil"
  | "reclaim"
  | "void";
type TxStatus = "signed" | "sent" | "mined" | "reverted" | "replaced";

export interface TxRecord {
  id: number;
  jobId: bigint | null;
  kind: TxKind;
  nonce: number;
  hash: Hex;
  raw: Hex;
  status: TxStatus;
  createdAt: number;
}

/**
 * JSON with bigints as `{"$bigint": "<decimal>"}`. Parsing revives them in one walk after a plain
 * JSON.parse: a reviver function makes the parse several times slower, and the runner decodes a
 * job's parameters on every read of its row (many per job in a burst).
 */
const json = {
  stringify: (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? { $bigint: x.toString() } : x)),
  parse: <T>(s: string) => reviveBigints(JSON.parse(s)) as T,
};

/** Replaces every `{"$bigint": "..."}` in a parsed JSON value by its bigint (in place; what a reviver would give). */
export function reviveBigints(x: unknown): unknown {
  if (x === null || typeof x !== "object") return x;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) x[i] = reviveBigints(x[i]);
    return x;
  }
  const o = x as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (v !== null && typeof v === "object") o[k] = reviveBigints(v);
  }
  return "$bigint" in o ? BigInt(o.$bigint as string) : o;
}

type Row = Record<string, string | number | bigint | Uint8Array | null>;

/**
 * An inline input as stored: its bytes (a BLOB, half the size of its hex: a job row of a few-KiB
 * input then fits a page, and each write of the row rewrites no overflow pages), or the hex text
 * itself if it is not well-formed hex (kept as it came; journals made before store hex text too).
 */
function inputColumn(input: Hex | Uint8Array | null): Uint8Array | string | null {
  if (input === null || input instanceof Uint8Array) return input;
  const bytes = Buffer.from(input.slice(2), "hex");
  // Only what reads back as the very same text (lower-case hex, as viem decodes it) is stored as bytes.
  return input.startsWith("0x") && bytes.length * 2 === input.length - 2 && input === input.toLowerCase()
    ? bytes
    : input;
}

function inputBytesOfColumn(v: Row[string] | undefined): Uint8Array | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return v;
  // Hex text (journals made before inputs were stored as bytes, or hex not in lower case): its
  // bytes. Text that is not hex reads as its UTF-8 bytes, which never hash to the job's input
  // hash: the input check refuses the job, as it refused the text.
  const text = String(v);
  const bytes = Buffer.from(text.slice(2), "hex");
  return text.startsWith("0x") && bytes.length * 2 === text.length - 2
    ? new Uint8Array(bytes)
    : new TextEncoder().encode(text);
}

/** Block hashes kept below the cursor, for finding a common ancestor after a reorg. */
const KEEP_BLOCKS = 256;

/**
 * The runner's durable memory (SQLite, WAL): the chain cursor and recent block hashes (for reorg
 * detection), every job's state, and every transaction it signed.
 *
 * Durability, and why it is split the way it is:
 *
 * - Every write is a committed SQLite transaction before the action it enables. In WAL mode a
 *   commit is in the `-wal` file (the OS page cache) when `run()` returns, with any
 *   `synchronous` setting, so `kill -9` at any point loses nothing: the kernel still writes the
 *   page cache out after the process is gone.
 * - What synchronous=FULL adds is surviving a power cut or a kernel crash, at the price of an
 *   fsync (0.3 to over 10 ms on virtualised disks) on the event loop for every commit. Most
 *   writes do not need that: the cursor, block hashes, job states, salts and transaction statuses
 *   that a power cut rolls back are re-derived from the chain after the restart (events are
 *   scanned again, a job is recomputed and re-signed deterministically, a "signed"/"sent"
 *   transaction is re-broadcast and its receipt found). So the connection runs synchronous=NORMAL.
 * - The one thing that cannot be re-derived is a signed transaction that already left the process:
 *   had its record been lost, the restarted runner would sign another (new nonce) for the same job
 *   and send a commit or result twice. So every signed transaction is made durable before it is
 *   broadcast: the sender calls {@link Journal.sync} between {@link Journal.recordTx} and the
 *   broadcast. `sync` fdatasyncs the `-wal` file on libuv's thread pool, off the event loop. The
 *   WAL is append-only between checkpoints and a checkpoint syncs it before it is reset, so one
 *   sync makes that record and every earlier commit durable: a commit's salt, written before its
 *   commit transaction is recorded, is on disk before the commitment leaves this process.
 *   Syncs requested while one runs are served together by the next (group commit), so a burst of
 *   transactions costs about one fsync, and none of them blocks the event loop.
 */
class Journal {
  private readonly db: DatabaseSync;
  private readonly walFile: string;
  /** `sync` calls made, and the highest call number a finished fdatasync covers. */
  private syncRequests = 0;
  private syncedUpTo = 0;
  private syncing: Promise<void> | null = null;
  /**
   * Prepared statements by their SQL: preparing one costs more than running it, and the runner
   * runs the same few hundred times a second in a burst (the SQL texts are a fixed set).
   */
  private readonly statements = new Map<string, StatementSync>();
  /** Checkpoints the WAL off the event loop (null: this connection checkpoints it, SQLite's default). */
  private readonly checkpointer: WalCheckpointer | null;
  /** Whether writes share one transaction per turn of the event loop (see {@link groupWrites}). */
  private readonly groupCommit: boolean;
  /** The group transaction is open; it commits at the end of this turn of the event loop. */
  private grouped = false;
  /** Statements that write (a write opens the group transaction). */
  private readonly writes = new WeakSet<StatementSync>();
  /**
   * Job rows as `getJob` last read them, frozen, by job id: the processor reads a job's row several
   * times per step and step, and most reads find it unchanged (issue 14: the read and its decoding
   * were a tenth of a runner's CPU in a burst). This connection is the rows' only writer, so every
   * write to a row drops its entry, and a write to many rows, a rollback or a close drops them all.
   */
  private readonly jobRows = new Map<string, Readonly<JobRecord>>();

  constructor(file: string, opts: JournalOptions = {}) {
    mkdirSync(path.dirname(file), { recursive: true });
    this.walFile = `${file}-wal`;
    this.groupCommit = opts.groupCommit ?? true;
    this.db = new DatabaseSync(file);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS jobs (
        job_id TEXT PRIMARY KEY, params_hash TEXT NOT NULL, job TEXT NOT NULL, input TEXT, input_cid TEXT,
        block INTEGER NOT NULL, block_hash TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,
        result_hash TEXT, output_ref TEXT, signature TEXT, salt TEXT, seat INTEGER, updated_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
      CREATE TABLE IF NOT EXISTS txs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT, kind TEXT NOT NULL, nonce INTEGER NOT NULL,
        hash TEXT NOT NULL UNIQUE, raw TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS txs_job ON txs(job_id, kind);
      CREATE TABLE IF NOT EXISTS duties (
        job_id TEXT PRIMARY KEY, role TEXT NOT NULL, challenge TEXT, state TEXT NOT NULL, reason TEXT,
        result_hash TEXT, output_ref TEXT, salt TEXT, seat INTEGER, block INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0);
    `);
    this.migrateJobs();
    this.migrateDuties();
    // Added later: the jobs a batch transaction carries, keyed by the hash of its first attempt
    // (replacements keep the nonce; lookups go through it).
    this.db
      .exec(`CREATE TABLE IF NOT EXISTS tx_jobs (tx_hash TEXT NOT NULL, job_id TEXT NOT NULL, PRIMARY KEY (tx_hash, job_id));
      CREATE INDEX IF NOT EXISTS tx_jobs_job ON tx_jobs(job_id);`);
    // Added later: journals made before it get the index here (guarded, so opening twice is fine).
    this.db.exec("CREATE INDEX IF NOT EXISTS txs_nonce ON txs(nonce)");
    // Added later: blocks our receipts were read from, until the watcher compared each with the
    // chain it scans (see noteReceiptBlock).
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS receipt_blocks (number INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (number, hash))",
    );
    // The WAL file exists now and stays until the connection closes: make its directory entry
    // durable once, at open (start-up may block; the job path does not), so that `sync`, which
    // flushes the file's data only, is enough afterwards.
    const dir = openSync(path.dirname(file), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    const interval = opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    if (interval === 0) {
      this.checkpointer = null;
      return;
    }
    // Commits no longer checkpoint (and fsync) on the event loop: the checkpointer's thread does.
    // The raised limit only bounds the WAL when writes never pause long enough for the thread to
    // finish a checkpoint (the WAL restarts only then): the thread has copied nearly all of it by
    // the time a commit crosses the limit, so that inline checkpoint is short.
    this.db.exec(`PRAGMA wal_autocheckpoint = ${opts.maxWalPages ?? DEFAULT_MAX_WAL_PAGES}`);
    // A burst's WAL is cut back to this when it is next reused, not kept at its largest.
    this.db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    const start = opts.startCheckpointer ?? startWalCheckpointer;
    this.checkpointer = start(file, interval, (event) => this.onCheckpointer(event, opts));
  }

  /** Asks the checkpointer thread for a checkpoint now (tests; a no-op without the thread). */
  checkpointSoon(): void {
    this.checkpointer?.nudge();
  }

  /** Whether the WAL is checkpointed off the event loop at this moment (for tests and status). */
  get checkpointsOffLoop(): boolean {
    return this.checkpointer?.running ?? false;
  }

  private onCheckpointer(event: CheckpointerEvent, opts: JournalOptions): void {
    if (event.kind === "failed" && this.db.isOpen) {
      // The WAL must not grow without end: this connection checkpoints again, on the loop.
      this.db.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
    }
    opts.onCheckpointer?.(event);
  }

  /**
   * Resolves once every commit made before the call is on disk (survives a power cut); the
   * fdatasync runs on the thread pool. Rejects if the sync fails: then nothing that depends on
   * it may leave the process.
   */
  async sync(): Promise<void> {
    this.commitGroup();
    const mine = ++this.syncRequests;
    while (this.syncedUpTo < mine) {
      if (!this.syncing) {
        const covers = this.syncRequests;
        this.syncing = this.fdatasyncWal().then(
          () => {
            this.syncedUpTo = Math.max(this.syncedUpTo, covers);
            this.syncing = null;
          },
          (error: unknown) => {
            this.syncing = null;
            throw error;
          },
        );
      }
      await this.syncing;
    }
  }

  private async fdatasyncWal(): Promise<void> {
    // A fresh descriptor each time: fdatasync flushes the file (inode), whichever descriptor wrote
    // it, and a descriptor kept open could outlive a WAL file SQLite deleted and made again.
    // SQLite takes no POSIX locks on the -wal file, so opening and closing it here is harmless.
    let handle;
    try {
      handle = await open(this.walFile, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // checkpointed and removed: all in the database file, synced by the checkpoint
      throw error;
    }
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  close(): void {
    this.jobRows.clear();
    this.commitGroup();
    // The checkpointer's connection closes first, so that this one, the last, removes the WAL.
    this.checkpointer?.stop();
    this.db.close();
  }

  /**
   * Group commit: the first write of a turn of the event loop opens a transaction, and every write
   * until the turn ends joins it; it commits at `setImmediate`. A commit costs several times the
   * write itself (a WAL frame per page it touched, and SQLite's bookkeeping), and a job's steps
   * write its row several times in a burst: one commit per turn instead of one per write (issue 14).
   * Durability is unchanged where it matters: `sync` commits the group before its fdatasync, so a
   * signed transaction's record (and everything written before it) is committed and on disk before
   * the transaction leaves the process. What a crash can lose is the current turn's writes, which
   * is what synchronous=NORMAL already allowed a power cut to lose: all of it is derived again
   * from the chain and the steps, which are idempotent (see the class's notes).
   */
  private groupWrites(): void {
    if (this.grouped || !this.groupCommit || this.db.isTransaction) return;
    this.db.exec("BEGIN");
    this.grouped = true;
    setImmediate(() => this.commitGroup());
  }

  /**
   * Whether SQLite rolled the open group transaction back itself (a write in it failed: disk full,
   * an I/O error); if so, the rows read in it are dropped.
   */
  private forgetRowsIfRolledBack(): boolean {
    if (!this.grouped || !this.db.isOpen || this.db.isTransaction) return false;
    this.jobRows.clear();
    return true;
  }

  /** Commits the group transaction now, if one is open (before a sync, at close, at the turn's end). */
  private commitGroup(): void {
    if (!this.grouped) return;
    const rolledBack = this.forgetRowsIfRolledBack();
    this.grouped = false;
    if (!this.db.isOpen || rolledBack) return;
    try {
      this.db.exec("COMMIT");
    } catch (error) {
      this.jobRows.clear();
      throw error;
    }
  }

  /**
   * Runs `fn` in one SQLite transaction: within an open one (the group transaction), a savepoint,
   * so that a failure rolls back `fn`'s writes alone.
   */
  atomically<T>(fn: () => T): T {
    this.groupWrites();
    const [begin, commit, rollback] = this.db.isTransaction
      ? ["SAVEPOINT atomically", "RELEASE atomically", "ROLLBACK TO atomically; RELEASE atomically"]
      : ["BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"];
    this.db.exec(begin);
    try {
      const out = fn();
      this.db.exec(commit);
      return out;
    } catch (error) {
      // A row read inside the rolled-back writes would be kept as they left it.
      this.jobRows.clear();
      this.db.exec(rollback);
      throw error;
    }
  }

  // ------------------------------------------------------------------ meta and cursor

  getMeta(key: string): string | null {
    const row = this.sql("SELECT value FROM meta WHERE key = ?").get(key) as Row | undefined;
    return row ? String(row.value) : null;
  }

  setMeta(key: string, value: string): void {
    this.sql("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(
      key,
      value,
    );
  }

  /** The last block whose events were fully processed, with its hash. */
  cursor(): { block: number; hash: Hex } | null {
    const row = this.sql("SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1").get() as Row | undefined;
    return row ? { block: Number(row.number), hash: row.hash as Hex } : null;
  }

  /**
   * Advances the cursor to `block`, in one transaction with `known`: hashes of other blocks at or
   * below it, read from the same chain (the recent blocks densely, so that a common ancestor after
   * a shallow reorg is found close by). Keeps the hashes of the last {@link KEEP_BLOCKS} blocks.
   */
  advance(
    block: number,
    hash: Hex,
    known: readonly { block: number; hash: Hex }[] = [],
    /** Receipt blocks (see {@link receiptBlocks}) found on this chain: they are forgotten. */
    checked: readonly { block: number; hash: Hex }[] = [],
  ): void {
    this.atomically(() => {
      const put = this.sql("INSERT OR REPLACE INTO blocks (number, hash) VALUES (?, ?)");
      // Never above the cursor: the highest stored block is the cursor.
      for (const k of known) if (k.block < block && k.block > block - KEEP_BLOCKS) put.run(k.block, k.hash);
      put.run(block, hash);
      this.sql("DELETE FROM blocks WHERE number <= ?").run(block - KEEP_BLOCKS);
      const forget = this.sql("DELETE FROM receipt_blocks WHERE number = ? AND hash = ?");
      for (const c of checked) forget.run(c.block, c.hash);
    });
  }

  /** The stored hash of `block` (null when it is not kept). */
  blockHash(block: number): Hex | null {
    const row = this.sql("SELECT hash FROM blocks WHERE number = ?").get(block) as Row | undefined;
    return row ? (row.hash as Hex) : null;
  }

  /**
   * Notes the block a receipt of ours was read from. The processor acts on receipts at once, above
   * the watcher's cursor; a reorg of those blocks alone leaves the cursor's block on the chain and
   * would go unseen. The watcher compares each noted block with the chain it scans.
   */
  noteReceiptBlock(block: number, hash: Hex): void {
    this.sql("INSERT OR IGNORE INTO receipt_blocks (number, hash) VALUES (?, ?)").run(block, hash);
  }

  /** Noted receipt blocks up to `block` not yet compared with the chain, lowest first. */
  receiptBlocks(upTo: number): { block: number; hash: Hex }[] {
    return (
      this.sql("SELECT number, hash FROM receipt_blocks WHERE number <= ? ORDER BY number, hash").all(upTo) as Row[]
    ).map((r) => ({ block: Number(r.number), hash: r.hash as Hex }));
  }

  /** Stored block hashes from the newest down, to compare with the chain after a reorg. */
  recentBlocks(): { block: number; hash: Hex }[] {
    return (this.sql("SELECT number, hash FROM blocks ORDER BY number DESC").all() as Row[]).map((r) => ({
      block: Number(r.number),
      hash: r.hash as Hex,
    }));
  }

  /** Forgets blocks above `block` and sends their jobs back to be re-evaluated when seen again. */
  rewindTo(block: number): bigint[] {
    return this.atomically(() => {
      this.sql("DELETE FROM blocks WHERE number > ?").run(block);
      // Noted by receipts the new chain may not hold: the receipts taken back below are read again.
      this.sql("DELETE FROM receipt_blocks WHERE number > ?").run(block);
      this.jobRows.clear();
      const rows = this.sql("SELECT job_id FROM jobs WHERE block > ? OR facts_block > ?").all(block, block) as Row[];
      this.sql("UPDATE jobs SET block_hash = '0x', updated_at = ? WHERE block > ?").run(Date.now(), block);
      // A job given up before computing it, on a fact the rewound blocks gave (another's result,
      // all seats taken): the chain may hold it open again, and every runner that saw the same
      // fact gave it up alike; decide it anew or nobody serves it.
      this.sql(
        "UPDATE jobs SET state = 'seen', reason = NULL, attempts = 0, updated_at = ? WHERE facts_block > ? AND state = 'lost' AND result_hash IS NULL",
      ).run(Date.now(), block);
      // The transactions of the jobs taken back below were mined, or reverted, on the old chain.
      // The new chain may have mined the same bytes again with another outcome (a node puts a
      // reorg's transactions back in its pool): a reveal signed for a seat that moved reverts
      // there. Left "mined", the job's step would take the old receipt as done and never reveal
      // again (chaos seed 23: three honest seats slashed). "sent" has the sender look up each
      // one's receipt on the new chain.
      // So are the batches that carried them (results, commits, reveals): a reopened job learns
      // from its batch's receipt, read again on the new chain (chaos seed 11, a burst: a settled
      // job's seats are cleared, and paid jobs were journaled "lost: all seats were taken"; k = 1
      // jobs were sent alone and reverted, their batch mined again first).
      this.sql(
        `UPDATE txs SET status = 'sent' WHERE status IN ('mined', 'reverted')
           AND (job_id IN (SELECT job_id FROM jobs WHERE facts_block > ? AND ${REOPENED})
             OR (kind IN ('batch', 'commits', 'reveals') AND hash IN (SELECT tx_hash FROM tx_jobs WHERE job_id IN
                   (SELECT job_id FROM jobs WHERE facts_block > ? AND ${REOPENED}))))`,
      ).run(block, block);
      // What the rewound blocks' events said (a seat, who delivered, the settlement) no longer
      // holds: forget it, and take the job back to where the chain must be read again (a seat may
      // have moved, a reveal or result may have been dropped). The rescan says it anew.
      this.sql(
        `UPDATE jobs SET seat = NULL, delivered_by = NULL, settled_hash = NULL, expiry_done = 0, facts_block = 0, next_attempt_at = 0,
             reason = CASE WHEN ${REOPENED} THEN NULL ELSE reason END,
             state = CASE WHEN ${REOPENED} THEN 'computed' ELSE state END,
             updated_at = ?
           WHERE facts_block > ?`,
      ).run(Date.now(), block);
      return rows.map((r) => BigInt(r.job_id as string));
    });
  }

  // ------------------------------------------------------------------ jobs

  /**
   * Records a JobRequested event. The same event seen again (a re-scan, a re-inclusion after a
   * reorg) changes nothing but its block; a different job under the same id (the old one was
   * reorged out) replaces the record and starts over, since nothing was done for the new one.
   */
  upsertJob(
    rec: Pick<JobRecord, "jobId" | "paramsHash" | "job" | "inputCid" | "block" | "blockHash"> & {
      /** Inline input bytes (or as hex), or null when the input is an IPFS CID. */
      input: Hex | Uint8Array | null;
    },
  ): "new" | "same" | "replaced" {
    return this.atomically(() => {
      const existing = this.getJob(rec.jobId);
      this.jobRows.delete(rec.jobId.toString());
      if (existing && existing.paramsHash === rec.paramsHash) {
        this.sql("UPDATE jobs SET block = ?, block_hash = ? WHERE job_id = ?").run(
          rec.block,
          rec.blockHash,
          rec.jobId.toString(),
        );
        return "same";
      }
      this.sql(
        `INSERT OR REPLACE INTO jobs (job_id, params_hash, job, input, input_cid, block, block_hash, state, reason,
             result_hash, output_ref, signature, salt, seat, attempts, next_attempt_at, settled_hash, expiry_done, ends_at, delivered_by, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'seen', NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, 0, ?, NULL, ?)`,
      ).run(
        rec.jobId.toString(),
        rec.paramsHash,
        json.stringify(rec.job),
        inputColumn(rec.input),
        rec.inputCid,
        rec.block,
        rec.blockHash,
        jobEndsAt(rec.job),
        Date.now(),
      );
      // The transactions made for the job this one replaces no longer speak for this id; they keep
      // their nonces (and are re-broadcast after a reorg to fill them) but count for no job.
      if (existing) this.sql("UPDATE txs SET job_id = NULL WHERE job_id = ?").run(rec.jobId.toString());
      return existing ? "replaced" : "new";
    });
  }

  /** A job's row, without its inline input (read many times a job; see {@link inputBytes}). */
  getJob(jobId: bigint): Readonly<JobRecord> | null {
    const key = jobId.toString();
    this.forgetRowsIfRolledBack();
    const known = this.jobRows.get(key);
    if (known) return known;
    const row = this.sql(`SELECT ${LIGHT_COLUMNS} FROM jobs WHERE job_id = ?`).get(key) as Row | undefined;
    if (!row) return null;
    return this.keepRow(key, toJob(row));
  }

  /** Keeps `rec` as the job's row for getJob, bounded: a burst's jobs at most; the oldest go first. */
  private keepRow(key: string, rec: JobRecord): Readonly<JobRecord> {
    this.jobRows.delete(key);
    if (this.jobRows.size >= MAX_JOB_ROWS) this.jobRows.delete(this.jobRows.keys().next().value!);
    const kept = deepFreeze(rec);
    this.jobRows.set(key, kept);
    return kept;
  }

  /**
   * The row a write just made from the kept one, so that the next getJob does not read it back
   * (a burst's steps write a job's row several times). Only after a write that applied, to a row
   * that was kept, and not once SQLite rolled the group back (then nothing is kept).
   */
  private keepWritten(
    key: string,
    known: Readonly<JobRecord> | undefined,
    changes: number | bigint,
    patch: Partial<JobRecord>,
  ): void {
    if (known === undefined || Number(changes) !== 1 || this.forgetRowsIfRolledBack()) return;
    this.keepRow(key, { ...known, ...patch });
  }

  /**
   * A job's inline input as bytes (null when it has none: an IPFS CID, or dropped once the job
   * ended). Only computing a job reads it: a row read without it makes no multi-KiB string.
   */
  inputBytes(jobId: bigint): Uint8Array | null {
    const row = this.sql("SELECT input FROM jobs WHERE job_id = ?").get(jobId.toString()) as Row | undefined;
    return inputBytesOfColumn(row?.input);
  }

  countByState(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.sql("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").all() as Row[])
      out[String(r.state)] = Number(r.n);
    return out;
  }

  /**
   * Compare-and-set: applies `patch` only if the row still holds the same job (parameter hash)
   * in the expected state, so a step that started before a reorg replaced the job under the same
   * id, or before another step moved it on, cannot write its stale result. Returns whether it
   * applied.
   */
  updateJob(jobId: bigint, expected: JobVersion, patch: JobPatch): boolean {
    const columns: Record<keyof JobPatch, string> = {
      state: "state",
      reason: "reason",
      resultHash: "result_hash",
      outputRef: "output_ref",
      signature: "signature",
      salt: "salt",
      seat: "seat",
      attempts: "attempts",
      nextAttemptAt: "next_attempt_at",
      settledHash: "settled_hash",
      expiryDone: "expiry_done",
      factsBlock: "facts_block",
    };
    const keys = Object.keys(patch) as (keyof JobPatch)[];
    const sets = keys.map((k) => `${columns[k]} = ?`).join(", ");
    const values = keys.map((k) => {
      const v = patch[k];
      return typeof v === "boolean" ? (v ? 1 : 0) : ((v ?? null) as string | number | null);
    });
    const key = jobId.toString();
    const known = this.jobRows.get(key);
    this.jobRows.delete(key);
    const updatedAt = Date.now();
    const result = this.sql(
      `UPDATE jobs SET ${sets}${keys.length > 0 ? ", " : ""}updated_at = ? WHERE job_id = ? AND params_hash = ? AND state = ?`,
    ).run(...values, updatedAt, key, expected.paramsHash, expected.state);
    const written: Partial<JobRecord> = { updatedAt };
    for (const k of keys) (written as Record<string, unknown>)[k] = patch[k] ?? null; // NULL (the numeric columns refuse it)
    this.keepWritten(key, known, result.changes, written);
    return Number(result.changes) === 1;
  }

  /** Facts from the chain's events that hold whatever state the job is in (no state check). */
  noteChainFact(jobId: bigint, fact: ChainFact, block: number): boolean {
    const sets: string[] = ["next_attempt_at = 0", "facts_block = MAX(facts_block, ?)"];
    const values: (string | number)[] = [block];
    const columns = { settledHash: "settled_hash", seat: "seat", deliveredBy: "delivered_by" } as const;
    for (const [key, column] of Object.entries(columns) as [keyof typeof columns, string][]) {
      const value = fact[key];
      if (value === undefined) continue;
      sets.push(`${column} = ?`);
      values.push(value);
    }
    if (fact.final) sets.push("expiry_done = 1");
    const key = jobId.toString();
    const known = this.jobRows.get(key);
    this.jobRows.delete(key);
    const result = this.sql(`UPDATE jobs SET ${sets.join(", ")} WHERE job_id = ? AND block_hash != '0x'`).run(
      ...values,
      key,
    );
    const written: Partial<JobRecord> = { nextAttemptAt: 0, factsBlock: Math.max(known?.factsBlock ?? 0, block) };
    for (const k of Object.keys(columns) as (keyof typeof columns)[])
      if (fact[k] !== undefined) (written as Record<string, unknown>)[k] = fact[k];
    if (fact.final) written.expiryDone = true;
    this.keepWritten(key, known, result.changes, written);
    return Number(result.changes) === 1;
  }

  /** Payment tokens this runner was ever paid in (kept apart from job rows, which are pruned). */
  paidTokens(): Hex[] {
    return JSON.parse(this.getMeta("paidTokens") ?? "[]") as Hex[];
  }

  notePaidToken(token: Hex): void {
    const known = this.paidTokens();
    if (!known.includes(token)) this.setMeta("paidTokens", JSON.stringify([...known, token]));
  }

  /** Wakes a job now (an event about it arrived): clears its wait, keeps its attempt count. */
  wake(jobId: bigint): void {
    const key = jobId.toString();
    const known = this.jobRows.get(key);
    this.jobRows.delete(key);
    const result = this.sql("UPDATE jobs SET next_attempt_at = 0 WHERE job_id = ?").run(key);
    this.keepWritten(key, known, result.changes, { nextAttemptAt: 0 });
  }

  /** Open jobs due to be advanced (their wait is over), oldest first, without their inputs. */
  dueJobs(nowMs: number, limit: number, seatedOnly = false): JobRecord[] {
    const marks = OPEN_STATES.map(() => "?").join(",");
    const seated = seatedOnly ? " AND seat IS NOT NULL" : "";
    return (
      this.sql(
        `SELECT ${LIGHT_COLUMNS} FROM jobs WHERE state IN (${marks}) AND next_attempt_at <= ?${seated} ORDER BY CAST(job_id AS INTEGER) LIMIT ?`,
      ).all(...OPEN_STATES, nowMs, limit) as Row[]
    ).map(toJob);
  }

  /** Every job in one of `states`, without its input, by id (for a few states of work in hand). */
  jobsIn(states: readonly JobState[]): JobRecord[] {
    const marks = states.map(() => "?").join(",");
    return (
      this.sql(`SELECT ${LIGHT_COLUMNS} FROM jobs WHERE state IN (${marks}) ORDER BY CAST(job_id AS INTEGER)`).all(
        ...states,
      ) as Row[]
    ).map(toJob);
  }

  /**
   * Jobs the expiry service still has to look at, in the given states, without their inputs,
   * whose last possible action ended (chain time) before `chainNow`.
   */
  expiryCandidates(states: readonly JobState[], chainNow: number, limit: number): JobRecord[] {
    const marks = states.map(() => "?").join(",");
    return (
      this.sql(
        `SELECT ${LIGHT_COLUMNS} FROM jobs WHERE expiry_done = 0 AND ends_at < ? AND block_hash != '0x' AND state IN (${marks}) ORDER BY ends_at LIMIT ?`,
      ).all(chainNow, ...states, limit) as Row[]
    ).map(toJob);
  }

  /**
   * Forgets what is no longer needed: inline inputs of ended k > 1 jobs once a reorg can no longer
   * reopen them; ended jobs (and their settled transactions) last updated before `before`
   * entirely. Returns the forgotten jobs' output references, so the caller removes their files
   * and pins.
   */
  prune(before: number, limit = 1_000): { jobId: bigint; outputRef: Hex | null }[] {
    const marks = [...TERMINAL_STATES].map(() => "?").join(",");
    return this.atomically(() => {
      this.jobRows.clear();
      // A k = 1 job's input stays while its row does: a checker or a juror of another provider's
      // delivery recomputes it (within the challenge window). A k > 1 job's goes once no reorg
      // this journal follows (its kept blocks) can take back the facts it ended on: a rewind
      // decides a job given up on such a fact again (see rewindTo), and computing it needs it.
      this.sql(
        `UPDATE jobs SET input = NULL WHERE input IS NOT NULL AND state IN (${marks}) AND json_extract(job, '$.redundancy') > 1
           AND (facts_block = 0 OR facts_block <= COALESCE((SELECT MAX(number) FROM blocks), 0) - ?)`,
      ).run(...TERMINAL_STATES, KEEP_BLOCKS);
      // A job with an open duty (a jury seat, a challenge) keeps its row and its transactions.
      const openDuty = `job_id NOT IN (SELECT job_id FROM duties WHERE state NOT IN (${[...TERMINAL_DUTY_STATES].map((d) => `'${d}'`).join(",")}))`;
      const rows = this.sql(
        `SELECT job_id, output_ref FROM jobs WHERE state IN (${marks}) AND updated_at < ? AND (expiry_done = 1 OR state IN ('skipped', 'failed')) AND ${openDuty} ORDER BY updated_at LIMIT ?`,
      ).all(...TERMINAL_STATES, before, limit) as Row[];
      this.sql(
        `DELETE FROM duties WHERE updated_at < ? AND state IN (${[...TERMINAL_DUTY_STATES].map(() => "?").join(",")})`,
      ).run(before, ...TERMINAL_DUTY_STATES);
      const del = this.sql("DELETE FROM jobs WHERE job_id = ?");
      const delTxs = this.sql("DELETE FROM txs WHERE job_id = ? AND status IN ('mined', 'reverted', 'replaced')");
      const delLinks = this.sql("DELETE FROM tx_jobs WHERE job_id = ?");
      for (const r of rows) {
        del.run(r.job_id as string);
        delTxs.run(r.job_id as string);
        delLinks.run(r.job_id as string);
      }
      // Transactions that speak for no job (a withdrawal, a job replaced by a reorg) once settled.
      this.sql(
        "DELETE FROM txs WHERE job_id IS NULL AND status IN ('mined', 'reverted', 'replaced') AND created_at < ?",
      ).run(before);
      return rows.map((r) => ({ jobId: BigInt(r.job_id as string), outputRef: (r.output_ref as Hex | null) ?? null }));
    });
  }

  /** Rows and bytes the journal holds (for metrics and the soak). */
  size(): { jobs: number; txs: number } {
    const jobs = Number((this.sql("SELECT COUNT(*) AS n FROM jobs").get() as Row).n);
    const txs = Number((this.sql("SELECT COUNT(*) AS n FROM txs").get() as Row).n);
    return { jobs, txs };
  }

  private sql(text: string): StatementSync {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
      if (/^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(text)) this.writes.add(statement);
    }
    if (this.writes.has(statement)) this.groupWrites();
    return statement;
  }

  /** Adds the columns a table made by an older journal lacks. */
  private addMissingColumns(table: "jobs" | "duties", columns: [name: string, type: string][]): void {
    const have = new Set((this.sql(`PRAGMA table_info(${table})`).all() as Row[]).map((r) => String(r.name)));
    for (const [name, type] of columns)
      if (!have.has(name)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
  }

  private migrateDuties(): void {
    this.addMissingColumns("duties", [["generation", "INTEGER NOT NULL DEFAULT 0"]]);
  }

  private migrateJobs(): void {
    this.addMissingColumns("jobs", [
      ["attempts", "INTEGER NOT NULL DEFAULT 0"],
      ["next_attempt_at", "INTEGER NOT NULL DEFAULT 0"],
      ["settled_hash", "TEXT"],
      ["expiry_done", "INTEGER NOT NULL DEFAULT 0"],
      ["ends_at", "INTEGER NOT NULL DEFAULT 0"],
      ["delivered_by", "TEXT"],
      ["facts_block", "INTEGER NOT NULL DEFAULT 0"],
    ]);
    this.db.exec("CREATE INDEX IF NOT EXISTS jobs_due ON jobs(state, next_attempt_at)");
    this.db.exec("CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs(expiry_done, ends_at)");
  }

  // ------------------------------------------------------------------ duties

  /**
   * Records a duty seen in the chain's events. The same duty seen again changes nothing; a juror
   * duty under another challenge (the first was reorged out) starts over.
   */
  upsertDuty(d: Pick<DutyRecord, "jobId" | "role" | "challenge" | "block">): "new" | "same" | "replaced" {
    const existing = this.getDuty(d.jobId);
    const challenge = d.challenge === null ? null : json.stringify(d.challenge);
    if (
      existing &&
      existing.role === d.role &&
      (d.challenge === null || (existing.challenge !== null && json.stringify(existing.challenge) === challenge))
    )
      return "same";
    if (existing && existing.role === "checker" && d.role === "checker") return "same";
    this.sql(
      `INSERT INTO duties (job_id, role, challenge, state, block, updated_at) VALUES (?, ?, ?, 'new', ?, ?)
         ON CONFLICT(job_id) DO UPDATE SET role = excluded.role, challenge = excluded.challenge, state = 'new', reason = NULL, result_hash = NULL,
           output_ref = NULL, salt = NULL, seat = NULL, block = excluded.block, attempts = 0, next_attempt_at = 0, updated_at = excluded.updated_at,
           generation = duties.generation + 1`,
    ).run(d.jobId.toString(), d.role, challenge, d.block, Date.now());
    return existing ? "replaced" : "new";
  }

  getDuty(jobId: bigint): DutyRecord | null {
    const row = this.sql("SELECT * FROM duties WHERE job_id = ?").get(jobId.toString()) as Row | undefined;
    return row ? dutyOf(row) : null;
  }

  /**
   * Compare-and-set on a duty: written only if it is still the duty `expected` was read as (the
   * same state of the same generation). A step still running for a duty that an event replaced
   * meanwhile (a checker that lost the race to challenge, now a juror) thus cannot end the new one.
   */
  updateDuty(expected: DutyRef, patch: DutyPatch): boolean {
    const columns = {
      state: "state",
      reason: "reason",
      resultHash: "result_hash",
      outputRef: "output_ref",
      salt: "salt",
      seat: "seat",
      challenge: "challenge",
      attempts: "attempts",
      nextAttemptAt: "next_attempt_at",
    } as const;
    const sets = ["updated_at = ?"];
    const values: (string | number | null)[] = [Date.now()];
    for (const [key, column] of Object.entries(columns) as [keyof DutyPatch, string][]) {
      if (!(key in patch)) continue;
      const v = patch[key];
      sets.push(`${column} = ?`);
      values.push(
        v === undefined || v === null ? null : key === "challenge" ? json.stringify(v) : (v as string | number),
      );
    }
    const r = this.sql(`UPDATE duties SET ${sets.join(", ")} WHERE job_id = ? AND state = ? AND generation = ?`).run(
      ...values,
      expected.jobId.toString(),
      expected.state,
      expected.generation,
    );
    return Number(r.changes) === 1;
  }

  /** Open duties whose wait is over. */
  dueDuties(nowMs: number, limit: number): DutyRecord[] {
    const marks = [...TERMINAL_DUTY_STATES].map(() => "?").join(",");
    return (
      this.sql(
        `SELECT * FROM duties WHERE state NOT IN (${marks}) AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`,
      ).all(...TERMINAL_DUTY_STATES, nowMs, limit) as Row[]
    ).map(dutyOf);
  }

  // ------------------------------------------------------------------ transactions

  /** Records a signed transaction before it is broadcast; call {@link sync} before broadcasting it. */
  recordTx(tx: Omit<TxRecord, "id" | "createdAt" | "status">, jobIds?: readonly bigint[]): TxRecord {
    const createdAt = Date.now();
    return this.atomically(() => {
      const result = this.sql(
        "INSERT INTO txs (job_id, kind, nonce, hash, raw, status, created_at) VALUES (?, ?, ?, ?, ?, 'signed', ?)",
      ).run(tx.jobId?.toString() ?? null, tx.kind, tx.nonce, tx.hash, tx.raw, createdAt);
      // A batch: the jobs it carries, in the same SQLite transaction as its record.
      for (const id of jobIds ?? [])
        this.sql("INSERT OR IGNORE INTO tx_jobs (tx_hash, job_id) VALUES (?, ?)").run(tx.hash, id.toString());
      return { ...tx, id: Number(result.lastInsertRowid), status: "signed" as const, createdAt };
    });
  }

  /**
   * Every attempt (the batch, its fee-bumped replacements, a no-op that voided it) of each batch
   * transaction that carried `jobId`, oldest first.
   */
  batchTxsFor(jobId: bigint): TxRecord[] {
    return (
      this.sql(
        "SELECT * FROM txs WHERE nonce IN (SELECT t.nonce FROM txs t JOIN tx_jobs l ON l.tx_hash = t.hash WHERE l.job_id = ?) ORDER BY id",
      ).all(jobId.toString()) as Row[]
    ).map(toTx);
  }

  /** The jobs a batch transaction carries (any attempt of its nonce), in job id order. */
  jobsOfBatch(nonce: number): bigint[] {
    return (
      this.sql(
        "SELECT DISTINCT l.job_id AS job_id FROM tx_jobs l JOIN txs t ON t.hash = l.tx_hash WHERE t.nonce = ?",
      ).all(nonce) as Row[]
    )
      .map((r) => BigInt(r.job_id as string))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  setTxStatus(hash: Hex, status: TxStatus): void {
    this.sql("UPDATE txs SET status = ? WHERE hash = ?").run(status, hash);
  }

  /** A broadcast went through: "signed" becomes "sent"; a settled status is left as it is. */
  markTxSent(hash: Hex): void {
    this.sql("UPDATE txs SET status = 'sent' WHERE hash = ? AND status = 'signed'").run(hash);
  }

  /** Every attempt signed with `nonce` (the first and its fee-bumped replacements), oldest first. */
  txsWithNonce(nonce: number): TxRecord[] {
    return (this.sql("SELECT * FROM txs WHERE nonce = ? ORDER BY id").all(nonce) as Row[]).map(toTx);
  }

  txsFor(jobId: bigint | null, kind: TxKind): TxRecord[] {
    const rows = (
      jobId === null
        ? this.sql("SELECT * FROM txs WHERE job_id IS NULL AND kind = ? ORDER BY id").all(kind)
        : this.sql("SELECT * FROM txs WHERE job_id = ? AND kind = ? ORDER BY id").all(jobId.toString(), kind)
    ) as Row[];
    return rows.map(toTx);
  }

  /** Whether the job's `kind` transaction was signed (it may be out, or mined): it is resumed, not decided again. */
  hasLiveTx(jobId: bigint, kind: TxKind): boolean {
    return this.txsFor(jobId, kind).some((t) => t.status === "signed" || t.status === "sent" || t.status === "mined");
  }

  /**
   * After a reorg: our transactions with a nonce the chain has not used yet are not on the chain
   * any more, whatever their receipt said. They go back to "sent", to be broadcast again (the same
   * signed bytes, as a node's mempool would re-inject them), and are returned by nonce.
   */
  reopenTxsFrom(nonce: number): TxRecord[] {
    return this.atomically(() => {
      this.sql("UPDATE txs SET status = 'sent' WHERE nonce >= ? AND status IN ('mined', 'reverted')").run(nonce);
      return (
        this.sql("SELECT * FROM txs WHERE nonce >= ? AND status IN ('signed', 'sent') ORDER BY nonce, id").all(
          nonce,
        ) as Row[]
      ).map(toTx);
    });
  }

  /** Transactions signed or sent but not yet seen mined or reverted, oldest nonce first. */
  unsettledTxs(): TxRecord[] {
    return (this.sql("SELECT * FROM txs WHERE status IN ('signed', 'sent') ORDER BY nonce, id").all() as Row[]).map(
      toTx,
    );
  }

  /** The highest nonce this runner ever signed, or -1. */
  maxNonce(): number {
    const row = this.sql("SELECT MAX(nonce) AS n FROM txs").get() as Row;
    return row.n === null ? -1 : Number(row.n);
  }

  countTxs(kind?: TxKind): number {
    const row = (
      kind
        ? this.sql("SELECT COUNT(*) AS n FROM txs WHERE kind = ?").get(kind)
        : this.sql("SELECT COUNT(*) AS n FROM txs").get()
    ) as Row;
    return Number(row.n);
  }
}

/** Job rows `getJob` keeps (see Journal.jobRows): more than a burst's jobs in flight. */
const MAX_JOB_ROWS = 4_096;

/** The record and every object in it, frozen: a kept row is shared by every later reader. */
function deepFreeze<T>(x: T): Readonly<T> {
  if (x !== null && typeof x === "object" && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}

function toJob(r: Row): JobRecord {
  return {
    jobId: BigInt(r.job_id as string),
    paramsHash: r.params_hash as Hex,
    job: json.parse<Job>(r.job as string),
    inputCid: (r.input_cid as string | null) ?? null,
    block: Number(r.block),
    blockHash: r.block_hash as Hex,
    state: r.state as JobState,
    reason: (r.reason as string | null) ?? null,
    resultHash: (r.result_hash as Hex | null) ?? null,
    outputRef: (r.output_ref as Hex | null) ?? null,
    signature: (r.signature as Hex | null) ?? null,
    salt: (r.salt as Hex | null) ?? null,
    seat: r.seat === null ? null : Number(r.seat),
    attempts: Number(r.attempts ?? 0),
    nextAttemptAt: Number(r.next_attempt_at ?? 0),
    settledHash: (r.settled_hash as Hex | null) ?? null,
    deliveredBy: (r.delivered_by as Hex | null) ?? null,
    endsAt: Number(r.ends_at ?? 0),
    factsBlock: Number(r.facts_block ?? 0),
    expiryDone: Number(r.expiry_done ?? 0) === 1,
    updatedAt: Number(r.updated_at),
  };
}

function toTx(r: Row): TxRecord {
  return {
    id: Number(r.id),
    jobId: r.job_id === null ? null : BigInt(r.job_id as string),
    kind: r.kind as TxKind,
    nonce: Number(r.nonce),
    hash: r.hash as Hex,
    raw: r.raw as Hex,
    status: r.status as TxStatus,
    createdAt: Number(r.created_at),
  };
}

export type { Journal };

/** Opens (creating if needed) the journal at `file`. */
/** SQLite's default `wal_autocheckpoint`, restored if the checkpointer thread fails. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;

/** How often the checkpointer thread checkpoints the WAL (each run that copies frames fsyncs twice). */
const DEFAULT_CHECKPOINT_INTERVAL_MS = 1000;

/** What a reused WAL is truncated to (SQLite's `journal_size_limit`): 16 MiB. */
const WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

/** The WAL's bound (4 KiB pages) while the thread checkpoints: 64 MiB. */
const DEFAULT_MAX_WAL_PAGES = 16_000;

interface JournalOptions {
  /**
   * Milliseconds between the checkpointer thread's checkpoints (default 1,000); 0 leaves
   * checkpoints to SQLite on this connection (inside commits, on the event loop).
   */
  checkpointIntervalMs?: number;
  /** Pages past which a commit checkpoints on this connection even with the thread (default 16,000). */
  maxWalPages?: number;
  /** Hears the checkpointer's reports (a failure means checkpoints went back on the loop). */
  onCheckpointer?: (event: CheckpointerEvent) => void;
  /** Starts the checkpointer thread (tests pass a fake). */
  startCheckpointer?: typeof startWalCheckpointer;
  /** One transaction per turn of the event loop for all its writes (default true; see groupWrites). */
  groupCommit?: boolean;
}

export function openJournal(file: string, opts: JournalOptions = {}): Journal {
  return new Journal(file, opts);
}

function dutyOf(r: Row): DutyRecord {
  return {
    jobId: BigInt(r.job_id as string),
    role: r.role as DutyRole,
    challenge: r.challenge === null ? null : json.parse<Challenge>(r.challenge as string),
    state: r.state as DutyState,
    reason: (r.reason as string | null) ?? null,
    resultHash: (r.result_hash as Hex | null) ?? null,
    outputRef: (r.output_ref as Hex | null) ?? null,
    salt: (r.salt as Hex | null) ?? null,
    seat: r.seat === null ? null : Number(r.seat),
    block: Number(r.block),
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    updatedAt: Number(r.updated_at),
    generation: Number(r.generation),
  };
}
