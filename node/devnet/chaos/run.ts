/**
 * One chaos run, start to end: a local network, a fleet of runners behind fault proxies, clients
 * sending the job mix while the fault plan plays, the wait until every job is final, and the
 * audit. Returns the report; printing is the caller's.
 */
import { parseEther, type Address, type PublicClient, type TransactionReceipt } from "viem";
import { loadArtifact } from "../../chain/artifacts.ts";
import { revertName } from "../../chain/revert.ts";
import { mnemonicToAccount } from "viem/accounts";
import { mined } from "../../dao/proposals.ts";
import { ConfigError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { DEV_MNEMONIC, DEV_ROLES } from "../accounts.ts";
import { startDevnet, type Devnet, type DevnetOptions } from "../network.ts";
import { audit } from "./audit.ts";
import { planFaults, runFaults } from "./faults.ts";
import { startFleet, type Fleet, type RunnerResources } from "./fleet.ts";
import { createLoadGenerator, jobMix } from "./load.ts";
import type { ChaosOptions } from "./options.ts";
import { seededRandom } from "./random.ts";
import type { ChaosReport } from "./report.ts";
import { readJournal } from "./journals.ts";
import { waitUntilFinal } from "./settle.ts";

/** Provider accounts, in the order runners take them: the local network's providers first (Anvil funds 30 accounts). */
const PROVIDER_POOL = [4, 5, 6, 10, 11, 12, 13, 14, 15, 16] as const;
/** Client accounts: the local network's clients first; the deployer tops up any with too little ETH. */
const CLIENT_POOL = [7, 8, 9, 17, 18, 19, 20, 21, 22, 23] as const;

const BLOCK_TIME_SECONDS = 1;

interface ChaosDeps {
  log: Logger;
  /** One progress line at a time (stderr in the script). */
  say: (line: string) => void;
  /** Starts the network (default startDevnet); tests may pass their own. */
  startDevnet?: (opts: DevnetOptions) => Promise<Devnet>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The faults need Anvil (anvil_reorg, anvil_setNextBlockBaseFeePerGas) mining on an interval. */
async function checkNode(net: Devnet, seconds: number): Promise<void> {
  const version = String(await net.publicClient.request({ method: "web3_clientVersion" }));
  if (!/anvil/i.test(version))
    throw new ConfigError(`the chaos harness needs the Anvil local network; the node is ${version}`);
  if (net.node.blockTimeSeconds !== seconds)
    throw new ConfigError(`the local network mines every ${net.node.blockTimeSeconds} s, not every ${seconds} s`);
}

async function fundClients(net: Devnet, clients: readonly number[]): Promise<void> {
  const deployer = net.wallet(DEV_ROLES.deployer);
  for (const i of clients) {
    const address = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i }).address;
    if ((await net.publicClient.getBalance({ address })) < parseEther("100")) {
      await mined(net.publicClient, deployer.sendTransaction({ to: address, value: parseEther("1000") }));
    }
  }
}

