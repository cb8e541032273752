import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { keccak256, toHex, type Abi, type Address, type Hex } from "viem";
import { loadArtifact, marketAbiWithCourt } from "./chain/artifacts.ts";
import { eventsToHead } from "./chain/events.ts";
import { connect, walletFor, type OnRpcCall } from "./chain/clients.ts";
import { contractAddress, readDeployment } from "./chain/deployment.ts";
import { createChainReader } from "./chain/reader.ts";
import { createTxSender } from "./chain/tx-pipeline.ts";
import { txRpcOf } from "./chain/tx-sender.ts";
import { chainSourceOf, createChainWatcher } from "./chain/watcher.ts";
import { createLogThread } from "./chain/log-thread.ts";
import { signingAccount } from "./chain/signing-account.ts";
import { minFeeFor, parseHostPort, type RunnerConfig } from "./config.ts";
import { ConfigError, oneLine } from "./errors.ts";
import { createMetrics } from "./http/metrics.ts";
import { createRunnerHttp } from "./http/runner-http.ts";
import { createExecutor } from "./inference/executor.ts";
import { attestationFor, signAttestation } from "./attest/attestation.ts";
import { nearQuantizationBoundary } from "./attest/result-hash.ts";
import { cidOfBytes } from "./ipfs/cid.ts";
import type { ContentStore } from "./ipfs/content-store.ts";
import { createHeliaStore } from "./ipfs/helia-store.ts";
import { createPeerKeeper } from "./ipfs/peer-keeper.ts";
import { createKuboStore } from "./ipfs/kubo-store.ts";
import { createCourt } from "./jobs/court.ts";
import { StakeReservations } from "./jobs/stake-reservations.ts";
import { createRolloutService } from "./rollouts/service.ts";
import { createFulfillerChain, createPreimageSource, routerAbi, routerOf } from "./consumers/chain.ts";
import { createFulfiller } from "./consumers/fulfiller.ts";
import { createDeliveryBatcher } from "./jobs/delivery-batcher.ts";
import { createOwnOutputs } from "./jobs/own-outputs.ts";
import { createJobProcessor } from "./jobs/processor.ts";
import { openJournal } from "./journal/journal.ts";
import { createLogger, redactUrl, urlRedactor, type Logger } from "./log.ts";
import { createModelMetrics } from "./models/model-metrics.ts";
import { createPrefetcher } from "./models/prefetcher.ts";
import { ModelStore, versionInfoOf } from "./models/store.ts";
import { versionsView } from "./models/versions-view.ts";
import { trackWarmSessions } from "./models/warm-sessions.ts";
import { createPayoutsTimer } from "./payouts.ts";
import { createTicker, serviceOf, type Service } from "./service.ts";

/**
 * Most blocks per eth_getLogs query. Queries shrink by themselves on a provider's range or result
 * limits and grow back to this; 2,000 is within what public providers accept.
 */
const MAX_LOG_RANGE = 2_000;

/** Retries of one RPC call (429, 5xx, dropped connection) before the step that made it backs off. */
const RPC_RETRIES = 4;
/** How long one RPC call may take (the client's, see connect). */
const RPC_TIMEOUT_MS = 10_000;

interface Runner {
  address: Address;
  httpUrl: string;
  /** Multiaddrs of the embedded IPFS node (empty with Kubo). */
  ipfsAddrs: string[];
  /** URL of the trustless gateway serving the blocks this runner holds (ipfs.gateway); null if none. */
  gatewayUrl: string | null;
  stop(): Promise<void>;
}

/**
 * The one place where the runner's services are wired together: config → chain clients →
 * journal → IPFS → model store → executor → tx sender → job processor → watcher → HTTP. Each is a
 * Service (service.ts): listed below in wiring order, started in that order once all are made, and
 * stopped in the reverse order after the shutdown signal fired. The file stays over 400 lines as
 * one function on purpose: each block only maps config onto one service's factory, and the stop
 * order that keeps shutdown safe (see the "Stops before" notes) is readable only in one list.
 */
