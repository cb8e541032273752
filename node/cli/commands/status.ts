import { eventsToHead } from "../../chain/events.ts";
import { formatUnits, getAddress, hexToString, type Address, type Hex } from "viem";
import { chainNow } from "../../chain/clock.ts";
import { conclaveContracts } from "../../chain/contracts.ts";
import { PROPOSAL_STATES } from "../../dao/proposals.ts";
import { redactUrl } from "../../log.ts";
import { integer, RequestError, type Command } from "../command.ts";
import { timelineText } from "../history.ts";
import { sendTx } from "../tx.ts";
import { jobTimeline } from "./audit.ts";
import { JOB_STATUS, JobStatus, PROVIDER_STATUS, VERSION_STATUS } from "../../chain/statuses.ts";
import { jobOfWords, type JobWords } from "../../attest/job-words.ts";
import { registeredProviders } from "../../chain/providers.ts";

export const statusCommands: Record<string, Command> = {
  status: {
    summary: "the network at a glance: chain, models, providers, market, proposals",
    usage: "",
    async run(ctx) {
      const s = await ctx.session();
      const c = conclaveContracts(s.record, s.publicClient);
      const from = (name: string) => BigInt(s.record.contracts[name]!.block);
      const head = await s.publicClient.getBlockNumber();
      const created = await eventsToHead(s.publicClient, c.models, "ModelCreated", from("ModelRegistry"));
      const models = await Promise.all(
        created.map(async (l) => {
          const { modelId } = l.args as { modelId: Hex };
          const m = await c.models.read.getModel([modelId]);
          const active = m.activeVersion ? await c.models.read.getVersion([modelId, m.activeVersion]) : null;
          return {
            name: m.name,
            modelId,
            owner: m.owner,
            versions: m.versionCount,
            activeVersion: m.activeVersion,
            weightsCid: active?.weightsCid ?? null,
            minFee: active?.minFee.toString() ?? null,
            status: active ? VERSION_STATUS[active.status] : "no active version",
          };
        }),
      );
      const now = await chainNow(s.publicClient);
      const providers = await Promise.all(
        (await registeredProviders(s.publicClient, s.record)).map(async (who) => {
          const p = await c.providers.read.getProvider([who]);
          const frozenUntil = BigInt(p.frozenUntil) > now ? new Date(p.frozenUntil * 1000).toISOString() : null;
          return {
            address: who,
            status: PROVIDER_STATUS[p.status] ?? "Unknown",
            frozenUntil,
            stake: p.stake.toString(),
            locked: p.locked.toString(),
            disagreed: Number(p.disagreed),
            missed: Number(p.missed),
            accelerator: hexToString(p.accelerator, { size: 32 }).replace(/\0+$/, ""),
            metadataURI: p.metadataURI,
          };
        }),
      );
      const frozen = providers.filter((p) => p.frozenUntil !== null);
      const proposals = await eventsToHead(s.publicClient, c.governor, "ProposalCreated", from("ConclaveGovernor"));
      const byState: Record<string, number> = {};
      for (const l of proposals) {
        const st = PROPOSAL_STATES[await c.governor.read.state([(l.args as { proposalId: bigint }).proposalId])]!;
        byState[st] = (byState[st] ?? 0) + 1;
      }
      const policy = await c.market.read.policy();
      const jobs = Number(await c.market.read.nextJobId()) - 1;
      const status = {
        chainId: s.chain.id,
        rpc: redactUrl(s.rpcUrl),
        block: Number(head),
        deployment: s.deploymentFile,
        contracts: Object.fromEntries(Object.entries(s.record.contracts).map(([k, v]) => [k, v.address])),
        paused: await c.market.read.paused(),
        models,
        providers,
        frozen: frozen.map((p) => ({ address: p.address, until: p.frozenUntil })),
        market: {
          jobs: Math.max(jobs, 0),
          policy: Object.fromEntries(
            Object.entries(policy).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]),
          ),
        },
        proposals: byState,
        runners: s.record.runners ?? [],
      };
      ctx.out.result(status, () =>
        [
          `chain ${status.chainId} at block ${status.block} (${status.rpc})${status.paused ? "  [market PAUSED]" : ""}`,
          `deployment ${status.deployment}`,
          `models (${models.length}):`,
          ...models.map(
            (m) =>
              `  ${m.name.padEnd(20)} active v${m.activeVersion || "-"} of ${m.versions}  min fee ${m.minFee === null ? "-" : `${formatUnits(BigInt(m.minFee), 18)} ETH`}`,
          ),
          `providers (${providers.length}):`,
          ...providers.map(
            (p) =>
              `  ${p.address}  ${p.status.padEnd(9)} stake ${formatUnits(BigInt(p.stake), 18)} (allocated ${formatUnits(BigInt(p.locked), 18)})  disagreed ${p.disagreed} missed ${p.missed}${p.frozenUntil ? `  [FROZEN until ${p.frozenUntil}]` : ""}`,
          ),
          ...(frozen.length ? [`frozen providers: ${frozen.length}`] : []),
          `market: ${status.market.jobs} job(s); protocol fee ${policy.protocolFeeBps / 100}%, max k ${policy.maxRedundancy}, quorum > ${policy.quorumBps / 100}%`,
          `proposals: ${
            Object.entries(byState)
              .map(([k, n]) => `${n} ${k}`)
              .join(", ") || "none"
          }`,
          ...(status.runners.length ? ["runners:", ...status.runners.map((r) => `  ${r.address}  ${r.http}`)] : []),
        ].join("\n"),
      );
    },
  },
  "job finalize": {
    summary: "end a job past its deadline (or its reveal window): refund or settle it",
    usage: `<jobId>

Anyone may finalize a job that can no longer be served: the client's refund (or the settlement
of the seats that revealed) is credited at once; runners do this as a service, this command
does it by hand.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const jobId = BigInt(integer("jobId", ctx.positionals[0]!));
      const { market } = conclaveContracts(s.record, s.publicClient);
      const [status] = await market.read.jobState([jobId]);
      if (status === JobStatus.None) throw new RequestError(`no job ${jobId} on this market`);
      if (status === JobStatus.Settled || status === JobStatus.Refunded)
        throw new RequestError(`job ${jobId} already ended (${JOB_STATUS[status]})`);
      if (status >= JobStatus.Delivered)
        throw new RequestError(
          `job ${jobId} has a result (${JOB_STATUS[status]}): it is paid by a claim after its challenge window, or by its jury, not finalized`,
        );
      const requested = (await jobTimeline(s, jobId)).find((e) => e.event === "JobRequested");
      if (!requested) throw new RequestError(`the request of job ${jobId} is not in the market's history`);
      await sendTx(s, `finalizing job ${jobId}`, {
        address: market.address,
        abi: market.abi,
        functionName: "finalize",
        args: [jobId, requested.args.job],
      });
      const [after] = await market.read.jobState([jobId]);
      ctx.out.result(
        { jobId: jobId.toString(), status: JOB_STATUS[after] },
        () => `job ${jobId}: ${JOB_STATUS[after]}`,
      );
    },
  },
  "job claim": {
    summary: "pay a k = 1 delivery whose challenge window passed: its provider is credited the fee",
    usage: `<jobId>

A k = 1 result is paid once its challenge window passed unchallenged. The provider's runner
claims by itself; anyone may claim for it (a keeper): the fee is credited to the provider, the
protocol fee accrues and the provider's collateral is released.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const jobId = BigInt(integer("jobId", ctx.positionals[0]!));
      const { market, court } = conclaveContracts(s.record, s.publicClient);
      const [status, , , deliveredAt] = await market.read.jobState([jobId]);
      if (status === JobStatus.None) throw new RequestError(`no job ${jobId} on this market`);
      if (status !== JobStatus.Delivered)
        throw new RequestError(`job ${jobId} is ${JOB_STATUS[status]}: only a delivered k = 1 job is claimed`);
      const events = await jobTimeline(s, jobId);
      const words = events.find((e) => e.event === "JobRequested")?.args.job as JobWords | undefined;
      const job = words && jobOfWords(words);
      const delivery = events.filter((e) => e.event === "ResultSubmitted").at(-1)?.args as
        { provider: Address; resultHash: Hex } | undefined;
      if (!job || !delivery)
        throw new RequestError(`the request or the delivery of job ${jobId} is not in the market's history`);
      const endsAt = deliveredAt + job.challengeWindow;
      const now = Number((await s.publicClient.getBlock()).timestamp);
      if (now <= endsAt)
        throw new RequestError(
          `job ${jobId} may be challenged until ${new Date(endsAt * 1000).toISOString()}: claim after that`,
        );
      const claim = { jobId, job: words!, provider: delivery.provider, resultHash: delivery.resultHash };
      await sendTx(s, `claiming job ${jobId} for ${delivery.provider}`, {
        address: court.address,
        abi: court.abi,
        functionName: "claim",
        args: [[claim]],
      });
      const [after] = await market.read.jobState([jobId]);
      if (after !== JobStatus.Settled)
        throw new RequestError(`the claim of job ${jobId} was skipped: the job is ${JOB_STATUS[after]}`);
      ctx.out.result(
        { jobId: jobId.toString(), status: JOB_STATUS[after], provider: delivery.provider },
        () => `job ${jobId}: claimed, fee credited to ${delivery.provider}`,
      );
    },
  },
  "job cancel": {
    summary: "cancel your open job whose model version stopped taking jobs, and get the escrow back",
    usage: `<jobId>

A job pins its model version and providers may serve it even after the DAO retires the version;
once the version takes no jobs (retired, or past its sunset) its client may cancel the job while no
result is in (k = 1) or before its reveal phase (k > 1): the escrow is credited back (withdraw it
with conclave account withdraw) and any seats are released with no fault.`,
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const jobId = BigInt(integer("jobId", ctx.positionals[0]!));
      const { market, models } = conclaveContracts(s.record, s.publicClient);
      const [status] = await market.read.jobState([jobId]);
      if (status === JobStatus.None) throw new RequestError(`no job ${jobId} on this market`);
      if (status !== JobStatus.Open)
        throw new RequestError(`job ${jobId} is ${JOB_STATUS[status]}: only an open job can be cancelled`);
      const requested = (await jobTimeline(s, jobId)).find((e) => e.event === "JobRequested");
      if (!requested) throw new RequestError(`the request of job ${jobId} is not in the market's history`);
      const job = jobOfWords(requested.args.job as JobWords);
      const me = (await s.signer()).account.address;
      if (getAddress(job.client) !== me) throw new RequestError(`job ${jobId} belongs to ${job.client}, not to ${me}`);
      if (await models.read.acceptsJobs([job.modelId, job.version]))
        throw new RequestError(
          `version ${job.version} of the job's model still takes jobs: providers may still serve job ${jobId}`,
        );
      await sendTx(s, `cancelling job ${jobId}`, {
        address: market.address,
        abi: market.abi,
        functionName: "cancel",
        args: [jobId, requested.args.job],
      });
      const [after] = await market.read.jobState([jobId]);
      ctx.out.result(
        { jobId: jobId.toString(), status: JOB_STATUS[after] },
        () => `job ${jobId}: cancelled, escrow credited back`,
      );
    },
  },
  "job status": {
    summary: "a job's state, seats and results",
    usage: "<jobId>",
    args: [1, 1],
    async run(ctx) {
      const s = await ctx.session();
      const jobId = BigInt(integer("jobId", ctx.positionals[0]!));
      const [status, seated, revealed] = await conclaveContracts(s.record, s.publicClient).market.read.jobState([
        jobId,
      ]);
      if (status === JobStatus.None) throw new RequestError(`no job ${jobId} on this market`);
      const events = await jobTimeline(s, jobId);
      const request = events.find((e) => e.event === "JobRequested")?.args as
        { client: Address; job: JobWords } | undefined;
      const requested = request && { client: request.client, job: jobOfWords(request.job) };
      const settled = events.find((e) => e.event === "JobSettled")?.args as { resultHash: Hex } | undefined;
      const result = {
        jobId: jobId.toString(),
        status: JOB_STATUS[status],
        seated,
        revealed,
        client: requested?.client ?? null,
        redundancy: requested?.job.redundancy ?? null,
        deadline: requested ? new Date(Number(requested.job.deadline) * 1000).toISOString() : null,
        resultHash: settled?.resultHash ?? null,
        events,
      };
      ctx.out.result(
        result,
        () =>
          `job ${jobId}: ${result.status} (${seated} seated, ${revealed} revealed), k=${result.redundancy}, deadline ${result.deadline}${result.resultHash ? `, result ${result.resultHash}` : ""}\n${timelineText(events)}`,
      );
    },
  },
};
