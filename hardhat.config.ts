import { createRequire } from "node:module";
import { defineConfig } from "hardhat/config";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";

const require = createRequire(import.meta.url);
// solc comes from the npm `solc` package (WebAssembly build): nothing is downloaded at build time.
const solcVersion: string = require("solc/package.json").version;

function mochaOptions(): { timeout: number; parallel: boolean; jobs?: number; require?: string[] } {
  const jobs = Number(process.env.CONCLAVE_MOCHA_JOBS ?? "3");
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new Error(`CONCLAVE_MOCHA_JOBS must be a positive integer, got ${process.env.CONCLAVE_MOCHA_JOBS}`);
  if (jobs === 1) return { timeout: 120_000, parallel: false };
  // Each worker process drops Node's SQLite warning, as the runner and the CLI do, starts its
  // test processes without tsx (child-env.ts) and prints the runners' log tails of a failed test.
  return {
    timeout: 120_000,
    parallel: true,
    jobs,
    require: [
      new URL("./node/quiet-warnings.ts", import.meta.url).href,
      new URL("./test/helpers/child-env.ts", import.meta.url).href,
      new URL("./test/helpers/runner-log-tails.ts", import.meta.url).href,
    ],
  };
}

export default defineConfig({
  plugins: [hardhatViem, hardhatViemAssertions, hardhatNetworkHelpers, hardhatMocha],
  solidity: {
    version: solcVersion,
    path: require.resolve("solc/soljson.js"),
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
    },
  },
  paths: {
    tests: { solidity: "test/contracts", mocha: "test" },
  },
  test: {
    // Files run in parallel worker processes: most end-to-end tests wait on 1 s blocks, not on the
    // CPU. CONCLAVE_MOCHA_JOBS=1 runs them one after another in one process.
    mocha: mochaOptions(),
    solidity: { fuzz: { runs: 256 } },
  },
  networks: {
    localhost: { type: "http", url: "http://127.0.0.1:8545" },
  },
});
