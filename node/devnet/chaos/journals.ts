/**
 * What a runner's journal (dataDir/journal.sqlite) says, read-only: how many jobs it holds in
 * each state (and why, for the ending states) and every transaction it signed. Opened read-only
 * so that the harness can never change what it audits.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Hex } from "viem";

interface JournalTx {
  hash: Hex;
  kind: string;
  nonce: number;
  status: string;
  jobId: bigint | null;
}

export interface JournalSummary {
  /** Jobs by state, e.g. { paid: 120, expired: 3 }. */
  states: Record<string, number>;
  /** Reasons of jobs in lost / failed / expired / slashed / refunded, with counts. */
  reasons: Record<string, number>;
  /** Job ids this runner holds as "paid", "lost" and "failed" (input or model unusable). */
  paid: Set<bigint>;
  lost: Set<bigint>;
  failed: Set<bigint>;
  /** Jobs this runner abstained from: an output within ε of a rounding boundary (the input's doing). */
  abstained: Set<bigint>;
  /** Jobs it skipped because their deadline had passed when it first looked (they landed too late). */
  tooLate: Set<bigint>;
  txs: JournalTx[];
}

const ENDINGS_WITH_REASON = ["lost", "failed", "expired", "slashed", "refunded"];

export function readJournal(dataDir: string): JournalSummary | null {
  const file = path.join(dataDir, "journal.sqlite");
  if (!existsSync(file)) return null;
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const states: Record<string, number> = {};
    for (const r of db.prepare("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").all() as {
      state: string;
      n: number;
    }[])
      states[r.state] = Number(r.n);
    const reasons: Record<string, number> = {};
    const marks = ENDINGS_WITH_REASON.map(() => "?").join(", ");
    for (const r of db
      .prepare(`SELECT state, reason, COUNT(*) AS n FROM jobs WHERE state IN (${marks}) GROUP BY state, reason`)
      .all(...ENDINGS_WITH_REASON) as { state: string; reason: string | null; n: number }[]) {
      reasons[`${r.state}: ${r.reason ?? "-"}`] = Number(r.n);
    }
    const ids = (state: string) =>
      new Set(
        (db.prepare("SELECT job_id FROM jobs WHERE state = ?").all(state) as { job_id: string }[]).map((r) =>
          BigInt(r.job_id),
        ),
      );
    const txs = (
      db.prepare("SELECT hash, kind, nonce, status, job_id FROM txs").all() as {
        hash: Hex;
        kind: string;
        nonce: number;
        status: string;
        job_id: string | null;
      }[]
    ).map((r) => ({
      hash: r.hash.toLowerCase() as Hex,
      kind: r.kind,
      nonce: Number(r.nonce),
      status: r.status,
      jobId: r.job_id === null ? null : BigInt(r.job_id),
    }));
    const abstained = new Set(
      (
        db.prepare("SELECT job_id FROM jobs WHERE state = 'skipped' AND reason LIKE 'abstained:%'").all() as {
          job_id: string;
        }[]
      ).map((r) => BigInt(r.job_id)),
    );
    const tooLate = new Set(
      (
        db.prepare("SELECT job_id FROM jobs WHERE state = 'skipped' AND reason = 'deadline passed'").all() as {
          job_id: string;
        }[]
      ).map((r) => BigInt(r.job_id)),
    );
    return { states, reasons, paid: ids("paid"), lost: ids("lost"), failed: ids("failed"), abstained, tooLate, txs };
  } finally {
    db.close();
  }
}
