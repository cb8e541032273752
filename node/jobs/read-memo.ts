/**
 * What this process learned of its open jobs from the chain, so that a step skips a read that
 * could only repeat it. In a fleet burst a runner made about 2.5 job-state reads per job (issue
 * 14): the commit right after decide's read, a reveal woken by RevealStarted, and the follow
 * right after a reveal each read again.
 *
 * Memory only: a restarted runner reads as it always did. Any event of a job drops what was read
 * of it, and a failed step drops everything of its job, so a retry reads. Used only where a stale
 * answer costs no money: before a transaction that is simulated on its own before it is signed
 * (a commit, a reveal: one that would revert is a retried step, see ProcessorBase.onStepError),
 * never before a result that rides in a batch.
 */
import { JobStatus } from "../chain/statuses.ts";
import type { ChainReader } from "./processor-options.ts";

export type JobStateRead = Awaited<ReturnType<ChainReader["jobState"]>>;

/**
 * How long a job-state read may answer the job's next ask (once). A block comes at most once a
 * second on the chains runners serve; within that, a job's state moves only by an event, and the
 * event drops the read.
 */
const STATE_REUSE_MS = 1_000;

export class ReadMemo {
  private readonly reads = new Map<string, { state: JobStateRead; at: number }>();
  private readonly revealOpen = new Set<string>();
  /** Jobs being read now, and whether an event of theirs came meanwhile (then the answer is not kept). */
  private readonly reading = new Map<string, boolean>();

  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  /** The job's state: a read less than STATE_REUSE_MS old answers once more, else `read()`. */
  async jobState(jobId: bigint, read: () => Promise<JobStateRead>): Promise<JobStateRead> {
    const key = jobId.toString();
    const last = this.reads.get(key);
    this.reads.delete(key);
    if (last && this.now() - last.at < STATE_REUSE_MS) return last.state;
    // Stamped before the read: its answer is at least this old.
    const at = this.now();
    this.reading.set(key, false);
    try {
      const state = await read();
      if (this.reading.get(key) === false) this.reads.set(key, { state, at });
      return state;
    } finally {
      this.reading.delete(key);
    }
  }

  /**
   * A k = 1 job's JobRequested was just taken in: that is a read (open, no seat), and decide's
   * read could only repeat it. Its submit reads fresh all the same (see the file's notes), so the
   * most a job delivered meanwhile costs is its compute.
   */
  requested(jobId: bigint): void {
    const key = jobId.toString();
    if (this.reading.has(key)) return;
    this.reads.set(key, {
      state: { status: JobStatus.Open, seated: 0, revealed: 0, revealStartedAt: 0 },
      at: this.now(),
    });
  }

  /**
   * Our commit's receipt was just taken in: that is a read at its block (the reveal started, or
   * the job open with `seat` the last seat taken), and the reveal's first look could only repeat
   * it. A later block's event drops it; a reveal that would revert is simulated before it is sent.
   */
  committed(jobId: bigint, seat: number, revealStarted: boolean): void {
    const key = jobId.toString();
    if (revealStarted) return this.revealStarted(jobId);
    if (this.reading.has(key)) return;
    this.reads.set(key, {
      state: { status: JobStatus.Open, seated: seat + 1, revealed: 0, revealStartedAt: 0 },
      at: this.now(),
    });
  }

  /** An event of the job came: what was read of it may be stale. */
  chainMoved(jobId: bigint): void {
    const key = jobId.toString();
    this.reads.delete(key);
    if (this.reading.has(key)) this.reading.set(key, true);
  }

  /** A reorg rewound the job's facts (its RevealStarted may be gone): nothing learned of it holds. */
  rewound(jobId: bigint): void {
    this.chainMoved(jobId);
    this.forget(jobId);
  }

  /** The job's RevealStarted event was taken in: its reveal phase is open. */
  revealStarted(jobId: bigint): void {
    this.revealOpen.add(jobId.toString());
  }

  isRevealOpen(jobId: bigint): boolean {
    return this.revealOpen.has(jobId.toString());
  }

  /** The job ended or its step failed: nothing of it is remembered. */
  forget(jobId: bigint): void {
    const key = jobId.toString();
    this.reads.delete(key);
    this.revealOpen.delete(key);
  }
}
