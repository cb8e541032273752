#!/usr/bin/env node
// Deploys the Conclave stack to any JSON-RPC endpoint and writes deployments/<chainId>.json.
import { parseArgs } from "node:util";
import path from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { zeroAddress, type Account, type Hex } from "viem";
import { loadArtifact } from "../node/chain/artifacts.ts";
import { connect, unlockedAccounts, walletFor } from "../node/chain/clients.ts";
import { contractAddress, writeDeployment } from "../node/chain/deployment.ts";
import { ConfigError, oneLine } from "../node/errors.ts";
import { PARAM_KEYS, resolveDeployParams } from "../node/deploy/params.ts";
import { labelAddress, readRoles } from "../node/deploy/roles.ts";
import { deployStack } from "../node/deploy/stack.ts";

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const HELP = `Usage: npm run deploy -- --rpc <url> [--params <file>] [--out <dir>] [--<param> <value>]...

Deploys ConclaveToken, ConclaveTimelock, ConclaveGovernor, GuardianVeto, ModelRegistry,
ProviderRegistry and InferenceMarket, hands every admin role to the timelock, checks on chain that
the deployer kept none, writes <out>/<chainId>.json and prints who holds each role.

On any chain but a local one (31337, 1337), --holders and --guardian (an address, or none) are
required, and --proposal-threshold defaults to 0.1 % of the supply and may not be 0. The guardian
is never the deployer.

  --rpc <url>        JSON-RPC endpoint (http(s):// or ws(s)://), e.g. http://127.0.0.1:8545
  --params <file>    JSON file of parameters (flags win over the file)
  --out <dir>        where the deployment record goes (default: deployments)
  --key-env <VAR>    environment variable holding the deployer's private key
                     (default DEPLOYER_PRIVATE_KEY; if unset, the node's first unlocked account)
  -h, --help         this text

Parameters (file keys in camelCase, flags in kebab-case; durations in seconds, amounts in tokens):
${PARAM_KEYS.map((k) => `  --${kebab(k)}`).join("\n")}
  holders: "0xabc…:1000,0xdef…:500" as a flag, or [{"address","amount"}] in the file`;

async function main(): Promise<void> {
  const paramOptions = Object.fromEntries(PARAM_KEYS.map((k) => [kebab(k), { type: "string" as const }]));
  const { values } = parseArgs({
    options: {
      rpc: { type: "string" },
      params: { type: "string" },
      out: { type: "string", default: "deployments" },
      "key-env": { type: "string", default: "DEPLOYER_PRIVATE_KEY" },
      help: { type: "boolean", short: "h" },
      ...paramOptions,
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.rpc) throw new ConfigError("--rpc <url> is required (see --help)");
  const flags = Object.fromEntries(PARAM_KEYS.map((k) => [k, (values as Record<string, unknown>)[kebab(k)]]));
  const params = resolveDeployParams(values.params, flags);

  const { publicClient, chain } = await connect(values.rpc);
  const account = await deployerAccount(values["key-env"]!, () => unlockedAccounts(values.rpc!, chain));
  const wallet = walletFor(values.rpc, chain, account);
  console.log(`deploying to chain ${chain.id} at ${values.rpc} from ${account.address}`);

  const record = await deployStack({ publicClient, wallet, log: (l) => console.log(`  ${l}`) }, params);
  const file = writeDeployment(path.resolve(values.out!), record);
  console.log(`wrote ${file}`);

  console.log("roles (read back from the chain):");
  for (const { contract, role, holders } of await readRoles(publicClient, record)) {
    const who = holders.map((h) => labelAddress(record, h, { deployer: account.address })).join(", ") || "nobody";
    console.log(`  ${contract}.${role}: ${who}`);
  }
  const guardian = await publicClient.readContract({
    address: contractAddress(record, "GuardianVeto"),
    abi: loadArtifact("GuardianVeto").abi,
    functionName: "guardian",
  });
  console.log(`  GuardianVeto.guardian: ${guardian === zeroAddress ? "nobody" : guardian}`);
}

async function deployerAccount(keyEnv: string, unlocked: () => Promise<Account[]>): Promise<Account> {
  const key = process.env[keyEnv];
  if (key) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new ConfigError(`${keyEnv} is not a 32-byte hex private key`);
    return privateKeyToAccount(key as Hex);
  }
  const [first] = await unlocked();
  if (!first) throw new ConfigError(`no deployer key: set ${keyEnv}, or use a node with unlocked accounts`);
  return first;
}

main().catch((error: unknown) => {
  console.error(`deploy: ${oneLine(error)}`);
  process.exit(1);
});
