import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parseGwei } from "viem";
import { loadConfig } from "../../node/config-load.ts";
import { ConfigError } from "../../node/errors.ts";
import { testDir } from "../helpers/temp-dir.ts";

const KEY = `0x${"11".repeat(32)}`;
const dir = testDir("conclave-txconfig-");
const load = (tx: unknown) => {
  const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify({ rpcUrl: "http://x:1", deployment: "d.json", ...(tx === undefined ? {} : { tx }) }));
  return loadConfig({ config: f }, { CONCLAVE_PROVIDER_KEY: KEY });
};

describe("runner configuration: tx", function () {
  it("caps fees at 500 gwei unless tx.maxFeePerGas (wei, as a string) says otherwise", function () {
    expect(load(undefined).tx.maxFeePerGas).to.equal(parseGwei("500"));
    expect(load({ maxFeePerGas: "2000000000000" }).tx.maxFeePerGas).to.equal(parseGwei("2000"));
  });

  for (const [what, tx] of [
    ["a zero fee cap", { maxFeePerGas: "0" }],
    ["a fee cap that is not an integer", { maxFeePerGas: "1.5" }],
    ["a bump below the nodes' 10 %", { feeBumpPercent: 5 }],
  ] as const) {
    it(`refuses ${what}`, function () {
      expect(() => load(tx)).to.throw(ConfigError);
    });
  }
});
