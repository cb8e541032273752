import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  webSocket,
  type Account,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { RpcUnreachableError } from "../errors.ts";

export type Wallet = WalletClient<Transport, Chain, Account>;

export interface Clients {
  publicClient: PublicClient<Transport, Chain>;
  chain: Chain;
}

function transportFor(rpcUrl: string, timeoutMs: number, retryCount = 0): Transport {
  // viem retries rate-limited (429), failed (5xx) and dropped calls with exponential backoff.
  const opts = { timeout: timeoutMs, retryCount, retryDelay: 100 };
  if (/^wss?:\/\//.test(rpcUrl)) return webSocket(rpcUrl, opts);
  if (/^https?:\/\//.test(rpcUrl)) return http(rpcUrl, opts);
  throw new RpcUnreachableError(`unsupported RPC URL ${rpcUrl}: expected http(s):// or ws(s)://`);
}

/**
 * Connects to any EVM JSON-RPC endpoint and learns its chain id. Fails fast with one clear line
 * when the endpoint does not answer, so a CLI never hangs on a typo.
 */
export async function connect(rpcUrl: string, opts: { timeoutMs?: number; pollingIntervalMs?: number; retryCount?: number } = {}): Promise<Clients> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const probe = createPublicClient({ transport: transportFor(rpcUrl, timeoutMs) });
  let chainId: number;
  try {
    chainId = await probe.getChainId();
  } catch (cause) {
    throw new RpcUnreachableError(`cannot reach RPC ${rpcUrl}: ${causeLine(cause)}`, { cause });
  }
  const chain = defineChain({
    id: chainId,
    name: chainId === 31337 ? "Local" : `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const publicClient = createPublicClient({
    chain,
    // A long-running service (the runner) rides out rate limits and dropped connections call by
    // call; a CLI command keeps failing fast (no retries) so a typo never hangs it.
    transport: transportFor(rpcUrl, timeoutMs, opts.retryCount ?? 0),
    // viem's default 4 s polling is far too slow for a local chain that mines on demand.
    pollingInterval: opts.pollingIntervalMs ?? (chainId === 31337 ? 50 : 1_000),
  });
  return { publicClient, chain };
}

export function walletFor(rpcUrl: string, chain: Chain, account: Account, timeoutMs = 30_000): Wallet {
  return createWalletClient({ chain, account, transport: transportFor(rpcUrl, timeoutMs) });
}

/** The most specific reason in an error's cause chain (e.g. ECONNREFUSED rather than "fetch failed"). */
function causeLine(cause: unknown): string {
  let line = String(cause);
  for (let e: unknown = cause, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    line = ((e as { details?: string }).details ?? e.message).split("\n")[0] ?? e.name;
  }
  return line;
}

/** Accounts the node itself holds unlocked (a local Hardhat node has twenty). */
export async function unlockedAccounts(rpcUrl: string, chain: Chain): Promise<Account[]> {
  const client = createWalletClient({ chain, transport: transportFor(rpcUrl, 10_000) });
  const addresses = await client.getAddresses();
  return addresses.map((address) => ({ address, type: "json-rpc" }) as Account);
}
