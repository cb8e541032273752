import type { Logger } from "../log.ts";
import type { RunnerHealth } from "./snapshot-types.ts";

export type Fetch = (
  url: string,
  init: { signal: AbortSignal },
) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

/** `name{outcome="x"} 3` lines of a Prometheus page, for one metric name. */
export function metricByLabel(page: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}\\{[^}]*${label}="([^"]*)"[^}]*\\}\\s+([0-9.eE+-]+)`, "gm");
  for (const m of page.matchAll(re)) out[m[1]!] = Number(m[2]);
  return out;
}

async function get(fetcher: Fetch, url: string, timeoutMs: number): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetcher(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch {
    return null;
  }
}

/** Asks one runner's /ready, /status and /metrics (each with a short timeout). */
export async function probeRunner(
  url: string,
  opts: { fetch?: Fetch; timeoutMs?: number; now?: () => number } = {},
): Promise<RunnerHealth> {
  const fetcher = opts.fetch ?? (fetch as unknown as Fetch);
  const t = opts.timeoutMs ?? 1_000;
  const [ready, status, metrics] = await Promise.all([
    get(fetcher, `${url}/ready`, t),
    get(fetcher, `${url}/status`, t),
    get(fetcher, `${url}/metrics`, t),
  ]);
  const parse = (b: string | undefined): Record<string, unknown> => {
    try {
      return b ? (JSON.parse(b) as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  const r = parse(ready?.body);
  const st = parse(status?.body);
  const details = (r.details ?? {}) as { blocksBehind?: number };
  return {
    url,
    reachable: ready !== null || metrics !== null,
    ready: ready ? ready.status === 200 : null,
    blocksBehind: typeof details.blocksBehind === "number" ? details.blocksBehind : null,
    jobs: metrics ? metricByLabel(metrics.body, "conclave_jobs_total", "outcome") : {},
    journal: (st.jobs ?? {}) as Record<string, number>,
    versions: Array.isArray(st.models) ? (st.models as unknown[]).map(versionLabel) : [],
    provider: typeof st.provider === "string" ? st.provider : null,
    checkedAt: (opts.now ?? Date.now)(),
  };
}

/** Probes every runner on an interval; `latest()` is what each last said. */
export function createRunnerProbe(opts: {
  runners: { address: string; http: string }[];
  intervalMs?: number;
  fetch?: Fetch;
  log: Logger;
  onChange?: () => void;
}) {
  const latest = new Map<string, RunnerHealth>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  const round = async () => {
    await Promise.all(
      opts.runners.map(async (r) => {
        const h = await probeRunner(r.http, opts.fetch ? { fetch: opts.fetch } : {});
        const who = h.provider ?? r.address;
        if (who) latest.set(who.toLowerCase(), h);
      }),
    );
    opts.onChange?.();
  };
  const loop = () => {
    if (stopped) return;
    void round()
      .catch((error: unknown) => opts.log.warn("dashboard: runner probe failed", { error }))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.intervalMs ?? 3_000);
      });
  };
  return {
    start: loop,
    /** Probes now and waits for the answers. */
    refresh: round,
    latest: (address: string) => latest.get(address.toLowerCase()) ?? null,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** A runner's /status model entry (see node/models/versions-view.ts) as the page shows it. */
function versionLabel(entry: unknown): string {
  if (typeof entry !== "object" || entry === null) return String(entry);
  const v = entry as { model?: string | null; modelId?: string; version?: number; warm?: boolean };
  const name = v.model ?? (v.modelId ? `${v.modelId.slice(0, 10)}…` : "?");
  return `${name} v${v.version ?? "?"}${v.warm ? " (warm)" : ""}`;
}
