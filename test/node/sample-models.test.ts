import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { ort } from "../../node/inference/ort.ts";
import { parseSchema, validateTensors } from "../../node/inference/schema.ts";
import { tensorValues, type DType, type Tensor, type TensorMap } from "../../node/tensors/dtypes.ts";
import { SAMPLE_MODELS, SAMPLE_RUNTIME, sampleModel, schemaJson, type SampleModel } from "../../node/models/samples.ts";
import {
  TINY_MLP_CLASSES,
  TINY_MLP_INPUTS,
  TINY_MLP_SCHEMA,
  tinyMlpOnnx,
  tinyMlpReference,
} from "../../node/models/tiny-onnx.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Pinned so a change to the generator (or to the installed package) is noticed: it changes the published weights. */
const PINNED_SHA256: Record<string, string> = {
  "tiny-mlp": "f75de0c36883fd709842ceee19a5a0d62dd501f3ccbc708016f6aacfd667ac47",
  "silero-vad-v5": "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f",
};

const ORT_TYPES: Partial<Record<DType, string>> = {
  F32: "float32",
  F64: "float64",
  I32: "int32",
  I64: "int64",
  U8: "uint8",
  BOOL: "bool",
};

/** Our little-endian tensor as an onnxruntime tensor (the data is copied so it is aligned). */
function toOrt(t: Tensor): ort.Tensor {
  const buf = t.data.slice().buffer;
  switch (t.dtype) {
    case "F32":
      return new ort.Tensor("float32", new Float32Array(buf), t.shape);
    case "I64":
      return new ort.Tensor("int64", new BigInt64Array(buf), t.shape);
    default:
      throw new Error(`test helper does not convert ${t.dtype}`);
  }
}

function feeds(inputs: TensorMap): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, toOrt(t)]));
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();
function session(model: SampleModel): Promise<ort.InferenceSession> {
  let s = sessions.get(model.name);
  if (!s) {
    s = ort.InferenceSession.create(model.onnx(), { executionMode: "sequential", intraOpNumThreads: 1 });
    sessions.set(model.name, s);
  }
  return s;
}

/** Deterministic test inputs in [-2, 2). */
function testInput(batch: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: batch * TINY_MLP_INPUTS }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
}

