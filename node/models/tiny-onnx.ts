import onnxProto from "onnx-proto";
import { mulberry32 } from "../random.ts";
import type { ModelSchema } from "../inference/schema.ts";

const { onnx } = onnxProto;

/**
 * "tiny-mlp": a small real ONNX model generated in code, so the local network has a model whose
 * bytes (and sha256) are the same on every machine without downloading anything.
 *
 *   x F32 [batch, 4] → MatMul W1 [4, 8] → Add b1 [8] → Relu → MatMul W2 [8, 3] → Add b2 [3]
 *     → Softmax (last axis) → probs F32 [batch, 3]
 *
 * Weights come from a seeded PRNG and are multiples of 1/1024 in [-1, 1), so they are exact in
 * float32 and independent of floating-point rounding on the generating machine.
 */

export const TINY_MLP_INPUTS = 4;
const TINY_MLP_HIDDEN = 8;
export const TINY_MLP_CLASSES = 3;
/** ONNX opset of the default domain (Softmax uses the opset-13 single-axis semantics). */
const TINY_MLP_OPSET = 13;
/** ONNX IR version written into the model (IR 7 goes with opset 13). */
const TINY_MLP_IR_VERSION = 7;
const SEED = 0x0c0c1a7e;

/** The model's interface as published (the batch dimension accepts any size). */
export const TINY_MLP_SCHEMA: ModelSchema = {
  inputs: [{ name: "x", dtype: "F32", shape: [null, TINY_MLP_INPUTS] }],
  outputs: [{ name: "probs", dtype: "F32", shape: [null, TINY_MLP_CLASSES] }],
};

interface TinyMlpWeights {
  /** Row-major [4, 8]. */
  w1: Float32Array;
  b1: Float32Array;
  /** Row-major [8, 3]. */
  w2: Float32Array;
  b2: Float32Array;
}

function generateWeights(): TinyMlpWeights {
  const next = mulberry32(SEED);
  // Multiples of 1/1024 in [-1, 1): exact in float32.
  const fill = (n: number) => Float32Array.from({ length: n }, () => ((next() >>> 21) - 1024) / 1024);
  const w1 = fill(TINY_MLP_INPUTS * TINY_MLP_HIDDEN);
  const b1 = fill(TINY_MLP_HIDDEN);
  const w2 = fill(TINY_MLP_HIDDEN * TINY_MLP_CLASSES);
  const b2 = fill(TINY_MLP_CLASSES);
  return { w1, b1, w2, b2 };
}

const WEIGHTS = generateWeights();

/** Little-endian bytes of a float32 array (TensorProto.raw_data is little-endian by definition). */
function leBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function initializer(name: string, dims: number[], values: Float32Array) {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: leBytes(values) };
}

function floatValueInfo(name: string, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function node(opType: string, input: string[], output: string, attribute: object[] = []) {
  return { name: `${opType.toLowerCase()}_${output}`, opType, input, output: [output], attribute };
}

/**
 * The serialized ONNX model (ModelProto bytes); identical bytes on every call and machine.
 * `modelVersion` above 1 gives other bytes (another CID and sha256) computing the same outputs:
 * a new version of the model to publish, as in rollout tests.
 */
export function tinyMlpOnnx(modelVersion = 1): Uint8Array {
  const { w1, b1, w2, b2 } = WEIGHTS;
  const model = onnx.ModelProto.create({
    irVersion: TINY_MLP_IR_VERSION,
    opsetImport: [{ domain: "", version: TINY_MLP_OPSET }],
    producerName: "conclave",
    producerVersion: "1",
    modelVersion,
    docString: `tiny-mlp: 4 → 8 (ReLU) → 3 (softmax), deterministic seeded weights${modelVersion === 1 ? "" : ` (v${modelVersion})`}`,
    graph: {
      name: "tiny_mlp",
      node: [
        node("MatMul", ["x", "W1"], "h_mm"),
        node("Add", ["h_mm", "B1"], "h_pre"),
        node("Relu", ["h_pre"], "h"),
        node("MatMul", ["h", "W2"], "z_mm"),
        node("Add", ["z_mm", "B2"], "logits"),
        node("Softmax", ["logits"], "probs", [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: -1 }]),
      ],
      initializer: [
        initializer("W1", [TINY_MLP_INPUTS, TINY_MLP_HIDDEN], w1),
        initializer("B1", [TINY_MLP_HIDDEN], b1),
        initializer("W2", [TINY_MLP_HIDDEN, TINY_MLP_CLASSES], w2),
        initializer("B2", [TINY_MLP_CLASSES], b2),
      ],
      input: [floatValueInfo("x", ["batch", TINY_MLP_INPUTS])],
      output: [floatValueInfo("probs", ["batch", TINY_MLP_CLASSES])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Pure-TypeScript forward pass (float64 arithmetic on the float32 weights, rounded to float32 at
 * the end), used to check onnxruntime's output. `x` is row-major [batch, 4]; returns [batch, 3].
 */
export function tinyMlpReference(x: Float32Array, batch: number): Float32Array {
  if (!Number.isSafeInteger(batch) || batch < 0 || x.length !== batch * TINY_MLP_INPUTS) {
    throw new RangeError(`tinyMlpReference: ${x.length} values do not form a [${batch}, ${TINY_MLP_INPUTS}] input`);
  }
  const { w1, b1, w2, b2 } = WEIGHTS;
  const out = new Float32Array(batch * TINY_MLP_CLASSES);
  const h = new Float64Array(TINY_MLP_HIDDEN);
  const z = new Float64Array(TINY_MLP_CLASSES);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < TINY_MLP_HIDDEN; j++) {
      let s = b1[j]!;
      for (let k = 0; k < TINY_MLP_INPUTS; k++) s += x[r * TINY_MLP_INPUTS + k]! * w1[k * TINY_MLP_HIDDEN + j]!;
      h[j] = Math.max(0, s);
    }
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < TINY_MLP_CLASSES; c++) {
      let s = b2[c]!;
      for (let j = 0; j < TINY_MLP_HIDDEN; j++) s += h[j]! * w2[j * TINY_MLP_CLASSES + c]!;
      z[c] = s;
      max = Math.max(max, s);
    }
    let sum = 0;
    for (let c = 0; c < TINY_MLP_CLASSES; c++) {
      z[c] = Math.exp(z[c]! - max);
      sum += z[c]!;
    }
    for (let c = 0; c < TINY_MLP_CLASSES; c++) out[r * TINY_MLP_CLASSES + c] = z[c]! / sum;
  }
  return out;
}
