import { fileURLToPath } from "node:url";
import type { ModelSchema } from "../../node/inference/schema.ts";

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
