import { createTransport, shouldThrow, type EIP1193RequestFn, type EIP1193RequestOptions, type Transport } from "viem";

interface RankedFallbackOptions {
  /** How often every endpoint is pinged and the order re-ranked (ms). */
  intervalMs: number;
  /** How many of the latest ping rounds the ranking weighs. */
  sampleCount: number;
  /** A ping not answered within this counts as failed (ms). */
  pingTimeoutMs: number;
  /** Retries of a call that failed at every endpoint, and the first retry's delay (ms). */
  retryCount: number;
  retryDelayMs: number;
}

export interface RankedFallback {
  transport: Transport;
  /** The endpoints' indexes, best first: the order a call starting now tries them in. */
  order(): readonly number[];
  /** Stops the pings; calls go on in the last order. */
  close(): void;
}

interface Ping {
  ok: boolean;
  ms: number;
}

/** viem's weights: answering at all counts most, then latency relative to the slowest ping. */
const STABILITY_WEIGHT = 0.7;
const LATENCY_WEIGHT = 0.3;

function rankOf(samples: readonly (readonly Ping[])[], endpoints: number): number[] {
  const slowest = Math.max(1, ...samples.flatMap((round) => round.map((p) => p.ms)));
  const score = (i: number) => {
    const pings = samples.map((round) => round[i]!);
    const stability = pings.filter((p) => p.ok).length / pings.length;
    if (stability === 0) return 0;
    const meanMs = pings.reduce((sum, p) => sum + p.ms, 0) / pings.length;
    return STABILITY_WEIGHT * stability + LATENCY_WEIGHT * (1 - meanMs / slowest);
  };
  const scores = Array.from({ length: endpoints }, (_, i) => score(i));
  // A stable sort: endpoints that score the same keep the order they were given in.
  return scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
}

/**
 * Several endpoints behind one transport: each call tries them best-ranked first (by pings: answers,
 * then latency) and goes on to the next on an error, so a rate limit or outage at one provider
 * costs a call no retry delay.
 *
 * Written here rather than viem's `fallback({ rank })` because that one reads the ranking afresh
 * between the tries of one call: a re-rank while the first try is in flight (which is when a
 * failing endpoint drops in the ranking) sends the call's second try to the same failing endpoint
 * and never to the healthy one. Here a call keeps the order it started with. viem's ranking loop
 * also has no stop; this one ends at `close()`.
 */
export function rankedFallback(endpoints: readonly Transport[], opts: RankedFallbackOptions): RankedFallback {
  if (endpoints.length === 0) throw new Error("rankedFallback needs at least one endpoint");
  let order = endpoints.map((_, i) => i);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const samples: Ping[][] = [];
  const pingers = endpoints.map((t) => t({ retryCount: 0, timeout: opts.pingTimeoutMs }));

  const ping = async (pinger: ReturnType<Transport>): Promise<Ping> => {
    const start = performance.now();
    const ok = await pinger.request({ method: "eth_blockNumber" }).then(
      () => true,
      () => false,
    );
    return { ok, ms: performance.now() - start };
  };
  const rank = async () => {
    const round = await Promise.all(pingers.map(ping));
    if (closed) return;
    samples.push(round);
    if (samples.length > opts.sampleCount) samples.shift();
    order = rankOf(samples, endpoints.length);
    timer = setTimeout(() => void rank(), opts.intervalMs);
    timer.unref();
  };
  void rank();

  const transport: Transport = ({ chain, ...rest }) => {
    const made = endpoints.map((t) => t({ ...rest, chain, retryCount: 0 }));
    return createTransport(
      {
        key: "rankedFallback",
        name: "Ranked fallback",
        type: "fallback",
        retryCount: opts.retryCount,
        retryDelay: opts.retryDelayMs,
        request: (async (args: { method: string; params?: unknown }, options?: EIP1193RequestOptions) => {
          const tries = order;
          let lastError: unknown;
          for (const i of tries) {
            try {
              return await made[i]!.request(args, options);
            } catch (error) {
              // A definite answer (a revert, a rejected transaction) is the same at every endpoint.
              if (error instanceof Error && shouldThrow(error)) throw error;
              lastError = error;
            }
          }
          throw lastError;
        }) as EIP1193RequestFn,
      },
      // viem's watch actions read the members of a transport of type "fallback".
      { transports: made },
    );
  };
  return {
    transport,
    order: () => order,
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
