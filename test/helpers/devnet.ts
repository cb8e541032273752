/**
 * The local network of the end-to-end tests: node/devnet/network.ts and runners.ts with the tests' runner
 * settings (HTTP RPC polled every 100 ms, short IPFS and transaction timeouts, payouts off).
 */
import type { Devnet } from "../../node/devnet/network.ts";
import {
  runnerConfig as baseRunnerConfig,
  spawnRunner as baseSpawnRunner,
  type RunnerProcess,
  type SpawnOptions,
} from "../../node/devnet/runners.ts";

export { activateAction, publishSample, startDevnet, type Devnet } from "../../node/devnet/network.ts";
export { type RunnerProcess } from "../../node/devnet/runners.ts";
export { devAccount, devKey } from "../../node/devnet/accounts.ts";

/** Writes a runner config for provider account `index` (its own data dir, journal and Helia node). */
export const runnerConfig: typeof baseRunnerConfig = (net, index, overrides = {}, dataDir) =>
  baseRunnerConfig(
    net,
    index,
    {
      rpcUrl: net.node.rpcUrl,
      // A tenth of the chain's 1 s blocks. At 20 ms an idle runner took 17 % of a core (7 % at
      // 100 ms), with up to ten runners up at once in a suite that keeps both cores busy.
      pollIntervalMs: 100,
      ipfs: { peers: net.publisher.multiaddrs(), fetchTimeoutMs: 20_000 },
      payouts: { intervalMs: 600_000 },
      tx: { confirmTimeoutMs: 10_000 },
      ...overrides,
    },
    dataDir,
  );

/**
 * The runners this test process started that may still log: a failed test prints the tails of
 * their logs (see runner-log-tails.ts). Runners that exited leave it after the test that saw them.
 */
export const startedRunners = new Set<RunnerProcess>();

/** Starts `conclave node run` as its own process, as a provider would, and waits until it is up. */
export async function spawnRunner(
  net: Devnet,
  index: number,
  config = runnerConfig(net, index),
  opts: Omit<SpawnOptions, "logLevel"> = {},
): Promise<RunnerProcess> {
  const runner = await baseSpawnRunner(net, index, config, {
    logLevel: process.env.CONCLAVE_TEST_LOG_LEVEL ?? "info",
    ...opts,
  });
  startedRunners.add(runner);
  return runner;
}

/** Starts a runner for each of these provider accounts, all with the same config overrides. */
export function spawnRunners(
  net: Devnet,
  indexes: readonly number[],
  overrides: Record<string, unknown> = {},
): Promise<RunnerProcess[]> {
  return Promise.all(indexes.map((i) => spawnRunner(net, i, runnerConfig(net, i, overrides))));
}
