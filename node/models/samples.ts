import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { ModelSchema } from "../inference/schema.ts";
import { tensorFrom, type TensorMap } from "../tensors/dtypes.ts";
import { TINY_MLP_INPUTS, TINY_MLP_SCHEMA, tinyMlpOnnx } from "./tiny-onnx.ts";

/** Runtime id the sample models are published with (bytes32 on chain). */
export const SAMPLE_RUNTIME = "onnxruntime-1.30-cpu";

/** A model the local network publishes, with everything the publisher and the tests need. */
export interface SampleModel {
  /** Registry name, also the schema file's stem (`models/<name>.schema.json`). */
  name: string;
  description: string;
  /** The ONNX model bytes (generated, or read from an installed npm package). */
  onnx(): Uint8Array;
  schema: ModelSchema;
  /** Absolute path of the committed schema JSON file the CLI publishes. */
  schemaFile: string;
  /** Quantum for float outputs in the canonical result hash, 18 decimals (10n ** 14n = 0.0001). */
  outputQuantum: bigint;
  minMemoryMB: number;
  runtime: string;
  /** A valid input for the schema, the same on every call. */
  exampleInputs(): TensorMap;
}

const require = createRequire(import.meta.url);
const schemaFile = (name: string) => fileURLToPath(new URL(`../../models/${name}.schema.json`, import.meta.url));

/** Path of the Silero VAD v5 model shipped by @ricky0123/vad-web. */
export function sileroVadV5Path(): string {
  return require.resolve("@ricky0123/vad-web/dist/silero_vad_v5.onnx");
}

const SILERO_SAMPLES = 512;
const SILERO_SAMPLE_RATE = 16000;

const SILERO_VAD_V5_SCHEMA: ModelSchema = {
  inputs: [
    { name: "input", dtype: "F32", shape: [1, SILERO_SAMPLES] },
    { name: "state", dtype: "F32", shape: [2, 1, 128] },
    { name: "sr", dtype: "I64", shape: [] },
  ],
  outputs: [
    { name: "output", dtype: "F32", shape: [1, 1] },
    { name: "stateN", dtype: "F32", shape: [2, 1, 128] },
  ],
};

/** Deterministic tiny-mlp input: a [3, 4] batch of fixed rows (the first two pick different classes). */
function tinyMlpExample(): TensorMap {
  const rows = [
    [1, -1, 0.5, -0.5],
    [-0.5, 0.25, 1, 0.75],
    [0.25, 0.5, -0.25, 1],
  ];
  return { x: tensorFrom("F32", [rows.length, TINY_MLP_INPUTS], rows.flat()) };
}

/** 512 samples of a 440 Hz sine at 16 kHz (amplitude 0.5), zero recurrent state, sr = 16000. */
function sileroExample(): TensorMap {
  const wave = Array.from({ length: SILERO_SAMPLES }, (_, i) =>
    Math.fround(0.5 * Math.sin((2 * Math.PI * 440 * i) / SILERO_SAMPLE_RATE)),
  );
  return {
    input: tensorFrom("F32", [1, SILERO_SAMPLES], wave),
    state: tensorFrom("F32", [2, 1, 128], new Array<number>(2 * 128).fill(0)),
    sr: tensorFrom("I64", [], [BigInt(SILERO_SAMPLE_RATE)]),
  };
}

let sileroBytes: Uint8Array | undefined;

export const SAMPLE_MODELS: readonly SampleModel[] = [
  {
    name: "tiny-mlp",
    description: "Tiny MLP classifier generated in code: 4 features → 8 (ReLU) → 3-class softmax, seeded weights",
    onnx: tinyMlpOnnx,
    schema: TINY_MLP_SCHEMA,
    schemaFile: schemaFile("tiny-mlp"),
    outputQuantum: 10n ** 14n,
    minMemoryMB: 64,
    runtime: SAMPLE_RUNTIME,
    exampleInputs: tinyMlpExample,
  },
  {
    name: "silero-vad-v5",
    description:
      "Silero VAD v5 voice-activity detector (512-sample 16 kHz chunk → speech probability + recurrent state)",
    onnx: () => (sileroBytes ??= new Uint8Array(readFileSync(sileroVadV5Path()))).slice(),
    schema: SILERO_VAD_V5_SCHEMA,
    schemaFile: schemaFile("silero-vad-v5"),
    outputQuantum: 10n ** 14n,
    minMemoryMB: 128,
    runtime: SAMPLE_RUNTIME,
    exampleInputs: sileroExample,
  },
];

/** The sample model with this name; throws if there is none. */
export function sampleModel(name: string): SampleModel {
  const model = SAMPLE_MODELS.find((m) => m.name === name);
  if (!model) throw new Error(`no sample model ${name} (have ${SAMPLE_MODELS.map((m) => m.name).join(", ")})`);
  return model;
}

/** The schema as committed in `models/<name>.schema.json`: one tensor per line, final newline. */
export function schemaJson(schema: ModelSchema): string {
  const list = (specs: ModelSchema["inputs"]) =>
    specs.map((s) => `    ${JSON.stringify({ name: s.name, dtype: s.dtype, shape: s.shape })}`).join(",\n");
  return `{\n  "inputs": [\n${list(schema.inputs)}\n  ],\n  "outputs": [\n${list(schema.outputs)}\n  ]\n}\n`;
}
