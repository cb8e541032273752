/** Text helpers for the page: escaping, amounts in a token's units, short hashes and durations. */

export function esc(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `value` base units in a token of `decimals`, with at most 6 fraction digits. */
export function units(value: string, decimals: number): string {
  const v = BigInt(value);
  const base = 10n ** BigInt(decimals);
  const whole = v / base;
  const frac = (v % base).toString().padStart(decimals, "0").slice(0, 6).replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : whole.toString();
}

export const short = (h: string | null, n = 10) => (h ? `${h.slice(0, n)}…` : "—");

export function duration(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3600)}h`;
}

export const time = (s: number) => new Date(s * 1000).toISOString().replace("T", " ").slice(0, 19);

/** Tag bits (a uint256 as decimal) as the bit numbers set. */
export function tagBits(decimal: string): string {
  let v = BigInt(decimal);
  const bits: number[] = [];
  for (let i = 0; v > 0n; i++, v >>= 1n) if (v & 1n) bits.push(i);
  return bits.length ? bits.map((b) => `#${b}`).join(" ") : "—";
}
