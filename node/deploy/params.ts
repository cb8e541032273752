import { readFileSync } from "node:fs";
import { formatUnits, getAddress, isAddress, parseUnits, type Address } from "viem";
import { ConfigError, oneLine } from "../errors.ts";

/** A payment token and its rate: base units per 10^18 wei (see DeployParams.paymentTokens). */
interface PaymentToken {
  token: Address;
  ratePerEth: bigint;
}

/** Everything the deployment of the stack can be tuned with. Durations are seconds. */
export interface DeployParams {
  tokenName: string;
  tokenSymbol: string;
  /**
   * Initial token holders. Empty means not given: required on a public chain; on a local one the
   * development DAO members share LOCAL_SUPPLY. The deployer gets tokens only if listed here.
   */
  holders: { address: Address; amount: bigint }[];
  votingDelay: number;
  votingPeriod: number;
  /**
   * Votes needed to propose. null means the chain's default: 1 token on a local chain, 0.1 % of
   * the supply elsewhere, where 0 is refused (anyone could propose, and pre-burn proposal ids).
   */
  proposalThreshold: bigint | null;
  quorumPercent: number;
  timelockDelay: number;
  /** Exits unbond for the longer of this and the governance delay (votingDelay + votingPeriod + timelockDelay). */
  unbondingPeriod: number;
  /**
   * How long the guardian's freeze of a provider lasts (no new collateral, no withdrawal) while
   * the DAO votes: at least the governance delay. null means twice the governance delay.
   */
  freezePeriod: number | null;
  /** How long a deprecated model version keeps taking jobs (its sunset). */
  deprecationPeriod: number;
  minStake: bigint;
  autoAdmit: boolean;
  autoAdmitStake: bigint;
  /**
   * Who may pause and veto queued proposals; "none" for nobody (the DAO can appoint one later).
   * null means not given: required on a public chain, "none" on a local one. Never the deployer.
   */
  guardian: Address | "none" | null;
  /** Market policy (see IInferenceMarket.Policy); protocol fee and quorum in basis points. */
  protocolFeeBps: number;
  quorumBps: number;
  maxRedundancy: number;
  commitWindow: number;
  revealWindow: number;
  /** Seconds each provider rank beyond a job's first k waits for its turn; 0 turns assignment off. */
  priorityWindow: number;
  maxInlineInputBytes: number;
  maxJobDuration: number;
  /** Stake each seated provider of a k > 1 job locks (tokens). */
  collateralPerJob: bigint;
  /** The client's share (bps) of the stake slashed from a k > 1 job's faulty seats; the rest compensates the honest revealers. */
  clientShareBps: number;
  /** Challenge policy (see IInferenceMarketTypes.ChallengePolicy): seconds a k = 1 delivery may be challenged before its fee is claimed. */
  challengeWindow: number;
  /** Jurors per challenge: odd, 3 to 9. */
  jurySize: number;
  /** Stake tokens each majority juror earns from the loser's collateral (jurySize × juryFee ≤ collateralPerJob). */
  juryFee: bigint;
  /** The challenger's share (bps) of a wrong provider's collateral after the jurors' fees; the client gets the rest. */
  challengerShareBps: number;
  /**
   * ERC-20s allowed as payment besides ETH, each with its rate: the token's base units worth
   * 10^18 wei (1 ETH), which converts a version's minimum fee (in wei) into the token. Given as
   * `address:rate` (e.g. `0x…:3000e6` for a 6-decimal dollar at 3,000 per ETH).
   */
  paymentTokens: PaymentToken[];
  /**
   * The ConsumerRouter's largest outputs delivered inline to a consumer contract (bytes, 256 to
   * 65,536; DAO-set later); larger results are delivered as their hash only. The default fits
   * silero-vad-v5's 2,164-byte canonical preimage.
   */
  maxInlineOutputBytes: number;
}

/** Defaults suit a local network: governance stages of seconds to minutes. */
export const LOCAL_DEFAULTS: DeployParams = {
  tokenName: "Conclave",
  tokenSymbol: "CLV",
  holders: [],
  votingDelay: 1,
  votingPeriod: 300,
  proposalThreshold: null,
  quorumPercent: 4,
  timelockDelay: 60,
  unbondingPeriod: 3600,
  freezePeriod: null,
  deprecationPeriod: 86_400,
  minStake: parseUnits("100", 18),
  autoAdmit: false,
  autoAdmitStake: 0n,
  guardian: null,
  protocolFeeBps: 100,
  quorumBps: 5000,
  maxRedundancy: 7,
  commitWindow: 120,
  revealWindow: 120,
  // The local chain mines every second: a window spans two blocks, so when an assignee is down
  // the next rank's result lands three blocks after the request (three-block windows gave
  // four to five), and an assignee that is merely slow (two blocks) is not raced.
  priorityWindow: 2,
  maxInlineInputBytes: 16 * 1024,
  maxJobDuration: 86_400,
  collateralPerJob: parseUnits("10", 18),
  clientShareBps: 5000,
  // Long enough for another runner to recompute a small job and challenge; short enough that a
  // runner's collateral (1,000 tokens on the devnet, 10 per delivery) turns over under load.
  challengeWindow: 30,
  jurySize: 3,
  juryFee: parseUnits("1", 18),
  challengerShareBps: 5000,
  paymentTokens: [],
  maxInlineOutputBytes: 4096,
};

