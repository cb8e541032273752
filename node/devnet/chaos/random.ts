import { mulberry32 } from "../../random.ts";

/** A seeded PRNG (mulberry32): the same --seed gives the same job mix, inputs and fault plan. */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** A uniform integer in [min, max]. */
export const randomInt = (random: Random, min: number, max: number): number =>
  min + Math.floor(random() * (max - min + 1));

/** A copy of `items` in a random order (Fisher–Yates). */
export function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
