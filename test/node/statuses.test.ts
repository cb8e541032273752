import { readFileSync } from "node:fs";
import { expect } from "chai";
import {
  CALLBACK_STATUS,
  CallbackStatus,
  ChallengeOutcome,
  JOB_STATUS,
  JobStatus,
  PROVIDER_STATUS,
  ProviderStatus,
  ROLLOUT_STATUS,
  VERSION_STATUS,
  VersionStatus,
} from "../../node/chain/statuses.ts";

/** The members of `enum <name>` in a contract interface (or `dir/file` under contracts/), in declaration order (= their values). */
function solidityEnum(file: string, name: string): string[] {
  const source = readFileSync(
    new URL(`../../contracts/${file.includes("/") ? file : `interfaces/${file}`}`, import.meta.url),
    "utf8",
  );
  const body = new RegExp(`enum\\s+${name}\\s*\\{([^}]*)\\}`).exec(source)?.[1];
  if (body === undefined) throw new Error(`no enum ${name} in ${file}`);
  return body
    .replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, "")
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
}

describe("chain status enums", function () {
  const cases = [
    {
      name: "IInferenceMarket.JobStatus",
      members: solidityEnum("IInferenceMarket.sol", "JobStatus"),
      values: JobStatus,
      names: JOB_STATUS,
    },
    {
      name: "IInferenceMarket.ChallengeOutcome",
      members: solidityEnum("IInferenceMarket.sol", "ChallengeOutcome"),
      values: ChallengeOutcome,
      names: undefined,
    },
    {
      name: "IModelRegistry.VersionStatus",
      members: solidityEnum("IModelRegistry.sol", "VersionStatus"),
      values: VersionStatus,
      names: VERSION_STATUS,
    },
    {
      name: "IProviderRegistry.ProviderStatus",
      members: solidityEnum("IProviderRegistry.sol", "ProviderStatus"),
      values: ProviderStatus,
      names: PROVIDER_STATUS,
    },
    {
      name: "ConsumerRouter.CallbackStatus",
      members: solidityEnum("consumers/ConsumerRouter.sol", "CallbackStatus"),
      values: CallbackStatus,
      names: CALLBACK_STATUS,
    },
    {
      name: "IModelRollouts.RolloutStatus",
      members: solidityEnum("IModelRollouts.sol", "RolloutStatus"),
      values: undefined,
      names: ROLLOUT_STATUS,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: the values and names by value follow the Solidity enum's order`, function () {
      expect(c.members.length, "members found in the source").to.be.greaterThan(1);
      if (c.values) expect(c.values).to.deep.equal(Object.fromEntries(c.members.map((m, i) => [m, i])));
      // Names as shown may be lower case with spaces ("jury revealing" for JuryRevealing).
      if (c.names)
        expect(c.names.map((n) => n.replace(/ /g, "").toLowerCase())).to.deep.equal(
          c.members.map((m) => m.toLowerCase()),
        );
    });
  }
});
