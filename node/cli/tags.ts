import { RequestError } from "./command.ts";

/**
 * Capability and compliance tags by name. On chain a provider's tags (declared, and those the DAO
 * granted) and a job's required tags are one uint256 bit set; this table is the one place that
 * names the bits. Bit 0 keeps the meaning it always had on the local network: "cpu" (every
 * development provider registers and is approved with tags 1). Bits without a name are shown as
 * `bit<N>` and accepted back in that form, so no bit set is unprintable.
 */
export const TAGS = [
  { name: "cpu", bit: 0, about: "runs models on CPU" },
  { name: "gpu", bit: 1, about: "has a GPU accelerator" },
  { name: "fp16", bit: 2, about: "runs half-precision models" },
  { name: "int8", bit: 3, about: "runs 8-bit quantized models" },
  { name: "tee", bit: 4, about: "runs inside a trusted execution environment" },
  { name: "eu", bit: 8, about: "hosted in the European Union" },
  { name: "us", bit: 9, about: "hosted in the United States" },
  { name: "apac", bit: 10, about: "hosted in the Asia-Pacific region" },
  { name: "gdpr", bit: 16, about: "GDPR-compliant data handling" },
  { name: "hipaa", bit: 17, about: "HIPAA-compliant data handling" },
  { name: "soc2", bit: 18, about: "SOC 2 audited operator" },
] as const;

const BY_NAME = new Map<string, number>(TAGS.map((t) => [t.name, t.bit]));
const BY_BIT = new Map<number, string>(TAGS.map((t) => [t.bit, t.name]));
const MAX = 2n ** 256n - 1n;

/** One line for a command's --help: every tag name. */
export const TAG_USAGE = `tags: comma-separated names (${TAGS.map((t) => t.name).join(", ")}; bit<N> for others), "none", or a raw bitmask (5, 0x5)`;

/**
 * A bit set from `gpu,fp16`, `cpu,bit12`, `none`, or a raw bitmask (`5`, `0x5`). Names are
 * case-insensitive; an unknown name is refused with the known ones.
 */
export function parseTags(what: string, text: string): bigint {
  const t = text.trim();
  if (/^\d+$/.test(t) || /^0x[0-9a-fA-F]+$/.test(t)) {
    const v = BigInt(t);
    if (v > MAX) throw new RequestError(`${what} ${t} does not fit in 256 bits`);
    return v;
  }
  if (t === "")
    throw new RequestError(
      `${what} is empty: give tag names (${TAGS.map((x) => x.name).join(",")}), "none" or a bitmask`,
    );
  if (t.toLowerCase() === "none") return 0n;
  let bits = 0n;
  for (const raw of t.split(",")) {
    const name = raw.trim().toLowerCase();
    const bit = BY_NAME.get(name) ?? (/^bit(\d{1,3})$/.test(name) ? Number(name.slice(3)) : undefined);
    if (bit === undefined || bit > 255)
      throw new RequestError(
        `${what}: unknown tag ${JSON.stringify(raw.trim())}; known: ${TAGS.map((x) => x.name).join(", ")} (or bit0..bit255, or a bitmask)`,
      );
    bits |= 1n << BigInt(bit);
  }
  return bits;
}

/** The names of the bits set, lowest bit first (`bit<N>` for a bit without a name). */
export function tagNames(bits: bigint): string[] {
  const names: string[] = [];
  for (let bit = 0; bits >> BigInt(bit) !== 0n; bit++) {
    if ((bits >> BigInt(bit)) & 1n) names.push(BY_BIT.get(bit) ?? `bit${bit}`);
  }
  return names;
}

/** A bit set as people read it: `cpu,fp16`, or `none`. */
export function formatTags(bits: bigint): string {
  const names = tagNames(bits);
  return names.length === 0 ? "none" : names.join(",");
}
