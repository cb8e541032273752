import { logsToHead } from "../chain/logs.ts";
import { getAddress, type Abi, type Address, type Hex, type Log } from "viem";
import { loadArtifact, type ContractName } from "../chain/artifacts.ts";
import { contractAddress } from "../chain/deployment.ts";
import type { Session } from "./session.ts";

/** One on-chain event, decoded, in a timeline. */
export interface HistoryEntry {
  block: number;
  time: string;
  tx: Hex;
  contract: ContractName;
  event: string;
  args: Record<string, unknown>;
}

const SOURCES: ContractName[] = [
  "ConclaveGovernor",
  "ConclaveTimelock",
  "ModelRegistry",
  "ProviderRegistry",
  "InferenceMarket",
];

/**
 * Every Conclave event matching `match`, oldest first, with block times. Reads logs from each
 * contract's deployment block, so it works against any RPC that serves eth_getLogs.
 */
export async function history(
  s: Session,
  match: (e: { contract: ContractName; event: string; args: Record<string, unknown> }) => boolean,
  opts: { sameTxAs?: boolean } = {},
): Promise<HistoryEntry[]> {
  const decoded: (HistoryEntry & { logIndex: number })[] = [];
  const all: { contract: ContractName; log: Log & { eventName: string; args: Record<string, unknown> } }[] = [];
  for (const contract of SOURCES) {
    const abi = loadArtifact(contract).abi as Abi;
    const logs = await logsToHead(s.publicClient, BigInt(s.record.contracts[contract]!.block), (fromBlock, toBlock) =>
      s.publicClient.getContractEvents({ address: contractAddress(s.record, contract), abi, fromBlock, toBlock }),
    );
    for (const log of logs as unknown as (Log & { eventName: string; args: Record<string, unknown> })[])
      all.push({ contract, log });
  }
  const hit = all.filter(({ contract, log }) => match({ contract, event: log.eventName, args: log.args }));
  // Related events of the same transactions (collateral, slashing) belong to the same story.
  const txs = new Set(hit.map((h) => h.log.transactionHash));
  const chosen = opts.sameTxAs === false ? hit : all.filter((e) => txs.has(e.log.transactionHash));
  const times = new Map<bigint, string>();
  for (const { contract, log } of chosen) {
    const bn = log.blockNumber!;
    if (!times.has(bn))
      times.set(
        bn,
        new Date(Number((await s.publicClient.getBlock({ blockNumber: bn })).timestamp) * 1000).toISOString(),
      );
    decoded.push({
      block: Number(bn),
      time: times.get(bn)!,
      tx: log.transactionHash!,
      contract,
      event: log.eventName,
      args: log.args,
      logIndex: log.logIndex!,
    });
  }
  decoded.sort((a, b) => a.block - b.block || a.logIndex - b.logIndex);
  return decoded.map(({ logIndex: _, ...e }) => e);
}

export const sameAddress = (a: unknown, b: Address) =>
  typeof a === "string" && /^0x[0-9a-fA-F]{40}$/.test(a) && getAddress(a) === b;

function short(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return v.length > 46 ? `${v.slice(0, 20)}…${v.slice(-8)}` : v;
  if (Array.isArray(v)) return `[${v.map(short).join(", ")}]`;
  if (v && typeof v === "object")
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}: ${short(x)}`)
      .join(", ")}}`;
  return String(v);
}

/** A timeline as text, one event per line. */
export function timelineText(entries: HistoryEntry[]): string {
  if (entries.length === 0) return "(no events)";
  return entries
    .map(
      (e) =>
        `${e.time}  #${e.block}  ${e.contract}.${e.event}  ${Object.entries(e.args)
          .filter(([k]) => k !== "job")
          .map(([k, v]) => `${k}=${short(v)}`)
          .join(" ")}`,
    )
    .join("\n");
}