export async function startRunner(config: RunnerConfig, opts: { log?: Logger } = {}): Promise<Runner> {
  const record = readDeployment(config.deployment);
  const account = signingAccount(config.privateKey);
  const log = (
    opts.log ??
    createLogger({
      level: config.logLevel,
      redact: urlRedactor([config.rpcUrl, ...config.rpcFallbackUrls, config.ipfs.kuboUrl]),
    })
  ).child({ provider: account.address });
  const metrics = createMetrics({ provider: account.address });
  const onRpcCall: OnRpcCall = (method, endpoint, count) =>
    metrics.rpcCalls.inc({ method, endpoint: String(endpoint) }, count);
  const clients = await connect(config.rpcUrl, {
    timeoutMs: RPC_TIMEOUT_MS,
    pollingIntervalMs: Math.min(config.pollIntervalMs, 250),
    retryCount: RPC_RETRIES,
    fallbackUrls: config.rpcFallbackUrls,
    onCall: onRpcCall,
    multicall: config.rpcMulticall,
  });
  const { publicClient, chain } = clients;
  for (const url of clients.unreachableFallbacks)
    log.warn("fallback RPC does not answer; it stays in the list", { rpc: url });
  if (chain.id !== record.chainId) {
    clients.close();
    throw new ConfigError(
      `RPC ${redactUrl(config.rpcUrl)} is chain ${chain.id}, but ${config.deployment} is for chain ${record.chainId}`,
    );
  }
  const market = contractAddress(record, "InferenceMarket");
  const marketAbi = marketAbiWithCourt() as Abi;
  const wallet = walletFor(config.rpcUrl, chain, account);

  mkdirSync(config.dataDir, { recursive: true });
  const journal = openJournal(path.join(config.dataDir, "journal.sqlite"), {
    onCheckpointer: (event) => {
      if (event.kind === "failed")
        log.warn("journal checkpoints went back on the event loop: the checkpointer thread failed", {
          error: event.message,
        });
    },
  });
  const shutdown = new AbortController();
  const { signal } = shutdown;
  const services: Service[] = [serviceOf({ stop: () => clients.close() }), serviceOf({ stop: () => journal.close() })];
  let stopping: Promise<void> | null = null;
  const stopAll = () =>
    (stopping ??= (async () => {
      shutdown.abort();
      for (const service of [...services].reverse()) {
        try {
          await service.stop();
        } catch (error) {
          log.warn("error while stopping", { error });
        }
      }
    })());
  try {
    const owner = `${record.chainId}:${market}:${account.address}`;
    const known = journal.getMeta("owner");
    if (known && known !== owner)
      throw new ConfigError(`journal in ${config.dataDir} belongs to ${known}, not ${owner}: use another dataDir`);
    journal.setMeta("owner", owner);

    const cachedFile: { of?: (cid: string) => string | undefined } = {};
    const content: ContentStore =
      config.ipfs.engine === "kubo"
        ? await createKuboStore({ url: config.ipfs.kuboUrl! })
        : await createHeliaStore({
            dir: path.join(config.dataDir, "ipfs"),
            listen: config.ipfs.listen,
            // Peers asking for a model's file bytes get the verified cache file (once the model store exists).
            gateway:
              config.ipfs.gateway === null
                ? undefined
                : { ...parseHostPort(config.ipfs.gateway), files: (cid) => cachedFile.of?.(cid) },
            gateways: config.ipfs.gateways,
            log: (event, fields) => log.debug(event, fields as Record<string, unknown>),
          });
    services.push(serviceOf({ stop: () => content.stop() }));
    const peerKeeper = createPeerKeeper({ content, peers: config.ipfs.peers, log, signal });
    await peerKeeper.dialAll();
    services.push(peerKeeper);

    const modelMetrics = createModelMetrics(metrics.registry, {
      held: () => models.held().length,
      warm: () => sessions.keys().length,
    });
    const models = new ModelStore({
      dir: path.join(config.dataDir, "models"),
      content,
      cidOf: cidOfBytes,
      cacheMaxBytes: config.models.cacheMaxBytes,
      maxWeightsBytes: config.models.maxWeightsBytes,
      fetchTimeoutMs: config.ipfs.fetchTimeoutMs,
      provide: config.models.provide,
      log,
      onFetched: (n) => {
        metrics.bytesFetched.inc(n);
        modelMetrics.weightDownloads.inc();
      },
      onRejected: (check) => metrics.weightsRejected.inc({ check }),
      onCacheCorrupt: () => modelMetrics.cacheCorrupt.inc(),
      // A retired version leaves the worker processes too (its sessions are unloaded). One evicted
      // for room keeps its loaded session (a job may be running on it); the next job's ensure
      // fetches the file again.
      onEvicted: (key, reason) => {
        modelMetrics.evictions.inc({ reason });
        if (reason === "retired")
          void executor
            .unload(key)
            .catch((error: unknown) => log.warn("cannot unload a retired version", { key, error: oneLine(error) }));
      },
    });
    cachedFile.of = (cid) => models.fileOf(cid);
    // The workers' temporary folder is the data dir's, emptied at each start: what a worker leaves
    // there (onnxruntime's telemetry files, where its owner turned the telemetry on: inference/ort.ts)
    // is not left in /tmp at every worker start.
    const workerTmp = path.join(config.dataDir, "worker-tmp");
    rmSync(workerTmp, { recursive: true, force: true });
    mkdirSync(workerTmp);
    // Every load and unload goes through the tracker, so /ready knows which versions are warm.
    const sessions = trackWarmSessions(
      createExecutor({
        signal,
        workers: config.inference.workers,
        intraOpThreads: config.inference.intraOpThreads,
        log: (event, fields) => log.debug(event, fields as Record<string, unknown>),
        onWorkerRestart: (reason) => metrics.workerRestarts.inc({ reason }),
        tempDir: workerTmp,
      }),
    );
    const executor = sessions.executor;
    services.push(serviceOf({ stop: () => executor.close() }));

    const sender = createTxSender({
      rpc: txRpcOf(publicClient),
      chain,
      account,
      journal,
      log,
      errorAbi: [
        ...marketAbi,
        ...(loadArtifact("ProviderRegistry").abi as Abi),
        ...(loadArtifact("ModelRegistry").abi as Abi),
        ...(routerOf(record) ? routerAbi() : []),
      ],
      confirmTimeoutMs: config.tx.confirmTimeoutMs,
      feeBumpPercent: config.tx.feeBumpPercent,
      maxFeePerGas: config.tx.maxFeePerGas,
      pollIntervalMs: Math.min(200, config.pollIntervalMs),
      onFailure: (kind) => metrics.txFailures.inc({ kind }),
      onEvent: (event) => {
        if (event.type === "feeBump") metrics.txFeeBumps.inc();
        else if (event.type === "rpcError") metrics.rpcErrors.inc({ kind: `tx:${event.method}` });
        else if (event.type === "voided") metrics.txVoided.inc({ kind: event.kind });
      },
    });
    await sender.init();

    const ownOutputs = createOwnOutputs({ journal, content, fetchTimeoutMs: config.ipfs.fetchTimeoutMs });
    // Where runners before 2026-12 wrote each job's outputs again (see own-outputs.ts).
    rmSync(path.join(config.dataDir, "outputs"), { recursive: true, force: true });
    const chainReader = createChainReader(publicClient, record, account.address, { maxRange: MAX_LOG_RANGE });
    const allowed =
      config.models.allow.length > 0 ? new Set<Hex>(config.models.allow.map((name) => keccak256(toHex(name)))) : null;
    const modelRegistry = {
      address: contractAddress(record, "ModelRegistry"),
      abi: loadArtifact("ModelRegistry").abi,
    } as const;
    const prefetcher = createPrefetcher({
      signal,
      enabled: config.models.prefetch,
      allowed,
      concurrency: config.models.prefetchConcurrency,
      readModel: (modelId) =>
        publicClient.readContract({ ...modelRegistry, functionName: "getModel", args: [modelId] }),
      readVersion: async (modelId, version) => {
        const v = await publicClient.readContract({
          ...modelRegistry,
          functionName: "getVersion",
          args: [modelId, version],
        });
        return { ...versionInfoOf(modelId, version, v), status: v.status };
      },
      store: models,
      warm: (model) => executor.load(model.key, model.path, model.schema),
      log,
      onOutcome: (outcome) => modelMetrics.prefetches.inc({ outcome }),
      retryBaseMs: config.jobs.retryBaseMs,
      retryMaxMs: config.jobs.retryMaxMs,
    });
    // The served models' current versions, whatever the watcher's cursor: the allowed names, or
    // every model the registry created (a resumed runner's backfill does not replay them).
    const watchServedModels = () => {
      if (allowed) prefetcher.watch([...allowed]);
      else if (config.models.prefetch) {
        void eventsToHead(publicClient, modelRegistry, "ModelCreated", record.contracts.ModelRegistry!.block)
          .then((created) => prefetcher.watch([...new Set(created.map((l) => (l.args as { modelId: Hex }).modelId))]))
          .catch((error: unknown) =>
            log.warn("prefetch: cannot list the registry's models; events still trigger prefetches", {
              error: oneLine(error),
            }),
          );
      }
    };
    // Stops before executor.close (stops run in reverse): no new fetch or session load starts while stopping.
    services.push(serviceOf({ start: watchServedModels, stop: () => prefetcher.stop() }));
    const batcher = createDeliveryBatcher({
      signal,
      sender,
      market,
      marketAbi,
      log,
      maxBatch: config.delivery.maxBatch,
      maxWaitBlocks: config.delivery.maxWaitBlocks,
      onFlush: (size) => metrics.deliveryBatchSize.observe(size),
    });
    // What the job processor and the court (a juror's and a checker's duties) both work with.
    // The stake reservations too: a jury seat or a challenge bond takes the free stake jobs would.
    const jobServiceDeps = {
      signal,
      journal,
      chain: chainReader,
      sender,
      market,
      marketAbi,
      stake: new StakeReservations(),
    };
    const processor = createJobProcessor({
      ...jobServiceDeps,
      models,
      content,
      executor,
      metrics,
      log,
      allowedModels: allowed,
      minFee: (token) => minFeeFor(config, token),
      maxConcurrentJobs: config.maxConcurrentJobs,
      maxInputBytes: config.maxInputBytes,
      inlineOutputMaxBytes: config.inlineOutputMaxBytes,
      inferenceTimeoutMs: config.inference.timeoutMs,
      fetchTimeoutMs: config.ipfs.fetchTimeoutMs,
      expireStaleJobs: config.expireStaleJobs,
      prefetch: config.models.prefetch,
      commitMarginSeconds: config.jobs.commitMarginSeconds,
      revealMarginSeconds: config.jobs.revealMarginSeconds,
      retryBaseMs: config.jobs.retryBaseMs,
      retryMaxMs: config.jobs.retryMaxMs,
      followIntervalMs: config.jobs.followIntervalMs,
      retentionMs: config.jobs.retentionMs,
      maxConcurrentSteps: config.jobs.maxConcurrentSteps,
      spreadMs: config.jobs.spreadMs,
      batcher,
      abstain: (outputs, quantum) => {
        const hit = nearQuantizationBoundary(outputs, quantum, config.inference.boundaryEpsilon);
        return hit
          ? `${hit.tensor}[${hit.index}] = ${hit.value} lies ${hit.distance.toPrecision(2)} quanta from a rounding boundary`
          : null;
      },
    });
    services.push(processor);
    // Stops before processor.stop (stops run in reverse): steps waiting in a batch for the next
    // block were cancelled by the signal, not held back by the shutdown (the journal resumes them).
    services.push(batcher);
    const court = createCourt({
      ...jobServiceDeps,
      processor,
      log,
      allowedModels: allowed,
      checkRate: config.jobs.checkRate,
      marginSeconds: config.jobs.commitMarginSeconds,
      followIntervalMs: config.jobs.followIntervalMs,
      retryBaseMs: config.jobs.retryBaseMs,
      retryMaxMs: config.jobs.retryMaxMs,
    });
    services.push(court);
    const registry = contractAddress(record, "ModelRegistry");
    const registryAbi = loadArtifact("ModelRegistry").abi;
    const rollouts = createRolloutService({
      registry,
      registryAbi,
      verdict: async (modelId) => {
        const [promotable, abortable] = await publicClient.readContract({
          address: registry,
          abi: registryAbi,
          functionName: "rolloutVerdict",
          args: [modelId],
        });
        return { promotable, abortable };
      },
      sender,
      journal,
      log: log.child({ service: "rollouts" }),
      allowedModels: allowed,
      autoAct: config.rollouts.autoAct,
    });
    services.push(serviceOf({ stop: () => rollouts.stop() }));
    // Stops before processor.stop (stops run in reverse): a send stuck at the fee cap would
    // otherwise keep the processor, and shutdown, waiting; the journal resumes it on restart.
    services.push(serviceOf({ stop: () => sender.close() }));

    const watchedAbi = [...marketAbi, ...(loadArtifact("ModelRegistry").abi as Abi)];
    // Logs fetched and decoded off the event loop (issue 14); stops after the watcher.
    const logThread = createLogThread(
      {
        urls: [config.rpcUrl, ...config.rpcFallbackUrls],
        timeoutMs: RPC_TIMEOUT_MS,
        retryCount: RPC_RETRIES,
        abi: watchedAbi,
      },
      { onCall: onRpcCall },
    );
    services.push(serviceOf({ stop: () => logThread.close() }));
    const watcher = createChainWatcher({
      chain: chainSourceOf(publicClient, logThread),
      journal,
      addresses: [market, contractAddress(record, "ModelRegistry")],
      abi: watchedAbi,
      confirmations: config.confirmations,
      pollIntervalMs: config.pollIntervalMs,
      startBlock: config.startBlock ?? record.contracts.InferenceMarket!.block,
      maxLogRange: MAX_LOG_RANGE,
      log,
      onLogs: async (logs) => {
        prefetcher.onLogs(logs);
        await processor.onLogs(logs);
        court.onLogs(logs);
        rollouts.onLogs(logs);
      },
      onRpcError: (_error, kind) => metrics.rpcErrors.inc({ kind: kind ?? "other" }),
      onReorg: (_ancestor, jobIds) => {
        metrics.reorgs.inc();
        chainReader.forgetReused();
        processor.rewound(jobIds);
        void sender
          .reconcile()
          .catch((error: unknown) => log.warn("reconciling transactions after a reorg failed", { error }))
          .finally(() => jobIds.forEach((id) => processor.kick(id)));
      },
      onHead: (head) => sender.noteHead(BigInt(head)),
      onProgress: (head, processed) => {
        metrics.blocksBehind.set(Math.max(0, head - processed));
        batcher.onBlock(head);
      },
    });
    services.push(watcher);

    // Consumer contracts' callbacks delivered, and the deposits of jobs that ended without a
    // result reclaimed for their consumers, as a service (deployments with a ConsumerRouter).
    const router = routerOf(record);
    const fulfiller =
      (config.consumers.fulfil || config.consumers.reclaim) && router
        ? createFulfiller({
            // Funded jobs are acted on up to the block the watcher processed (confirmations and
            // reorgs handled there), read without a call of its own.
            chain: createFulfillerChain(publicClient, record, {
              confirmations: config.confirmations,
              logRange: { maxRange: MAX_LOG_RANGE },
              safeHead: () => watcher.processed,
              headerAt: (block) => watcher.header(block),
            }),
            sender,
            journal,
            router: router.address,
            routerAbi: routerAbi(),
            market,
            marketAbi,
            preimage: createPreimageSource({
              localOutputs: ownOutputs,
              content,
              outputQuantum: async (modelId, version) => (await chainReader.version(modelId, version)).outputQuantum,
              fetchTimeoutMs: config.ipfs.fetchTimeoutMs,
            }),
            log,
            startBlock: config.startBlock ?? router.block,
            turnSeconds: config.consumers.turnSeconds,
            roster: () => chainReader.providerTerms(),
            fulfil: config.consumers.fulfil,
            reclaim: config.consumers.reclaim,
            onOutcome: (outcome) => metrics.callbacksFulfilled.inc({ outcome }),
            onReclaim: (outcome) => metrics.depositsReclaimed.inc({ outcome }),
          })
        : null;
    if (fulfiller) services.push(serviceOf({ stop: () => fulfiller.stop() }));

    const tickMs = Math.max(200, config.pollIntervalMs * 4);
    const ticker = (run: () => unknown, what: string, everyMs = tickMs) =>
      createTicker({
        signal,
        everyMs,
        atStart: true,
        run: async () => void (await run()),
        onError: (error) => log.warn(`${what} failed`, { error: oneLine(error) }),
      });
    services.push(
      ticker(() => processor.tick(), "tick"),
      ticker(() => court.tick(), "court tick"),
      ...(fulfiller ? [ticker(() => fulfiller.tick(), "fulfiller tick")] : []),
      ticker(() => rollouts.tick(), "rollouts tick", config.rollouts.intervalMs),
      createPayoutsTimer({
        signal,
        sender,
        market,
        marketAbi,
        chain: publicClient,
        provider: account.address,
        journal,
        minWithdraw: config.payouts.minWithdraw,
        intervalMs: config.payouts.intervalMs,
        log,
      }),
    );

    const http = createRunnerHttp({
      signal,
      host: config.http.host,
      port: config.http.port,
      log,
      metrics: metrics.registry,
      watcher,
      confirmations: config.confirmations,
      provider: account.address,
      chainId: chain.id,
      market,
      attest: (rec) =>
        signAttestation(wallet, chain.id, market, attestationFor(rec.jobId, rec.job, rec.resultHash!, rec.outputRef!)),
      journal,
      outputs: ownOutputs,
      models: () =>
        versionsView({
          held: () => models.held().map((m) => m.key),
          warm: () => sessions.keys(),
          downloadsOf: (key) => models.downloadsOf(key),
          prefetcher,
        }),
    });
    services.push(http);

    for (const service of services) await service.start();
    const gatewayUrl = content.gatewayUrl?.() ?? null;
    log.info("runner started", {
      http: http.url,
      rpc: redactUrl(config.rpcUrl),
      market,
      ipfs: content.multiaddrs(),
      gateway: gatewayUrl,
    });
    return { address: account.address, httpUrl: http.url, ipfsAddrs: content.multiaddrs(), gatewayUrl, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
