import type { Abi, AbiEvent, Address, Chain, PublicClient, Transport } from "viem";
import { loadArtifact, type ContractName } from "../chain/artifacts.ts";
import { LOCAL_CHAIN_ID } from "../chain/clients.ts";
import { contractAddress, type DeploymentRecord } from "../chain/deployment.ts";
import type { Logger } from "../log.ts";
import { createChainReads, type ChainReads } from "./chain-reads.ts";
import { createDevVoter, devAccountList } from "./dev-voter.ts";
import { createEventIndex, type EventIndex, type IndexSource } from "./indexer.ts";
import { createRunnerProbe, type Fetch } from "./runner-probe.ts";
import { startDashboardServer } from "./server.ts";
import { createSnapshotter } from "./snapshot.ts";

/** The contracts whose events the dashboard indexes (the court's events share the market's address). */
const INDEXED: { name: ContractName; at: string; optional?: boolean }[] = [
  { name: "ModelRegistry", at: "ModelRegistry" },
  { name: "ProviderRegistry", at: "ProviderRegistry" },
  { name: "InferenceMarket", at: "InferenceMarket" },
  { name: "InferenceMarketCourt", at: "InferenceMarket" },
  { name: "ConclaveGovernor", at: "ConclaveGovernor" },
  // Consumer contracts' callbacks (absent from deployments made before issue 13).
  { name: "ConsumerRouter", at: "ConsumerRouter", optional: true },
];

/** Every indexed contract's events, once each (by signature). */
function dashboardEvents(): Abi {
  const seen = new Map<string, AbiEvent>();
  for (const { name } of INDEXED) {
    for (const item of loadArtifact(name).abi as Abi) {
      if (item.type !== "event") continue;
      const sig = `${item.name}(${item.inputs.map((i) => i.type).join(",")})`;
      if (!seen.has(sig)) seen.set(sig, item);
    }
  }
  return [...seen.values()];
}

/** Inline job inputs, output references and proposal calldata are not shown: not kept in memory. */
function slimArgs(_eventName: string, args: Record<string, unknown>): Record<string, unknown> {
  const dropped = ["input", "outputRef", "calldatas"];
  if (!dropped.some((k) => k in args)) return args;
  return Object.fromEntries(Object.entries(args).filter(([k]) => !dropped.includes(k)));
}

function indexSourceOf(publicClient: PublicClient<Transport, Chain>): IndexSource {
  return {
    getBlockNumber: () => publicClient.getBlockNumber({ cacheTime: 0 }),
    getLogs: (args) => publicClient.getLogs(args),
    getBlockTimestamp: async (blockNumber) => Number((await publicClient.getBlock({ blockNumber })).timestamp),
  };
}

interface DashboardOptions {
  publicClient: PublicClient<Transport, Chain>;
  chain: Chain;
  rpcUrl: string;
  record: DeploymentRecord;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** When `port` is taken, serve on a free port instead of failing (npm start). */
  portFallback?: boolean;
  staticDir: string;
  /** Runners whose /ready, /status and /metrics are shown beside their provider. */
  runners?: { address: string; http: string }[];
  /** Offer the development-account picker (only honoured on chain 31337 and a loopback host). */
  devAccounts?: boolean;
  pollIntervalMs?: number;
  maxLogRange?: number;
  log: Logger;
  /** Replaceable for tests. */
  reads?: ChainReads;
  index?: EventIndex;
  fetch?: Fetch;
}

export interface Dashboard {
  url: string;
  /** The latest snapshot as JSON text. */
  snapshot(): string | null;
  close(): Promise<void>;
}

/**
 * The dashboard's service graph: an event index of the deployment's contracts (backfilled
 * before the server answers), the chain reads and runner probes, a snapshot remade on each new
 * block and pushed to every open page, and the HTTP server for the built page.
 */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const log = o.log;
  const host = o.host ?? "127.0.0.1";
  const names = [...new Set(INDEXED.filter((c) => !c.optional || o.record.contracts[c.at]).map((c) => c.at))];
  const addresses: Address[] = names.map((n) => contractAddress(o.record, n));
  const startBlock = Math.min(...names.map((n) => o.record.contracts[n]!.block));
  const index =
    o.index ??
    createEventIndex({
      source: indexSourceOf(o.publicClient),
      addresses,
      abi: dashboardEvents(),
      startBlock,
      maxLogRange: o.maxLogRange ?? 2_000,
      pollIntervalMs: o.pollIntervalMs ?? 250,
      keepArgs: slimArgs,
      log,
    });
  const reads = o.reads ?? createChainReads(o.record, o.publicClient);
  const probe = createRunnerProbe({ runners: o.runners ?? [], log, ...(o.fetch ? { fetch: o.fetch } : {}) });
  const local = o.chain.id === LOCAL_CHAIN_ID && (host === "127.0.0.1" || host === "localhost" || host === "::1");
  const offerDev = local && o.devAccounts !== false;
  const snapshotter = createSnapshotter({
    index,
    reads,
    runner: (a) => probe.latest(a),
    chainId: o.chain.id,
    governor: contractAddress(o.record, "ConclaveGovernor"),
    devAccounts: offerDev ? devAccountList() : [],
    log,
  });

  let latest: string | null = null;
  const listeners = new Set<(json: string) => void>();
  let making: Promise<void> | null = null;
  let again = false;
  const remake = (): Promise<void> => {
    if (making) {
      again = true;
      return making;
    }
    making = (async () => {
      do {
        again = false;
        try {
          latest = JSON.stringify(await snapshotter.make());
          for (const l of listeners) l(latest);
        } catch (error) {
          log.warn("dashboard: snapshot failed, kept the last one", { error });
        }
      } while (again);
    })().finally(() => (making = null));
    return making;
  };

  const t0 = Date.now();
  await index.syncOnce();
  if (o.runners?.length) await probe.refresh();
  await remake();
  log.info("dashboard: indexed the chain", { head: index.head, events: index.logs().length, ms: Date.now() - t0 });
  index.start(() => void remake());
  probe.start();
  const server = await startDashboardServer({
    host,
    port: o.port ?? 0,
    portFallback: o.portFallback === true,
    staticDir: o.staticDir,
    log,
    handlers: {
      snapshot: () => latest,
      subscribe(fn) {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
      devVoter: offerDev
        ? createDevVoter({ rpcUrl: o.rpcUrl, chain: o.chain, record: o.record, publicClient: o.publicClient })
        : null,
    },
  });
  return {
    url: server.url,
    snapshot: () => latest,
    async close() {
      probe.stop();
      await index.stop();
      await server.close();
    },
  };
}
