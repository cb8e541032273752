import onnxProto from "onnx-proto";
import type { ModelSchema } from "../inference/schema.ts";
import { mulberry32 } from "../random.ts";

const { onnx } = onnxProto;

/** The interface of {@link matmulOnnx}: x F32 [1, n] → y F32 [1, n]. */
export function matmulSchema(n: number): ModelSchema {
  return {
    inputs: [{ name: "x", dtype: "F32", shape: [1, n] }],
    outputs: [{ name: "y", dtype: "F32", shape: [1, n] }],
  };
}

/**
 * A large real ONNX model for cold-start benchmarks: one MatMul with an n × n float32
 * initializer (n = 4096: 64 MiB of weights). Weights are seeded multiples of 1/1024 in [-1, 1),
 * exact in float32, so the bytes (and sha256) are the same on every machine.
 */
export function matmulOnnx(n: number, seed = 0x64a1b): Uint8Array {
  const next = mulberry32(seed);
  const raw = new Uint8Array(n * n * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n * n; i++) view.setFloat32(i * 4, ((next() >>> 21) - 1024) / 1024, true);
  const value = (name: string) => ({
    name,
    type: {
      tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: n }] } },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: "conclave",
    producerVersion: "1",
    docString: `matmul ${n}x${n} (cold-start benchmark)`,
    graph: {
      name: "matmul",
      node: [{ name: "matmul_y", opType: "MatMul", input: ["x", "W"], output: ["y"] }],
      initializer: [{ name: "W", dims: [n, n], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw }],
      input: [value("x")],
      output: [value("y")],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
