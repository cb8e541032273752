import { fileURLToPath } from "node:url";
import type { ModelSchema } from "../../node/inference/schema.ts";
import { tensorFrom, type TensorMap } from "../../node/tensors/dtypes.ts";

/** Silero VAD v5 as the npm package @ricky0123/vad-web ships it: a real ONNX model for executor tests. */
export const SILERO_MODEL = fileURLToPath(
  new URL("../../node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx", import.meta.url),
);

export const SILERO_SCHEMA: ModelSchema = {
  inputs: [
    { name: "input", dtype: "F32", shape: [1, 512] },
    { name: "state", dtype: "F32", shape: [2, 1, 128] },
    { name: "sr", dtype: "I64", shape: [] },
  ],
  outputs: [
    { name: "output", dtype: "F32", shape: [1, 1] },
    { name: "stateN", dtype: "F32", shape: [2, 1, 128] },
  ],
};

/** Deterministic audio-like input for the Silero schema; `seed` varies it between runs. */
export function vadInputs(seed = 0): TensorMap {
  return {
    input: tensorFrom(
      "F32",
      [1, 512],
      Array.from({ length: 512 }, (_, i) => 0.5 * Math.sin((i + seed * 37) / 9) + 0.1 * Math.cos(i * 1.7 + seed)),
    ),
    state: tensorFrom(
      "F32",
      [2, 1, 128],
      Array.from({ length: 256 }, (_, i) => Math.sin(i + seed) * 0.01),
    ),
    sr: tensorFrom("I64", [], [16000]),
  };
}
