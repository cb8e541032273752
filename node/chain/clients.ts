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
import { rankedFallback } from "./ranked-fallback.ts";

/** The local development chain's id (Anvil's and Hardhat's default): `npm start`, the tests, the faucet. */
export const LOCAL_CHAIN_ID = 31337;

export type Wallet = WalletClient<Transport, Chain, Account>;

export interface Clients {
  publicClient: PublicClient<Transport, Chain>;
  chain: Chain;
  /** Stops the ranking of fallback endpoints (a no-op with one endpoint). */
  close(): void;
}

/**
 * Told of JSON-RPC requests sent to an endpoint: their method, the endpoint's place in the list
 * (0: the primary RPC, 1…: the fallbacks) and how many. Operators pay for and are rate-limited on calls.
 */
export type OnRpcCall = (method: string, endpoint: number, count: number) => void;

/**
 * One endpoint's transport, telling `onCall` of each request that reaches the endpoint: over HTTP
 * each fetch is counted, so viem's retries of a rate-limited or dropped call count as the provider
 * counts them; a fallback's switch to the next endpoint and its ranking pings count too.
 */
function transportFor(rpcUrl: string, timeoutMs: number, retryCount = 0, counted?: CountedAs): Transport {
  // viem retries rate-limited (429), failed (5xx) and dropped calls with exponential backoff.
  const opts = { timeout: timeoutMs, retryCount, retryDelay: 100 };
  if (/^wss?:\/\//.test(rpcUrl)) return countedTransport(webSocket(rpcUrl, opts), counted);
  if (/^https?:\/\//.test(rpcUrl)) return http(rpcUrl, counted ? { ...opts, fetchFn: countedFetch(counted) } : opts);
  throw new RpcUnreachableError(`unsupported RPC URL ${rpcUrl}: expected http(s):// or ws(s)://`);
}

/** Where an endpoint's requests are told: `onCall`, as endpoint `endpoint`. */
interface CountedAs {
  endpoint: number;
  onCall: OnRpcCall;
}

/** fetch, telling of each JSON-RPC request it posts (viem's retries each post the body again). */
function countedFetch({ endpoint, onCall }: CountedAs): typeof fetch {
  return (input, init) => {
    // viem puts the method before the params: the first match is the request's own.
    const method = typeof init?.body === "string" ? /"method":"([^"]+)"/.exec(init.body)?.[1] : undefined;
    onCall(method ?? "unknown", endpoint, 1);
    return fetch(input, init);
  };
}

/** A WebSocket transport, telling of each request it is given (viem's retries inside it are not seen). */
function countedTransport(transport: Transport, counted: CountedAs | undefined): Transport {
  if (!counted) return transport;
  return (params) => {
    const made = transport(params);
    const request: typeof made.request = (args, options) => {
      counted.onCall(args.method, counted.endpoint, 1);
      return made.request(args, options);
    };
    return { ...made, request };
  };
}

/**
 * How long a contract read waits for others to go with it in one eth_call (ms): none beyond the
 * timer's turn. The steps a burst starts together read in the same turn of the event loop
 * (fleet burst: 74–80 eth_calls per runner at 0 ms, 69–73 at 5 ms, with no gain in latency).
 */
const MULTICALL_WAIT_MS = 0;

/** How often the endpoints of a fallback transport are pinged and re-ranked (ms). */
const RANK_INTERVAL_MS = 1_000;

/**
 * One endpoint, or several ranked by pings (`rankedFallback`): each call goes to the endpoint
 * ranked best and on an error goes on to the next, so a rate limit or outage at one provider costs
 * a call no retry delay. Retries apply to the whole list.
 */
