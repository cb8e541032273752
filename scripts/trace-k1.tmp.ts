import { keccak256, parseEther, toHex, type Hash } from "viem";
import { CAPS, ETH, marketFixture, requestJob } from "../test/helpers/market-fixture.ts";
import { jobWords } from "../node/attest/job-words.ts";
import type { Wallet } from "../node/chain/clients.ts";
import { networkHelpers } from "../test/helpers/hardhat-stack.ts";
void CAPS; void networkHelpers;
const f = await marketFixture();
const [p1] = f.providers as [Wallet];
const RESULT = keccak256(toHex("result"));
const REF = toHex("ipfs://bafkreioutput");
type Log = { op: string; gasCost: number; depth: number; gas: number };
async function trace(label: string, hash: Hash) {
  const rc = await f.publicClient.waitForTransactionReceipt({ hash });
  const tx = await f.publicClient.getTransaction({ hash });
  const data = tx.input.slice(2);
  let cd = 0;
  for (let i = 0; i < data.length; i += 2) cd += data.slice(i, i + 2) === "00" ? 4 : 16;
  const r = (await f.publicClient.request({
    method: "debug_traceTransaction" as never,
    params: [hash, { disableStorage: true, disableMemory: true, disableStack: true }] as never,
  })) as { structLogs: Log[] };
  const by = new Map<string, number>();
  let steps = 0;
  for (const l of r.structLogs) {
    if (l.depth !== 1) { by.set("(inner call ops)", (by.get("(inner call ops)") ?? 0) + l.gasCost); continue; }
    steps++;
    const k = /^(SLOAD|SSTORE|LOG\d|KECCAK256|CALL|STATICCALL|DELEGATECALL|TSTORE|TLOAD|MCOPY|CALLDATACOPY)$/.test(l.op) ? l.op : "other";
    by.set(k, (by.get(k) ?? 0) + l.gasCost);
  }
  console.log(`\n${label}: gasUsed ${rc.gasUsed}, intrinsic 21000 + calldata ${cd} (${data.length / 2} B), depth-1 steps ${steps}`);
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(18)} ${v}`);
}
for (let i = 0; i < 2; i++) {
  const req = await requestJob(f, { fee: parseEther("0.01"), token: ETH });
  const sub = await f.as(p1).market.write.submitResult([req.jobId, jobWords(req.job), RESULT, REF]);
  if (i === 1) { await trace("request", req.hash); await trace("submit", sub); }
}
