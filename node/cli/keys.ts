import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Hex, LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { LOCAL_CHAIN_ID } from "../chain/clients.ts";
import { devAccount } from "../devnet/accounts.ts";
import { DEV_ACCOUNT_COUNT } from "../devnet/anvil-node.ts";
import { FatalError, oneLine } from "../errors.ts";

/** No usable key: none configured, a bad keystore file, or a wrong password. */
export class KeyError extends FatalError {
  readonly code = "KEY_INVALID";
}

export const KEY_ENV = {
  key: "CONCLAVE_KEY",
  keystore: "CONCLAVE_KEYSTORE",
  password: "CONCLAVE_KEYSTORE_PASSWORD",
} as const;

export interface KeyFlags {
  keystore?: string;
  devAccount?: string;
}

/**
 * The account that signs: `--keystore FILE` (ethers' encrypted JSON keystore), else the
 * CONCLAVE_KEY environment variable, else CONCLAVE_KEYSTORE, else — on a local chain only —
 * `--dev-account N`, one of the node's public development accounts. A key is never printed.
 */
export async function resolveAccount(
  flags: KeyFlags,
  chainId: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LocalAccount> {
  const keystore = flags.keystore ?? (env[KEY_ENV.key] ? undefined : env[KEY_ENV.keystore]);
  if (keystore) return decryptKeystore(keystore, await password(keystore, env));
  if (flags.devAccount !== undefined) {
    if (chainId !== LOCAL_CHAIN_ID)
      throw new KeyError(`--dev-account works on the local chain (${LOCAL_CHAIN_ID}) only, this is chain ${chainId}`);
    const n = Number(flags.devAccount);
    // Every account the local network funds, the guardian (DEV_ROLES.guardian) included.
    if (!Number.isInteger(n) || n < 0 || n >= DEV_ACCOUNT_COUNT)
      throw new KeyError(`--dev-account must be 0..${DEV_ACCOUNT_COUNT - 1}, got ${flags.devAccount}`);
    return devAccount(n);
  }
  const key = env[KEY_ENV.key];
  if (key) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new KeyError(`${KEY_ENV.key} is not a 0x-prefixed 32-byte hex key`);
    return privateKeyToAccount(key as Hex);
  }
  throw new KeyError(
    `no key: pass --keystore FILE, or set ${KEY_ENV.key} or ${KEY_ENV.keystore}${chainId === LOCAL_CHAIN_ID ? ", or use --dev-account N on this local chain" : ""}`,
  );
}

export async function decryptKeystore(file: string, pass: string): Promise<LocalAccount> {
  return privateKeyToAccount(await decryptKeystoreKey(file, pass));
}

/**
 * The raw key in a keystore, for a long-running process that must build its own account (the
 * node runner); commands that only sign use `decryptKeystore`.
 */
export async function decryptKeystoreKey(file: string, pass: string): Promise<Hex> {
  if (!existsSync(file)) throw new KeyError(`keystore ${file} does not exist`);
  let json: string;
  try {
    json = readFileSync(file, "utf8");
    JSON.parse(json);
  } catch {
    throw new KeyError(`keystore ${file} is not a JSON keystore`);
  }
  try {
    const wallet = await (await keystoreWallet()).fromEncryptedJson(json, pass);
    return wallet.privateKey as Hex;
  } catch (error) {
    if (/password/i.test((error as Error).message)) throw new KeyError(`wrong password for keystore ${file}`);
    throw new KeyError(`cannot read keystore ${file}: ${oneLine(error)}`);
  }
}

/** Encrypts a key into a keystore file (scrypt, ethers' default parameters); returns the address. */
export async function writeKeystore(file: string, privateKey: Hex | undefined, pass: string): Promise<string> {
  if (existsSync(file)) throw new KeyError(`${file} exists; not overwriting a keystore`);
  if (pass.length < 8) throw new KeyError("a keystore password needs at least 8 characters");
  const wallet = new (await keystoreWallet())(privateKey ?? generatePrivateKey());
  writeFileSync(file, await wallet.encrypt(pass), { mode: 0o600 });
  return wallet.address;
}

/** ethers, loaded only when a keystore is read or written: every command would pay its import otherwise. */
async function keystoreWallet() {
  return (await import("ethers")).Wallet;
}

/** The keystore password: CONCLAVE_KEYSTORE_PASSWORD, else asked on the terminal without echo. */
export async function password(what: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env[KEY_ENV.password];
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY)
    throw new KeyError(`keystore ${what} needs a password: set ${KEY_ENV.password} (no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // Typed characters are not echoed: only the prompt is written.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.includes("password")) process.stderr.write(s);
  };
  try {
    return await new Promise<string>((resolve) => rl.question(`password for ${what}: `, resolve));
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}
