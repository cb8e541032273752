import { expect } from "chai";
import { parseUnits, type Address } from "viem";
import { bindToProposer, plainDescription } from "../../node/dao/proposals.ts";
import { LOCAL_SUPPLY, paramsForChain } from "../../node/deploy/chain-params.ts";
import { LOCAL_DEFAULTS, resolveDeployParams, type DeployParams } from "../../node/deploy/params.ts";
import { DEV_ROLES, devAccount } from "../../node/devnet/accounts.ts";
import { ConfigError } from "../../node/errors.ts";

const deployer = devAccount(0).address;
const guardian = devAccount(DEV_ROLES.guardian).address;
const holder = devAccount(5).address;
const PUBLIC = 8453;
const T = (n: string) => parseUnits(n, 18);

function refused(params: Partial<DeployParams>, chainId = PUBLIC): unknown {
  try {
    paramsForChain({ ...LOCAL_DEFAULTS, ...params }, chainId, deployer);
  } catch (error) {
    return error;
  }
  return null;
}

describe("proposal descriptions bound to the proposer (finding 5)", function () {
  it("appends a random 8-byte reference and the proposer, in the governor's #proposer= form", function () {
    const a = bindToProposer("Activate m v1", deployer);
    const b = bindToProposer("Activate m v1", deployer);
    expect(a).to.match(/^Activate m v1 \[ref:[0-9a-f]{16}\]#proposer=0x[0-9a-fA-F]{40}$/);
    expect(a.endsWith(`#proposer=${deployer}`)).to.equal(true);
    expect(a).to.not.equal(b); // ids are unpredictable
    expect(plainDescription(a)).to.equal("Activate m v1");
  });

  it("binds a description given by the user too, even one that names another proposer", function () {
    const bound = bindToProposer(`Mine #proposer=${holder}`, deployer, "0x0123456789abcdef");
    expect(bound).to.equal(`Mine #proposer=${holder} [ref:0123456789abcdef]#proposer=${deployer}`);
  });

  it("leaves a description without the suffix as it is", function () {
    expect(plainDescription("Activate m v1 [ref:x]")).to.equal("Activate m v1 [ref:x]");
  });
});

describe("deploy parameters per chain (findings 5 and 9)", function () {
  it("local chain: the dev DAO members share the supply, threshold 1 token, no guardian", function () {
    const p = paramsForChain(LOCAL_DEFAULTS, 31337, deployer);
    expect(p.holders.map((h) => h.address)).to.deep.equal(DEV_ROLES.members.map((i) => devAccount(i).address));
    expect(p.holders.reduce((s, h) => s + h.amount, 0n)).to.equal(LOCAL_SUPPLY);
    expect(p.holders.map((h) => h.address)).to.not.include(deployer);
    expect(p.proposalThreshold).to.equal(T("1"));
    expect(p.guardian).to.equal(null);
  });

  it("public chain: holders and guardian are required", function () {
    expect(refused({ guardian })).to.be.instanceOf(ConfigError);
    expect(refused({ holders: [{ address: holder, amount: T("100") }] })).to.be.instanceOf(ConfigError);
    const p = paramsForChain(
      { ...LOCAL_DEFAULTS, guardian: "none", holders: [{ address: holder, amount: T("1000") }] },
      PUBLIC,
      deployer,
    );
    expect(p.guardian).to.equal(null);
  });

  it("public chain: the threshold defaults to 0.1 % of the supply and may not be 0", function () {
    const holders = [{ address: holder, amount: T("2000000") }];
    expect(paramsForChain({ ...LOCAL_DEFAULTS, guardian, holders }, PUBLIC, deployer).proposalThreshold).to.equal(
      T("2000"),
    );
    expect(
      paramsForChain({ ...LOCAL_DEFAULTS, guardian, holders, proposalThreshold: T("5") }, PUBLIC, deployer)
        .proposalThreshold,
    ).to.equal(T("5"));
    expect(refused({ guardian, holders, proposalThreshold: 0n })).to.be.instanceOf(ConfigError);
    expect(refused({ guardian, holders, proposalThreshold: T("2000001") })).to.be.instanceOf(ConfigError);
  });

  it("every chain: the deployer is never the guardian", function () {
    for (const chainId of [31337, PUBLIC]) {
      expect(refused({ guardian: deployer, holders: [{ address: holder, amount: T("1") }] }, chainId)).to.be.instanceOf(
        ConfigError,
      );
      expect(
        refused(
          { guardian: deployer.toLowerCase() as Address, holders: [{ address: holder, amount: T("1") }] },
          chainId,
        ),
      ).to.be.instanceOf(ConfigError);
    }
  });

  it("reads guardian none and a threshold from flags", function () {
    const p = resolveDeployParams(undefined, { guardian: "none", proposalThreshold: "2.5" });
    expect(p.guardian).to.equal("none");
    expect(p.proposalThreshold).to.equal(T("2.5"));
    expect(resolveDeployParams(undefined, {}).proposalThreshold).to.equal(null);
    expect(() => resolveDeployParams(undefined, { guardian: "nobody" })).to.throw(ConfigError);
  });
});

describe("payment tokens with a rate (finding 7)", function () {
  const usdc = devAccount(8).address;
  const meme = devAccount(9).address;

  it("reads address:rate from a flag, the rate in base units per ETH (digits or <digits>e<digits>)", function () {
    const p = resolveDeployParams(undefined, {
      paymentTokens: `${usdc}:3000e6,${meme.toLowerCase()}:1000000000000000000000000`,
    });
    expect(p.paymentTokens).to.deep.equal([
      { token: usdc, ratePerEth: 3_000_000_000n },
      { token: meme, ratePerEth: 10n ** 24n },
    ]);
  });

  it("reads objects from a params file's list, and defaults to none", function () {
    expect(
      resolveDeployParams(undefined, { paymentTokens: [{ token: usdc, ratePerEth: "3000e6" }] }).paymentTokens,
    ).to.deep.equal([{ token: usdc, ratePerEth: 3_000_000_000n }]);
    expect(resolveDeployParams(undefined, {}).paymentTokens).to.deep.equal([]);
  });

  it("refuses a token without a rate, a zero rate, a rate above uint128 and a fractional rate", function () {
    for (const bad of [usdc, `${usdc}:0`, `${usdc}:${2n ** 128n}`, `${usdc}:1.5`, `${usdc}:-1`, `nope:1`]) {
      expect(() => resolveDeployParams(undefined, { paymentTokens: bad }), bad).to.throw(ConfigError);
    }
  });
});

describe("collateral per seat (finding 16)", function () {
  it("refuses less than 1 token (0 would make k > 1 seats free to abandon) and accepts 1", function () {
    for (const bad of ["0", "0.5", "0.999999999999999999"]) {
      expect(() => resolveDeployParams(undefined, { collateralPerJob: bad, juryFee: "0" }), bad).to.throw(ConfigError);
    }
    expect(resolveDeployParams(undefined, { collateralPerJob: "1", juryFee: "0.3" }).collateralPerJob).to.equal(
      10n ** 18n,
    );
  });
});