export function transportOf(
  urls: readonly string[],
  timeoutMs: number,
  retryCount: number,
  onCall?: OnRpcCall,
): { transport: Transport; close(): void } {
  if (urls.length === 1)
    return {
      transport: transportFor(urls[0]!, timeoutMs, retryCount, onCall && { endpoint: 0, onCall }),
      close: () => undefined,
    };
  return rankedFallback(
    urls.map((u, i) => transportFor(u, timeoutMs, 0, onCall && { endpoint: i, onCall })),
    {
      intervalMs: RANK_INTERVAL_MS,
      sampleCount: 5,
      pingTimeoutMs: Math.min(timeoutMs, 1_000),
      retryCount,
      retryDelayMs: 100,
    },
  );
}

async function chainIdOf(rpcUrl: string, timeoutMs: number, endpoint = 0, onCall?: OnRpcCall): Promise<number> {
  try {
    const transport = transportFor(rpcUrl, timeoutMs, 0, onCall && { endpoint, onCall });
    return await createPublicClient({ transport }).getChainId();
  } catch (cause) {
    throw new RpcUnreachableError(`cannot reach RPC ${rpcUrl}: ${causeLine(cause)}`, { cause });
  }
}

/**
 * Connects to any EVM JSON-RPC endpoint and learns its chain id. Fails fast with one clear line
 * when the endpoint does not answer, so a CLI never hangs on a typo. Fallback endpoints must be on
 * the same chain; one that does not answer now is still used (it is a backup) and is named in
 * `unreachableFallbacks`.
 */
export async function connect(
  rpcUrl: string,
  opts: {
    timeoutMs?: number;
    pollingIntervalMs?: number;
    retryCount?: number;
    fallbackUrls?: readonly string[];
    onCall?: OnRpcCall;
    /**
     * Contract reads made in the same turn of the event loop go as one eth_call: a
     * runner's jobs in a burst read their state at once, and a provider bills and rate-limits each
     * call. Deployless (viem sends Multicall3's code with the call), so no chain needs it deployed.
     * A read that fails fails alone. Off for the CLI: its reads are one at a time.
     */
    multicall?: boolean;
  } = {},
): Promise<Clients & { unreachableFallbacks: string[] }> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const chainId = await chainIdOf(rpcUrl, timeoutMs, 0, opts.onCall);
  const fallbackUrls = opts.fallbackUrls ?? [];
  const unreachableFallbacks: string[] = [];
  for (const [i, url] of fallbackUrls.entries()) {
    const id = await chainIdOf(url, timeoutMs, i + 1, opts.onCall).catch((error: unknown) => {
      if (error instanceof RpcUnreachableError) return null;
      throw error;
    });
    if (id === null) unreachableFallbacks.push(url);
    else if (id !== chainId)
      throw new RpcUnreachableError(`fallback RPC ${url} is chain ${id}, but ${rpcUrl} is chain ${chainId}`);
  }
  const chain = defineChain({
    id: chainId,
    name: chainId === LOCAL_CHAIN_ID ? "Local" : `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl, ...fallbackUrls] } },
    // Fee cap = 2 × base fee + tip (viem's default is 1.2 ×): the base fee may rise 12.5 % a block,
    // so a CLI transaction survives a few full blocks instead of one; only base fee + tip is paid.
    fees: { baseFeeMultiplier: 2 },
  });
  const { transport, close } = transportOf([rpcUrl, ...fallbackUrls], timeoutMs, opts.retryCount ?? 0, opts.onCall);
  const publicClient = createPublicClient({
    chain,
    // A long-running service (the runner) rides out rate limits and dropped connections call by
    // call; a CLI command keeps failing fast (no retries) so a typo never hangs it.
    transport,
    ...(opts.multicall ? { batch: { multicall: { deployless: true, wait: MULTICALL_WAIT_MS } } } : {}),
    // viem's default 4 s polling is far too slow for a local chain that mines on demand.
    pollingInterval: opts.pollingIntervalMs ?? (chainId === LOCAL_CHAIN_ID ? 50 : 1_000),
  });
  return { publicClient, chain, close, unreachableFallbacks };
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
