import { toHex, type Hex } from "viem";
import { mnemonicToAccount, type HDAccount } from "viem/accounts";

/** The development mnemonic: the accounts local nodes (Anvil, Hardhat) fund by default. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/**
 * Which development account plays which part on the local network. The guardian is an account of
 * its own: the deployer keeps no role, and a guardian that is also a member would blur the two.
 */
export const DEV_ROLES = {
  deployer: 0,
  members: [1, 2, 3],
  providers: [4, 5, 6],
  clients: [7, 8, 9],
  guardian: 24,
} as const;

export const devAccount = (i: number): HDAccount => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i });
export const devKey = (i: number): Hex => toHex(devAccount(i).getHdKey().privateKey!);
