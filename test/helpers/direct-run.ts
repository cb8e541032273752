import ort from "onnxruntime-node";
import { sampleModel } from "../../node/models/samples.ts";
import { tensorValues, type TensorMap } from "../../node/tensors/dtypes.ts";

/** The reference: the same model and input run directly with onnxruntime in this process. */
export async function directRun(name: string, inputs: TensorMap): Promise<TensorMap> {
  const sample = sampleModel(name);
  const session = await ort.InferenceSession.create(sample.onnx());
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(inputs)) {
    const values = tensorValues(t);
    feeds[k] =
      t.dtype === "I64"
        ? new ort.Tensor("int64", BigInt64Array.from(values as bigint[]), t.shape)
        : new ort.Tensor("float32", Float32Array.from(values as number[]), t.shape);
  }
  const out = await session.run(feeds);
  const result: TensorMap = {};
  for (const [k, v] of Object.entries(out)) {
    const data = v.data as Float32Array;
    result[k] = {
      dtype: "F32",
      shape: [...v.dims],
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
    };
  }
  await session.release();
  return result;
}
