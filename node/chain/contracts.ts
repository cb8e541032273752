import { getContract, type Client } from "viem";
import { loadArtifact, type ContractName } from "./artifacts.ts";
import type { DeploymentRecord } from "./deployment.ts";
import { contractAddress } from "./deployment.ts";

/** Typed handles on the deployed contracts, for one signer or reader. */
export function conclaveContracts<C extends Client>(record: DeploymentRecord, client: C) {
  const at = (name: ContractName) => contractAddress(record, name);
  return {
    token: getContract({ address: at("ConclaveToken"), abi: loadArtifact("ConclaveToken").abi, client }),
    timelock: getContract({ address: at("ConclaveTimelock"), abi: loadArtifact("ConclaveTimelock").abi, client }),
    governor: getContract({ address: at("ConclaveGovernor"), abi: loadArtifact("ConclaveGovernor").abi, client }),
    models: getContract({ address: at("ModelRegistry"), abi: loadArtifact("ModelRegistry").abi, client }),
    providers: getContract({ address: at("ProviderRegistry"), abi: loadArtifact("ProviderRegistry").abi, client }),
    market: getContract({ address: at("InferenceMarket"), abi: loadArtifact("InferenceMarket").abi, client }),
    /** The market's claim and challenge functions and the DAO's settings: served on the market's address by its court. */
    court: getContract({ address: at("InferenceMarket"), abi: loadArtifact("InferenceMarketCourt").abi, client }),
    /** Absent from deployments made before the guardian's veto existed. */
    veto: record.contracts.GuardianVeto
      ? getContract({ address: at("GuardianVeto"), abi: loadArtifact("GuardianVeto").abi, client })
      : undefined,
  };
}
