import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import type { Hex } from "viem";
import type { ArtifactMap } from "hardhat/types/artifacts";
import { ArtifactMissingError } from "../errors.ts";

/** Contracts that tools deploy or talk to, with their source file under contracts/. */
const SOURCES = {
  ConclaveToken: "governance/ConclaveToken.sol",
  ConclaveTimelock: "governance/ConclaveTimelock.sol",
  ConclaveGovernor: "governance/ConclaveGovernor.sol",
  GuardianVeto: "governance/GuardianVeto.sol",
  ModelRegistry: "registry/ModelRegistry.sol",
  ProviderRegistry: "registry/ProviderRegistry.sol",
  InferenceMarket: "market/InferenceMarket.sol",
  InferenceMarketCourt: "market/InferenceMarketCourt.sol",
  ConsumerRouter: "consumers/ConsumerRouter.sol",
  SpeechGate: "examples/SpeechGate.sol",
  SwitchConsumer: "mocks/SwitchConsumer.sol",
  MockERC20: "mocks/MockERC20.sol",
  FeeOnTransferERC20: "mocks/FeeOnTransferERC20.sol",
} as const;

export type ContractName = keyof typeof SOURCES;
export const CONTRACT_NAMES = Object.keys(SOURCES) as ContractName[];
export type AbiOf<N extends ContractName> = ArtifactMap[N]["abi"];

interface Artifact<N extends ContractName> {
  abi: AbiOf<N>;
  bytecode: Hex;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Directory holding the Hardhat build output; CONCLAVE_ARTIFACTS overrides it for installed tools. */
function artifactsDir(): string {
  return process.env.CONCLAVE_ARTIFACTS ?? path.join(ROOT, "artifacts");
}

/** Reads a contract's ABI and bytecode from the build artifacts (ABIs are never hand-copied). */
export function loadArtifact<N extends ContractName>(name: N): Artifact<N> {
  const file = path.join(artifactsDir(), "contracts", SOURCES[name], `${name}.json`);
  let json: { abi: AbiOf<N>; bytecode: Hex };
  try {
    json = JSON.parse(readFileSync(file, "utf8")) as { abi: AbiOf<N>; bytecode: Hex };
  } catch (cause) {
    throw new ArtifactMissingError(`artifact for ${name} not found at ${file}: run \`npm run build\` first`, { cause });
  }
  return { abi: json.abi, bytecode: json.bytecode };
}

/**
 * The market's ABI with its court's functions added: the court's functions (claims, challenges,
 * juries, and the DAO's settings: policies, payment tokens, treasury, protocol fees) are called on
 * the market's address, which forwards them.
 */
export function marketAbiWithCourt(): readonly unknown[] {
  const market = loadArtifact("InferenceMarket").abi as readonly { type: string; name?: string }[];
  const known = new Set(market.map((item) => `${item.type}:${item.name ?? ""}`));
  const court = (loadArtifact("InferenceMarketCourt").abi as readonly { type: string; name?: string }[]).filter(
    (item) => item.type === "function" && !known.has(`function:${item.name}`),
  );
  return [...market, ...court];
}
