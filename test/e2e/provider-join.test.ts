import { expect } from "chai";
import path from "node:path";
import { getAddress, parseUnits, type Address } from "viem";
import { devAccount } from "../../node/devnet/accounts.ts";
import { cliFor, expectFailure, expectOk, type CliRun } from "../helpers/cli-process.ts";
import { runnerConfig, spawnRunner, startDevnet, type Devnet, type RunnerProcess } from "../helpers/devnet.ts";
import { testDir } from "../helpers/temp-dir.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PASSWORD = "correct horse battery";

/**
 * Growing the fleet with the CLI alone (issue 12): a brand-new key gets stake tokens and gas
 * (faucet, transfer), registers with named tags, the DAO votes it in, and its `node run` serves a
 * job that requires one of its tags. The network has no other provider, so that job can only be
 * the newcomer's.
 */
describe("a new provider joins with the CLI alone (faucet, transfer, named tags, DAO approval, node run)", function () {
  this.timeout(600_000);
  const dir = testDir("conclave-join-");
  const keystore = path.join(dir, "provider.json");
  let net: Devnet;
  let conclave: (args: string[], env?: Record<string, string>) => Promise<CliRun>;
  let runner: RunnerProcess | undefined;
  let me: Address;
  const asProvider = { CONCLAVE_KEYSTORE_PASSWORD: PASSWORD };

  before(async function () {
    net = await startDevnet({ providers: [] });
    conclave = cliFor({ rpc: net.node.rpcUrl, deployment: net.deploymentFile, cwd: dir });
  });
  after(async function () {
    await runner?.stop();
    await net?.stop();
  });

  it("a new key holds nothing: register says so and points at the faucet", async function () {
    const created = expectOk(await conclave(["key", "new", "--out", keystore], asProvider));
    me = getAddress(created.address as Address);
    expectFailure(
      await conclave(["provider", "register", "--stake", "500", "--keystore", keystore], asProvider),
      /holds 0 CLV \(local network: conclave faucet 0x[0-9a-fA-F]{40}\)/,
      "REQUEST_INVALID",
    );
    const balance = expectOk(await conclave(["token", "balance", me]));
    expect(balance).to.include({ address: me, CLV: "0", ETH: "0", votes: "0", delegate: null });
  });

  it("gets CLV and ETH from the faucet and CLV from a member's transfer", async function () {
    const funded = expectOk(await conclave(["faucet", me, "400"]));
    expect(funded).to.include({ to: me, CLV: parseUnits("400", 18).toString(), ETH: parseUnits("10", 18).toString() });
    expect(DEV_MEMBERS).to.include(funded.devAccount);
    expectFailure(await conclave(["faucet", me, "1", "--dev-account", "99"]), /--dev-account must be/, "KEY_INVALID");
    expectFailure(await conclave(["faucet", me, "5000000"]), /the faucet cannot send 5000000 CLV/, "FAUCET_REFUSED");

    const sent = expectOk(await conclave(["token", "transfer", me, "100.5", "--dev-account", "2"]));
    expect(sent).to.include({
      from: devAccount(2).address,
      to: me,
      token: "CLV",
      amount: parseUnits("100.5", 18).toString(),
    });
    expectFailure(
      await conclave(["token", "transfer", me, "0", "--dev-account", "2"]),
      /amount must be above 0/,
      "REQUEST_INVALID",
    );
    expectFailure(
      await conclave(["token", "transfer", "0x1234", "1", "--dev-account", "2"]),
      /recipient must be a 0x address/,
      "REQUEST_INVALID",
    );
    expectFailure(
      await conclave(["token", "transfer", devAccount(2).address, "1"], { CONCLAVE_KEY: "0x" + "11".repeat(32) }),
      /not enough funds: sending 1 CLV/,
      "REQUEST_INVALID",
    );

    const balance = expectOk(await conclave(["token", "balance"], { CONCLAVE_KEYSTORE: keystore, ...asProvider }));
    expect(balance).to.include({
      address: me,
      CLV: parseUnits("500.5", 18).toString(),
      ETH: parseUnits("10", 18).toString(),
    });
    // ETH moves too: the newcomer hands a little back.
    const eth = expectOk(
      await conclave(
        ["token", "transfer", devAccount(2).address, "0.5", "--token", "ETH", "--keystore", keystore],
        asProvider,
      ),
    );
    expect(eth).to.include({ token: "ETH", amount: parseUnits("0.5", 18).toString() });
  });

  it("registers with named tags, and the DAO approves it granting tags by name", async function () {
    expectFailure(
      await conclave(
        ["provider", "register", "--stake", "500", "--tags", "cpu,warp-drive", "--keystore", keystore],
        asProvider,
      ),
      /unknown tag "warp-drive"/,
      "REQUEST_INVALID",
    );
    const registered = expectOk(
      await conclave(
        ["provider", "register", "--stake", "500", "--tags", "cpu,eu", "--keystore", keystore],
        asProvider,
      ),
    );
    expect(registered).to.include({ address: me, status: "Pending", tags: String(1 + 256) });
    expect(registered.tagNames).to.deep.equal(["cpu", "eu"]);

    const proposed = expectOk(
      await conclave(["dao", "propose", "approve-provider", me, "cpu,eu", "--dev-account", "1"]),
    );
    expect((proposed.actions as { call: string }[])[0]!.call).to.equal(`approveProvider(${me}, 257)`);
    expect(proposed.description).to.match(new RegExp(`^Approve provider ${me} with tags cpu,eu \\(257\\)`));
    const id = proposed.id as string;
    for (const member of ["1", "2", "3"])
      expect(expectOk(await conclave(["dao", "vote", id, "for", "--dev-account", member]))).to.include({
        support: "for",
      });
    expect(expectOk(await conclave(["dao", "queue", id, "--dev-account", "1"])).state).to.equal("Queued");
    expect(expectOk(await conclave(["dao", "execute", id, "--dev-account", "1"])).state).to.equal("Executed");

    const status = expectOk(await conclave(["provider", "status", me]));
    expect(status).to.include({ status: "Approved", eligible: true, grantedTags: "257" });
    expect(status.grantedTagNames).to.deep.equal(["cpu", "eu"]);
  });

  it("its `node run` (keystore key) serves a job that requires one of its tags", async function () {
    const config = runnerConfig(net, 99, { keystore }, path.join(dir, "runner"));
    runner = await spawnRunner(net, 99, config, { env: { CONCLAVE_PROVIDER_KEY: "", ...asProvider } });
    expect(getAddress(runner.address)).to.equal(me);
    // It prefetched and warmed the active versions before its first job.
    for (let end = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 100))) {
      const ready = (await (await fetch(`${runner.http}/ready`)).json()) as {
        details: { models: { model: string; role: string; warm: boolean }[] };
      };
      const warm = ready.details.models.filter((m) => m.role === "active" && m.warm).map((m) => m.model);
      if (warm.includes("tiny-mlp") && warm.includes("silero-vad-v5")) break;
      if (Date.now() > end) throw new Error(`active versions not warm: ${JSON.stringify(ready.details.models)}`);
    }
    const inferred = expectOk(
      await conclave([
        "infer",
        "tiny-mlp",
        "--input",
        path.join(ROOT, "examples", "tiny-mlp.input.json"),
        "--require",
        "eu",
        "--dev-account",
        "7",
      ]),
    );
    expect(inferred).to.include({ status: "delivered", requiredTags: "eu", outputsFrom: me });
    expect(inferred.verified).to.deep.equal({ canonicalHash: true, attestations: 1 });
  });
});

const DEV_MEMBERS = [1, 2, 3];
