import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { encodeFunctionData, getAddress, parseUnits, stringToHex, toHex, type Abi, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { connect, walletFor, type Wallet } from "../../node/chain/clients.ts";
import { conclaveContracts } from "../../node/chain/contracts.ts";
import { writeDeployment, type DeploymentRecord } from "../../node/chain/deployment.ts";
import { mined, passOnLocalChain } from "../../node/dao/proposals.ts";
import { publishModel, type Published } from "../../node/dao/publish.ts";
import { LOCAL_DEFAULTS } from "../../node/deploy/params.ts";
import { deployStack } from "../../node/deploy/stack.ts";
import { startHardhatNode, type HardhatNode } from "../../node/devnet/hardhat-node.ts";
import type { ContentStore } from "../../node/ipfs/content-store.ts";
import { createHeliaStore } from "../../node/ipfs/helia-store.ts";
import { SAMPLE_MODELS } from "../../node/models/samples.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const MNEMONIC = "test test test test test test test test test test test junk";

/** Hardhat's well-known development accounts: 0 deployer, 1-3 DAO members, 4-6 providers, 7-8 clients. */
export const devAccount = (i: number) => mnemonicToAccount(MNEMONIC, { addressIndex: i });
export const devKey = (i: number): Hex => toHex(devAccount(i).getHdKey().privateKey!);

export interface Devnet {
  node: HardhatNode;
  record: DeploymentRecord;
  deploymentFile: string;
  publicClient: Awaited<ReturnType<typeof connect>>["publicClient"];
  wallet: (i: number) => Wallet;
  publisher: ContentStore;
  models: Record<string, Published>;
  token: Address;
  stop(): Promise<void>;
}

/**
 * A whole local network for end-to-end tests: a Hardhat JSON-RPC node on 127.0.0.1, the stack
 * deployed, the sample models added to a publisher's Helia node and voted in by the DAO, and
 * three providers registered, staked and approved by a real governance vote.
 */
export async function startDevnet(opts: { providers?: number[]; params?: Partial<typeof LOCAL_DEFAULTS> } = {}): Promise<Devnet> {
  const node = await startHardhatNode();
  const { publicClient, chain } = await connect(node.rpcUrl, { pollingIntervalMs: 20 });
  const wallet = (i: number) => walletFor(node.rpcUrl, chain, devAccount(i));
  const deployer = wallet(0);
  const members = [1, 2, 3].map(wallet);
  const providerIndexes = opts.providers ?? [4, 5, 6];

  const mock = loadArtifact("MockERC20");
  const tokenHash = await deployer.deployContract({ abi: mock.abi as Abi, bytecode: mock.bytecode, args: ["Test Dollar", "TUSD", 18] });
  const token = getAddress((await publicClient.waitForTransactionReceipt({ hash: tokenHash })).contractAddress!);

  const record = await deployStack(
    { publicClient, wallet: deployer },
    {
      ...LOCAL_DEFAULTS,
      holders: [
        ...members.map((m) => ({ address: m.account.address, amount: parseUnits("300000", 18) })),
        ...providerIndexes.map((i) => ({ address: devAccount(i).address, amount: parseUnits("10000", 18) })),
      ],
      paymentTokens: [token],
      ...opts.params,
    },
  );
  const dir = mkdtempSync(path.join(tmpdir(), "conclave-devnet-"));
  const deploymentFile = writeDeployment(dir, record);

  for (const m of members) await mined(publicClient, conclaveContracts(record, m).token.write.delegate([m.account.address]));
  const publisher = await createHeliaStore();
  const models: Record<string, Published> = {};
  for (const sample of SAMPLE_MODELS) {
    models[sample.name] = await publishModel({
      publicClient,
      record,
      publisher: members[0]!,
      content: publisher,
      model: { name: sample.name, weights: sample.onnx(), schema: sample.schema, runtime: sample.runtime, outputQuantum: sample.outputQuantum, minMemoryMB: sample.minMemoryMB, minFee: 0n },
    });
  }
  const registry = record.contracts.ProviderRegistry!.address;
  for (const i of providerIndexes) {
    const p = conclaveContracts(record, wallet(i));
    await mined(publicClient, p.token.write.approve([registry, parseUnits("1000", 18)]));
    await mined(
      publicClient,
      p.providers.write.register([parseUnits("1000", 18), { memoryMB: 8192, accelerator: stringToHex("cpu", { size: 32 }), region: stringToHex("local", { size: 32 }), tags: 1n }, `http://provider-${i}`]),
    );
  }
  const modelsAbi = loadArtifact("ModelRegistry").abi as Abi;
  const providersAbi = loadArtifact("ProviderRegistry").abi as Abi;
  await passOnLocalChain({
    publicClient,
    record,
    members,
    description: "Activate the sample models and approve the first providers",
    actions: [
      ...Object.values(models).map((m) => ({
        target: record.contracts.ModelRegistry!.address,
        data: encodeFunctionData({ abi: modelsAbi, functionName: "activateVersion", args: [m.modelId, m.version] }),
      })),
      ...providerIndexes.map((i) => ({
        target: registry,
        data: encodeFunctionData({ abi: providersAbi, functionName: "approveProvider", args: [devAccount(i).address] }),
      })),
    ],
  });
  return {
    node,
    record,
    deploymentFile,
    publicClient,
    wallet,
    publisher,
    models,
    token,
    stop: async () => {
      await publisher.stop();
      await node.stop();
    },
  };
}

export interface RunnerProcess {
  index: number;
  address: Address;
  http: string;
  ipfs: string[];
  dataDir: string;
  configFile: string;
  process: ChildProcess;
  logs: string[];
  /** Resolves when the process exited. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Writes a runner config for provider account `index` (its own data dir, journal and Helia node). */
export function runnerConfig(net: Devnet, index: number, overrides: Record<string, unknown> = {}, dataDir?: string): { file: string; dataDir: string } {
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), `conclave-runner-${index}-`));
  const file = path.join(dir, "runner.json");
  writeFileSync(
    file,
    JSON.stringify({
      rpcUrl: net.node.rpcUrl,
      deployment: net.deploymentFile,
      dataDir: dir,
      pollIntervalMs: 20,
      ipfs: { peers: net.publisher.multiaddrs(), fetchTimeoutMs: 20_000 },
      minFee: { ETH: "0", [net.token]: "0" },
      payouts: { intervalMs: 600_000 },
      tx: { confirmTimeoutMs: 10_000 },
      ...overrides,
    }),
  );
  return { file, dataDir: dir };
}

/** Starts `conclave node run` as its own process, as a provider would, and waits until it is up. */
export async function spawnRunner(net: Devnet, index: number, config = runnerConfig(net, index)): Promise<RunnerProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, "node", "cli.ts"), "node", "run", "--config", config.file], {
    cwd: ROOT,
    env: { ...process.env, CONCLAVE_PROVIDER_KEY: devKey(index), CONCLAVE_LOG_LEVEL: process.env.CONCLAVE_TEST_LOG_LEVEL ?? "info", NODE_NO_WARNINGS: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on("line", (l) => logs.push(l));
  const ready = await new Promise<{ provider: Address; http: string; ipfs: string[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runner ${index} did not start:\n${logs.slice(-20).join("\n")}`)), 60_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; provider: Address; http: string; ipfs: string[] };
        if (msg.event === "ready") {
          clearTimeout(timer);
          resolve(msg);
        }
      } catch {
        logs.push(line);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`runner ${index} exited with ${code}:\n${logs.slice(-20).join("\n")}`));
    });
  });
  return {
    index,
    address: ready.provider,
    http: ready.http,
    ipfs: ready.ipfs,
    dataDir: config.dataDir,
    configFile: config.file,
    process: child,
    logs,
    exited,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}
