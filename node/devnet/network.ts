/**
 * A whole local Conclave network on one machine, for `npm start`, the benchmarks and the
 * end-to-end tests: an Anvil JSON-RPC node on 127.0.0.1 making a block every second (by default),
 * the stack deployed with a DAO of the
 * node's development accounts, the sample models added to a publisher's Helia node and voted
 * in, providers registered, staked and approved by a real governance vote, and runner processes
 * (`conclave node run`, started by node/devnet/runners.ts) serving them.
 *
 * Development accounts (the well-known "test ... junk" mnemonic), by index: 0 deployer, 1-3 DAO members,
 * 4-6 providers, 7-9 clients (see DEV_ROLES); any other index can be a provider or a client.
 */
import { eventsToHead } from "../chain/events.ts";
import { mkdirSync } from "node:fs";
import {
  encodeFunctionData,
  getAddress,
  parseUnits,
  stringToHex,
  type Abi,
  type Address,
  type Chain,
  type Hex,
} from "viem";
import { DEV_ROLES, devAccount } from "./accounts.ts";
import { loadArtifact } from "../chain/artifacts.ts";
import { connect, walletFor, type Clients, type Wallet } from "../chain/clients.ts";
import { conclaveContracts } from "../chain/contracts.ts";
import { contractAddress, readDeployment, writeDeployment, type DeploymentRecord } from "../chain/deployment.ts";
import { DeploymentError } from "../errors.ts";
import { mined, passOnLocalChain, type Action } from "../dao/proposals.ts";
import { publishModel, type Published } from "../dao/publish.ts";
import { LOCAL_DEFAULTS, type DeployParams } from "../deploy/params.ts";
import { deployStack } from "../deploy/stack.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import { createHeliaStore } from "../ipfs/helia-store.ts";
import { SAMPLE_MODELS, type SampleModel } from "../models/samples.ts";
import { startAnvil, type AnvilNode } from "./anvil-node.ts";
import { createTempDirs, type TempDirs } from "./temp-dirs.ts";
import { registeredProviders } from "../chain/providers.ts";

export interface DevnetOptions {
  /** Port of the Anvil node on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Start the Anvil node in its own process group (see AnvilOptions.ownProcessGroup). */
  ownProcessGroup?: boolean;
  /**
   * Seconds between blocks once the network is up (default 1; fractions allowed): many
   * transactions share a block and chain time keeps wall time. 0: automine, a block per
   * transaction (each stamped no earlier than the last, so a burst runs chain time ahead).
   */
  blockTimeSeconds?: number;
  /** Anvil's state file: the chain is written there when the node stops (see AnvilOptions.stateFile). */
  stateFile?: string;
  /** Development account indexes registered, staked and approved as providers (default 4, 5, 6). */
  providers?: readonly number[];
  /** Deployment parameters over LOCAL_DEFAULTS (holders and paymentTokens are filled in). */
  params?: Partial<DeployParams>;
  /** Models published and activated (default: every sample model). */
  models?: readonly SampleModel[];
  /** Where deployments/<chainId>.json is written (default: a fresh temporary directory). */
  deploymentsDir?: string;
  /** Keeps the publisher's IPFS node (blocks, identity) in this folder; in memory when absent. */
  publisherDir?: string;
  /** Polling interval of the returned public client (default 20 ms). */
  pollingIntervalMs?: number;
  /** Progress lines ("deploying contracts", governance stages...). */
  log?: (line: string) => void;
}

export interface Devnet {
  node: AnvilNode;
  chain: Chain;
  publicClient: Clients["publicClient"];
  record: DeploymentRecord;
  deploymentFile: string;
  /** A wallet for development account `i` (signs locally). */
  wallet: (i: number) => Wallet;
  /** DAO members (development accounts 1-3), who hold the votes. */
  members: Wallet[];
  /** The Helia node the models were added to; runners dial it to fetch weights. */
  publisher: ContentStore;
  models: Record<string, Published>;
  /** Provider addresses, registered and approved, in the order of `options.providers`. */
  providers: Address[];
  /** A mock ERC-20 ("TUSD") allowed as payment besides ETH. */
  token: Address;
  /**
   * Temporary folders that live as long as the network: its deployment folder when none was
   * given, and the runners' data dirs that runnerConfig makes. stop() removes them.
   */
  tempDirs: TempDirs;
  /** Stops the publisher and the node, then removes `tempDirs` unless `keepTempDirs` (a look at journals after a failed run). */
  stop(opts?: StopOptions): Promise<void>;
}

export interface StopOptions {
  keepTempDirs?: boolean;
}

