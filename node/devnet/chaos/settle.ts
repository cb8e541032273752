/**
 * The end of a chaos run: wait until every requested job is final on-chain (settled or
 * refunded). A job nobody can end any more by serving it (a k = 1 job past its deadline, a k = 3
 * job past its commit deadline with too few seats or past its reveal window) is finalized by its
 * client, as a client wanting its escrow back would; the runners may also do it themselves.
 */
import type { Address, PublicClient } from "viem";
import type { HDAccount } from "viem/accounts";
import type { Job } from "../../attest/attestation.ts";
import { walletFor } from "../../chain/clients.ts";
import { chainNow } from "../../chain/clock.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import type { DeploymentRecord } from "../../chain/deployment.ts";
import type { Logger } from "../../log.ts";
import { readLedger } from "./audit.ts";
import { jobWords } from "../../attest/job-words.ts";
import { revertName } from "../../chain/revert.ts";
import { oneLine } from "../../errors.ts";

interface SettleOptions {
  publicClient: PublicClient;
  record: DeploymentRecord;
  rpcUrl: string;
  clients: HDAccount[];
  fromBlock: bigint;
  timeoutMs: number;
  log: Logger;
  onProgress?: (open: number, total: number) => void;
}

interface SettleResult {
  /** Jobs still open when the wait gave up. */
  open: bigint[];
  /** One line per open job: its k, on-chain state, deadlines, and why the client's finalize failed. */
  openDetails: string[];
  /** Jobs the harness's clients finalized. */
  finalizedByClients: bigint[];
}

const FINAL = new Set([3, 4]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntilFinal(opts: SettleOptions): Promise<SettleResult> {
  const { publicClient, record } = opts;
  const market = conclaveContracts(record, publicClient).market;
  const accounts = new Map<string, HDAccount>(opts.clients.map((a) => [a.address.toLowerCase(), a]));
  const head = await publicClient.getBlockNumber({ cacheTime: 0 });
  const jobs = await readLedger(
    publicClient,
    record,
    opts.clients.map((a) => a.address as Address),
    opts.fromBlock,
    head,
  );
  const open = new Map<bigint, Job>([...jobs.values()].map((j) => [j.jobId, j.job]));
  const finalizedByClients: bigint[] = [];
  const triedAt = new Map<bigint, number>();
  const finalizeError = new Map<bigint, string>();
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    for (const id of [...open.keys()]) {
      const [status] = await market.read.jobState([id]);
      if (FINAL.has(Number(status))) open.delete(id);
    }
    opts.onProgress?.(open.size, jobs.size);
    if (open.size === 0 || Date.now() > deadline) break;
    const now = await chainNow(publicClient);
    for (const [id, job] of open) {
      const due = job.redundancy === 1 ? job.deadline : job.commitDeadline;
      if (now <= BigInt(due) || Date.now() - (triedAt.get(id) ?? 0) < 10_000) continue;
      triedAt.set(id, Date.now());
      const account = accounts.get(job.client.toLowerCase())!;
      try {
        // Simulated first: "not finalizable yet" (reveals still due) is the common answer, not worth gas.
        await market.simulate.finalize([id, jobWords(job)], { account });
        const wallet = walletFor(opts.rpcUrl, publicClient.chain!, account);
        const hash = await conclaveContracts(record, wallet).market.write.finalize([id, jobWords(job)]);
        const receipt = await publicClient.waitForTransactionReceipt({ hash });
        if (receipt.status === "success") finalizedByClients.push(id);
      } catch (err) {
        // Not finalizable yet, or a runner finalized it first: the next pass looks again.
        finalizeError.set(id, revertName(err, market.abi) ?? oneLine(err));
      }
    }
    await sleep(2_000);
  }
  const now = await chainNow(publicClient);
  const openDetails = await Promise.all(
    [...open].map(async ([id, job]) => {
      const [status, seated, revealed, revealStartedAt] = await market.read.jobState([id]);
      return (
        `job ${id}: k = ${job.redundancy}, status ${status}, seated ${seated}, revealed ${revealed}, reveal started ${revealStartedAt}, ` +
        `chain now ${now}, commit deadline ${job.commitDeadline}, deadline ${job.deadline}, last finalize error: ${finalizeError.get(id) ?? "none tried"}`
      );
    }),
  );
  return { open: [...open.keys()], openDetails, finalizedByClients };
}
