import type { Snapshot } from "./types.ts";

/** Whoever signs a vote: a browser wallet (EIP-1193) or, on the local network, a development account. */
export interface Voter {
  label: string;
  vote(proposalId: string, support: number): Promise<string>;
}

interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

/** The browser wallet the page finds (window.ethereum), if any. */
export const injected = (): Eip1193 | null => (window as unknown as { ethereum?: Eip1193 }).ethereum ?? null;

const word = (v: bigint) => v.toString(16).padStart(64, "0");
/** Calldata of Governor.castVote(uint256 proposalId, uint8 support); selector 0x56781388. */
const castVoteData = (proposalId: string, support: number) =>
  `0x56781388${word(BigInt(proposalId))}${word(BigInt(support))}`;

/** Asks the wallet for an account on the snapshot's chain; the vote is a plain transaction to the governor. */
export async function walletVoter(eth: Eip1193, s: Snapshot): Promise<Voter> {
  const [from] = (await eth.request({ method: "eth_requestAccounts" })) as string[];
  if (!from) throw new Error("the wallet gave no account");
  const chainId = `0x${s.chainId.toString(16)}`;
  if ((await eth.request({ method: "eth_chainId" })) !== chainId)
    await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  return {
    label: `wallet ${from.slice(0, 10)}…`,
    vote: async (proposalId, support) =>
      (await eth.request({
        method: "eth_sendTransaction",
        params: [{ from, to: s.wallet.governor, data: castVoteData(proposalId, support) }],
      })) as string,
  };
}

/** A development account of the local network: the dashboard process signs (127.0.0.1 only). */
export function devVoter(index: number, address: string): Voter {
  return {
    label: `dev account ${index} (${address.slice(0, 10)}…)`,
    async vote(proposalId, support) {
      const res = await fetch("api/dev-vote", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ account: index, proposalId, support }),
      });
      const body = (await res.json()) as { txHash?: string; error?: string };
      if (!res.ok || !body.txHash) throw new Error(body.error ?? `HTTP ${res.status}`);
      return body.txHash;
    },
  };
}
