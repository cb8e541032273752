import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { createPublicClient, getAddress, http, keccak256, parseUnits, toHex, type Address } from "viem";
import { generatePrivateKey } from "viem/accounts";
import { canonicalResultHash } from "../../node/attest/result-hash.ts";
import { DEV_ROLES, devAccount } from "../../node/devnet/accounts.ts";
import { freePort } from "../../node/devnet/local-rpc.ts";
import { sampleModel, sileroVadV5Path } from "../../node/models/samples.ts";
import { parseJsonTensors, tensorsToJson } from "../../node/tensors/json-tensors.ts";
import { cliFor, expectFailure, runCli, type CliRun } from "../helpers/cli-process.ts";
import { directRun } from "../helpers/direct-run.ts";
import { until } from "../helpers/until.ts";
import { testDir } from "../helpers/temp-dir.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * The network and the CLI as a user runs them: `npm start`'s script and `conclave` commands are
 * separate processes; the tests read their --json output and exit codes only.
 */
describe("conclave CLI against `npm start`'s network, as separate processes", function () {
  this.timeout(600_000);
  const dir = testDir("conclave-cli-e2e-");
  const deployment = path.join(dir, "deployments", "31337.json");
  let rpc = "";
  let port = 0;
  let network: ChildProcess;
  let networkLog = "";
  let vadWeightsCid = "";
  const exited: Promise<number | null>[] = [];

  // `rpc` is known once the network is up.
  const conclave = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
    cliFor({ rpc, deployment, cwd: dir })(args, env);

  /** Runs the `npm start` script and waits until it says the network is up. */
  async function startNetwork(extra: string[]): Promise<void> {
    networkLog = "";
    network = spawn(
      process.execPath,
      [
        path.join(ROOT, "scripts", "start.ts"),
        "--port",
        String(port),
        "--dir",
        path.join(dir, "state"),
        "--deployments-dir",
        path.join(dir, "deployments"),
        ...extra,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, NODE_NO_WARNINGS: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const exit = new Promise<number | null>((resolve) => network.once("exit", (code) => resolve(code)));
    exited.unshift(exit);
    network.stderr!.on("data", (d: Buffer) => (networkLog += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the network did not come up:\n${networkLog}`)), 300_000);
      createInterface({ input: network.stdout! }).on("line", (line) => {
        networkLog += `${line}\n`;
        if (line.startsWith("Conclave local network is up.")) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exit.then((code) => reject(new Error(`npm start exited with ${code}:\n${networkLog}`)));
    });
  }

  before(async function () {
    port = await freePort();
    rpc = `http://127.0.0.1:${port}`;
    await startNetwork([]);
  });

  after(async function () {
    if (network.exitCode === null) {
      network.kill("SIGINT");
      await exited[0];
    }
  });

  it("printed a first paid inference, verified, when it started", function () {
    expect(networkLog).to.match(/first paid inference:/);
    expect(networkLog).to.match(/job 1: settled \(3 seated, 3 revealed\)/);
    expect(networkLog).to.match(/verified: outputs hash to the result; attestations .* ok, .* ok, .* ok/);
  });

  it("publishes a new model, votes it in, runs it with k = 3 and audits the job", async function () {
    const published = await conclave([
      "model",
      "publish",
      sileroVadV5Path(),
      "--name",
      "vad-e2e",
      "--schema",
      path.join(ROOT, "models", "silero-vad-v5.schema.json"),
      "--dev-account",
      "1",
    ]);
    expect(published.code, published.stderr).to.equal(0);
    expect(published.json).to.include({ name: "vad-e2e", version: 1 });
    expect(published.json.weightsCid).to.match(/^bafy/);
    vadWeightsCid = published.json.weightsCid as string;

    const proposed = await conclave(["dao", "propose", "activate", "vad-e2e", "1", "--dev-account", "1"]);
    expect(proposed.code, proposed.stderr).to.equal(0);
    expect(proposed.json.state).to.equal("Pending");
    const id = proposed.json.id as string;

    for (const member of ["1", "2", "3"]) {
      const vote = await conclave(["dao", "vote", id, "for", "--dev-account", member]);
      expect(vote.code, vote.stderr).to.equal(0);
      expect(vote.json).to.include({ state: "Active", support: "for" });
    }
    const queued = await conclave(["dao", "queue", id, "--dev-account", "2"]);
    expect(queued.code, queued.stderr).to.equal(0);
    expect(queued.stderr).to.match(/local chain: fast-forwarding \d+ s to the end of voting/);
    expect(queued.json.state).to.equal("Queued");
    const executed = await conclave(["dao", "execute", id, "--dev-account", "3"]);
    expect(executed.code, executed.stderr).to.equal(0);
    expect(executed.json.state).to.equal("Executed");
    expect((executed.json.actions as { call: string }[])[0]!.call).to.match(/^activateVersion\(/);

    const inputs = sampleModel("silero-vad-v5").exampleInputs();
    const inputFile = path.join(dir, "vad-input.json");
    writeFileSync(inputFile, JSON.stringify(tensorsToJson(inputs)));
    const outputFile = path.join(dir, "vad-output.safetensors");
    const inferred = await conclave([
      "infer",
      "vad-e2e",
      "--input",
      inputFile,
      "--redundancy",
      "3",
      "--output",
      outputFile,
      "--dev-account",
      "8",
    ]);
    expect(inferred.code, inferred.stderr).to.equal(0);
    expect(inferred.json).to.include({ status: "settled", redundancy: 3, outputFile });
    expect(inferred.json.verified).to.deep.equal({ canonicalHash: true, attestations: 3 });
    // The verified outputs are a direct onnxruntime run of the same input, to the output quantum.
    const expected = await directRun("silero-vad-v5", inputs);
    const got = parseJsonTensors(JSON.stringify(inferred.json.outputs));
    expect(canonicalResultHash(got, 1e-4)).to.equal(canonicalResultHash(expected, 1e-4));
    expect(inferred.json.resultHash).to.equal(canonicalResultHash(expected, 1e-4));

    const audit = await conclave(["audit", "job", inferred.json.jobId as string]);
    expect(audit.code, audit.stderr).to.equal(0);
    const events = (audit.json.events as { event: string }[]).map((e) => e.event);
    expect(audit.json.status).to.equal("settled");
    expect(events[0]).to.equal("JobRequested");
    expect(events.filter((e) => e === "SeatCommitted")).to.have.length(3);
    expect(events.filter((e) => e === "ResultRevealed")).to.have.length(3);
    expect(events.at(-1)).to.equal("JobSettled");

    // The same model paid in the DAO-allowed test token: the CLI approves the escrow first.
    const token = (JSON.parse(readFileSync(deployment, "utf8")) as { contracts: { TestToken: { address: string } } })
      .contracts.TestToken.address;
    const inToken = await conclave([
      "infer",
      "vad-e2e",
      "--input",
      inputFile,
      "--token",
      token,
      "--max-fee",
      "2.5",
      "--dev-account",
      "9",
    ]);
    expect(inToken.code, inToken.stderr).to.equal(0);
    expect(inToken.stderr).to.match(/approving 2\.525 TUSD for the market/);
    // k = 1: the result is in at once; its fee is claimed after the challenge window.
    expect(inToken.json).to.include({ status: "delivered", token, escrow: "2525000000000000000" });
    expect(inToken.json.resultHash).to.equal(inferred.json.resultHash);

    const status = await conclave(["job", "status", inferred.json.jobId as string]);
    expect(status.json).to.include({ status: "settled", seated: 3, revealed: 3 });
    const model = await conclave(["audit", "model", "vad-e2e"]);
    expect((model.json.events as { event: string }[]).map((e) => e.event)).to.include.members([
      "VersionPublished",
      "VersionActivated",
      "ProposalCreated",
    ]);
  });

  it("wires its runners as peers that serve peers: each serves a gateway, lists the earlier ones, and serves the weights it ran", async function () {
    const record = JSON.parse(readFileSync(path.join(dir, "deployments", "31337.json"), "utf8")) as {
      ipfs: { gateways: string[] };
      runners: unknown[];
    };
    expect(record.ipfs.gateways).to.have.length(record.runners.length);
    record.ipfs.gateways.forEach((g, i) => {
      expect(g).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const config = JSON.parse(
        readFileSync(path.join(dir, "state", "runners", String(DEV_ROLES.providers[i]), "runner.json"), "utf8"),
      ) as { ipfs: { gateway: string; gateways: string[] } };
      expect(config.ipfs.gateway).to.equal("127.0.0.1:0");
      expect(config.ipfs.gateways).to.deep.equal(record.ipfs.gateways.slice(0, i));
    });
    // Every runner served the k = 3 job of vad-e2e above, so each holds its weights and (once its
    // background pin is done) serves them.
    for (const g of record.ipfs.gateways) {
      await until(
        `${g} serves ${vadWeightsCid}`,
        async () => (await fetch(`${g}/ipfs/${vadWeightsCid}?format=car`, { method: "HEAD" })).status === 200,
        30_000,
      );
    }
  });

  it("model names are owned: nobody else publishes under one, its owner hands it on in two steps", async function () {
    const weights = sileroVadV5Path();
    const schema = path.join(ROOT, "models", "silero-vad-v5.schema.json");
    const first = await conclave([
      "model",
      "publish",
      weights,
      "--name",
      "vad-owned",
      "--schema",
      schema,
      "--dev-account",
      "1",
    ]);
    expect(first.code, first.stderr).to.equal(0);
    expectFailure(
      await conclave(["model", "publish", weights, "--name", "vad-owned", "--schema", schema, "--dev-account", "2"]),
      new RegExp(`model vad-owned belongs to ${devAccount(1).address}`),
    );

    expectFailure(
      await conclave(["model", "transfer", "vad-owned", devAccount(2).address, "--dev-account", "2"]),
      /does not own model vad-owned/,
    );
    const offered = await conclave(["model", "transfer", "vad-owned", devAccount(2).address, "--dev-account", "1"]);
    expect(offered.code, offered.stderr).to.equal(0);
    expect(offered.json).to.include({ pendingOwner: devAccount(2).address });
    expectFailure(
      await conclave(["model", "accept", "vad-owned", "--dev-account", "3"]),
      new RegExp(`offered to ${devAccount(2).address}, not to ${devAccount(3).address}`),
    );
    const accepted = await conclave(["model", "accept", "vad-owned", "--dev-account", "2"]);
    expect(accepted.code, accepted.stderr).to.equal(0);
    expect(accepted.json).to.include({ owner: devAccount(2).address, previousOwner: devAccount(1).address });

    const second = await conclave([
      "model",
      "publish",
      weights,
      "--name",
      "vad-owned",
      "--schema",
      schema,
      "--dev-account",
      "2",
    ]);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.json).to.include({ name: "vad-owned", version: 2 });
    expectFailure(
      await conclave(["model", "publish", weights, "--name", "vad-owned", "--schema", schema, "--dev-account", "1"]),
      /belongs to/,
    );
    const status = await conclave(["status"]);
    expect(
      (status.json.models as { name: string; owner: string }[]).find((m) => m.name === "vad-owned")?.owner,
    ).to.equal(devAccount(2).address);
  });

  it("binds proposals to their proposer, and the guardian vetoes a queued one", async function () {
    const proposed = await conclave([
      "dao",
      "propose",
      "set-policy",
      "maxInlineInputBytes",
      "1024",
      "--description",
      "Shrink inline inputs",
      "--dev-account",
      "1",
    ]);
    expect(proposed.code, proposed.stderr).to.equal(0);
    expect(proposed.json.description).to.equal(
      `Shrink inline inputs [ref:${/\[ref:([0-9a-f]{16})\]/.exec(proposed.json.description as string)?.[1]}]#proposer=${devAccount(1).address}`,
    );
    const id = proposed.json.id as string;
    for (const member of ["1", "2", "3"])
      expect((await conclave(["dao", "vote", id, "for", "--dev-account", member])).code).to.equal(0);
    expectFailure(await conclave(["dao", "veto", id, "--dev-account", "24"]), /is Active, not Queued/);
    expect((await conclave(["dao", "queue", id, "--dev-account", "1"])).code).to.equal(0);

    expectFailure(await conclave(["dao", "veto", id, "--dev-account", "2"]), /is not the guardian/);
    const vetoed = await conclave(["dao", "veto", id, "--dev-account", "24"]);
    expect(vetoed.code, vetoed.stderr).to.equal(0);
    expect(vetoed.json).to.include({ state: "Canceled", guardian: devAccount(24).address });
    expectFailure(await conclave(["dao", "execute", id, "--dev-account", "1"]), /is Canceled, not Queued/);
    const status = await conclave(["status"]);
    expect(status.code, status.stderr).to.equal(0);
  });

  it("the guardian freezes a provider once, status lists it, and a DAO member proposes to unfreeze it", async function () {
    const who = devAccount(3).address;
    expect((await conclave(["provider", "register", "--stake", "100", "--dev-account", "3"])).code).to.equal(0);
    expectFailure(await conclave(["guardian", "freeze", who, "--dev-account", "2"]), /is not the guardian/);
    expectFailure(
      await conclave(["guardian", "freeze", "0x1234", "--dev-account", "24"]),
      /provider must be a 0x address/,
    );
    const frozen = await conclave(["guardian", "freeze", who, "--dev-account", "24"]);
    expect(frozen.code, frozen.stderr).to.equal(0);
    expect(frozen.json).to.include({ provider: who, guardian: devAccount(24).address });
    expectFailure(
      await conclave(["guardian", "freeze", who, "--dev-account", "24"]),
      /already frozen until .*: the guardian cannot extend a freeze/,
    );
    const status = await conclave(["status"]);
    expect((status.json.frozen as { address: string; until: string }[]).map((f) => f.address)).to.deep.equal([who]);
    const provider = await conclave(["provider", "status", who]);
    expect(provider.json).to.include({ eligible: false, frozenUntil: frozen.json.frozenUntil });
    const unfreeze = await conclave(["dao", "propose", "unfreeze", who, "--dev-account", "1"]);
    expect(unfreeze.code, unfreeze.stderr).to.equal(0);
    expect((unfreeze.json.actions as { call: string }[])[0]!.call).to.equal(`unfreeze(${who})`);
    expectFailure(
      await conclave(["dao", "propose", "unfreeze", devAccount(4).address, "--dev-account", "1"]),
      /is not frozen/,
    );
    expectFailure(
      await conclave(["dao", "propose", "set-policy", "freezePeriod", "10", "--dev-account", "1"]),
      /below the governance delay of 361 s/,
    );
    // Finding 6: an approval names the tags it grants (by default those declared when proposing).
    const approve = await conclave(["dao", "propose", "approve-provider", who, "--dev-account", "1"]);
    expect(approve.code, approve.stderr).to.equal(0);
    expect((approve.json.actions as { call: string }[])[0]!.call).to.equal(`approveProvider(${who}, 1)`);
    const grant = await conclave(["dao", "propose", "grant-tags", who, "5", "--dev-account", "1"]);
    expect((grant.json.actions as { call: string }[])[0]!.call).to.equal(`setGrantedTags(${who}, 5)`);
    expectFailure(
      await conclave(["dao", "propose", "grant-tags", who, "--dev-account", "1"]),
      /takes <address> <tags>/,
    );
  });

  it("lets the DAO set a payment token's rate, executed on the market's address by its court", async function () {
    const token = (JSON.parse(readFileSync(deployment, "utf8")) as { contracts: { TestToken: { address: Address } } })
      .contracts.TestToken.address;
    expectFailure(
      await conclave(["dao", "propose", "allow-token", token, "0", "--dev-account", "1"]),
      /rate must be above 0/,
    );
    const proposed = await conclave(["dao", "propose", "allow-token", token, "2", "--dev-account", "1"]);
    expect(proposed.code, proposed.stderr).to.equal(0);
    expect(proposed.json.description).to.match(/^Allow payment in TUSD \(0x[0-9a-fA-F]{40}\) at 2 TUSD per ETH \[ref:/);
    const id = proposed.json.id as string;
    for (const member of ["1", "2", "3"])
      expect((await conclave(["dao", "vote", id, "for", "--dev-account", member])).code).to.equal(0);
    expect((await conclave(["dao", "queue", id, "--dev-account", "1"])).code).to.equal(0);
    const executed = await conclave(["dao", "execute", id, "--dev-account", "1"]);
    expect(executed.code, executed.stderr).to.equal(0);
    expect(executed.json.state).to.equal("Executed");
    expect((executed.json.actions as { call: string }[])[0]!.call).to.equal(
      `setTokenAllowed(${token}, true, 2000000000000000000)`,
    );
    // The versions' minimum fees are 0 here: the token still pays any fee, now at the new rate.
    const inToken = await conclave([
      "infer",
      "tiny-mlp",
      "--input",
      path.join(ROOT, "examples", "tiny-mlp.input.json"),
      "--token",
      token,
      "--max-fee",
      "0.5",
      "--dev-account",
      "9",
    ]);
    expect(inToken.code, inToken.stderr).to.equal(0);
    expect(inToken.json).to.include({ status: "delivered", token });
  });

  it("proposes a market migration: wind the market down and give MARKET_ROLE to the new one (finding 12; not executed)", async function () {
    const next = "0x000000000000000000000000000000000000bEEF";
    expectFailure(
      await conclave(["dao", "propose", "wind-down-market", next, next, "--dev-account", "1"]),
      /takes \[<new market address>\]/,
    );
    const proposed = await conclave(["dao", "propose", "wind-down-market", next, "--dev-account", "1"]);
    expect(proposed.code, proposed.stderr).to.equal(0);
    expect(proposed.json.description).to.match(
      /^Wind down the market 0x[0-9a-fA-F]{40} and give MARKET_ROLE to 0x000000000000000000000000000000000000bEEF \[ref:/,
    );
    const calls = (proposed.json.actions as { contract: string; call: string }[]).map((a) => `${a.contract}.${a.call}`);
    expect(calls.slice(0, 2)).to.deep.equal([
      "InferenceMarket.windDown()",
      `ProviderRegistry.grantRole(${keccak256(toHex("MARKET_ROLE"))}, ${getAddress(next)})`,
    ]);
    // The new market checks seats on its copy of each provider's terms: the roster is pushed to it.
    expect(calls[2]).to.match(/^ProviderRegistry\.syncProviders\(\["0x[0-9a-fA-F]{40}"(,"0x[0-9a-fA-F]{40}")*\]\)$/);
    expect(calls[3]).to.equal(`ModelRegistry.grantRole(${keccak256(toHex("MARKET_ROLE"))}, ${getAddress(next)})`);
    // The new market reads the model registry's mirror: every model published so far is pushed to it.
    const synced = calls.slice(4);
    expect(synced.length).to.be.greaterThan(0);
    for (const c of synced) expect(c).to.match(/^ModelRegistry\.syncModel\(0x[0-9a-f]{64}, \[1(,\d+)*\]\)$/);
  });

  it("a provider takes back stake the market holds free for it (provider deallocate), and is told when there is none", async function () {
    // The runners that served a job allocated their stake to the market at their first seat.
    const views = await Promise.all(
      [4, 5, 6].map(async (i) => (await conclave(["provider", "status", devAccount(i).address])).json),
    );
    const index = views.findIndex((v) => BigInt(v.heldFree as string) > parseUnits("1", 18));
    expect(index, "a runner that served holds free collateral in the market").to.be.greaterThan(-1);
    const before = BigInt(views[index]!.locked as string);
    const back = await conclave(["provider", "deallocate", "1", "--dev-account", String(4 + index)]);
    expect(back.code, back.stderr).to.equal(0);
    // Exactly one token leaves the market's allocation: an honest runner's seats never change it.
    expect(back.json).to.include({
      deallocated: parseUnits("1", 18).toString(),
      stillAllocated: (before - parseUnits("1", 18)).toString(),
    });
    expectFailure(
      await conclave(["provider", "deallocate", "--dev-account", "11"]),
      /holds nothing free for 0x[0-9a-fA-F]{40}/,
    );
  });

  it("refuses bad input with one clear line, a non-zero exit and no transaction sent", async function () {
    const client = createPublicClient({ transport: http(rpc) });
    const nonceOf = (a: Address) => client.getTransactionCount({ address: a });
    const dev8 = devAccount(8).address;
    const before = await nonceOf(dev8);

    expectFailure(
      await conclave([
        "infer",
        "no-such-model",
        "--input",
        path.join(ROOT, "examples", "tiny-mlp.input.json"),
        "--dev-account",
        "8",
      ]),
      /unknown model "no-such-model"/,
    );
    const wrongShape = path.join(dir, "wrong-shape.json");
    writeFileSync(wrongShape, JSON.stringify({ x: { dtype: "F32", data: [[1, 2, 3]] } }));
    expectFailure(
      await conclave(["infer", "tiny-mlp", "--input", wrongShape, "--dev-account", "8"]),
      /input x has shape \[1,3\], expected \[\*,4\]/,
    );
    const wrongDtype = path.join(dir, "wrong-dtype.json");
    writeFileSync(wrongDtype, JSON.stringify({ x: { dtype: "I32", data: [[1, 2, 3, 4]] } }));
    expectFailure(
      await conclave(["infer", "tiny-mlp", "--input", wrongDtype, "--dev-account", "8"]),
      /input x has dtype I32, expected F32/,
    );
    expect(await nonceOf(dev8)).to.equal(before);

    const poor = generatePrivateKey();
    expectFailure(
      await conclave(
        ["infer", "tiny-mlp", "--input", path.join(ROOT, "examples", "tiny-mlp.input.json"), "--max-fee", "1"],
        { CONCLAVE_KEY: poor },
      ),
      /not enough funds: the job escrows 1.01 ETH, 0x[0-9a-fA-F]{40} holds 0 ETH/,
    );

    const closedPort = await freePort();
    const unreachable = await runCli(["status", "--rpc", `http://127.0.0.1:${closedPort}`, "--json"]);
    expectFailure(unreachable, /cannot reach RPC http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);

    const keystore = path.join(dir, "key.json");
    const created = await conclave(["key", "import", "--out", keystore], {
      CONCLAVE_KEY: poor,
      CONCLAVE_KEYSTORE_PASSWORD: "correct horse battery",
    });
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout + created.stderr).to.not.include(poor.slice(2));
    expectFailure(
      await conclave(["withdraw", "--keystore", keystore], { CONCLAVE_KEYSTORE_PASSWORD: "wrong password" }),
      /wrong password for keystore/,
    );

    const listed = await conclave(["dao", "list"]);
    const executed = (listed.json.proposals as { id: string; state: string }[]).find((p) => p.state === "Executed")!;
    expectFailure(
      await conclave(["dao", "vote", executed.id, "for", "--dev-account", "1"]),
      /is Executed: votes are taken only while it is Active/,
    );
    expectFailure(await conclave(["dao", "queue", executed.id, "--dev-account", "1"]), /is Executed, not Succeeded/);
    expectFailure(
      await conclave(["dao", "propose", "activate", "tiny-mlp", "1", "--dev-account", "1"]),
      /tiny-mlp v1 is already active/,
    );
    expectFailure(await conclave(["infer"]), /takes 1 argument/);
    expectFailure(await conclave(["job", "finalize", "1", "--dev-account", "8"]), /job 1 already ended \(settled\)/);
    expectFailure(
      await conclave(["provider", "register", "--stake", "1000", "--dev-account", "10"]),
      /not enough funds: staking 1000 CLV, 0x[0-9a-fA-F]{40} holds 0 CLV/,
    );
    expectFailure(
      await conclave(["provider", "register", "--stake", "1", "--dev-account", "4"]),
      /below the minimum stake of 100 CLV/,
    );
    const provider = await conclave(["provider", "status", devAccount(4).address]);
    expect(provider.json).to.include({ status: "Approved", eligible: true });
  });

  it("stops cleanly on Ctrl-C and saves the chain", async function () {
    network.kill("SIGINT");
    expect(await exited[0]).to.equal(0);
    expect(networkLog).to.match(/saved the chain at block \d+ to .*anvil-state\.json/);
  });

  it("starting again brings the same network back: jobs, models and balances", async function () {
    await startNetwork(["--no-demo"]);
    expect(networkLog).to.match(/resumed the network saved in .* at block \d+/);
    const status = await conclave(["status"]);
    expect(status.code, status.stderr).to.equal(0);
    expect(
      (status.json.models as { name: string; activeVersion: number }[]).find((m) => m.name === "vad-e2e")
        ?.activeVersion,
    ).to.equal(1);
    // Jobs 1-4: the start's demo, vad-e2e at k = 3 and in the token, tiny-mlp in the token at its new rate.
    expect((status.json.market as { jobs: number }).jobs).to.equal(4);
    const first = await conclave(["job", "status", "1"]);
    expect(first.json).to.include({ status: "settled", revealed: 3 });
    // The resumed runners serve new jobs.
    const inferred = await conclave([
      "infer",
      "tiny-mlp",
      "--input",
      path.join(ROOT, "examples", "tiny-mlp.input.json"),
      "--dev-account",
      "9",
    ]);
    expect(inferred.code, inferred.stderr).to.equal(0);
    expect(inferred.json).to.include({ status: "delivered", jobId: "5" });
    network.kill("SIGINT");
    expect(await exited[0]).to.equal(0);
  });
});