const MAX_UINT32 = 2 ** 32 - 1;
export const MAX_DURATIONS: Partial<Record<keyof DeployParams, number>> = {
  votingDelay: 2 ** 48 - 1,
  votingPeriod: MAX_UINT32,
  timelockDelay: MAX_UINT32,
  unbondingPeriod: 180 * 86_400,
  freezePeriod: 180 * 86_400,
  deprecationPeriod: 365 * 86_400,
  commitWindow: 30 * 86_400,
  revealWindow: 30 * 86_400,
  priorityWindow: 3600,
  maxJobDuration: 365 * 86_400,
  challengeWindow: 30 * 86_400,
};

/** Integer parameters with their inclusive bounds, as the contracts enforce them. */
const INTEGER_BOUNDS: Partial<Record<keyof DeployParams, [number, number]>> = {
  quorumPercent: [1, 100],
  protocolFeeBps: [0, 1000],
  quorumBps: [5000, 10_000],
  maxRedundancy: [1, 32],
  maxInlineInputBytes: [0, 64 * 1024],
  clientShareBps: [0, 10_000],
  jurySize: [3, 9],
  challengerShareBps: [0, 10_000],
  maxInlineOutputBytes: [256, 64 * 1024],
};

/** Names accepted in a params file and as `--kebab-case` flags. */
export const PARAM_KEYS = Object.keys(LOCAL_DEFAULTS) as (keyof DeployParams)[];

export function fail(key: string, value: unknown, why: string): never {
  throw new ConfigError(`invalid parameter ${key}=${JSON.stringify(value)}: ${why}`);
}

function toDuration(key: keyof DeployParams, value: unknown): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0)
    fail(key, value, "expected a whole number of seconds");
  const max = MAX_DURATIONS[key] ?? MAX_UINT32;
  if (n > max) fail(key, value, `at most ${max}`);
  return n;
}

/** Token amounts are given in whole tokens ("100", "0.5"); 18 decimals. */
function toTokens(key: string, value: unknown): bigint {
  const s = typeof value === "number" ? String(value) : value;
  if (typeof s !== "string" || !/^\d+(\.\d{1,18})?$/.test(s.trim()))
    fail(key, value, "expected a token amount like 100 or 0.5");
  return parseUnits(s.trim(), 18);
}

function toBool(key: string, value: unknown): boolean {
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  return fail(key, value, "expected true or false");
}

function toAddress(key: string, value: unknown): Address {
  if (typeof value !== "string" || !isAddress(value)) fail(key, value, "expected a 0x address");
  return getAddress(value);
}

function toHolders(value: unknown): DeployParams["holders"] {
  const list = typeof value === "string" ? value.split(",").filter(Boolean) : value;
  if (!Array.isArray(list)) fail("holders", value, "expected a list of address:amount");
  return list.map((item: unknown) => {
    if (typeof item === "string") {
      const [address, amount] = item.split(":");
      return { address: toAddress("holders", address), amount: toTokens("holders", amount) };
    }
    const o = item as { address?: unknown; amount?: unknown };
    return { address: toAddress("holders", o?.address), amount: toTokens("holders", o?.amount) };
  });
}

const MAX_UINT128 = 2n ** 128n - 1n;

/** A token rate in base units per 10^18 wei: a whole number, digits or `<digits>e<digits>` (3000e6). */
function toRate(key: string, value: unknown): bigint {
  const s =
    typeof value === "number" && Number.isSafeInteger(value)
      ? String(value)
      : typeof value === "bigint"
        ? value.toString()
        : value;
  const m = typeof s === "string" ? /^(\d+)(?:e(\d{1,2}))?$/.exec(s.trim()) : null;
  if (!m) fail(key, value, "expected a rate in token base units per ETH, like 1000000000000000000 or 3000e6");
  const rate = BigInt(m[1]!) * 10n ** BigInt(m[2] ?? "0");
  if (rate === 0n || rate > MAX_UINT128) fail(key, value, "expected a rate from 1 to 2^128 - 1");
  return rate;
}

