// Gas of the inference market per step and per settled job (k = 1, k = 3, a batch of 100 signed
// k = 1 results), on an empty market, on the empty market with assignment on (priority window
// 3 s), and again after seeding 100 providers and 1,000 open jobs.
// Figures are printed to compare; nothing is asserted. Run: npm run bench:gas
import { keccak256, parseEther, toHex, type Hash, type Hex } from "viem";
import type { Job } from "../node/attest/attestation.ts";
import { privateKeyToAccount } from "viem/accounts";
import { attestationFor, commitmentOf, signAttestation } from "../node/attest/attestation.ts";
import { encodeAttestationBatch, encodeResultBatch } from "../node/attest/batch.ts";
import type { Wallet } from "../node/chain/clients.ts";
import { networkHelpers, TOKENS, viem } from "../test/helpers/hardhat-stack.ts";
import { CAPS, ETH, marketFixture, requestJob } from "../test/helpers/market-fixture.ts";
import { jobWords } from "../node/attest/job-words.ts";

const f = await marketFixture();
const [p1, p2, p3] = f.providers as [Wallet, Wallet, Wallet];
const RESULT = keccak256(toHex("result"));
const REF = toHex("ipfs://bafkreioutput");
const chainId = await f.publicClient.getChainId();
const marketAddress = f.record.contracts.InferenceMarket!.address;

/** Waits (in chain time) until every one of `who` may serve `job` under the assignment. */
async function openFor(job: Job, who: Wallet[]): Promise<void> {
  if (job.priorityWindow === 0) return;
  let at = 0;
  for (const w of who) {
    const [member, , opensAt] = await f.as(w).market.read.assignment([jobWords(job), w.account.address]);
    if (!member) throw new Error(`${w.account.address} is not on the roster`);
    at = Math.max(at, opensAt);
  }
  const now = Number((await f.publicClient.getBlock()).timestamp);
  if (at > now) await networkHelpers.time.increaseTo(at);
}

async function setPriorityWindow(priorityWindow: number): Promise<void> {
  const policy = await f.dao.market.read.policy();
  await f.dao.court.write.setPolicy([{ ...policy, priorityWindow }]);
}

async function gas(hash: Hash): Promise<bigint> {
  return (await f.publicClient.waitForTransactionReceipt({ hash })).gasUsed;
}

/** Moves chain time past the challenge window of deliveries made now. */
async function pastChallengeWindow(job: Job): Promise<void> {
  await networkHelpers.time.increase(job.challengeWindow + 1);
}

/** Claims matured k = 1 deliveries (by p1 unless given) as a keeper would; returns the gas. */
async function claim(items: { jobId: bigint; job: Job; provider?: Wallet }[]): Promise<bigint> {
  const claims = items.map((i) => ({
    jobId: i.jobId,
    job: jobWords(i.job),
    provider: (i.provider ?? p1).account.address,
    resultHash: RESULT,
  }));
  return gas(await f.as(f.relayer).court.write.claim([claims]));
}

async function k1(token = ETH): Promise<Record<string, bigint>> {
  const fee = token === ETH ? parseEther("0.01") : TOKENS(1);
  const req = await requestJob(f, { fee, token });
  const request = await gas(req.hash);
  await openFor(req.job, [p1]);
  const submit = await gas(await f.as(p1).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF]));
  await pastChallengeWindow(req.job);
  const claimed = await claim([req]);
  return {
    request,
    submit,
    "request + submit": request + submit,
    "claim (one)": claimed,
    "job (with its claim)": request + submit + claimed,
  };
}

async function k3(): Promise<Record<string, bigint>> {
  const req = await requestJob(f, { redundancy: 3, fee: parseEther("0.01") });
  const out: Record<string, bigint> = { request: await gas(req.hash) };
  await openFor(req.job, [p1, p2, p3]);
  const salt = keccak256(toHex("salt"));
  for (const [i, p] of [p1, p2, p3].entries()) {
    out[`commit ${i + 1}`] = await gas(
      await f
        .as(p)
        .market.write.commit([req.jobId, jobWords(req.job), commitmentOf(req.jobId, p.account.address, RESULT, salt)]),
    );
  }
  for (const [i, p] of [p1, p2, p3].entries()) {
    out[`reveal ${i + 1}${i === 2 ? " (settles)" : ""}`] = await gas(
      await f.as(p).market.write.reveal([req.jobId, jobWords(req.job), i, RESULT, salt, REF]),
    );
  }
  out.job = Object.values(out).reduce((a, b) => a + b, 0n);
  return out;
}

async function batch(signers: Wallet[], n = 100): Promise<Record<string, bigint>> {
  const items = [];
  for (let i = 0; i < n; i++) {
    const { jobId, job } = await requestJob(f, { fee: parseEther("0.001") });
    const signer = signers[i % signers.length]!;
    const signature: Hex = await signAttestation(
      signer,
      chainId,
      marketAddress,
      attestationFor(jobId, job, RESULT, REF),
    );
    items.push({ jobId, job, resultHash: RESULT, outputRef: REF, signature });
  }
  // Once all are requested: the waits overlap, so no job nears its deadline.
  for (const [i, item] of items.entries()) await openFor(item.job, [signers[i % signers.length]!]);
  const total = await gas(await f.as(f.relayer).market.write.submitAttestations([encodeAttestationBatch(items)]));
  await pastChallengeWindow(items[0]!.job);
  const claimed = await claim(items.map((it, i) => ({ ...it, provider: signers[i % signers.length]! })));
  return {
    [`batch of ${n}`]: total,
    "per job": total / BigInt(n),
    [`claims, batch of ${n}, per job`]: claimed / BigInt(n),
  };
}

