/**
 * The runner's account, its transactions and hashes signed by libsecp256k1 (the `secp256k1`
 * package's native binding) rather than viem's JavaScript signer. A runner signs a transaction for
 * every commit, reveal and batch: in the fleet burst viem's signer took 10-14 % of a runner's CPU
 * (about 0.5-0.8 ms a signature on 2 cores, against 0.05-0.07 ms native). Both sign by RFC 6979
 * with a low s, so the same key and message give the same bytes (tested). Where the binding cannot
 * load (no prebuilt binary for the platform), viem's signer signs, as before.
 */
import { createRequire } from "node:module";
import { bytesToHex, hexToBytes, serializeTransaction, type Hex, type LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { keccakHex } from "../attest/keccak.ts";

/** The part of the `secp256k1` package's binding used here (its own argument checks included). */
interface NativeSigner {
  ecdsaSign(hash: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
}

/** The native binding, or null where it does not load. */
export function loadNativeSigner(): NativeSigner | null {
  try {
    return createRequire(import.meta.url)("secp256k1/bindings") as NativeSigner;
  } catch {
    return null;
  }
}

/** The account of `privateKey`, signing its transactions with `native` when there is one. */
export function signingAccount(privateKey: Hex, native: NativeSigner | null = loadNativeSigner()): LocalAccount {
  const account = privateKeyToAccount(privateKey);
  if (native === null) return account;
  const key = hexToBytes(privateKey);
  const signTransaction = async (
    transaction: Parameters<typeof serializeTransaction>[0],
    { serializer = serializeTransaction }: { serializer?: typeof serializeTransaction } = {},
  ): Promise<Hex> => {
    // As viem's signTransaction: a blob transaction signs its payload without the sidecars.
    const signable = transaction.type === "eip4844" ? { ...transaction, sidecars: false as const } : transaction;
    const hash = keccakHex(await serializer(signable));
    const { signature, recid } = native.ecdsaSign(hexToBytes(hash), key);
    return serializer(transaction, {
      r: bytesToHex(signature.subarray(0, 32)),
      s: bytesToHex(signature.subarray(32, 64)),
      v: recid === 1 ? 28n : 27n,
      yParity: recid,
    });
  };
  // A hash (the runner's EIP-712 attestations, served to clients): r, s, then v as 27 or 28, as viem's.
  const sign = async ({ hash }: { hash: Hex }): Promise<Hex> => {
    const { signature, recid } = native.ecdsaSign(hexToBytes(hash), key);
    return bytesToHex(Uint8Array.of(...signature, recid === 1 ? 28 : 27));
  };
  return { ...account, sign, signTransaction: signTransaction as LocalAccount["signTransaction"] };
}
