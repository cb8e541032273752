import { createRequire } from "node:module";
import { defineConfig } from "hardhat/config";
import hardhatViem from "@nomicfoundation/hardhat-viem";
import hardhatViemAssertions from "@nomicfoundation/hardhat-viem-assertions";
import hardhatNetworkHelpers from "@nomicfoundation/hardhat-network-helpers";
import hardhatMocha from "@nomicfoundation/hardhat-mocha";

const require = createRequire(import.meta.url);
// solc comes from the npm `solc` package (WebAssembly build): nothing is downloaded at build time.
const solcVersion: string = require("solc/package.json").version;

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
    mocha: { timeout: 120_000 },
    solidity: { fuzz: { runs: 256 } },
  },
  networks: {
    localhost: { type: "http", url: "http://127.0.0.1:8545" },
  },
});
