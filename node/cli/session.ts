import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Chain, PublicClient, Transport } from "viem";
import { connect, LOCAL_CHAIN_ID, walletFor, type Wallet } from "../chain/clients.ts";
import { contractAddress, deploymentPath, readDeployment, type DeploymentRecord } from "../chain/deployment.ts";
import { DeploymentError, RpcUnreachableError } from "../errors.ts";
import type { ContentStore } from "../ipfs/content-store.ts";
import { redactUrl, urlRedactor } from "../log.ts";
import { resolveAccount, type KeyFlags } from "./keys.ts";
import type { Output } from "./output.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DEFAULT_RPC = "http://127.0.0.1:8545";

/** Options every command takes. */
export const COMMON_OPTIONS = {
  rpc: { type: "string" },
  deployment: { type: "string" },
  json: { type: "boolean" },
  keystore: { type: "string" },
  "dev-account": { type: "string" },
  "kubo-url": { type: "string" },
  "ipfs-peer": { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
} as const;

export const COMMON_USAGE = `Common options:
  --rpc <url>            JSON-RPC endpoint (env CONCLAVE_RPC_URL; default ${DEFAULT_RPC}, the local network)
  --deployment <file>    contract addresses (env CONCLAVE_DEPLOYMENT; default deployments/<chainId>.json)
  --keystore <file>      encrypted JSON keystore of the signing key (env CONCLAVE_KEYSTORE; password from
                         CONCLAVE_KEYSTORE_PASSWORD or asked); or set CONCLAVE_KEY to a hex key
  --dev-account <n>      local chain only: sign with the node's development account n
  --kubo-url <url>       use a Kubo daemon for IPFS (env CONCLAVE_KUBO_URL) instead of the embedded node
  --ipfs-peer <addr>     embedded IPFS: a peer to dial (repeatable; the local network's are in its deployment file)
  --json                 print the result as JSON on stdout (progress stays on stderr)`;

export interface CommonFlags {
  rpc?: string;
  deployment?: string;
  json?: boolean;
  keystore?: string;
  "dev-account"?: string;
  "kubo-url"?: string;
  "ipfs-peer"?: string[];
}

/** Extra keys the local network writes into its deployment record for the tools. */
interface LocalNetworkInfo {
  ipfs?: {
    /** The local network node's block folder, shared by tools on the same machine. */
    blocks?: string;
    peers?: string[];
    /** The runners' gateways (a runner joining on this machine may list them in `ipfs.gateways`). */
    gateways?: string[];
  };
  runners?: { address: string; http: string }[];
}

export interface Session {
  out: Output;
  rpcUrl: string;
  publicClient: PublicClient<Transport, Chain>;
  chain: Chain;
  record: DeploymentRecord & LocalNetworkInfo;
  deploymentFile: string;
  /** A local development chain, where governance waits may be fast-forwarded. */
  local: boolean;
  signer(): Promise<Wallet>;
  /** IPFS: Kubo when configured, else an embedded node dialled to the network's peers. */
  content(): Promise<ContentStore>;
  close(): Promise<void>;
}

function findDeployment(chainId: number, flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const explicit = flag ?? env.CONCLAVE_DEPLOYMENT;
  if (explicit) {
    if (!existsSync(explicit)) throw new DeploymentError(`deployment file ${explicit} does not exist`);
    return path.resolve(explicit);
  }
  const candidates = [
    deploymentPath(path.resolve("deployments"), chainId),
    deploymentPath(path.join(ROOT, "deployments"), chainId),
  ];
  const found = candidates.find((f) => existsSync(f));
  if (!found) {
    const hint =
      chainId === LOCAL_CHAIN_ID
        ? "start the local network with `npm start`, or pass --deployment"
        : "pass --deployment <file>";
    throw new DeploymentError(`no deployment for chain ${chainId} (looked for ${candidates[0]}): ${hint}`);
  }
  return found;
}

/** Connects to the chain, finds and checks the deployment; signer and IPFS open on first use. */
export async function openSession(
  flags: CommonFlags,
  out: Output,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Session> {
  const rpcUrl = flags.rpc ?? env.CONCLAVE_RPC_URL ?? DEFAULT_RPC;
  const { publicClient, chain } = await connect(rpcUrl).catch((error: unknown) => {
    // The RPC client quotes the URL, API key included, and the CLI prints this message.
    if (error instanceof Error) error.message = urlRedactor([rpcUrl])(error.message);
    if (rpcUrl !== DEFAULT_RPC || !(error instanceof RpcUnreachableError)) throw error;
    throw new RpcUnreachableError(`${error.message} (the local network: start it with \`npm start\`, or pass --rpc)`, {
      cause: error,
    });
  });
  const deploymentFile = findDeployment(chain.id, flags.deployment, env);
  const record = readDeployment(deploymentFile) as DeploymentRecord & LocalNetworkInfo;
  if (record.chainId !== chain.id)
    throw new DeploymentError(
      `deployment file ${deploymentFile} is for chain ${record.chainId}, but ${redactUrl(rpcUrl)} is chain ${chain.id}`,
    );
  const market = contractAddress(record, "InferenceMarket");
  const code = await publicClient.getCode({ address: market });
  if (!code || code === "0x") {
    throw new DeploymentError(
      `no contract at the market address ${market} on ${redactUrl(rpcUrl)}: ${deploymentFile} belongs to another network (a restarted local chain?)`,
    );
  }
  let wallet: Promise<Wallet> | undefined;
  let content: Promise<ContentStore> | undefined;
  return {
    out,
    rpcUrl,
    publicClient,
    chain,
    record,
    deploymentFile,
    local: chain.id === LOCAL_CHAIN_ID,
    signer() {
      const keyFlags: KeyFlags = { keystore: flags.keystore, devAccount: flags["dev-account"] };
      wallet ??= resolveAccount(keyFlags, chain.id, env).then((account) => walletFor(rpcUrl, chain, account));
      return wallet;
    },
    content() {
      content ??= openContent(flags, record, out, env);
      return content;
    },
    async close() {
      if (content) await (await content.catch(() => undefined))?.stop();
    },
  };
}

async function openContent(
  flags: CommonFlags,
  record: LocalNetworkInfo,
  out: Output,
  env: NodeJS.ProcessEnv,
): Promise<ContentStore> {
  const kuboUrl = flags["kubo-url"] ?? env.CONCLAVE_KUBO_URL;
  if (kuboUrl) return (await import("../ipfs/kubo-store.ts")).createKuboStore({ url: kuboUrl });
  // On the machine running the local network, blocks go straight into its node's repository,
  // so what this short-lived process adds stays served after it exits.
  const repo = record.ipfs?.blocks && existsSync(record.ipfs.blocks) ? record.ipfs.blocks : undefined;
  // IPFS clients are loaded here, not at the top: Helia takes about a second to import, and most
  // commands never touch IPFS (every `conclave` invocation would pay for it).
  const { createHeliaStore } = await import("../ipfs/helia-store.ts");
  const store = await createHeliaStore(repo ? { blocksDir: repo } : {});
  const peers = [...(record.ipfs?.peers ?? []), ...(flags["ipfs-peer"] ?? [])];
  let reached = 0;
  for (const peer of peers) {
    await store.dial(peer).then(
      () => reached++,
      () => out.note(`IPFS: cannot reach ${peer}`),
    );
  }
  if (peers.length > 0 && reached === 0 && !repo)
    out.note("IPFS: no peer reachable; content of other nodes cannot be fetched");
  return store;
}
