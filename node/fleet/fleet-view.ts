import type { Address, Hex } from "viem";
import { oneLine } from "../errors.ts";

/** A provider as the ProviderRegistry records it (the fields the fleet view shows). */
export interface ChainProvider {
  address: Address;
  status: string;
  eligible: boolean;
  metadataURI: string;
  /** Registry counters. */
  disagreed: number;
  missed: number;
}

/** One model version as a runner's /ready reports it (node/models/versions-view.ts). */
interface RunnerVersion {
  model: string | null;
  modelId: Hex;
  version: number;
  held: boolean;
  warm: boolean;
  role: string | null;
  prefetch: string | null;
}

/** Where a runner's URL came from: the local network's deployment file, or the provider's metadata URI. */
type RunnerSource = "deployment" | "metadata";

interface RunnerState {
  url: string;
  source: RunnerSource;
  reachable: boolean;
  /** /ready answered 200 (caught up with the chain); null when it did not answer. */
  ready: boolean | null;
  head: number | null;
  processed: number | null;
  blocksBehind: number | null;
  versions: RunnerVersion[];
  /** Why it could not be read (unreachable, not JSON, an unexpected HTTP status). */
  error?: string;
}

interface FleetEntry extends ChainProvider {
  /** Jobs whose result this provider delivered or revealed (events, since the market's deployment). */
  results: number;
  runner: RunnerState | null;
}

interface FleetView {
  block: number;
  providers: FleetEntry[];
  summary: { providers: number; eligible: number; runners: number; reachable: number; ready: number };
}

export type FetchLike = (
  url: string,
  init: { signal: AbortSignal },
) => Promise<{ status: number; json(): Promise<unknown> }>;

interface FleetDeps {
  head(): Promise<number>;
  providers(): Promise<ChainProvider[]>;
  /** Result deliveries (ResultSubmitted and ResultRevealed) per provider, lower-cased address. */
  results(): Promise<Map<string, number>>;
  /** Runner URLs by provider (lower-cased) from the deployment file (`runners`, the local network). */
  deploymentRunners: ReadonlyMap<string, string>;
  fetch: FetchLike;
  timeoutMs: number;
}

/** A metadata URI that is a runner's status URL: http(s) only, without a trailing slash. */
export function runnerUrlOf(metadataURI: string): string | null {
  let u: URL;
  try {
    u = new URL(metadataURI.trim());
  } catch {
    return null;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  return u.toString().replace(/\/+$/, "");
}

/** Asks a runner's /ready (200 ready, 503 catching up; both carry details). */
async function probeReady(
  url: string,
  source: RunnerSource,
  fetcher: FetchLike,
  timeoutMs: number,
): Promise<RunnerState> {
  const empty: RunnerState = {
    url,
    source,
    reachable: false,
    ready: null,
    head: null,
    processed: null,
    blocksBehind: null,
    versions: [],
  };
  let status: number;
  let body: unknown;
  try {
    const res = await fetcher(`${url}/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
    body = await res.json();
  } catch (error) {
    return { ...empty, error: `no answer from ${url}/ready: ${oneLine(error)}` };
  }
  const details = ((body as { details?: unknown } | null)?.details ?? {}) as {
    head?: unknown;
    processed?: unknown;
    blocksBehind?: unknown;
    models?: unknown;
  };
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const versions = Array.isArray(details.models)
    ? (details.models as RunnerVersion[]).map((v) => ({
        model: v.model ?? null,
        modelId: v.modelId,
        version: Number(v.version),
        held: v.held === true,
        warm: v.warm === true,
        role: v.role ?? null,
        prefetch: v.prefetch ?? null,
      }))
    : [];
  const state: RunnerState = {
    ...empty,
    reachable: true,
    ready: status === 200,
    head: num(details.head),
    processed: num(details.processed),
    blocksBehind: num(details.blocksBehind),
    versions,
  };
  if (status !== 200 && status !== 503) return { ...state, ready: null, error: `${url}/ready answered HTTP ${status}` };
  return state;
}

/**
 * The fleet at a glance: every provider the ProviderRegistry knows (status, counters, results
 * delivered) and, where its runner can be reached, what the runner's /ready says (versions held
 * and warm, readiness, blocks behind). A runner is found through the local network's deployment
 * file or the provider's metadata URI when that is an http(s) URL.
 */
export async function fleetView(deps: FleetDeps): Promise<FleetView> {
  const [block, providers, results] = await Promise.all([deps.head(), deps.providers(), deps.results()]);
  const entries = await Promise.all(
    providers.map(async (p): Promise<FleetEntry> => {
      const key = p.address.toLowerCase();
      const fromDeployment = deps.deploymentRunners.get(key);
      const fromMetadata = runnerUrlOf(p.metadataURI);
      const url = fromDeployment ?? fromMetadata;
      const runner = url
        ? await probeReady(
            url.replace(/\/+$/, ""),
            fromDeployment ? "deployment" : "metadata",
            deps.fetch,
            deps.timeoutMs,
          )
        : null;
      return { ...p, results: results.get(key) ?? 0, runner };
    }),
  );
  const withRunner = entries.filter((e) => e.runner !== null);
  return {
    block,
    providers: entries,
    summary: {
      providers: entries.length,
      eligible: entries.filter((e) => e.eligible).length,
      runners: withRunner.length,
      reachable: withRunner.filter((e) => e.runner!.reachable).length,
      ready: withRunner.filter((e) => e.runner!.ready === true).length,
    },
  };
}

/** Eligible providers without a reachable, ready runner (what `conclave fleet --check` fails on). */
export function notReady(view: FleetView): FleetEntry[] {
  return view.providers.filter((p) => p.eligible && p.runner?.ready !== true);
}

/** The view as lines for a person. */
export function fleetText(view: FleetView): string {
  const s = view.summary;
  const lines = [
    `block ${view.block}: ${s.providers} provider(s), ${s.eligible} taking jobs; runners known ${s.runners}, reachable ${s.reachable}, ready ${s.ready}`,
  ];
  for (const p of view.providers) {
    lines.push(
      `${p.address}  ${p.status}${p.eligible ? "" : " (not taking jobs)"}  disagreed ${p.disagreed}, missed ${p.missed}, results ${p.results}`,
    );
    const r = p.runner;
    if (!r) {
      lines.push("  runner: unknown (no deployment entry, metadata URI is not an http(s) URL)");
      continue;
    }
    if (!r.reachable) {
      lines.push(`  runner ${r.url} (${r.source}): unreachable`);
      continue;
    }
    lines.push(
      `  runner ${r.url} (${r.source}): ${r.ready === true ? "ready" : r.ready === false ? "NOT READY" : "unknown"}${r.blocksBehind === null ? "" : `, ${r.blocksBehind} block(s) behind`}${r.error ? ` (${r.error})` : ""}`,
    );
    for (const v of r.versions) {
      const state = v.warm ? "warm" : v.held ? "held" : (v.prefetch ?? "-");
      lines.push(
        `    ${(v.model ?? v.modelId.slice(0, 10)).padEnd(20)} v${String(v.version).padEnd(4)} ${state.padEnd(9)}${v.role ? ` ${v.role}` : ""}`,
      );
    }
  }
  return lines.join("\n");
}
