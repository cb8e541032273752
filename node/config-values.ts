/**
 * Readers of one config value, each checked: a problem is a ConfigError whose one-line message
 * names the key and what was expected.
 */
import { getAddress, isAddress } from "viem";
import type { RunnerConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { jsonStringify } from "./json-stringify.ts";

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

export function bad(key: string, value: unknown, why: string): never {
  throw new ConfigError(`invalid config ${key}=${jsonStringify(value)}: ${why}`);
}

export function int(key: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max)
    bad(key, v, `expected an integer from ${min} to ${max}`);
  return n;
}

/** "auto", or an integer in range (a string from a flag or the environment included). */
export function autoOrInt(key: string, v: unknown, min: number, max: number): number | "auto" {
  if (v === "auto") return v;
  if (typeof v === "string" && v.trim() === "auto") return "auto";
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min || n > max)
    bad(key, v, `expected "auto" or an integer from ${min} to ${max}`);
  return n;
}

function amount(key: string, v: unknown): bigint {
  if (typeof v === "bigint" && v >= 0n) return v;
  if ((typeof v === "string" && /^\d+$/.test(v)) || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0))
    return BigInt(v);
  return bad(key, v, "expected a non-negative integer amount in base units (wei), as a string");
}

export function positiveAmount(key: string, v: unknown): bigint {
  const n = amount(key, v);
  return n > 0n ? n : bad(key, v, "expected a positive amount in wei, as a string");
}

export function tokenMap(key: string, v: unknown): Record<string, bigint> {
  if (!isObject(v)) bad(key, v, 'expected an object like {"ETH": "0", "0xToken…": "1000"}');
  const out: Record<string, bigint> = {};
  for (const [token, a] of Object.entries(v)) {
    if (token !== "ETH" && !isAddress(token)) bad(`${key}.${token}`, a, 'keys must be "ETH" or a token address');
    out[token === "ETH" ? "ETH" : getAddress(token)] = amount(`${key}.${token}`, a);
  }
  return out;
}

export function bool(key: string, v: unknown): boolean {
  // A string "false" would be truthy: only JSON booleans are accepted.
  if (typeof v !== "boolean") bad(key, v, "expected true or false");
  return v;
}

/** A share from 0 to 1, both included. */
export function rate(key: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) bad(key, v, "expected a share from 0 to 1");
  return v;
}

export function num(key: string, v: unknown, min: number, maxExclusive: number): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v >= maxExclusive)
    bad(key, v, `expected a number from ${min} to below ${maxExclusive}`);
  return v;
}

export function strings(key: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) bad(key, v, "expected a list of strings");
  return v as string[];
}

export function url(key: string, v: unknown, schemes: RegExp): string {
  if (typeof v !== "string" || !schemes.test(v)) bad(key, v, `expected a URL matching ${schemes}`);
  return v;
}

/** `ipfs.gateway`: null, or "host:port" (IPv6 hosts in brackets) with a port from 0 to 65535. */
export function gatewayListen(engine: string, v: unknown): string | null {
  if (v === null) return null;
  const m = typeof v === "string" ? /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(v) : null;
  if (!m || Number(m[2]) > 65_535) return bad("ipfs.gateway", v, 'expected null or "host:port", e.g. "127.0.0.1:8180"');
  if (engine !== "helia")
    return bad("ipfs.gateway", v, "only the embedded Helia engine serves a gateway (a Kubo daemon has its own)");
  return v as string;
}

export function gatewayUrl(engine: string, key: string, v: string): string {
  url(key, v, /^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/);
  if (engine !== "helia")
    bad(key, v, "only the embedded Helia engine fetches from gateways (configure a Kubo daemon's own)");
  return v;
}

export function expiryMode(v: unknown): RunnerConfig["expireStaleJobs"] {
  if (v === true) return "own";
  if (v === false) return "off";
  if (v === "own" || v === "all" || v === "off") return v;
  return bad("expireStaleJobs", v, 'expected "own", "all" or "off" (true means "own")');
}
