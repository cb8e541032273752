import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  InsufficientFundsError,
  type Abi,
  type Hex,
} from "viem";
import { loadArtifact, type ContractName } from "./artifacts.ts";

const DEPLOYED: ContractName[] = [
  "ConclaveToken",
  "ConclaveTimelock",
  "ConclaveGovernor",
  "ModelRegistry",
  "ProviderRegistry",
  "InferenceMarket",
  "MockERC20",
  "ConsumerRouter",
  "SpeechGate",
];

/**
 * Every custom error of the deployed contracts, so a revert that bubbles up from a contract the
 * call did not name (the market calling the provider registry) is still decoded by name.
 */
function conclaveErrorsAbi(): Abi {
  const seen = new Set<string>();
  const out: Abi[number][] = [];
  for (const name of DEPLOYED) {
    for (const item of loadArtifact(name).abi as Abi) {
      if (item.type !== "error") continue;
      const key = `${item.name}(${item.inputs.map((i) => i.type).join(",")})`;
      if (!seen.has(key)) out.push(item);
      seen.add(key);
    }
  }
  return out;
}

interface Revert {
  /** The custom error's name, or "Error" for a require string, or undefined when unknown. */
  name: string | undefined;
  /** A person's reading of it, e.g. `InferenceMarketFeeBelowMinimum(fee=1, minimum=2)`. */
  text: string;
}

function show(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  return String(v);
}

/** The revert data a viem error carries, wherever in its cause chain viem put it. */
function revertData(error: BaseError): { reverted: ContractFunctionRevertedError | null; raw: Hex | undefined } {
  const reverted = error.walk(
    (e) => e instanceof ContractFunctionRevertedError,
  ) as ContractFunctionRevertedError | null;
  const raw = (reverted?.raw ??
    (error.walk((e) => typeof (e as { data?: unknown }).data === "string") as { data?: Hex } | null)?.data) as
    Hex | undefined;
  return { reverted, raw };
}

/** The custom error name in a revert, if the ABI knows it. */
export function revertName(error: unknown, abi: Abi): string | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const { reverted, raw } = revertData(error);
  if (reverted?.data?.errorName) return reverted.data.errorName;
  if (!raw || raw.length < 10) return undefined;
  try {
    return decodeErrorResult({ abi, data: raw }).errorName;
  } catch {
    return undefined;
  }
}

/** Reads a viem error as a contract revert or a funding failure; undefined for anything else. */
export function describeRevert(error: unknown, abi: Abi = conclaveErrorsAbi()): Revert | undefined {
  if (!(error instanceof BaseError)) return undefined;
  if (error.walk((e) => e instanceof InsufficientFundsError))
    return { name: "InsufficientFunds", text: "the sender's ETH balance does not cover the value and gas" };
  const { reverted, raw } = revertData(error);
  if (raw && raw.length >= 10) {
    try {
      const decoded = decodeErrorResult({ abi, data: raw });
      const item = abi.find((i) => i.type === "error" && i.name === decoded.errorName) as
        { inputs: { name: string }[] } | undefined;
      const args = (decoded.args ?? []).map((a, i) => `${item?.inputs[i]?.name || i}=${show(a)}`);
      return { name: decoded.errorName, text: `${decoded.errorName}(${args.join(", ")})` };
    } catch {
      // not one of ours: fall through to what viem made of it
    }
  }
  if (reverted)
    return {
      name: reverted.data?.errorName ?? (reverted.reason ? "Error" : undefined),
      text: reverted.reason ?? reverted.shortMessage,
    };
  return undefined;
}

/** A revert's custom error with its decoded arguments, if the ABI knows it. */
export function decodeRevert(
  error: unknown,
  abi: Abi = conclaveErrorsAbi(),
): { name: string; args: readonly unknown[] } | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const { reverted, raw } = revertData(error);
  if (reverted?.data?.errorName) return { name: reverted.data.errorName, args: reverted.data.args ?? [] };
  if (!raw || raw.length < 10) return undefined;
  try {
    const decoded = decodeErrorResult({ abi, data: raw });
    return { name: decoded.errorName, args: decoded.args ?? [] };
  } catch {
    return undefined;
  }
}

/**
 * Why a mined transaction reverted, by its custom error's name (or "Error" for a require string,
 * "Panic"), from the node's call trace (`debug_traceTransaction`, callTracer: Anvil, geth, EDR).
 * Undefined when it did not revert or the node has no such method; the node's own words (e.g.
 * "out of gas") when the revert carried no data; the selector when the ABI does not know it.
 */
export async function revertReasonOfTx(
  request: (args: { method: string; params: unknown[] }) => Promise<unknown>,
  hash: Hex,
): Promise<string | undefined> {
  const trace = (await request({ method: "debug_traceTransaction", params: [hash, { tracer: "callTracer" }] }).catch(
    () => null,
  )) as { output?: Hex; error?: string } | null;
  if (!trace?.error) return undefined; // not reverted (its output is what it returned)
  const data = trace.output;
  if (!data || data.length < 10) return trace.error;
  try {
    return decodeErrorResult({ abi: conclaveErrorsAbi(), data }).errorName;
  } catch {
    return data.slice(0, 10);
  }
}