/** A provider's own batch (submitResults): its transaction signs every item, none carries a signature. */
async function ownBatch(n = 100): Promise<Record<string, bigint>> {
  const items = [];
  for (let i = 0; i < n; i++) {
    const { jobId, job } = await requestJob(f, { fee: parseEther("0.001") });
    items.push({ jobId, job, resultHash: RESULT, outputRef: REF });
  }
  for (const item of items) await openFor(item.job, [p1]);
  const total = await gas(await f.as(p1).market.write.submitResults([encodeResultBatch(items)]));
  await pastChallengeWindow(items[0]!.job);
  await claim(items.map((it) => ({ ...it, provider: p1 })));
  return { [`batch of ${n}`]: total, "per job": total / BigInt(n) };
}

/** Measures a withdrawal, then credits the provider again so later figures stay steady-state. */
async function withdraw(): Promise<Record<string, bigint>> {
  const used = await gas(await f.as(p1).market.write.withdraw([ETH]));
  await k1();
  return { "provider withdraw (ETH)": used };
}

async function measure(): Promise<Map<string, bigint>> {
  const rows = new Map<string, bigint>();
  const add = (prefix: string, r: Record<string, bigint>) =>
    Object.entries(r).forEach(([k, v]) => rows.set(`${prefix} ${k}`, v));
  add("k=1 ETH", await k1());
  add("k=1 ERC-20", await k1(f.usd.address));
  add("k=3 ETH", await k3());
  add("signed k=1, one provider,", await batch([p1]));
  add("signed k=1, three providers,", await batch([p1, p2, p3]));
  add("own k=1 batch,", await ownBatch());
  add("", await withdraw());
  return rows;
}

// Warm up: every account that is credited already has a balance, as in steady operation.
await k1();
await k1(f.usd.address);
await k3();
await batch([p1, p2, p3], 3);
await ownBatch(3);
const empty = await measure();
// Assignment on: the roster is p1..p3, so every rank opens within two windows.
await setPriorityWindow(3);
const assigned = await measure();
await setPriorityWindow(0);

// Seed 100 more providers and 1,000 open jobs.
const funder = f.alice;
const seededProviders: Wallet[] = [];
for (let i = 0; i < 100; i++) {
  const account = privateKeyToAccount(keccak256(toHex(`bench-provider-${i}`)));
  await networkHelpers.setBalance(account.address, parseEther("1"));
  const w = (await viem.getWalletClient(account.address, { account })) as unknown as Wallet;
  await f.as(funder).token.write.transfer([account.address, TOKENS(200)]);
  await f.as(w).token.write.approve([f.record.contracts.ProviderRegistry!.address, TOKENS(200)]);
  await f.as(w).providers.write.register([TOKENS(200), CAPS, "ipfs://p"]);
  await f.dao.providers.write.approveProvider([account.address, CAPS.tags]);
  seededProviders.push(w);
}
for (let i = 0; i < 1000; i++) await requestJob(f, { redundancy: 1 + (i % 3), fee: parseEther("0.001") });
const seeded = await measure();

// A provider's first seat allocates its stake to the market (one registry call); its later seats
// touch only its word in the market, which is what the rows above measure (warmed up).
const newcomer = seededProviders[0]!;
const seats: bigint[] = [];
for (let i = 0; i < 2; i++) {
  const req = await requestJob(f, { fee: parseEther("0.01") });
  seats.push(await gas(await f.as(newcomer).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF])));
}

const TARGETS: Record<string, string> = {
  "k=1 ETH request + submit": "≤ 100k",
  "k=3 ETH job": "≤ 300k",
  "signed k=1, one provider, per job": "≤ 10k",
  "signed k=1, three providers, per job": "≤ 10k",
  "own k=1 batch, per job": "≤ 10k",
};
/** The figures (market at 3a055bd, before market v2), for the rows it names. */
const BEFORE: Record<string, bigint> = {
  "k=1 ETH request + submit": 149_777n,
  "k=3 ETH job": 612_874n,
  "signed k=1, one provider, per job": 25_241n,
};
const width = Math.max(...[...empty.keys()].map((k) => k.trim().length));
console.log("\nInferenceMarket gas (Hardhat in-process network; gasUsed includes the 21,000 intrinsic gas)\n");
console.log(
  `${"operation".padEnd(width)}  ${"3a055bd".padStart(9)}  ${"empty".padStart(9)}  ${"assigned".padStart(9)}  ${"seeded".padStart(9)}  ${"diff".padStart(7)}  target`,
);
for (const [k, v] of empty) {
  const s = seeded.get(k)!;
  const a = assigned.get(k)!;
  const diff = ((Number(s) - Number(v)) / Number(v)) * 100;
  console.log(
    `${k.trim().padEnd(width)}  ${(BEFORE[k.trim()]?.toString() ?? "").padStart(9)}  ${v.toString().padStart(9)}  ${a.toString().padStart(9)}  ${s.toString().padStart(9)}  ${diff.toFixed(2).padStart(6)}%  ${TARGETS[k.trim()] ?? ""}`,
  );
}
console.log(
  "\n3a055bd = the market before market v2 (the issue's figures); a k = 1 job is now paid by a claim after its challenge window: 'job (with its claim)' counts a claim of its own, the batched claim costs less per job",
);
console.log("assigned = the empty market with a 3 s priority window (each provider served in its rank's turn)");
console.log("seeded = after registering 100 more providers and opening 1,000 jobs (k = 1..3), priority window 0");
console.log(
  `a provider's first seat (k = 1 submit, seeded) allocates its stake to the market: ${seats[0]} gas; its next: ${seats[1]}`,
);
