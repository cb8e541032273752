import { existsSync } from "node:fs";
import type { Hex } from "viem";
import { RequestError, required, type Command } from "../command.ts";
import { decryptKeystore, KEY_ENV, KeyError, password, writeKeystore } from "../keys.ts";

export const keyCommands: Record<string, Command> = {
  "key new": {
    summary: "create a new key in an encrypted JSON keystore",
    usage: `--out <file>

Generates a key and writes it encrypted (ethers' JSON keystore, scrypt) to <file>. The password
comes from ${KEY_ENV.password} or is asked on the terminal. Prints the address, never the key.`,
    options: { out: { type: "string" } },
    async run(ctx) {
      const file = required(ctx, "out");
      if (existsSync(file)) throw new RequestError(`${file} exists; not overwriting a keystore`);
      const addr = await writeKeystore(file, undefined, await password(file));
      ctx.out.result({ address: addr, keystore: file }, () => `created ${file} for ${addr}`);
    },
  },
  "key import": {
    summary: `encrypt the key in ${KEY_ENV.key} into a JSON keystore`,
    usage: `--out <file>

Reads a hex key from ${KEY_ENV.key} (never from a flag, so it stays out of shell history) and writes
it encrypted to <file>.`,
    options: { out: { type: "string" } },
    async run(ctx) {
      const file = required(ctx, "out");
      const key = process.env[KEY_ENV.key];
      if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key))
        throw new KeyError(`set ${KEY_ENV.key} to the 0x-prefixed 32-byte hex key to import`);
      const addr = await writeKeystore(file, key as Hex, await password(file));
      ctx.out.result({ address: addr, keystore: file }, () => `created ${file} for ${addr}`);
    },
  },
  "key address": {
    summary: "print the address of a keystore (checks its password)",
    usage: `--keystore <file>`,
    async run(ctx) {
      const file = required(ctx, "keystore");
      const account = await decryptKeystore(file, await password(file));
      ctx.out.result({ address: account.address, keystore: file }, () => account.address);
    },
  },
};
