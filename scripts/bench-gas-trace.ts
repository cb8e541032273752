// Where a k = 1 job's gas goes: the request and the submit traced opcode by opcode
// (debug_traceTransaction), summed by kind. The fixed part (intrinsic gas, calldata, storage,
// logs, hashing) is the floor of the market's design; "other" is the Solidity code executed around
// it. Figures are printed to compare; nothing is asserted. Run: npm run bench:gas
import { keccak256, parseEther, toHex, type Hash } from "viem";
import { jobWords } from "../node/attest/job-words.ts";
import type { Wallet } from "../node/chain/clients.ts";
import { marketFixture, requestJob } from "../test/helpers/market-fixture.ts";

interface Step {
  op: string;
  gasCost: number;
  depth: number;
}

const FIXED = /^(SLOAD|SSTORE|LOG\d|KECCAK256|TSTORE|TLOAD)$/;

const f = await marketFixture();
const [p1] = f.providers as [Wallet];
const RESULT = keccak256(toHex("result"));
const REF = toHex("ipfs://bafkreioutput");

/** The transaction's gas by kind: intrinsic, calldata, each fixed opcode kind, and the rest. */
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
    ["calldata bytes", bytes.length],
  ]);
  for (const s of structLogs) {
    // A call's own opcodes are the callee's code: none on these paths since the provider word.
    const kind = s.depth > 1 ? "in calls" : FIXED.test(s.op) ? s.op : "other (Solidity)";
    out.set(kind, (out.get(kind) ?? 0) + s.gasCost);
  }
  return out;
}

// Warm up: the provider's stake is allocated and every credited account has a balance.
for (let i = 0; i < 2; i++) {
  const req = await requestJob(f, { fee: parseEther("0.01") });
  await f.as(p1).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF]);
}
const req = await requestJob(f, { fee: parseEther("0.01") });
const sub = await f.as(p1).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF]);
const rows = [await breakdown(req.hash), await breakdown(sub)];
const kinds = [...new Set(rows.flatMap((r) => [...r.keys()]))];
console.log("\nk = 1 job, ETH, priority window 0, by opcode kind (debug_traceTransaction)\n");
console.log(`${"".padEnd(22)}${"request".padStart(10)}${"submit".padStart(10)}${"both".padStart(10)}`);
for (const k of kinds) {
  const [a, b] = rows.map((r) => r.get(k) ?? 0) as [number, number];
  console.log(`${k.padEnd(22)}${String(a).padStart(10)}${String(b).padStart(10)}${String(a + b).padStart(10)}`);
}
const other = rows.reduce((sum, r) => sum + (r.get("other (Solidity)") ?? 0), 0);
// The byte count is a size, not gas: it is left out of the sums.
const used = rows.reduce((sum, r) => sum + r.get("gasUsed")!, 0);
console.log(
  `\nfixed costs (all but the Solidity code): ${used - other}; Solidity code around them: ${other}; target 100000`,
);
