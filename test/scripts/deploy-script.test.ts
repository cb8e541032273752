import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { createPublicClient, http, isAddress } from "viem";
import { loadArtifact } from "../../node/chain/artifacts.ts";
import { readDeployment } from "../../node/chain/deployment.ts";
import { startAnvil, type AnvilNode } from "../../node/devnet/anvil-node.ts";
import { devAccount } from "../../node/devnet/accounts.ts";
import { freePort } from "../../node/devnet/local-rpc.ts";
import { ROLES } from "../../node/deploy/roles.ts";
import { readRoles } from "../../node/deploy/roles.ts";
import { startRpcProxy } from "../../node/devnet/chaos/rpc-proxy.ts";
import { testDir } from "../helpers/temp-dir.ts";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");

/** Runs the deploy script as a user would; resolves with its exit code and output. */
async function deployScript(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["scripts/deploy.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, DEPLOYER_PRIVATE_KEY: "" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("scripts/deploy.ts against a real Anvil JSON-RPC node", function () {
  let node: AnvilNode;
  const out = testDir("conclave-deploy-");

  before(async function () {
    // Automine: the refusals below check that no block was added.
    node = await startAnvil();
  });
  after(async function () {
    await node?.stop();
  });

  it("deploys the stack with params from a file and flags, writes the record and leaves the deployer no role", async function () {
    const paramsFile = path.join(out, "params.json");
    writeFileSync(
      paramsFile,
      JSON.stringify({ votingPeriod: 120, timelockDelay: 30, quorumPercent: 10, unbondingPeriod: 600 }),
    );
    const { code, stdout } = await deployScript([
      "--rpc",
      node.rpcUrl,
      "--params",
      paramsFile,
      "--out",
      out,
      "--voting-delay",
      "2",
    ]);
    expect(code).to.equal(0);

    const record = readDeployment(path.join(out, "31337.json"));
    expect(record.chainId).to.equal(31337);
    for (const name of ["ConclaveToken", "ConclaveTimelock", "ConclaveGovernor", "ModelRegistry", "ProviderRegistry"]) {
      expect(isAddress(record.contracts[name]!.address)).to.equal(true);
      expect(record.contracts[name]!.block).to.be.greaterThan(0);
    }
    const raw = JSON.parse(readFileSync(path.join(out, "31337.json"), "utf8")) as Record<string, unknown>;
    expect(raw).to.have.keys(["chainId", "contracts", "deployer", "params"]);

    const client = createPublicClient({ transport: http(node.rpcUrl) });
    const gov = { address: record.contracts.ConclaveGovernor!.address, abi: loadArtifact("ConclaveGovernor").abi };
    expect(await client.readContract({ ...gov, functionName: "votingDelay" })).to.equal(2n); // flag beats file
    expect(await client.readContract({ ...gov, functionName: "votingPeriod" })).to.equal(120n); // file beats default
    expect(await client.readContract({ ...gov, functionName: "quorumNumerator" })).to.equal(10n);

    const deployer = record.deployer as `0x${string}`;
    const timelock = record.contracts.ConclaveTimelock!.address;
    for (const [name, roles] of [
      ["ConclaveTimelock", [ROLES.DEFAULT_ADMIN_ROLE, ROLES.PROPOSER_ROLE, ROLES.CANCELLER_ROLE, ROLES.EXECUTOR_ROLE]],
      ["ModelRegistry", [ROLES.DEFAULT_ADMIN_ROLE, ROLES.MARKET_ROLE, ROLES.GUARDIAN_ROLE]],
      ["ProviderRegistry", [ROLES.DEFAULT_ADMIN_ROLE, ROLES.MARKET_ROLE, ROLES.GUARDIAN_ROLE]],
      ["InferenceMarket", [ROLES.DEFAULT_ADMIN_ROLE, ROLES.GUARDIAN_ROLE]],
    ] as const) {
      const c = { address: record.contracts[name]!.address, abi: loadArtifact(name).abi };
      for (const role of roles) {
        expect(
          await client.readContract({ ...c, functionName: "hasRole", args: [role, deployer] }),
          `${name} ${role}`,
        ).to.equal(false);
      }
      expect(
        await client.readContract({ ...c, functionName: "hasRole", args: [ROLES.DEFAULT_ADMIN_ROLE, timelock] }),
      ).to.equal(true);
    }
    // The market holds MARKET_ROLE on both registries (slashing; rollout counters).
    for (const name of ["ProviderRegistry", "ModelRegistry"] as const) {
      const c = { address: record.contracts[name]!.address, abi: loadArtifact(name).abi };
      expect(
        await client.readContract({
          ...c,
          functionName: "hasRole",
          args: [ROLES.MARKET_ROLE, record.contracts.InferenceMarket!.address],
        }),
        name,
      ).to.equal(true);
    }
    expect(stdout).to.match(/ModelRegistry\.MARKET_ROLE: InferenceMarket 0x[0-9a-fA-F]{40}\n/);
    // The printed role table names the governor as the timelock's only proposer.
    expect(stdout).to.match(/ConclaveTimelock\.PROPOSER_ROLE: ConclaveGovernor 0x[0-9a-fA-F]{40}\n/);
    expect(stdout).to.match(/ConclaveTimelock\.EXECUTOR_ROLE: anyone \(0x0\)/);
    // Cancellers: the governor and the guardian's veto, nobody else; a local deploy names no guardian.
    expect(stdout).to.match(
      /ConclaveTimelock\.CANCELLER_ROLE: (ConclaveGovernor|GuardianVeto) 0x[0-9a-fA-F]{40}, (ConclaveGovernor|GuardianVeto) 0x[0-9a-fA-F]{40}\n/,
    );
    expect(stdout).to.match(/GuardianVeto\.guardian: nobody/);
    expect(stdout).to.not.match(/deployer 0x/);
    // The local default: the supply goes to the development DAO members, not to the deployer.
    const token = { address: record.contracts.ConclaveToken!.address, abi: loadArtifact("ConclaveToken").abi };
    expect(await client.readContract({ ...token, functionName: "balanceOf", args: [deployer] })).to.equal(0n);
    expect(
      (await client.readContract({ ...token, functionName: "balanceOf", args: [devAccount(1).address] })) > 0n,
    ).to.equal(true);
    expect(await client.readContract({ ...gov, functionName: "proposalThreshold" })).to.equal(10n ** 18n);
  });

  it("on a public chain refuses to start without holders and a guardian, and deploys with them", async function () {
    const chain = await startAnvil({ chainId: 8453 });
    try {
      const client = createPublicClient({ transport: http(chain.rpcUrl) });
      for (const args of [
        ["--guardian", "none"],
        ["--holders", `${devAccount(1).address}:1000`],
        ["--holders", `${devAccount(1).address}:1000`, "--guardian", devAccount(0).address],
      ]) {
        const { code, stderr } = await deployScript(["--rpc", chain.rpcUrl, "--out", out, ...args]);
        expect(code, args.join(" ")).to.not.equal(0);
        expect(stderr.split("\n").filter((l) => l.trim())).to.have.length(1);
      }
      expect(await client.getBlockNumber()).to.equal(0n);

      const guardian = devAccount(24).address;
      const { code, stdout, stderr } = await deployScript([
        "--rpc",
        chain.rpcUrl,
        "--out",
        out,
        "--holders",
        `${devAccount(1).address}:2000000`,
        "--guardian",
        guardian,
      ]);
      expect(code, stderr).to.equal(0);
      const record = readDeployment(path.join(out, "8453.json"));
      const gov = { address: record.contracts.ConclaveGovernor!.address, abi: loadArtifact("ConclaveGovernor").abi };
      expect(await client.readContract({ ...gov, functionName: "proposalThreshold" })).to.equal(2000n * 10n ** 18n); // 0.1 %
      const veto = { address: record.contracts.GuardianVeto!.address, abi: loadArtifact("GuardianVeto").abi };
      expect(await client.readContract({ ...veto, functionName: "guardian" })).to.equal(guardian);
      expect(stdout).to.include(`ModelRegistry.GUARDIAN_ROLE: ${guardian}`);
    } finally {
      await chain.stop();
    }
  });

  it("reads the roles back through an RPC that limits eth_getLogs to a few blocks per query", async function () {
    const record = readDeployment(path.join(out, "31337.json"));
    const proxy = await startRpcProxy({ upstream: node.rpcUrl, maxLogRange: 3 });
    try {
      const limited = createPublicClient({ transport: http(proxy.url) });
      const timelock = {
        address: record.contracts.ConclaveTimelock!.address,
        abi: loadArtifact("ConclaveTimelock").abi,
      };
      // One query from the deployment block is refused, as a public provider would.
      const refused = await limited
        .getContractEvents({ ...timelock, fromBlock: BigInt(record.contracts.ConclaveTimelock!.block) })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(refused).to.be.instanceOf(Error);
      const direct = await readRoles(createPublicClient({ transport: http(node.rpcUrl) }), record);
      expect(await readRoles(limited, record)).to.deep.equal(direct);
      expect(direct.length).to.be.greaterThan(0);
      expect(proxy.counters().rangeRefused).to.be.greaterThan(1);
    } finally {
      await proxy.close();
    }
  });

  it("refuses an unreachable RPC with one line and a non-zero exit", async function () {
    const port = await freePort();
    const { code, stderr } = await deployScript(["--rpc", `http://127.0.0.1:${port}`, "--out", out]);
    expect(code).to.not.equal(0);
    const lines = stderr
      .split("\n")
      .filter((l) => l.trim() && !l.includes("ExperimentalWarning") && !l.includes("--trace-warnings"));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^deploy: cannot reach RPC/);
  });

  for (const [what, args] of [
    ["a quorum above 100%", ["--quorum-percent", "101"]],
    ["a negative duration", ["--voting-period", "-5"]],
    ["an unbonding period above the contract's maximum", ["--unbonding-period", String(181 * 86_400)]],
    ["a malformed holder address", ["--holders", "0x1234:100"]],
    ["an unknown flag", ["--quorum", "5"]],
    ["a missing params file", ["--params", "/nonexistent/params.json"]],
    ["the deployer as guardian", ["--guardian", devAccount(0).address]],
    ["a proposal threshold above the supply", ["--proposal-threshold", "1000001"]],
  ] as const) {
    it(`refuses ${what} with one line and a non-zero exit, before sending anything`, async function () {
      const before = await createPublicClient({ transport: http(node.rpcUrl) }).getBlockNumber();
      const { code, stderr } = await deployScript(["--rpc", node.rpcUrl, "--out", out, ...args]);
      expect(code).to.not.equal(0);
      const lines = stderr.split("\n").filter((l) => l.trim());
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^deploy: /);
      expect(await createPublicClient({ transport: http(node.rpcUrl) }).getBlockNumber()).to.equal(before);
    });
  }
});