export async function runChaos(opts: ChaosOptions, deps: ChaosDeps): Promise<ChaosReport> {
  if (opts.runners > PROVIDER_POOL.length) throw new ConfigError(`at most ${PROVIDER_POOL.length} runners`);
  if (opts.clients > CLIENT_POOL.length) throw new ConfigError(`at most ${CLIENT_POOL.length} clients`);
  const providerIndexes = PROVIDER_POOL.slice(0, opts.runners);
  const clientIndexes = CLIENT_POOL.slice(0, opts.clients);
  const jobs = opts.soakMinutes === null ? opts.jobs : Math.max(1, Math.round(opts.soakMinutes * 60 * opts.rate));
  const rate = opts.burst && opts.soakMinutes === null ? null : opts.rate;
  const random = seededRandom(opts.seed);

  deps.say(`starting the local network (${opts.runners} providers) ...`);
  const net = await (deps.startDevnet ?? startDevnet)({
    providers: providerIndexes,
    blockTimeSeconds: BLOCK_TIME_SECONDS,
    log: (l) => deps.say(`  ${l}`),
  });
  let fleet: Fleet | null = null;
  let remembering: ReturnType<typeof setInterval> | undefined;
  // Kept unless the run ends with an OK verdict (a failed or interrupted run is looked into).
  let keepData = true;
  try {
    await checkNode(net, BLOCK_TIME_SECONDS);
    await fundClients(net, clientIndexes);
    deps.say(`starting ${opts.runners} runners, each behind its own RPC fault proxy ...`);
    fleet = await startFleet({
      net,
      indexes: providerIndexes,
      overrides: opts.runnerConfig,
      rpcEndpoints: opts.rpcEndpoints,
      random,
      log: deps.log,
      verbose: opts.verbose,
    });
    const start: RunnerResources[] | null = opts.soakMinutes === null ? null : fleet.resources();

    const accounts = clientIndexes.map((i) => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: i }));
    // Steady load: k = 1 clients want an answer within 3 minutes. A burst queues jobs for longer.
    const load = createLoadGenerator({
      publicClient: net.publicClient,
      record: net.record,
      accounts,
      log: deps.log,
      k1DeadlineSeconds: rate === null ? undefined : 180,
    });
    const specs = jobMix(jobs, opts.k3Share, random);
    const sendSpan = rate === null ? 90 : jobs / rate;
    const plan = planFaults(opts.faults, opts.faultRepeats, opts.faultSpanSeconds ?? sendSpan, opts.runners, random);
    const fromBlock = (await net.publicClient.getBlockNumber({ cacheTime: 0 })) + 1n;
    deps.say(
      `sending ${jobs} jobs (${rate === null ? "all at once" : `${rate}/s`}), ${plan.length} faults planned ...`,
    );

    // Runners forget ended jobs after jobs.retentionMs: what they abstained from or refused is
    // collected while they still remember it, so a long run can still name its refunds.
    const remembered = fleet.runners.map(() => ({
      abstained: new Set<bigint>(),
      failed: new Set<bigint>(),
      tooLate: new Set<bigint>(),
    }));
    const remember = () => {
      fleet?.runners.forEach((r, i) => {
        const j = readJournal(r.config.dataDir);
        for (const id of j?.abstained ?? []) remembered[i]!.abstained.add(id);
        for (const id of j?.failed ?? []) remembered[i]!.failed.add(id);
        for (const id of j?.tooLate ?? []) remembered[i]!.tooLate.add(id);
      });
    };
    remembering = setInterval(remember, 20_000);

    const t0 = Date.now();
    const faultsDone = runFaults(
      { publicClient: net.publicClient, fleet, blockTimeSeconds: BLOCK_TIME_SECONDS, random, log: deps.log },
      plan,
      t0,
    );
    const progress = setInterval(
      () => deps.say(`  ${((Date.now() - t0) / 1000).toFixed(0)} s: ${load.sent().length}/${jobs} requests sent`),
      15_000,
    );
    try {
      await load.run(specs, rate);
    } finally {
      clearInterval(progress);
    }
    const sendSeconds = (Date.now() - t0) / 1000;
    const faults = await faultsDone;
    // A request a reorg dropped after its re-send window, or one stuck under a fee spike, must land before the count.
    const resentByClients = await load.ensureLanded(120_000);

    deps.say("waiting until every job is final on-chain ...");
    const t1 = Date.now();
    let lastSaid = 0;
    const settled = await waitUntilFinal({
      publicClient: net.publicClient,
      record: net.record,
      rpcUrl: net.node.rpcUrl,
      clients: accounts,
      fromBlock,
      timeoutMs: opts.settleTimeoutSeconds * 1000,
      log: deps.log,
      onProgress: (open, total) => {
        if (Date.now() - lastSaid < 15_000) return;
        lastSaid = Date.now();
        deps.say(`  ${open} of ${total} jobs not final yet`);
      },
    });
    const settleSeconds = (Date.now() - t1) / 1000;
    for (const line of settled.openDetails) deps.say(`  still open: ${line}`);
    // Let the runners see the last blocks (their journals say paid/refunded) before they stop.
    await sleep(3_000 * BLOCK_TIME_SECONDS);
    clearInterval(remembering);
    remember();
    const end = start === null ? null : fleet.resources();
    const runners = fleet.runners.map((r) => ({ index: r.index, address: r.address, dataDir: r.config.dataDir }));
    const methodsRefused = fleet.runners
      .flatMap((r) => [r.proxy, ...r.fallbackProxies])
      .reduce((sum, p) => sum + p.counters().methodRefused, 0);
    await fleet.stop();
    fleet = null;

    deps.say("auditing the chain and the journals ...");
    const sent = load.sent();
    const receipts = await Promise.all(
      sent
        .filter((s) => !s.error)
        .map((s) => net.publicClient.getTransactionReceipt({ hash: s.hash }).catch(() => null)),
    );
    // A fault's blocks: from its start to its end, plus a few blocks to recover (1 s blocks).
    const faultBlocks = faults.map((f) => ({
      kind: f.kind,
      from: f.block,
      to: f.block + BigInt(Math.ceil((f.endedAt - f.startedAt) / BLOCK_TIME_SECONDS)) + 3n,
    }));
    // A killed runner cannot reveal: its silent seats are slashed (a real fault), reported apart.
    const kills = faults.flatMap((f, i) =>
      f.kind === "kill" && f.target !== null && runners[f.target]
        ? [{ address: runners[f.target]!.address, from: f.block, to: faultBlocks[i]!.to }]
        : [],
    );
    const figures = await audit({
      publicClient: net.publicClient,
      record: net.record,
      clients: accounts.map((a) => a.address as Address),
      runners,
      fromBlock,
      faultBlocks,
      kills,
      remembered,
    });
    const report: ChaosReport = {
      options: {
        jobs,
        runners: opts.runners,
        clients: opts.clients,
        k3Share: opts.k3Share,
        rate: opts.rate,
        burst: rate === null,
        seed: opts.seed,
        faults: opts.faults,
        faultRepeats: opts.faultRepeats,
        faultSpanSeconds: opts.faultSpanSeconds ?? sendSpan,
        soakMinutes: opts.soakMinutes,
        settleTimeoutSeconds: opts.settleTimeoutSeconds,
        rpcEndpoints: opts.rpcEndpoints,
        runnerConfig: opts.runnerConfig,
      },
      blockTimeSeconds: BLOCK_TIME_SECONDS,
      providers: [...providerIndexes],
      clients: [...clientIndexes],
      sendSeconds,
      settleSeconds,
      requests: {
        sent: sent.filter((s) => !s.error).length,
        notSent: sent.filter((s) => s.error).length,
        reverted: receipts.filter((r) => r?.status === "reverted").length,
        revertReasons: await revertReasons(net.publicClient, receipts),
        resentByClients,
        repricedByClients: sent.filter((x) => (x.repriced ?? 0) > 0).length,
      },
      figures,
      methodsRefused,
      finalizedByClients: settled.finalizedByClients.length,
      faults,
      resources: start === null || end === null ? null : { start, end },
      ok:
        figures.lost.length === 0 &&
        figures.paidTwice.length === 0 &&
        figures.honestSlashes.length === 0 &&
        figures.killedSlashes.length === 0 &&
        settled.open.length === 0,
    };
    // A journal that says lost for a job the chain paid is not a loss, but a wrong record to trace.
    keepData = !report.ok || figures.providers.some((p) => p.paidButJournalLost > 0);
    return report;
  } finally {
    clearInterval(remembering);
    await fleet?.stop().catch(() => undefined);
    await net.stop({ keepTempDirs: keepData });
    // A failed run's journals and config are what its investigation starts from.
    if (keepData) deps.say(`runners' data dirs kept: ${net.tempDirs.list().join(" ")}`);
  }
}

/**
 * Why the clients' reverted requests reverted, counted by custom error: each is replayed as a
 * call on the state of the block before its own (close to what it met; good enough to name it).
 */
async function revertReasons(
  publicClient: PublicClient,
  receipts: readonly (TransactionReceipt | null)[],
): Promise<Record<string, number>> {
  const abi = loadArtifact("InferenceMarket").abi;
  const out: Record<string, number> = {};
  for (const r of receipts) {
    if (r?.status !== "reverted") continue;
    const tx = await publicClient.getTransaction({ hash: r.transactionHash });
    const reason = await publicClient
      .call({
        account: tx.from,
        to: tx.to,
        data: tx.input,
        value: tx.value,
        gas: tx.gas,
        blockNumber: r.blockNumber - 1n,
      })
      .then(
        () => "passes when replayed (ran out of gas, or depended on its block)",
        (error: unknown) => revertName(error, abi) ?? "unknown",
      );
    out[reason] = (out[reason] ?? 0) + 1;
  }
  return out;
}
