import type { Hex } from "viem";
import type { PrefetchRole, PrefetchState, Prefetcher } from "./prefetcher.ts";

/** One model version as this runner holds it: what /ready reports and `conclave fleet` can read. */
export interface VersionView {
  /** The model's name, when the runner has read it from the registry. */
  model: string | null;
  modelId: Hex;
  version: number;
  /** Verified (CID and sha256) and on local disk. */
  held: boolean;
  /** An onnxruntime session is loaded. */
  warm: boolean;
  /** Weight downloads by this process (a prefetched version: 1, and no more when jobs come). */
  downloads: number;
  /** Why it is prefetched (null: not a current version, held for jobs). */
  role: PrefetchRole | null;
  prefetch: PrefetchState | null;
  reason?: string;
}

/** `0x<model id>-<version>`, the model store's key, back into its parts. */
function parseKey(key: string): { modelId: Hex; version: number } | null {
  const m = /^(0x[0-9a-fA-F]{64})-(\d+)$/.exec(key);
  return m ? { modelId: m[1] as Hex, version: Number(m[2]) } : null;
}

/** Every version held, warm or being prefetched, by model and version. */
export function versionsView(deps: {
  held(): string[];
  warm(): string[];
  downloadsOf(key: string): number;
  prefetcher: Prefetcher;
}): VersionView[] {
  const held = new Set(deps.held());
  const warm = new Set(deps.warm());
  const entries = new Map(deps.prefetcher.entries().map((e) => [e.key, e]));
  const keys = new Set([...held, ...warm, ...entries.keys()]);
  const views: VersionView[] = [];
  for (const key of keys) {
    const parts = parseKey(key);
    if (!parts) continue;
    const e = entries.get(key);
    views.push({
      model: e?.model ?? deps.prefetcher.nameOf(parts.modelId) ?? null,
      ...parts,
      held: held.has(key),
      warm: warm.has(key),
      downloads: deps.downloadsOf(key),
      role: e?.role ?? null,
      prefetch: e?.state ?? null,
      ...(e?.reason ? { reason: e.reason } : {}),
    });
  }
  return views.sort((a, b) => (a.modelId === b.modelId ? a.version - b.version : a.modelId < b.modelId ? -1 : 1));
}
