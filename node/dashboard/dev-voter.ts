import type { Chain, PublicClient, Transport } from "viem";
import { walletFor } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import type { DeploymentRecord } from "../chain/deployment.ts";
import { DEV_ROLES, devAccount } from "../devnet/accounts.ts";
import type { DevVoter } from "./server.ts";

/** The development accounts offered by the page's account picker: the local DAO's members. */
export function devAccountList(): { index: number; address: `0x${string}`; role: string }[] {
  return DEV_ROLES.members.map((index) => ({ index, address: devAccount(index).address, role: "DAO member" }));
}

/**
 * Signs votes for the local network's development accounts (the well-known mnemonic): stands in
 * for a browser wallet on 127.0.0.1. Only DAO member accounts are accepted; the caller offers it
 * only on the local chain (31337) and on a loopback address.
 */
export function createDevVoter(d: {
  rpcUrl: string;
  chain: Chain;
  record: DeploymentRecord;
  publicClient: PublicClient<Transport, Chain>;
}): DevVoter {
  const allowed = new Set<number>(DEV_ROLES.members);
  return {
    async vote(account, proposalId, support) {
      if (!allowed.has(account))
        throw new Error(`development account ${account} is not a DAO member (members: ${[...allowed].join(", ")})`);
      const wallet = walletFor(d.rpcUrl, d.chain, devAccount(account));
      const { governor } = conclaveContracts(d.record, wallet);
      const hash = await governor.write.castVote([proposalId, support]);
      const receipt = await d.publicClient.waitForTransactionReceipt({ hash });
      if (receipt.status !== "success") throw new Error(`the vote transaction ${hash} reverted`);
      return { txHash: hash };
    },
  };
}
