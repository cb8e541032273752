import onnxProto from "onnx-proto";
import type { ModelSchema } from "../inference/schema.ts";
import { tensorFrom, type TensorMap } from "../tensors/dtypes.ts";
import { mulberry32 } from "../random.ts";

const { onnx } = onnxProto;

/** Size of a generated {@link mlpOnnx}: `layers` dense layers of width × width on a batch of `batch` rows. */
interface MlpShape {
  batch: number;
  width: number;
  layers: number;
}

/**
 * The model the executor benchmark uses for "the size providers actually run": a few
 * milliseconds per run (8 rows through 16 dense 1024-wide layers: ~270 MFLOP, 64 MiB of weights; ~2.5 ms on 2 idle cores).
 */
export const BENCH_MLP: MlpShape = { batch: 8, width: 1024, layers: 16 };

/** The interface of {@link mlpOnnx}: x F32 [batch, width] → y F32 [batch, width]. */
export function mlpSchema(shape: MlpShape): ModelSchema {
  return {
    inputs: [{ name: "x", dtype: "F32", shape: [shape.batch, shape.width] }],
    outputs: [{ name: "y", dtype: "F32", shape: [shape.batch, shape.width] }],
  };
}

/** A deterministic input for {@link mlpOnnx}; `seed` varies it. */
export function mlpInputs(shape: MlpShape, seed = 0): TensorMap {
  const next = mulberry32(0x9e37 + seed);
  const values = Array.from({ length: shape.batch * shape.width }, () => ((next() >>> 20) - 2048) / 2048);
  return { x: tensorFrom("F32", [shape.batch, shape.width], values) };
}

/**
 * A generated multi-layer perceptron (MatMul + Add + Relu per layer, seeded weights scaled so the
 * activations stay in range): a compute-bound model of a chosen cost for throughput benchmarks.
 * Identical bytes on every call and machine for the same shape and seed.
 */
export function mlpOnnx(shape: MlpShape, seed = 0x31b7): Uint8Array {
  const { batch, width, layers } = shape;
  const next = mulberry32(seed);
  const scale = 1 / Math.sqrt(width);
  const floats = (n: number, s: number) => {
    const raw = new Uint8Array(n * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < n; i++) view.setFloat32(i * 4, (((next() >>> 21) - 1024) / 1024) * s, true);
    return raw;
  };
  const value = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimValue: batch }, { dimValue: width }] },
      },
    },
  });
  const node: object[] = [];
  const initializer: object[] = [];
  for (let l = 0; l < layers; l++) {
    const input = l === 0 ? "x" : `h${l - 1}`;
    const output = l === layers - 1 ? "y" : `h${l}`;
    initializer.push({
      name: `W${l}`,
      dims: [width, width],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: floats(width * width, 2 * scale),
    });
    initializer.push({
      name: `B${l}`,
      dims: [width],
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: floats(width, 0.1),
    });
    node.push({ name: `mm${l}`, opType: "MatMul", input: [input, `W${l}`], output: [`mm${l}`] });
    node.push({ name: `add${l}`, opType: "Add", input: [`mm${l}`, `B${l}`], output: [`pre${l}`] });
    node.push({ name: `relu${l}`, opType: "Relu", input: [`pre${l}`], output: [output] });
  }
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "conclave",
    producerVersion: "1",
    docString: `mlp ${layers} x ${width}, batch ${batch} (executor benchmark)`,
    graph: { name: "mlp", node, initializer, input: [value("x")], output: [value("y")] },
  });
  return onnx.ModelProto.encode(model).finish();
}
