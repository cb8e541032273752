#!/usr/bin/env node
// `npm start`: a whole Conclave network on this machine — Anvil node, IPFS, contracts, a DAO
// that votes the sample models and three providers in, three runners — then a first paid
// inference. Stays up until Ctrl-C; starting again resumes the saved network.
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readDeployment, writeDeployment } from "../node/chain/deployment.ts";
import { firstInference } from "../node/devnet/demo.ts";
import { startAnvil } from "../node/devnet/anvil-node.ts";
import { waitForRpc } from "../node/devnet/local-rpc.ts";
import { DEV_ROLES, devAccount } from "../node/devnet/accounts.ts";
import { resumeDevnet, startDevnet, type Devnet } from "../node/devnet/network.ts";
import { runnerConfig, spawnRunner, type RunnerProcess } from "../node/devnet/runners.ts";
import { oneLine } from "../node/errors.ts";
import { ensureDashboardBuilt } from "../node/dashboard/assets.ts";
import { startDashboard, type Dashboard } from "../node/dashboard/dashboard.ts";
import { createLogger } from "../node/log.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const HELP = `Usage: npm start [-- --fresh] [--port <n>] [--block-time <s>] [--dir <folder>] [--deployments-dir <folder>] [--no-demo] [--dashboard-port <n>] [--no-dashboard]

Starts a complete local Conclave network and keeps it running until Ctrl-C:
  - an Anvil JSON-RPC node on 127.0.0.1:<port> (default 8545) making a block every
    --block-time seconds (default 1; fractions allowed, 0 mines each transaction at once)
  - the contracts, with a DAO of development accounts 1-3 (tokens delegated)
  - the sample models (tiny-mlp, silero-vad-v5) added to an embedded IPFS node and voted in
  - providers 4-6 registered, staked, approved by a DAO vote, each running a node runner
  - a first paid inference (k = 3), verified and printed (skip with --no-demo)
  - the live dashboard on http://127.0.0.1:<dashboard-port>/ (default 8550; 0 = a free port;
    --no-dashboard to skip), with a development-account picker for voting
Ctrl-C stops every process and saves the chain; the next \`npm start\` brings the same network
back (contracts, jobs, balances). --fresh discards the saved network and starts over.
State lives in --dir (default .conclave/devnet); the deployment file in --deployments-dir
(default deployments/), where every conclave command finds it.`;

const say = (line: string) => console.log(line);