/** The DAO action that activates a model's version: the network's setup, and the switches tests vote. */
export function activateAction(record: DeploymentRecord, modelId: Hex, version: number): Action {
  return {
    target: contractAddress(record, "ModelRegistry"),
    data: encodeFunctionData({
      abi: loadArtifact("ModelRegistry").abi,
      functionName: "activateVersion",
      args: [modelId, version],
    }),
  };
}

/**
 * Publishes a version of a sample model (its own weights, or `weights`) as the first DAO member,
 * with no minimum fee: the network's models, and the candidates tests and benchmarks add.
 */
export function publishSample(
  net: Pick<Devnet, "publicClient" | "record" | "members" | "publisher">,
  sample: SampleModel,
  weights: Uint8Array = sample.onnx(),
): Promise<Published> {
  return publishModel({
    publicClient: net.publicClient,
    record: net.record,
    publisher: net.members[0]!,
    content: net.publisher,
    model: {
      name: sample.name,
      weights,
      schema: sample.schema,
      runtime: sample.runtime,
      outputQuantum: sample.outputQuantum,
      minMemoryMB: sample.minMemoryMB,
      minFee: 0n,
    },
  });
}

/**
 * Starts an Anvil node, deploys, votes the models and providers in, then mines a block every
 * `blockTimeSeconds`.
 */
export async function startDevnet(opts: DevnetOptions = {}): Promise<Devnet> {
  const say = opts.log ?? (() => {});
  const blockTime = opts.blockTimeSeconds ?? 1;
  // The setup (some forty transactions, each waited for) runs with automine, so it takes seconds
  // rather than a block time per step; whole-second intervals are switched on after it over RPC.
  // Anvil takes a fractional interval only on its command line: then it applies from the start
  // (a setup at sub-second blocks is quick anyway).
  const fromStart = Number.isInteger(blockTime) ? 0 : blockTime;
  say(`starting Anvil (${blockTime > 0 ? `a block every ${blockTime} s` : "automine"}) ...`);
  const node = await startAnvil({
    ...(opts.port === undefined ? {} : { port: opts.port }),
    ...(opts.stateFile === undefined ? {} : { stateFile: opts.stateFile }),
    blockTimeSeconds: fromStart,
    ownProcessGroup: opts.ownProcessGroup,
  });
  let publisher: ContentStore | undefined;
  const tempDirs = createTempDirs();
  try {
    const { publicClient, chain } = await connect(node.rpcUrl, { pollingIntervalMs: opts.pollingIntervalMs ?? 20 });
    const wallet = (i: number) => walletFor(node.rpcUrl, chain, devAccount(i));
    const deployer = wallet(DEV_ROLES.deployer);
    const members = DEV_ROLES.members.map(wallet);
    const providerIndexes = opts.providers ?? DEV_ROLES.providers;

    say("deploying contracts ...");
    const mock = loadArtifact("MockERC20");
    const tokenHash = await deployer.deployContract({
      abi: mock.abi as Abi,
      bytecode: mock.bytecode,
      args: ["Test Dollar", "TUSD", 18],
    });
    const tokenReceipt = await publicClient.waitForTransactionReceipt({ hash: tokenHash });
    const token = getAddress(tokenReceipt.contractAddress!);
    const record = await deployStack(
      { publicClient, wallet: deployer },
      {
        ...LOCAL_DEFAULTS,
        holders: [
          ...members.map((m) => ({ address: m.account.address, amount: parseUnits("300000", 18) })),
          ...providerIndexes.map((i) => ({ address: devAccount(i).address, amount: parseUnits("10000", 18) })),
        ],
        // 18 decimals at 1 token per ETH: a version's minimum fee (wei) is the same number of
        // token base units, so fees given in whole tokens read as they did before rates.
        paymentTokens: [{ token, ratePerEth: 10n ** 18n }],
        guardian: devAccount(DEV_ROLES.guardian).address,
        ...opts.params,
      },
    );
    const dir = opts.deploymentsDir ?? tempDirs.make("conclave-devnet-");
    mkdirSync(dir, { recursive: true });
    // The test token is part of the local network: tools find it by name like the rest.
    record.contracts.TestToken = { address: token, block: Number(tokenReceipt.blockNumber) };
    const deploymentFile = writeDeployment(dir, record);
    for (const m of members)
      await mined(publicClient, conclaveContracts(record, m).token.write.delegate([m.account.address]));
    // Clients can pay in the test token as well as in ETH.
    for (const i of DEV_ROLES.clients) {
      await mined(
        publicClient,
        deployer.writeContract({
          address: token,
          abi: mock.abi as Abi,
          functionName: "mint",
          args: [devAccount(i).address, parseUnits("1000", 18)],
        }),
      );
    }

    say("publishing the models to IPFS and the ModelRegistry ...");
    publisher = await createHeliaStore(opts.publisherDir === undefined ? {} : { dir: opts.publisherDir });
    const models: Record<string, Published> = {};
    for (const sample of opts.models ?? SAMPLE_MODELS)
      models[sample.name] = await publishSample({ publicClient, record, members, publisher }, sample);

    say(`registering ${providerIndexes.length} provider(s) ...`);
    const registry = record.contracts.ProviderRegistry!.address;
    for (const i of providerIndexes) {
      const p = conclaveContracts(record, wallet(i));
      await mined(publicClient, p.token.write.approve([registry, parseUnits("1000", 18)]));
      await mined(
        publicClient,
        p.providers.write.register([
          parseUnits("1000", 18),
          {
            memoryMB: 8192,
            accelerator: stringToHex("cpu", { size: 32 }),
            region: stringToHex("local", { size: 32 }),
            tags: 1n,
          },
          `http://provider-${i}`,
        ]),
      );
    }
    const providersAbi = loadArtifact("ProviderRegistry").abi as Abi;
    await passOnLocalChain({
      publicClient,
      record,
      members,
      description: "Activate the sample models and approve the first providers",
      actions: [
        ...Object.values(models).map((m) => activateAction(record, m.modelId, m.version)),
        ...providerIndexes.map((i) => ({
          target: registry,
          data: encodeFunctionData({
            abi: providersAbi,
            functionName: "approveProvider",
            args: [devAccount(i).address, 1n],
          }),
        })),
      ],
      say: (l) => say(`  DAO: ${l}`),
    });
    if (fromStart === 0 && blockTime > 0) await node.setBlockTime(blockTime);
    const content = publisher;
    return {
      node,
      chain,
      publicClient,
      record,
      deploymentFile,
      wallet,
      members,
      publisher: content,
      models,
      providers: providerIndexes.map((i) => devAccount(i).address),
      token,
      tempDirs,
      stop: async (stopOpts = {}) => {
        await content.stop();
        await node.stop();
        if (!stopOpts.keepTempDirs) tempDirs.removeAll();
      },
    };
  } catch (error) {
    await publisher?.stop().catch(() => undefined);
    await node.stop();
    tempDirs.removeAll();
    throw error;
  }
}

