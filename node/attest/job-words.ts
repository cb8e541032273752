import { getAddress, numberToHex, type Hex } from "viem";
import type { Job } from "./attestation.ts";

/**
 * A job as the market takes and emits it: six packed words (contracts/market/JobWords.sol, whose
 * NatSpec has the layout). The node keeps the decoded {@link Job} and converts at the contract
 * boundary: `jobWords` for every call that passes a job, `jobOfWords` for JobRequested's `job`.
 */
export type JobWords = readonly [bigint, bigint, bigint, bigint, bigint, bigint];

const mask = (bits: number) => (1n << BigInt(bits)) - 1n;

/** The largest required-tag set a job can carry (bits 0-63), as the market checks at request. */
export const MAX_JOB_TAGS = mask(64);

/** The words the market takes for `job`. Fields beyond their width throw (a decoded job never has them). */
export function jobWords(job: Job): JobWords {
  const fit = (name: string, value: bigint, bits: number): bigint => {
    if (value < 0n || value > mask(bits)) throw new RangeError(`job ${name} ${value} does not fit in ${bits} bits`);
    return value;
  };
  const n = (name: string, value: number, bits: number) => fit(name, BigInt(value), bits);
  const w0 =
    (BigInt(job.client) << 96n) |
    (n("requestedAt", job.requestedAt, 40) << 56n) |
    (n("deadline", job.deadline, 40) << 16n) |
    (n("redundancy", job.redundancy, 8) << 8n) |
    n("quorum", job.quorum, 8);
  const w1 = (BigInt(job.token) << 96n) | fit("feePerProvider", job.feePerProvider, 96);
  const w2 =
    (n("version", job.version, 32) << 224n) |
    (n("minMemoryMB", job.minMemoryMB, 32) << 192n) |
    (n("protocolFeeBps", job.protocolFeeBps, 16) << 176n) |
    (n("priorityWindow", job.priorityWindow, 32) << 144n) |
    (n("commitDeadline", job.commitDeadline, 40) << 104n) |
    (n("revealWindow", job.revealWindow, 32) << 72n) |
    (n("challengeWindow", job.challengeWindow, 32) << 40n) |
    ((job.counted ? 1n : 0n) << 32n);
  const w3 =
    (fit("requiredTags", job.requiredTags, 64) << 192n) |
    (fit("seed", job.seed, 96) << 96n) |
    fit("collateral", job.collateral, 96);
  return [w0, w1, w2, w3, BigInt(job.modelId), BigInt(job.inputHash)];
}

/** The job held by the words `w` (JobRequested's `job`). */
export function jobOfWords(w: readonly bigint[]): Job {
  if (w.length !== 6) throw new RangeError(`a job has 6 words, got ${w.length}`);
  const [w0, w1, w2, w3, w4, w5] = w as JobWords;
  const field = (word: bigint, shift: number, bits: number) => (word >> BigInt(shift)) & mask(bits);
  const num = (word: bigint, shift: number, bits: number) => Number(field(word, shift, bits));
  const address = (word: bigint) => getAddress(numberToHex(word >> 96n, { size: 20 }));
  const bytes32 = (word: bigint): Hex => numberToHex(word, { size: 32 });
  return {
    client: address(w0),
    requestedAt: num(w0, 56, 40),
    deadline: num(w0, 16, 40),
    redundancy: num(w0, 8, 8),
    quorum: num(w0, 0, 8),
    token: address(w1),
    feePerProvider: field(w1, 0, 96),
    version: num(w2, 224, 32),
    minMemoryMB: num(w2, 192, 32),
    protocolFeeBps: num(w2, 176, 16),
    priorityWindow: num(w2, 144, 32),
    commitDeadline: num(w2, 104, 40),
    revealWindow: num(w2, 72, 32),
    challengeWindow: num(w2, 40, 32),
    counted: field(w2, 32, 8) !== 0n,
    requiredTags: field(w3, 192, 64),
    seed: field(w3, 96, 96),
    collateral: field(w3, 0, 96),
    modelId: bytes32(w4),
    inputHash: bytes32(w5),
  };
}