describe("sample models", function () {
  after(async function () {
    for (const s of sessions.values()) await (await s).release();
  });

  it("lists tiny-mlp and silero-vad-v5 with the pinned runtime and positive terms", function () {
    expect(SAMPLE_MODELS.map((m) => m.name)).to.deep.equal(["tiny-mlp", "silero-vad-v5"]);
    for (const m of SAMPLE_MODELS) {
      expect(m.runtime).to.equal(SAMPLE_RUNTIME);
      expect(m.outputQuantum > 0n && m.outputQuantum < 2n ** 64n).to.equal(true);
      expect(Number.isInteger(m.minMemoryMB) && m.minMemoryMB > 0).to.equal(true);
      expect(m.description).to.not.equal("");
    }
    expect(sampleModel("tiny-mlp").schema).to.equal(TINY_MLP_SCHEMA);
    expect(() => sampleModel("nope")).to.throw(/no sample model nope/);
  });

  it("generates tiny-mlp with the same bytes every time", function () {
    const a = tinyMlpOnnx();
    const b = tinyMlpOnnx();
    expect(a.byteLength).to.be.greaterThan(200);
    expect(sha256(a)).to.equal(sha256(b));
    expect(sha256(sampleModel("tiny-mlp").onnx())).to.equal(sha256(a));
  });

  it("reads the same silero bytes every time", function () {
    const m = sampleModel("silero-vad-v5");
    expect(sha256(m.onnx())).to.equal(sha256(m.onnx()));
  });

  it("gives the pinned sha256 for every sample", function () {
    for (const m of SAMPLE_MODELS) expect(sha256(m.onnx()), m.name).to.equal(PINNED_SHA256[m.name]);
  });

  it("keeps the committed schema files equal to the catalogue", function () {
    for (const m of SAMPLE_MODELS) {
      const text = readFileSync(m.schemaFile, "utf8");
      expect(parseSchema(text), m.name).to.deep.equal(m.schema);
      expect(text, m.name).to.equal(schemaJson(m.schema));
    }
  });

  for (const model of SAMPLE_MODELS) {
    describe(model.name, function () {
      it("loads in onnxruntime with the schema's names, dtypes and ranks", async function () {
        const s = await session(model);
        expect(s.inputNames).to.deep.equal(model.schema.inputs.map((t) => t.name));
        expect(s.outputNames).to.deep.equal(model.schema.outputs.map((t) => t.name));
        const check = (meta: readonly ort.InferenceSession.ValueMetadata[], specs: typeof model.schema.inputs) => {
          specs.forEach((spec, i) => {
            const m = meta[i]!;
            expect(m.name).to.equal(spec.name);
            if (!m.isTensor) throw new Error(`${spec.name} is not a tensor`);
            expect(m.type, spec.name).to.equal(ORT_TYPES[spec.dtype]);
            expect(m.shape.length, `${spec.name} rank`).to.equal(spec.shape.length);
            // Where both the model and the schema fix a dimension, they agree.
            m.shape.forEach((d, k) => {
              if (typeof d === "number" && spec.shape[k] !== null)
                expect(d, `${spec.name} dim ${k}`).to.equal(spec.shape[k]);
            });
          });
        };
        check(s.inputMetadata, model.schema.inputs);
        check(s.outputMetadata, model.schema.outputs);
      });

      it("has example inputs that pass the schema and run to outputs that pass it too", async function () {
        const inputs = model.exampleInputs();
        validateTensors(model.schema.inputs, inputs, "input");
        expect(model.exampleInputs()).to.deep.equal(inputs);
        const out = await (await session(model)).run(feeds(inputs));
        for (const spec of model.schema.outputs) {
          const t = out[spec.name]!;
          expect(t.type).to.equal(ORT_TYPES[spec.dtype]);
          expect(t.dims.length).to.equal(spec.shape.length);
          spec.shape.forEach((d, k) => d !== null && expect(t.dims[k]).to.equal(d));
        }
      });
    });
  }

  it("tiny-mlp: onnxruntime matches the TypeScript reference within 1e-6", async function () {
    const s = await session(sampleModel("tiny-mlp"));
    for (const [batch, seed] of [
      [1, 1],
      [2, 7],
      [5, 42],
      [17, 2024],
      [0, 3],
    ] as const) {
      const x = testInput(batch, seed);
      const out = await s.run({ x: new ort.Tensor("float32", x, [batch, TINY_MLP_INPUTS]) });
      const probs = out.probs!;
      expect(probs.dims).to.deep.equal([batch, TINY_MLP_CLASSES]);
      const got = probs.data as Float32Array;
      const want = tinyMlpReference(x, batch);
      expect(got.length).to.equal(want.length);
      for (let i = 0; i < want.length; i++)
        expect(Math.abs(got[i]! - want[i]!), `batch ${batch} #${i}`).to.be.at.most(1e-6);
      for (let r = 0; r < batch; r++) {
        const row = want.subarray(r * TINY_MLP_CLASSES, (r + 1) * TINY_MLP_CLASSES);
        expect(row.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-6);
      }
    }
  });

  it("tiny-mlp: the example is not degenerate (the classes differ across the batch)", function () {
    const x = sampleModel("tiny-mlp").exampleInputs().x!;
    const want = tinyMlpReference(new Float32Array(tensorValues(x) as number[]), x.shape[0]!);
    const argmax = [0, 1, 2].map((r) => {
      const row = Array.from(want.subarray(r * 3, r * 3 + 3));
      return row.indexOf(Math.max(...row));
    });
    expect(new Set(argmax).size).to.be.greaterThan(1);
  });

  it("tiny-mlp: the reference rejects an input of the wrong length", function () {
    expect(() => tinyMlpReference(new Float32Array(5), 1)).to.throw(RangeError);
  });

  it("silero-vad-v5: the example returns a probability in [0, 1] and a [2, 1, 128] state", async function () {
    const s = await session(sampleModel("silero-vad-v5"));
    const out = await s.run(feeds(sampleModel("silero-vad-v5").exampleInputs()));
    const p = (out.output!.data as Float32Array)[0]!;
    expect(out.output!.dims).to.deep.equal([1, 1]);
    expect(p).to.be.within(0, 1);
    expect(out.stateN!.dims).to.deep.equal([2, 1, 128]);
    const state = out.stateN!.data as Float32Array;
    expect(state.every(Number.isFinite)).to.equal(true);
    expect(state.some((v) => v !== 0)).to.equal(true);
  });
});
