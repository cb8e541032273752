#!/usr/bin/env node
// Starts a local Conclave network: a Hardhat JSON-RPC node on 127.0.0.1, the deployed stack with
// a DAO of local accounts, and prints where everything is. Stays up until Ctrl-C.
import path from "node:path";
import { parseArgs } from "node:util";
import { parseUnits } from "viem";
import { connect, unlockedAccounts, walletFor } from "../node/chain/clients.ts";
import { writeDeployment } from "../node/chain/deployment.ts";
import { LOCAL_DEFAULTS } from "../node/deploy/params.ts";
import { labelAddress, readRoles } from "../node/deploy/roles.ts";
import { deployStack } from "../node/deploy/stack.ts";
import { startHardhatNode } from "../node/devnet/hardhat-node.ts";
import { oneLine } from "../node/errors.ts";

const HELP = `Usage: npm start [-- --port <n>]

Starts a Hardhat JSON-RPC node on 127.0.0.1:<port> (default 8545), deploys the Conclave contracts
with a DAO of the node's first four accounts, writes deployments/31337.json and stays up until Ctrl-C.`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: "string", default: "8545" }, help: { type: "boolean", short: "h" } } });
  if (values.help) return void console.log(HELP);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port must be 1..65535, got ${values.port}`);

  console.log(`starting Hardhat node on 127.0.0.1:${port} ...`);
  const node = await startHardhatNode({ port });
  const stop = async () => {
    console.log("\nstopping ...");
    await node.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);

  const { publicClient, chain } = await connect(node.rpcUrl);
  const accounts = await unlockedAccounts(node.rpcUrl, chain);
  const [deployer, ...members] = accounts;
  const holders = members.slice(0, 3).map((a, i) => ({ address: a.address, amount: parseUnits(String([400_000, 300_000, 200_000][i]), 18) }));
  console.log("deploying contracts ...");
  const record = await deployStack(
    { publicClient, wallet: walletFor(node.rpcUrl, chain, deployer!), log: (l) => console.log(`  ${l}`) },
    { ...LOCAL_DEFAULTS, holders },
  );
  const file = writeDeployment(path.resolve("deployments"), record);

  console.log("\nroles:");
  for (const { contract, role, holders: who } of await readRoles(publicClient, record)) {
    console.log(`  ${contract}.${role}: ${who.map((h) => labelAddress(record, h, { deployer: deployer!.address })).join(", ")}`);
  }
  console.log(`\nConclave local network is up.
  RPC (HTTP):       ${node.rpcUrl}
  RPC (WebSocket):  ${node.wsUrl}
  chain id:         ${record.chainId}
  deployment file:  ${file}
  DAO members:      ${holders.map((h) => h.address).join(", ")}
Press Ctrl-C to stop.`);
}

main().catch((error: unknown) => {
  console.error(`start: ${oneLine(error)}`);
  process.exit(1);
});
