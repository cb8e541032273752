// Gas of the market around a consumer contract's callback (issue 13), measured with real
// transactions on the in-process network: the example consumer SpeechGate requests a job (market
// request + router deposit + its own record), providers deliver (k = 1: one result; k = 3: three
// commits and reveals), and a fulfiller calls router.fulfill with silero-vad-v5's 2,164-byte
// canonical preimage. The overhead is request + delivery + fulfil − the callback's own gas; it is
// printed beside Chainlink Functions' documented fulfilment overhead and the Infernet figures of
// issue 11, with what the router reimbursed each fulfil (the gas it measured, CallbackReimbursed)
// beside its receipt's gas, and the deposit's headroom. Nothing is asserted. Run: npm run bench:gas
import { keccak256, parseEther, parseEventLogs, toHex, type Hash, type Hex } from "viem";
import { commitmentOf, type Job } from "../node/attest/attestation.ts";
import { quantumFromChain, resultHashPreimage } from "../node/attest/result-hash.ts";
import { loadArtifact } from "../node/chain/artifacts.ts";
import type { Wallet } from "../node/chain/clients.ts";
import { jobOfWords, jobWords } from "../node/attest/job-words.ts";
import type { TensorMap } from "../node/tensors/dtypes.ts";
import { networkHelpers } from "../test/helpers/hardhat-stack.ts";
import { marketFixture, MODEL_ID, requestJob } from "../test/helpers/market-fixture.ts";

const f = await marketFixture();
const [p1, p2, p3] = f.providers as [Wallet, Wallet, Wallet];
const owner = f.client;
const fulfiller = f.relayer;
const routerAddress = f.record.contracts.ConsumerRouter!.address;
const routerAbi = loadArtifact("ConsumerRouter").abi;
const gateArtifact = loadArtifact("SpeechGate");
const CALLBACK_GAS = 300_000;
const CAP = 10n * 10n ** 9n;
const REF = toHex("ipfs://bafkreioutput");

// silero-vad-v5's outputs (output F32[1,1], stateN F32[2,1,128]) as their canonical preimage.
const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const outputs: TensorMap = {
  output: { dtype: "F32", shape: [1, 1], data: f32([0.91]) },
  stateN: { dtype: "F32", shape: [2, 1, 128], data: f32(Array.from({ length: 256 }, (_, i) => Math.sin(i) / 3)) },
};
const preimage = resultHashPreimage(outputs, quantumFromChain(10n ** 14n));
const PREIMAGE = toHex(preimage);
const RESULT = keccak256(preimage);

const deployHash = await owner.deployContract({
  abi: gateArtifact.abi,
  bytecode: gateArtifact.bytecode,
  args: [routerAddress, MODEL_ID, owner.account.address, 5_000n, CALLBACK_GAS, CAP],
});
const gate = (await f.publicClient.waitForTransactionReceipt({ hash: deployHash })).contractAddress!;
await networkHelpers.setBalance(gate, parseEther("100"));
// The least a consumer can be (mocks/SwitchConsumer.sol): its request is `_requestInference` and
// an event, so what the request costs beyond the market's is the router's and the call's alone.
const switchArtifact = loadArtifact("SwitchConsumer");
const minimal = (
  await f.publicClient.waitForTransactionReceipt({
    hash: await owner.deployContract({
      abi: switchArtifact.abi,
      bytecode: switchArtifact.bytecode,
      args: [routerAddress],
    }),
  })
).contractAddress!;
await networkHelpers.setBalance(minimal, parseEther("100"));

async function receipt(hash: Hash) {
  const r = await f.publicClient.waitForTransactionReceipt({ hash });
  if (r.status !== "success") throw new Error(`transaction ${hash} reverted`);
  return r;
}

