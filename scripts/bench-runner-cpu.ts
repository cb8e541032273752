#!/usr/bin/env node
// A focused micro-benchmark of the runner's per-job CPU on the event loop (issue 14): a burst of
// k = 1 jobs goes through the real watcher decoding (parseEventLogs on raw logs, as the watcher
// does), the real job processor, journal and delivery batcher, with fakes for the chain reads,
// the sender (receipts carry ResultSubmitted logs, as the market's would) and the executor
// (Silero-VAD-sized inputs and outputs, no inference). Prints CPU ms per job (the event loop's
// thread, and all threads: CPU time holds on a loaded machine) and the event loop's lag over the burst. Run it under
// `node --cpu-prof` to see where the time goes.
//
//   node_modules/.bin/node scripts/bench-runner-cpu.ts [--jobs 1000] [--per-block 67]
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import {
  decodeFunctionData,
  encodeAbiParameters,
  encodeEventTopics,
  getAbiItem,
  keccak256,
  toFunctionSelector,
  toHex,
  zeroAddress,
  type AbiEvent,
  type AbiFunction,
  type Hex,
  type Log,
  type TransactionReceipt,
} from "viem";
import { createDeliveryBatcher } from "../node/jobs/delivery-batcher.ts";
import { loopBudget } from "../node/loop-budget.ts";
import { createLogger } from "../node/log.ts";
import type { DecodedLog } from "../node/chain/watcher.ts";
import { tensorFrom, type TensorMap } from "../node/tensors/dtypes.ts";
import { encodeSafetensors } from "../node/tensors/safetensors.ts";
import { parseEventLogsInSlices } from "../node/chain/watcher.ts";
import { harness, makeJob, MARKET, marketAbi, PROVIDER } from "../test/helpers/fake-runner-deps.ts";
import type { Job } from "../node/attest/attestation.ts";
import { jobWords } from "../node/attest/job-words.ts";
import { oneLine } from "../node/errors.ts";

const USAGE =
  "Usage: npm run bench:cpu [-- --jobs <n> (default 1000)] [--per-block <n> (default 67)] [--rounds <n> (default 1)]";
