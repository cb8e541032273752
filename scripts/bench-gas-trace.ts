// Where the market's gas goes, path by path: each transaction traced opcode by opcode
// (debug_traceTransaction) and summed by kind. The fixed part (intrinsic gas, calldata, storage,
// logs, hashing, the re-entrancy guard's transient slot) is what the market's design costs
// whatever code runs it; "Solidity" is the code executed around it. Printed for a k = 1 job, a k = 3
// job and the per-job share of batches of 100 (the provider's own and a relayed, signed one), each
// beside its target. Figures are printed to compare; nothing is asserted. Run: npm run bench:gas
import { keccak256, parseEther, toHex, type Hash } from "viem";
import { attestationFor, commitmentOf, signAttestation } from "../node/attest/attestation.ts";
import { encodeAttestationBatch, encodeResultBatch } from "../node/attest/batch.ts";
import { jobWords } from "../node/attest/job-words.ts";
import type { Wallet } from "../node/chain/clients.ts";
import { marketFixture, requestJob } from "../test/helpers/market-fixture.ts";

interface Step {
  op: string;
  gas: number;
  gasCost: number;
  depth: number;
}

const FIXED = /^(SLOAD|SSTORE|LOG\d|KECCAK256|TSTORE|TLOAD)$/;
const CALLS = /^(CALL|STATICCALL|DELEGATECALL|CALLCODE)$/;
const SOLIDITY = "Solidity";

const f = await marketFixture();
const [p1, p2, p3] = f.providers as [Wallet, Wallet, Wallet];
const RESULT = keccak256(toHex("result"));
const REF = toHex("ipfs://bafkreioutput");
const chainId = await f.publicClient.getChainId();
const marketAddress = f.record.contracts.InferenceMarket!.address;

/** A transaction's gas by kind: intrinsic, calldata, each fixed opcode kind, calls, and the rest. */
async function breakdown(hash: Hash): Promise<Map<string, number>> {
  const tx = await f.publicClient.getTransaction({ hash });
  const { gasUsed } = await f.publicClient.waitForTransactionReceipt({ hash });
  const bytes = tx.input.slice(2).match(/../g) ?? [];
  const calldata = bytes.reduce((sum, b) => sum + (b === "00" ? 4 : 16), 0);
  const { structLogs } = (await f.publicClient.request({
    method: "debug_traceTransaction" as never,
    params: [hash, { disableStorage: true, disableMemory: true, disableStack: true }] as never,
  })) as { structLogs: Step[] };
  const out = new Map<string, number>([
    ["gasUsed", Number(gasUsed)],
    ["intrinsic", 21_000],
    ["calldata", calldata],
  ]);
  const add = (kind: string, gas: number) => out.set(kind, (out.get(kind) ?? 0) + gas);
  for (let i = 0; i < structLogs.length; i++) {
    const s = structLogs[i]!;
    if (s.depth > 1) {
      // The callee's code: the registry's allocation on a first seat.
      add("in calls", s.gasCost);
    } else if (CALLS.test(s.op)) {
      // A call's gasCost is the gas it forwards; what it costs is the gas gone when this frame
      // resumes, less what the callee's own steps used (counted above). A precompile (ecrecover)
      // has no steps: all of it is the call's.
      let j = i + 1;
      let callee = 0;
      while (j < structLogs.length && structLogs[j]!.depth > 1) callee += structLogs[j++]!.gasCost;
      add(s.op, s.gas - (structLogs[j]?.gas ?? s.gas) - callee);
    } else {
      add(FIXED.test(s.op) ? s.op : SOLIDITY, s.gasCost);
    }
  }
  return out;
}

/** Prints transactions' breakdowns side by side with their total, and the fixed/Solidity split. */
async function table(title: string, target: number, txs: [string, Hash][], perJob = 1): Promise<void> {
  const rows = await Promise.all(txs.map(([, h]) => breakdown(h)));
  const sum = new Map<string, number>();
  for (const r of rows) for (const [k, v] of r) sum.set(k, (sum.get(k) ?? 0) + v);
  const kinds = [...sum.keys()];
  const w = 11;
  const cols = [...txs.map(([name]) => name), perJob === 1 ? "all" : `per job (of ${perJob})`];
  console.log(`\n${title}\n`);
  console.log(`${"".padEnd(12)}${cols.map((c) => c.padStart(w)).join("")}`);
  const per = (v: number) => Math.round(v / perJob);
  for (const k of kinds) {
    const cells = rows.map((r) => String(r.get(k) ?? 0));
    console.log(`${k.padEnd(12)}${[...cells, String(per(sum.get(k)!))].map((c) => c.padStart(w)).join("")}`);
  }
  const used = sum.get("gasUsed")!;
  const solidity = sum.get(SOLIDITY) ?? 0;
  console.log(
    `fixed costs ${per(used - solidity)}, Solidity code around them ${per(solidity)}, gasUsed ${per(used)}; target ${target}`,
  );
}

/** A k = 3 job by p1, p2 and p3; returns its transactions. */
async function k3(): Promise<[string, Hash][]> {
  const req = await requestJob(f, { redundancy: 3, fee: parseEther("0.01") });
  const salt = keccak256(toHex("salt"));
  const txs: [string, Hash][] = [["request", req.hash]];
  for (const [i, p] of [p1, p2, p3].entries()) {
    const commitment = commitmentOf(req.jobId, p.account.address, RESULT, salt);
    txs.push([`commit ${i + 1}`, await f.as(p).market.write.commit([req.jobId, jobWords(req.job), commitment])]);
  }
  for (const [i, p] of [p1, p2, p3].entries()) {
    const reveal = await f.as(p).market.write.reveal([req.jobId, jobWords(req.job), i, RESULT, salt, REF]);
    txs.push([`reveal ${i + 1}`, reveal]);
  }
  return txs;
}

// Warm up, as a market in use is: the providers' stake is allocated, and every account a job
// credits (the providers, the treasury) has a balance already.
for (const p of [p1, p2, p3]) {
  const req = await requestJob(f, { fee: parseEther("0.01") });
  await f.as(p).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF]);
}
await k3();

{
  const req = await requestJob(f, { fee: parseEther("0.01") });
  const sub = await f.as(p1).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF]);
  await table("k = 1 job, ETH, priority window 0, by opcode kind (debug_traceTransaction)", 100_000, [
    ["request", req.hash],
    ["submit", sub],
  ]);
}

await table("k = 3 job (request, 3 commits, 3 reveals; the last settles)", 300_000, await k3());

{
  const own = [];
  for (let i = 0; i < 100; i++) {
    const { jobId, job } = await requestJob(f, { fee: parseEther("0.001") });
    own.push({ jobId, job, resultHash: RESULT, outputRef: REF });
  }
  const hash = await f.as(p1).market.write.submitResults([encodeResultBatch(own)]);
  await table("a provider's own batch of 100 k = 1 results (submitResults)", 10_000, [["batch", hash]], 100);
}

{
  const signed = [];
  for (let i = 0; i < 100; i++) {
    const { jobId, job } = await requestJob(f, { fee: parseEther("0.001") });
    const signer = [p1, p2, p3][i % 3]!;
    const signature = await signAttestation(signer, chainId, marketAddress, attestationFor(jobId, job, RESULT, REF));
    signed.push({ jobId, job, resultHash: RESULT, outputRef: REF, signature });
  }
  const hash = await f.as(f.relayer).market.write.submitAttestations([encodeAttestationBatch(signed)]);
  await table(
    "a relayed batch of 100 signed k = 1 results, 3 providers (submitAttestations)",
    10_000,
    [["batch", hash]],
    100,
  );
}