async function submitFrame(
  k: number,
  via: "gate" | "minimal" = "gate",
): Promise<{ jobId: bigint; job: Job; gas: bigint }> {
  const now = Number((await f.publicClient.getBlock()).timestamp);
  const request = {
    modelId: MODEL_ID,
    version: 0,
    redundancy: k,
    feePerProvider: parseEther("0.01"),
    token: "0x0000000000000000000000000000000000000000" as Hex,
    deadline: now + 600,
    requiredTags: 1n,
    input: "0x0102030405" as Hex,
    inputCid: "",
  };
  const r = await receipt(
    via === "gate"
      ? await owner.writeContract({
          address: gate,
          abi: gateArtifact.abi,
          functionName: "submitFrame",
          args: ["0x0102030405", "", k, parseEther("0.01"), now + 600],
          gas: 1_000_000n,
        })
      : await owner.writeContract({
          address: minimal,
          abi: switchArtifact.abi,
          functionName: "request",
          args: [request, CALLBACK_GAS, CAP],
          gas: 1_000_000n,
        }),
  );
  const [ev] = parseEventLogs({ abi: loadArtifact("InferenceMarket").abi, logs: r.logs, eventName: "JobRequested" });
  const jobId = ev!.args.jobId;
  const job = jobOfWords(ev!.args.job);
  return { jobId, job, gas: r.gasUsed };
}

/** router.fulfill by the fulfiller; returns the transaction's gas, the callback's and the gas reimbursed. */
async function fulfil(
  jobId: bigint,
  job: Job,
  provider: Hex,
  outputsArg: Hex,
): Promise<{ fulfil: bigint; callback: bigint; reimbursed: bigint }> {
  const required = await f.publicClient.readContract({
    address: routerAddress,
    abi: routerAbi,
    functionName: "requiredGas",
    args: [BigInt(CALLBACK_GAS)],
  });
  const r = await receipt(
    await fulfiller.writeContract({
      address: routerAddress,
      abi: routerAbi,
      functionName: "fulfill",
      args: [jobId, jobWords(job), provider, RESULT, outputsArg],
      gas: required + 150_000n,
      gasPrice: 5n * 10n ** 9n,
    }),
  );
  const [ev] = parseEventLogs({ abi: routerAbi, logs: r.logs, eventName: "CallbackDelivered" });
  if (!ev) throw new Error("the callback did not return");
  const [paid] = parseEventLogs({ abi: routerAbi, logs: r.logs, eventName: "CallbackReimbursed" });
  return { fulfil: r.gasUsed, callback: ev.args.gasUsed, reimbursed: paid!.args.gas };
}

async function k1(outputsArg: Hex, via: "gate" | "minimal" = "gate") {
  const { jobId, job, gas: request } = await submitFrame(1, via);
  const delivery = (await receipt(await f.as(p1).market.write.submitResult([jobId, jobWords(job), RESULT, REF])))
    .gasUsed;
  await networkHelpers.time.increase(job.challengeWindow + 1);
  const { fulfil: fulfilled, callback, reimbursed } = await fulfil(jobId, job, p1.account.address, outputsArg);
  return { request, delivery, fulfil: fulfilled, callback, reimbursed };
}

async function k3(outputsArg: Hex) {
  const { jobId, job, gas: request } = await submitFrame(3);
  const salt = keccak256(toHex("salt"));
  let delivery = 0n;
  for (const p of [p1, p2, p3])
    delivery += (
      await receipt(
        await f.as(p).market.write.commit([jobId, jobWords(job), commitmentOf(jobId, p.account.address, RESULT, salt)]),
      )
    ).gasUsed;
  for (const [i, p] of [p1, p2, p3].entries())
    delivery += (await receipt(await f.as(p).market.write.reveal([jobId, jobWords(job), i, RESULT, salt, REF])))
      .gasUsed;
  const {
    fulfil: fulfilled,
    callback,
    reimbursed,
  } = await fulfil(jobId, job, "0x0000000000000000000000000000000000000000", outputsArg);
  return { request, delivery, fulfil: fulfilled, callback, reimbursed };
}

// Warm up: the fulfiller's and the consumer's credits exist, as in steady operation. The first
// fulfil is also both first credits (fresh slots).
const first = await k1(PREIMAGE);
await k3(PREIMAGE);
const rows = { "k = 1": await k1(PREIMAGE), "k = 3": await k3(PREIMAGE) };
const hashOnly = { "k = 1": await k1("0x"), "k = 3": await k3("0x") };
await k1(PREIMAGE, "minimal"); // its first fulfil writes its first router credit
const viaMinimal = await k1(PREIMAGE, "minimal");
/** The same k = 1 job with no consumer and no callback: the market's request and submit alone. */
async function plainK1(): Promise<bigint> {
  const req = await requestJob(f, { fee: parseEther("0.01") });
  const submit = await receipt(await f.as(p1).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF]));
  return (await receipt(req.hash)).gasUsed + submit.gasUsed;
}
const plain = await plainK1();

