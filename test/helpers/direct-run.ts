import { ort } from "../../node/inference/ort.ts";
import { sampleModel } from "../../node/models/samples.ts";
import { ortFeeds } from "../../node/inference/ort-tensors.ts";
import type { TensorMap } from "../../node/tensors/dtypes.ts";

/** The reference: the same model and input run directly with onnxruntime in this process. */
export async function directRun(name: string, inputs: TensorMap): Promise<TensorMap> {
  const sample = sampleModel(name);
  const session = await ort.InferenceSession.create(sample.onnx());
  const out = await session.run(ortFeeds(inputs));
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