async function portInUse(port: number): Promise<boolean> {
  return waitForRpc(`http://127.0.0.1:${port}`, 300).then(
    () => true,
    () => false,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8545" },
      "block-time": { type: "string", default: "1" },
      dir: { type: "string" },
      "deployments-dir": { type: "string" },
      fresh: { type: "boolean" },
      "no-demo": { type: "boolean" },
      "dashboard-port": { type: "string", default: "8550" },
      "no-dashboard": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(HELP);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`--port must be 1..65535, got ${values.port}`);
  const blockTimeSeconds = Number(values["block-time"]);
  const dashboardPort = Number(values["dashboard-port"]);
  if (!Number.isInteger(dashboardPort) || dashboardPort < 0 || dashboardPort > 65535)
    throw new Error(`--dashboard-port must be 0..65535, got ${values["dashboard-port"]}`);
  if (values["block-time"].trim() === "" || !Number.isFinite(blockTimeSeconds) || blockTimeSeconds < 0)
    throw new Error(`--block-time must be a number of seconds >= 0, got ${values["block-time"]}`);
  const dir = path.resolve(values.dir ?? path.join(ROOT, ".conclave", "devnet"));
  // Anvil's own state file (--state): loaded at start, written on exit and every 30 s.
  const stateFile = path.join(dir, "anvil-state.json");
  const runningMark = path.join(dir, "RUNNING");
  if (await portInUse(port)) {
    const mark = existsSync(runningMark) ? (JSON.parse(readFileSync(runningMark, "utf8")) as { node?: number }) : {};
    const hint = mark.node
      ? `the Anvil node of an earlier npm start may still run (pid ${mark.node}: kill ${mark.node})`
      : "another network?";
    throw new Error(`something already answers JSON-RPC on 127.0.0.1:${port} (${hint}); stop it or pass --port`);
  }
  const deploymentsDir = path.resolve(values["deployments-dir"] ?? path.join(ROOT, "deployments"));
  const publisherDir = path.join(dir, "ipfs");
  const deploymentFile = path.join(deploymentsDir, "31337.json");
  const saved = !values.fresh && existsSync(stateFile) && existsSync(deploymentFile);
  if (!saved) {
    if (existsSync(dir))
      say(values.fresh ? `--fresh: discarding ${dir}` : `no saved network in ${dir}: starting fresh`);
    rmSync(dir, { recursive: true, force: true });
  } else if (existsSync(runningMark)) {
    // The last run was killed: the chain resumes as Anvil last wrote it, so runner journals that
    // saw later blocks are dropped and rebuilt from the chain.
    say("the previous network did not stop cleanly: resuming the chain as last saved; runner journals are rebuilt");
    rmSync(path.join(dir, "runners"), { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });

  let net: Devnet;
  if (saved) {
    const node = await startAnvil({ port, stateFile, blockTimeSeconds, ownProcessGroup: true }).catch(
      (error: unknown) => {
        throw new Error(`the saved chain ${stateFile} could not be loaded (${oneLine(error)}); start with --fresh`, {
          cause: error,
        });
      },
    );
    try {
      net = await resumeDevnet({ node, deploymentFile, publisherDir });
    } catch (error) {
      await node.stop();
      throw error;
    }
    say(`resumed the network saved in ${dir} at block ${await net.publicClient.getBlockNumber()}`);
  } else {
    try {
      net = await startDevnet({
        port,
        deploymentsDir,
        publisherDir,
        log: say,
        ownProcessGroup: true,
        stateFile,
        blockTimeSeconds,
      });
    } catch (error) {
      // Half a network is not worth resuming.
      rmSync(stateFile, { force: true });
      throw error;
    }
  }
  writeFileSync(runningMark, JSON.stringify({ start: process.pid, node: net.node.process.pid }));

  const runners: RunnerProcess[] = [];
  let dashboard: Dashboard | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("\nstopping runners ...");
    await dashboard?.close();
    await Promise.all(runners.map((r) => r.stop()));
    say("saving the chain ...");
    const head = await net.publicClient.getBlockNumber({ cacheTime: 0 }).catch(() => undefined);
    const asked = Date.now();
    // Anvil writes its state file as it exits.
    await net.stop();
    if (existsSync(stateFile) && statSync(stateFile).mtimeMs >= asked - 1_000) {
      rmSync(runningMark, { force: true });
      say(
        `saved the chain${head === undefined ? "" : ` at block ${head}`} to ${stateFile}: \`npm start\` resumes this network, \`npm start -- --fresh\` starts over`,
      );
    } else {
      say(
        `could not save the chain: Anvil did not write ${stateFile}${net.node.lastOutput() ? ` (${net.node.lastOutput().split("\n").at(-1)})` : ""}`,
      );
    }
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  try {
    say(`starting ${DEV_ROLES.providers.length} runners ...`);
    for (const i of DEV_ROLES.providers) {
      const dataDir = path.join(dir, "runners", String(i));
      mkdirSync(dataDir, { recursive: true });
      const log = createWriteStream(path.join(dataDir, "runner.log"), { flags: "a" });
      // Peers serve peers: each runner serves what it holds over its gateway, and fetches from
      // the gateways of those started before it first (then from the publisher over bitswap).
      const gateways = runners.flatMap((r) => (r.gateway ? [r.gateway] : []));
      const ipfs = { peers: net.publisher.multiaddrs(), gateway: "127.0.0.1:0", gateways };
      runners.push(
        await spawnRunner(net, i, runnerConfig(net, i, { ipfs }, dataDir), { onLog: (l) => log.write(`${l}\n`) }),
      );
    }
    // Tools on this machine find the IPFS node and the runners through the deployment file.
    const gateways = runners.flatMap((r) => (r.gateway ? [r.gateway] : []));
    const record = {
      ...readDeployment(net.deploymentFile),
      ipfs: {
        blocks: path.join(publisherDir, "blocks"),
        peers: [...net.publisher.multiaddrs(), ...runners.flatMap((r) => r.ipfs)],
        gateways,
      },
      runners: runners.map((r) => ({ address: r.address, http: r.http })),
    };
    writeDeployment(deploymentsDir, record);
    if (!values["no-dashboard"]) {
      // The network is useful without its dashboard: a failure here is reported, not fatal.
      try {
        const staticDir = await ensureDashboardBuilt(say);
        dashboard = await startDashboard({
          publicClient: net.publicClient,
          chain: net.chain,
          rpcUrl: net.node.rpcUrl,
          record,
          port: dashboardPort,
          portFallback: true,
          staticDir,
          runners: record.runners,
          log: createLogger({ level: "warn" }),
        });
        say(`dashboard: ${dashboard.url}`);
      } catch (error) {
        say(`dashboard: not started (${oneLine(error)}); \`npx conclave dashboard\` serves it separately`);
      }
    }

    if (!values["no-demo"]) {
      say("\nfirst paid inference:");
      const demo = await firstInference(net, say);
      say(`  settled on result ${demo.resultHash}`);
      for (const [name, t] of Object.entries(demo.outputs))
        say(`  ${name} ${t.dtype}[${t.shape.join(",")}] = ${JSON.stringify(t.data)}`);
      say(
        `  verified: outputs hash to the result; attestations ${demo.attestations.map((a) => `${a.provider.slice(0, 8)}… ${a.valid ? "ok" : "INVALID"}`).join(", ")}`,
      );
    }

    say(`
Conclave local network is up.
  dashboard:        ${dashboard ? dashboard.url : values["no-dashboard"] ? "off (--no-dashboard)" : "not started (see above)"}
  RPC:              ${net.node.rpcUrl}   (WebSocket ${net.node.wsUrl}, chain id ${net.chain.id}, ${blockTimeSeconds > 0 ? `a block every ${blockTimeSeconds} s` : "automine"})
  deployment file:  ${net.deploymentFile}
  consumer router:  ${net.record.contracts.ConsumerRouter?.address ?? "none (deployed before on-chain consumers)"}   (contracts call back through it: conclave consumer --help)
  IPFS (publisher): ${net.publisher.multiaddrs().join(" ")}
  runners:
${runners.map((r) => `    ${r.address}  ${r.http}  (/health /ready /metrics /status /jobs/<id>; log ${path.join(r.dataDir, "runner.log")})`).join("\n")}
  accounts (development keys, local chain only: pass --dev-account <n> to conclave):
    DAO members 1-3: ${DEV_ROLES.members.map((i) => devAccount(i).address).join(", ")}
    clients 7-9:     ${DEV_ROLES.clients.map((i) => devAccount(i).address).join(", ")}
    guardian ${DEV_ROLES.guardian}:     ${devAccount(DEV_ROLES.guardian).address} (conclave dao veto <id> --dev-account ${DEV_ROLES.guardian})
  try:  npx conclave status
        npx conclave infer tiny-mlp --input examples/tiny-mlp.input.json --dev-account 7
        npx conclave consumer deploy-example --fund 1 --dev-account 7   (an on-chain consumer: SpeechGate)
State: ${dir}. Press Ctrl-C to stop (the network is saved and resumed by the next npm start).`);
  } catch (error) {
    say(`start: ${oneLine(error)}`);
    await stop(1);
  }
}

main().catch((error: unknown) => {
  console.error(`start: ${oneLine(error)}`);
  process.exit(1);
});