function parsed() {
  try {
    return parseArgs({
      options: {
        jobs: { type: "string", default: "1000" },
        "per-block": { type: "string", default: "67" },
        rounds: { type: "string", default: "1" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`bench:cpu: ${oneLine(error)}\n${USAGE}`);
    process.exit(2);
  }
}
const args = parsed();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const JOBS = Number(args.jobs);
const PER_BLOCK = Number(args["per-block"]);
for (const [name, n] of [
  ["--jobs", JOBS],
  ["--per-block", PER_BLOCK],
  ["--rounds", Number(args.rounds)],
] as const) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench:cpu: ${name} must be a positive integer\n${USAGE}`);
    process.exit(2);
  }
}

// Silero VAD v5: 512 samples + a [2, 1, 128] state + sr in; [1, 1] + [2, 1, 128] out.
const wave = Array.from({ length: 512 }, (_, i) => Math.fround(0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000)));
const INPUT: Hex = toHex(
  encodeSafetensors({
    input: tensorFrom("F32", [1, 512], wave),
    state: tensorFrom("F32", [2, 1, 128], new Array<number>(256).fill(0)),
    sr: tensorFrom("I64", [], [16000n]),
  }),
);
const OUTPUTS: TensorMap = {
  output: tensorFrom("F32", [1, 1], [0.0123]),
  stateN: tensorFrom(
    "F32",
    [2, 1, 128],
    Array.from({ length: 256 }, (_, i) => Math.fround(Math.sin(i) * 0.3)),
  ),
};

const requestedEvent = getAbiItem({ abi: marketAbi, name: "JobRequested" }) as AbiEvent;
const submittedEvent = getAbiItem({ abi: marketAbi, name: "ResultSubmitted" }) as AbiEvent;

/** A raw JobRequested log, as eth_getLogs returns it (viem's formatted Log). */
function rawRequested(jobId: bigint, job: Job, block: number): Log {
  const topics = encodeEventTopics({
    abi: [requestedEvent],
    eventName: "JobRequested",
    args: { jobId, client: job.client, modelId: job.modelId } as never,
  });
  const nonIndexed = requestedEvent.inputs.filter((i) => !i.indexed);
  const data = encodeAbiParameters(nonIndexed, [jobWords(job), INPUT, ""]);
  return {
    address: MARKET,
    topics,
    data,
    blockNumber: BigInt(block),
    blockHash: keccak256(toHex(`block-${block}`)),
    logIndex: 0,
    transactionHash: keccak256(toHex(`tx-${jobId}`)),
    transactionIndex: 0,
    removed: false,
  } as unknown as Log;
}

function rawSubmitted(jobId: bigint, resultHash: Hex, outputRef: Hex): Log {
  const topics = encodeEventTopics({
    abi: [submittedEvent],
    eventName: "ResultSubmitted",
    args: { jobId, provider: PROVIDER.address } as never,
  });
  const data = encodeAbiParameters(
    submittedEvent.inputs.filter((i) => !i.indexed),
    [resultHash, outputRef],
  );
  return {
    address: MARKET,
    topics,
    data,
    blockNumber: 1n,
    blockHash: `0x${"0b".repeat(32)}`,
    logIndex: 0,
    transactionHash: `0x${"0c".repeat(32)}`,
    transactionIndex: 0,
    removed: false,
  } as unknown as Log;
}

async function round(): Promise<{
  cpuMsPerJob: number;
  loopCpuMsPerJob: number;
  wallMs: number;
  lagP99: number;
  lagMax: number;
  stretchP99: number;
  stretchMax: number;
  settled: number;
}> {
  // The batcher sends through the harness's sender, made with the harness (after the batcher).
  const made: { h?: ReturnType<typeof harness> } = {};
  const batcher = createDeliveryBatcher({
    sender: {
      address: PROVIDER.address,
      send: (req) => made.h!.sender.send(req),
      resume: (tx) => made.h!.sender.resume(tx),
    },
    market: MARKET,
    marketAbi,
    log: createLogger({ write: () => {} }),
    maxBatch: 50, // the defaults (node/config.ts)
    maxWaitBlocks: 0,
  });
  const h = (made.h = harness({ batcher, maxConcurrentJobs: 4, maxConcurrentSteps: 32 }));
  // Chain reads and inference answer in a later turn of the event loop, as real I/O does (an
  // RPC round trip, the executor's IPC): fakes that resolve at once would run a whole burst in
  // one chain of microtasks, which no real runner does.
  const io = () => new Promise<void>((r) => setImmediate(r));
  for (const name of ["now", "jobState", "version", "providerTerms"] as const) {
    const read = h.chain[name].bind(h.chain) as () => Promise<unknown>;
    (h.chain as unknown as Record<string, unknown>)[name] = async (...a: unknown[]) => {
      await io();
      return (read as (...x: unknown[]) => Promise<unknown>)(...a);
    };
  }
  h.executor.run = async () => {
    h.executor.runs++;
    await io();
    return { outputs: OUTPUTS, inferenceMs: 0.12 };
  };
  // The sender: the real one signs each transaction (its hash: a keccak of the calldata) and
  // waits for its receipt, whose logs the batcher parses. The harness's fake decodes every
  // transaction's calldata, which no runner does: the bench's sender is lighter.
  let nonce = 0;
  const selectors = new Map(
    [
      toFunctionSelector(getAbiItem({ abi: marketAbi, name: "submitResults" }) as AbiFunction),
      toFunctionSelector(getAbiItem({ abi: marketAbi, name: "submitResult" }) as AbiFunction),
    ].map((s, i) => [s, i === 0 ? "submitResults" : "submitResult"]),
  );
  h.sender.send = async (req) => {
    const hash = keccak256(req.data);
    h.journal.recordTx({ jobId: req.jobId, kind: req.kind, nonce: nonce++, hash, raw: "0x00" }, req.jobIds);
    await io();
    const functionName = selectors.get(req.data.slice(0, 10) as Hex) ?? "other";
    const args =
      functionName === "submitResult" ? (decodeFunctionData({ abi: marketAbi, data: req.data }).args ?? []) : [];
    const logs = await h.sender.onSend({ req, functionName, args });
    h.journal.setTxStatus(hash, "mined");
    return { status: "success", transactionHash: hash, blockNumber: 1n, logs } as unknown as TransactionReceipt;
  };
  // The chain's receipt for a delivery: a ResultSubmitted per item (what the market emits).
  h.sender.onSend = async (tx) => {
    await io();
    if (tx.functionName === "submitResults") {
      return (tx.req.jobIds ?? []).map((id) => {
        const rec = h.journal.getJob(id)!;
        return rawSubmitted(id, rec.resultHash!, rec.outputRef!);
      }) as TransactionReceipt["logs"];
    }
    if (tx.functionName === "submitResult") {
      const [id, , resultHash, outputRef] = tx.args as [bigint, Job, Hex, Hex];
      return [rawSubmitted(id, resultHash, outputRef)] as TransactionReceipt["logs"];
    }
    return [];
  };
  const blocks: Log[][] = [];
  for (let i = 0; i < JOBS; i++) {
    const b = Math.floor(i / PER_BLOCK);
    (blocks[b] ??= []).push(
      rawRequested(
        BigInt(1_000 + i),
        makeJob({
          client: "0x000000000000000000000000000000000000bEEF",
          token: zeroAddress,
          inputHash: keccak256(INPUT),
        }),
        100 + b,
      ),
    );
  }
  const lag = monitorEventLoopDelay({ resolution: 1 });
  // The loop's stretches in CPU time: what this process ran between two runs of a 1 ms timer.
  // Unlike the wall-clock lag, it does not grow when other processes take the cores (this machine
  // is shared), so it says what the runner's own work holds the loop for.
  const stretches: number[] = [];
  let lastCpu = process.threadCpuUsage();
  const probe = setInterval(() => {
    const now = process.threadCpuUsage();
    stretches.push((now.user - lastCpu.user + now.system - lastCpu.system) / 1000);
    lastCpu = now;
  }, 1);
  const cpu0 = process.cpuUsage();
  const thread0 = process.threadCpuUsage();
  const t0 = performance.now();
  lag.enable();
  // The watcher: one block's logs decoded and handed over, as soon as the last block's are journaled.
  for (const raw of blocks) {
    const logs = (await parseEventLogsInSlices({ abi: marketAbi, logs: raw, strict: true })) as unknown as DecodedLog[];
    await h.processor.onLogs(logs);
    batcher.onBlock(Number(raw[0]!.blockNumber));
    await new Promise((r) => setImmediate(r));
  }
  // A burst that does not settle says where it stands instead of hanging the bench.
  const watchdog = setTimeout(() => {
    const p = h.processor as unknown as {
      delivering: Map<string, unknown>;
      claiming: Map<string, unknown>;
      queue: { size(): number };
    };
    const b = loopBudget as unknown as { waiting: unknown[]; dispatching: boolean; tick: unknown };
    console.error("the burst did not settle in 120 s:", {
      states: h.journal.countByState(),
      queue: p.queue.size(),
      delivering: p.delivering.size,
      claiming: p.claiming.size,
      batcherQueued: batcher.queued(),
      budget: { waiting: b.waiting.length, dispatching: b.dispatching, tick: b.tick !== null },
    });
    process.exit(1);
  }, 120_000);
  await h.processor.idle();
  clearTimeout(watchdog);
  lag.disable();
  clearInterval(probe);
  stretches.sort((a, b) => a - b);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const thread = process.threadCpuUsage(thread0);
  const states = h.journal.countByState();
  await h.processor.stop();
  h.journal.close();
  return {
    cpuMsPerJob: (cpu.user + cpu.system) / 1000 / JOBS,
    loopCpuMsPerJob: (thread.user + thread.system) / 1000 / JOBS,
    wallMs,
    lagP99: lag.percentile(99) / 1e6,
    lagMax: lag.max / 1e6,
    stretchP99: stretches[Math.floor(stretches.length * 0.99)] ?? 0,
    stretchMax: stretches.at(-1) ?? 0,
    settled: states.submitted ?? 0,
  };
}

for (let r = 0; r < Number(args.rounds); r++) {
  const out = await round();
  console.log(
    `jobs ${JOBS} (${PER_BLOCK} a block): CPU ${out.loopCpuMsPerJob.toFixed(2)} ms/job on the event loop's thread (${out.cpuMsPerJob.toFixed(2)} ms/job in all threads), wall ${out.wallMs.toFixed(0)} ms (${((JOBS / out.wallMs) * 1000).toFixed(0)} jobs/s), ` +
      `event-loop lag p99 ${out.lagP99.toFixed(1)} ms, max ${out.lagMax.toFixed(1)} ms (wall clock); loop stretch p99 ${out.stretchP99.toFixed(1)} ms, max ${out.stretchMax.toFixed(1)} ms (CPU); submitted ${out.settled}`,
  );
}
