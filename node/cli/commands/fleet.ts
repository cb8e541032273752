import type { Address } from "viem";
import { conclaveContracts } from "../../chain/contracts.ts";
import { eventsToHead } from "../../chain/events.ts";
import { registeredProviders } from "../../chain/providers.ts";
import { fleetText, fleetView, notReady, type FetchLike } from "../../fleet/fleet-view.ts";
import { integer, str, type Command } from "../command.ts";
import type { Session } from "../session.ts";
import { PROVIDER_STATUS } from "../../chain/statuses.ts";

/** Exit status of `conclave fleet --check` when a provider taking jobs has no ready runner. */
const FLEET_NOT_READY_EXIT = 3;

/** The chain's side of the fleet: every registered provider with its counters, and results delivered per provider. */
function chainDeps(s: Session) {
  const c = conclaveContracts(s.record, s.publicClient);
  const from = (name: string) => BigInt(s.record.contracts[name]!.block);
  return {
    head: async () => Number(await s.publicClient.getBlockNumber()),
    providers: async () => {
      const who = await registeredProviders(s.publicClient, s.record);
      return Promise.all(
        who.map(async (address) => {
          const [p, [eligible]] = await Promise.all([
            c.providers.read.getProvider([address]),
            c.providers.read.providerTerms([address]),
          ]);
          return {
            address,
            status: PROVIDER_STATUS[p.status] ?? "Unknown",
            eligible,
            metadataURI: p.metadataURI,
            disagreed: Number(p.disagreed),
            missed: Number(p.missed),
          };
        }),
      );
    },
    results: async () => {
      const counts = new Map<string, number>();
      for (const eventName of ["ResultSubmitted", "ResultRevealed"] as const) {
        const logs = await eventsToHead(s.publicClient, c.market, eventName, from("InferenceMarket"));
        for (const l of logs) {
          const key = (l.args as { provider: Address }).provider.toLowerCase();
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
      return counts;
    },
  };
}

export const fleetCommands: Record<string, Command> = {
  fleet: {
    summary: "every provider and its runner: versions held and warm, readiness, blocks behind, jobs",
    usage: `[--timeout <ms>] [--check]

Lists each provider the ProviderRegistry knows (status, faults (disagreed and missed) from
the registry's counters, results delivered from the market's events) and, where its runner can
be reached, what the runner's /ready says: the model versions it holds and has warm (an
onnxruntime session loaded), whether it is ready and how many blocks it is behind.
A runner is found through the deployment file's "runners" list (the local network writes it)
or the provider's metadata URI when that is an http(s) URL (conclave provider register
--metadata https://my-runner.example:8080).
  --timeout <ms>   how long each runner may take to answer (default 2000)
  --check          exit with status ${FLEET_NOT_READY_EXIT} when a provider taking jobs has no reachable, ready runner`,
    options: { timeout: { type: "string" }, check: { type: "boolean" } },
    async run(ctx) {
      const timeoutMs = integer("--timeout", str(ctx, "timeout") ?? "2000", 1, 600_000);
      const s = await ctx.session();
      const deploymentRunners = new Map((s.record.runners ?? []).map((r) => [r.address.toLowerCase(), r.http]));
      const view = await fleetView({
        ...chainDeps(s),
        deploymentRunners,
        fetch: fetch as unknown as FetchLike,
        timeoutMs,
      });
      const lagging = notReady(view);
      ctx.out.result({ ...view, notReady: lagging.map((p) => p.address) }, () => fleetText(view));
      if (ctx.values.check === true && lagging.length > 0) {
        ctx.out.note(
          `conclave: ${lagging.length} provider(s) taking jobs without a ready runner: ${lagging.map((p) => p.address).join(", ")}`,
        );
        return FLEET_NOT_READY_EXIT;
      }
      return 0;
    },
  },
};