const overhead = (r: { request: bigint; delivery: bigint; fulfil: bigint; callback: bigint }) =>
  r.request + r.delivery + r.fulfil - r.callback;
const fmt = (n: bigint | number) => Number(n).toLocaleString("en-US");
const line = (label: string, a: string, b: string, note = "") =>
  console.log(`${label.padEnd(64)} ${a.padStart(10)} ${b.padStart(10)}  ${note}`);
console.log(
  `\nGas around a consumer callback (Hardhat in-process network, real transactions; SpeechGate, ${preimage.byteLength}-byte silero-vad-v5 preimage)\n`,
);
line("", "k = 1", "k = 3");
line(
  "request (SpeechGate: market request + router deposit + record)",
  fmt(rows["k = 1"].request),
  fmt(rows["k = 3"].request),
);
line(
  "delivery (k = 1 submitResult; k = 3 three commits + reveals)",
  fmt(rows["k = 1"].delivery),
  fmt(rows["k = 3"].delivery),
);
line("fulfil (router.fulfill with the outputs inline)", fmt(rows["k = 1"].fulfil), fmt(rows["k = 3"].fulfil));
line("callback's own gas (SpeechGate._fulfill)", fmt(rows["k = 1"].callback), fmt(rows["k = 3"].callback));
line(
  "fulfil − callback",
  fmt(rows["k = 1"].fulfil - rows["k = 1"].callback),
  fmt(rows["k = 3"].fulfil - rows["k = 3"].callback),
);
line("overhead: request + delivery + fulfil − callback", fmt(overhead(rows["k = 1"])), fmt(overhead(rows["k = 3"])));
line("overhead, hash-only fulfil (empty outputs)", fmt(overhead(hashOnly["k = 1"])), fmt(overhead(hashOnly["k = 3"])));
const headroom = await f.publicClient.readContract({
  address: routerAddress,
  abi: routerAbi,
  functionName: "FULFIL_OVERHEAD",
});
console.log(
  `\nReimbursement: the gas the router measured (CallbackReimbursed) beside the fulfil's receipt; deposit headroom FULFIL_OVERHEAD ${fmt(headroom)}\n`,
);
line("", "receipt", "reimbursed");
const reimbursedLine = (label: string, r: { fulfil: bigint; reimbursed: bigint }) =>
  line(
    label,
    fmt(r.fulfil),
    fmt(r.reimbursed),
    r.reimbursed === r.fulfil ? "exact" : `${fmt(r.reimbursed - r.fulfil)}`,
  );
reimbursedLine("k = 1 fulfil, inline, first credits (two fresh slots)", first);
reimbursedLine("k = 1 fulfil, inline, warm credits", rows["k = 1"]);
reimbursedLine("k = 3 fulfil, inline, warm credits", rows["k = 3"]);
reimbursedLine("k = 1 fulfil, hash only (result kept for a retry)", hashOnly["k = 1"]);
reimbursedLine("k = 3 fulfil, hash only (result kept for a retry)", hashOnly["k = 3"]);
const target = 100_000n;
const k1Overhead = overhead(rows["k = 1"]);
const minimalOverhead = overhead(viaMinimal);
console.log(`\nThe k = 1 overhead with the least consumer (mocks/SwitchConsumer.sol: its request is the market's request, the router's deposit and one event):
  request ${fmt(viaMinimal.request)}, delivery ${fmt(viaMinimal.delivery)}, fulfil − callback ${fmt(viaMinimal.fulfil - viaMinimal.callback)}: overhead ${fmt(minimalOverhead)}
  the same job with no consumer (the market's request + submitResult): ${fmt(plain)}; what the callback adds to it: ${fmt(minimalOverhead - plain)}
  the market's k = 1 job alone is above the target: its fixed costs (intrinsic gas, fresh slots, cold reads, events, calldata) are 100,681 (bench-gas-trace.ts, docs/market-v2.md §8.5)`);
console.log(`\nfor comparison:
  Chainlink Functions, documented fulfilment overhead:   185,000 (its fulfilment alone, not counting the request)
  Infernet (issue 11), request + delivery:               248,103 unpaid / 338,986 paid in ETH
  target, k = 1 overhead:                              ≤ 100,000 → ${k1Overhead <= target ? "MET" : "MISS"} (${fmt(k1Overhead)}; ${fmt(overhead(hashOnly["k = 1"]))} hash only; ${fmt(minimalOverhead)} with the least consumer)`);
