import { getAddress, type Address, type Hex } from "viem";
import { conclaveContracts } from "../../chain/contracts.ts";
import { integer, RequestError, resolveModel, type Command } from "../command.ts";
import { history, sameAddress, timelineText, type HistoryEntry } from "../history.ts";
import type { Session } from "../session.ts";
import { JOB_STATUS, JobStatus, ProviderStatus } from "../../chain/statuses.ts";

function print(
  ctx: Parameters<Command["run"]>[0],
  subject: Record<string, unknown>,
  entries: HistoryEntry[],
  header: string,
): void {
  ctx.out.result({ ...subject, events: entries }, () => `${header}\n${timelineText(entries)}`);
}

export async function jobTimeline(s: Session, jobId: bigint): Promise<HistoryEntry[]> {
  return history(s, ({ contract, args }) => contract === "InferenceMarket" && args.jobId === jobId);
}

export const auditCommands: Record<string, Command> = {
  "audit job": {
    summary: "a job's on-chain history: request, seats, results, settlement, payouts",
    usage: `<jobId>`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const jobId = BigInt(integer("jobId", ctx.positionals[0]!));
      const [status] = await conclaveContracts(s.record, s.publicClient).market.read.jobState([jobId]);
      if (status === JobStatus.None) throw new RequestError(`no job ${jobId} on this market`);
      print(
        ctx,
        { kind: "job", jobId: jobId.toString(), status: JOB_STATUS[status] },
        await jobTimeline(s, jobId),
        `job ${jobId}: ${JOB_STATUS[status]}`,
      );
    },
  },
  "audit model": {
    summary: "a model's history: versions published, activated, retired, and its proposals",
    usage: `<name|modelId>`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const model = await resolveModel(s, ctx.positionals[0]!, 1);
      const id = model.modelId.toLowerCase();
      const calldataMentions = (args: Record<string, unknown>) =>
        Array.isArray(args.calldatas) && (args.calldatas as Hex[]).some((c) => c.toLowerCase().includes(id.slice(2)));
      const entries = await history(
        s,
        ({ contract, event, args }) =>
          (contract === "ModelRegistry" && typeof args.modelId === "string" && args.modelId.toLowerCase() === id) ||
          (contract === "ConclaveGovernor" && event === "ProposalCreated" && calldataMentions(args)),
        { sameTxAs: false },
      );
      print(
        ctx,
        {
          kind: "model",
          name: model.name,
          modelId: model.modelId,
          activeVersion: model.activeVersion,
          versions: model.versionCount,
        },
        entries,
        `model ${model.name} (${model.modelId}): ${model.versionCount} version(s), active v${model.activeVersion || "-"}`,
      );
    },
  },
  "audit provider": {
    summary: "a provider's history: registration, votes on it, stake, jobs, slashing, payouts",
    usage: `<address>`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      if (!/^0x[0-9a-fA-F]{40}$/.test(ctx.positionals[0]!))
        throw new RequestError(`not an address: ${ctx.positionals[0]}`);
      const who: Address = getAddress(ctx.positionals[0]!);
      const p = await conclaveContracts(s.record, s.publicClient).providers.read.getProvider([who]);
      if (p.status === ProviderStatus.None) throw new RequestError(`${who} never registered as a provider`);
      const hexAddr = who.slice(2).toLowerCase();
      const entries = await history(
        s,
        ({ contract, event, args }) =>
          sameAddress(args.provider, who) ||
          sameAddress(args.account, who) ||
          (contract === "ConclaveGovernor" &&
            event === "ProposalCreated" &&
            Array.isArray(args.calldatas) &&
            (args.calldatas as Hex[]).some((c) => c.toLowerCase().includes(hexAddr))),
        { sameTxAs: false },
      );
      print(ctx, { kind: "provider", address: who }, entries, `provider ${who}`);
    },
  },
};