function toPaymentTokens(value: unknown): PaymentToken[] {
  const list = typeof value === "string" ? value.split(",").filter(Boolean) : value;
  if (!Array.isArray(list)) fail("paymentTokens", value, "expected a list of address:rate");
  return list.map((item: unknown) => {
    if (typeof item === "string") {
      const [token, rate] = item.split(":");
      if (rate === undefined) fail("paymentTokens", item, "expected address:rate (the token's base units per ETH)");
      return { token: toAddress("paymentTokens", token), ratePerEth: toRate("paymentTokens", rate) };
    }
    const o = item as { token?: unknown; ratePerEth?: unknown };
    return { token: toAddress("paymentTokens", o?.token), ratePerEth: toRate("paymentTokens", o?.ratePerEth) };
  });
}

/** Applies one raw value (from a file or a flag) to `params`, validating it. */
function apply(params: DeployParams, key: string, value: unknown): void {
  switch (key) {
    case "tokenName":
    case "tokenSymbol":
      if (typeof value !== "string" || value.length === 0 || value.length > 32)
        fail(key, value, "expected 1 to 32 characters");
      params[key] = value;
      return;
    case "holders":
      params.holders = toHolders(value);
      return;
    case "votingDelay":
    case "votingPeriod":
    case "timelockDelay":
    case "unbondingPeriod":
    case "deprecationPeriod":
    case "priorityWindow":
      params[key] = toDuration(key, value);
      return;
    case "commitWindow":
    case "revealWindow":
    case "challengeWindow":
    case "maxJobDuration":
      params[key] = toDuration(key, value);
      if (params[key] < (key === "maxJobDuration" ? 60 : 1))
        fail(key, value, `at least ${key === "maxJobDuration" ? 60 : 1} seconds`);
      return;
    case "quorumPercent":
    case "protocolFeeBps":
    case "quorumBps":
    case "maxRedundancy":
    case "maxInlineInputBytes":
    case "clientShareBps":
    case "jurySize":
    case "challengerShareBps":
    case "maxInlineOutputBytes": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      const [min, max] = INTEGER_BOUNDS[key]!;
      if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max)
        fail(key, value, `expected a whole number from ${min} to ${max}`);
      if (key === "jurySize" && n % 2 === 0) fail(key, value, "expected an odd jury size");
      params[key] = n;
      return;
    }
    case "collateralPerJob":
    case "juryFee":
      params[key] = toTokens(key, value);
      return;
    case "paymentTokens":
      params.paymentTokens = toPaymentTokens(value);
      return;
    case "proposalThreshold":
    case "minStake":
    case "autoAdmitStake":
      params[key] = toTokens(key, value);
      return;
    case "autoAdmit":
      params.autoAdmit = toBool(key, value);
      return;
    case "guardian":
      params.guardian = value === null ? null : value === "none" ? "none" : toAddress(key, value);
      return;
    case "freezePeriod":
      params.freezePeriod = value === null ? null : toDuration(key, value);
      return;
    default:
      fail(key, value, `unknown parameter (known: ${PARAM_KEYS.join(", ")})`);
  }
}

/**
 * Resolves parameters: flags > file > defaults, each value validated. `flags` keys are camelCase.
 */
export function resolveDeployParams(
  file: string | undefined,
  flags: Record<string, unknown>,
  defaults: DeployParams = LOCAL_DEFAULTS,
): DeployParams {
  const params: DeployParams = {
    ...defaults,
    holders: [...defaults.holders],
    paymentTokens: defaults.paymentTokens.map((t) => ({ ...t })),
  };
  if (file !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (cause) {
      throw new ConfigError(`cannot read params file ${file}: ${oneLine(cause)}`, { cause });
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw))
      throw new ConfigError(`params file ${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(raw)) apply(params, k, v);
  }
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) apply(params, k, v);
  if (params.votingPeriod === 0) fail("votingPeriod", 0, "must be at least 1 second");
  if (params.collateralPerJob < MIN_COLLATERAL) {
    fail(
      "collateralPerJob",
      formatUnits(params.collateralPerJob, 18),
      "must be at least 1 token: a seat without collateral can fail at no cost (the market refuses less)",
    );
  }
  if (BigInt(params.jurySize) * params.juryFee > params.collateralPerJob) {
    fail(
      "juryFee",
      formatUnits(params.juryFee, 18),
      `jurySize × juryFee exceeds collateralPerJob (${formatUnits(params.collateralPerJob, 18)}): a loser's collateral must cover its jury`,
    );
  }
  return params;
}

/** The least collateral per seat the market accepts: 1 stake token (finding 16). */
const MIN_COLLATERAL = parseUnits("1", 18);