/**
 * A local network brought back from its saved state: the Anvil node already holds the loaded
 * chain, the deployment file and the publisher's IPFS folder are the ones of the first start.
 */
export async function resumeDevnet(opts: {
  node: AnvilNode;
  deploymentFile: string;
  publisherDir: string;
  pollingIntervalMs?: number;
}): Promise<Devnet> {
  const { node } = opts;
  const { publicClient, chain } = await connect(node.rpcUrl, { pollingIntervalMs: opts.pollingIntervalMs ?? 20 });
  const record = readDeployment(opts.deploymentFile);
  const code = await publicClient.getCode({ address: contractAddress(record, "InferenceMarket") });
  if (!code || code === "0x")
    throw new DeploymentError(`${opts.deploymentFile} does not match the saved chain; start with --fresh`);
  const wallet = (i: number) => walletFor(node.rpcUrl, chain, devAccount(i));
  const models: Record<string, Published> = {};
  const { models: registry } = conclaveContracts(record, publicClient);
  for (const l of await eventsToHead(
    publicClient,
    registry,
    "VersionPublished",
    record.contracts.ModelRegistry!.block,
  )) {
    const a = l.args as { modelId: Hex; version: number };
    const m = await registry.read.getModel([a.modelId]);
    const v = await registry.read.getVersion([a.modelId, a.version]);
    models[m.name] = {
      modelId: a.modelId,
      version: Number(a.version),
      weightsCid: v.weightsCid,
      weightsSha256: v.weightsSha256,
      schemaCid: v.schemaCid,
    };
  }
  const publisher = await createHeliaStore({ dir: opts.publisherDir });
  const providers = await registeredProviders(publicClient, record);
  const tempDirs = createTempDirs();
  return {
    node,
    chain,
    publicClient,
    record,
    deploymentFile: opts.deploymentFile,
    wallet,
    members: DEV_ROLES.members.map(wallet),
    publisher,
    models,
    providers,
    token: contractAddress(record, "TestToken"),
    tempDirs,
    stop: async (stopOpts = {}) => {
      await publisher.stop();
      await node.stop();
      if (!stopOpts.keepTempDirs) tempDirs.removeAll();
    },
  };
}
