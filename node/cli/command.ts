import { erc20Abi, formatUnits, keccak256, parseUnits, toHex, zeroAddress, type Address, type Hex } from "viem";
import { conclaveContracts } from "../chain/contracts.ts";
import { FatalError } from "../errors.ts";
import type { Output } from "./output.ts";
import type { Session } from "./session.ts";

/** A request the network cannot take as given: unknown model, not enough funds, wrong state. */
export class RequestError extends FatalError {
  readonly code = "REQUEST_INVALID";
}

type OptionSpec = { type: "string" | "boolean"; multiple?: boolean; short?: string };

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  out: Output;
  /** Connects to the network on first call (commands such as `key new` never do). */
  session(): Promise<Session>;
}

export interface Command {
  summary: string;
  /** Everything after "conclave <command>", then a description. */
  usage: string;
  options?: Record<string, OptionSpec>;
  /** How many positional arguments the command takes. */
  args?: [min: number, max: number];
  /** Resolves with the exit status (none: 0); failures throw. */
  run(ctx: CommandContext): Promise<void | number>;
}

export function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === "string" ? v : undefined;
}

export function required(ctx: CommandContext, name: string): string {
  const v = str(ctx, name);
  if (v === undefined) throw new RequestError(`--${name} is required`);
  return v;
}

export function integer(what: string, v: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new RequestError(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function amount(what: string, v: string, decimals: number): bigint {
  if (!/^\d+(\.\d+)?$/.test(v))
    throw new RequestError(`${what} must be a decimal amount like 1.5, got ${JSON.stringify(v)}`);
  return parseUnits(v, decimals);
}

export function address(what: string, v: string): Address {
  if (!/^0x[0-9a-fA-F]{40}$/.test(v)) throw new RequestError(`${what} must be a 0x address, got ${JSON.stringify(v)}`);
  return v as Address;
}

/** A payment token by "ETH" or address, with what is needed to show amounts in it. */
export interface TokenInfo {
  address: Address;
  symbol: string;
  decimals: number;
}

export async function tokenInfo(s: Session, token: string | undefined): Promise<TokenInfo> {
  if (token === undefined || token.toUpperCase() === "ETH" || token === zeroAddress)
    return { address: zeroAddress, symbol: "ETH", decimals: 18 };
  const at = address("--token", token);
  const erc20 = { address: at, abi: erc20Abi } as const;
  try {
    const [symbol, decimals] = await Promise.all([
      s.publicClient.readContract({ ...erc20, functionName: "symbol" }),
      s.publicClient.readContract({ ...erc20, functionName: "decimals" }),
    ]);
    return { address: at, symbol, decimals };
  } catch {
    throw new RequestError(`${at} is not an ERC-20 token on this chain`);
  }
}

export const formatToken = (value: bigint, t: TokenInfo) => `${formatUnits(value, t.decimals)} ${t.symbol}`;

/** A model by name (or 0x id), with its owner, as the registry knows it. */
export async function resolveModelName(s: Session, nameOrId: string) {
  const { models } = conclaveContracts(s.record, s.publicClient);
  const modelId = (/^0x[0-9a-fA-F]{64}$/.test(nameOrId) ? nameOrId : keccak256(toHex(nameOrId))) as Hex;
  const model = await models.read.getModel([modelId]);
  if (model.versionCount === 0)
    throw new RequestError(`unknown model ${JSON.stringify(nameOrId)}: nothing is published under that name`);
  return { modelId, ...model };
}

/** A model by name (or 0x id) and version (0 = the active one), as the registry knows it. */
export async function resolveModel(s: Session, nameOrId: string, version = 0) {
  const { models } = conclaveContracts(s.record, s.publicClient);
  const { modelId, ...model } = await resolveModelName(s, nameOrId);
  if (version === 0 && model.activeVersion === 0)
    throw new RequestError(`model ${model.name} has no active version: the DAO has not activated one`);
  const v = version === 0 ? model.activeVersion : version;
  if (v > model.versionCount)
    throw new RequestError(`model ${model.name} has no version ${v} (it has ${model.versionCount})`);
  const info = await models.read.getVersion([modelId, v]);
  return {
    modelId,
    name: model.name,
    version: v,
    activeVersion: model.activeVersion,
    versionCount: model.versionCount,
    info,
  };
}
