import { expect } from "chai";
import { TensorFormatError, tensorValues } from "../../node/tensors/dtypes.ts";
import { parseJsonTensors, tensorsToJson } from "../../node/tensors/json-tensors.ts";

describe("JSON tensor files", function () {
  it("takes the shape from the nesting and round-trips through tensorsToJson", function () {
    const t = parseJsonTensors(
      JSON.stringify({
        x: {
          dtype: "F32",
          data: [
            [1, 2],
            [3, 4],
            [5, 6],
          ],
        },
        sr: { dtype: "I64", data: "16000" },
      }),
    );
    expect(t.x!.shape).to.deep.equal([3, 2]);
    expect(tensorValues(t.x!)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(t.sr!.shape).to.deep.equal([]);
    expect(tensorValues(t.sr!)).to.deep.equal([16000n]);
    const back = tensorsToJson(t);
    expect(back.x).to.deep.equal({
      dtype: "F32",
      shape: [3, 2],
      data: [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    });
    expect(back.sr).to.deep.equal({ dtype: "I64", shape: [], data: 16000 });
  });

  it("accepts flat data with an explicit shape and keeps 64-bit integers beyond 2^53 as strings", function () {
    const t = parseJsonTensors(JSON.stringify({ a: { dtype: "I64", shape: [2], data: ["9007199254740993", "-1"] } }));
    expect(tensorValues(t.a!)).to.deep.equal([9007199254740993n, -1n]);
    expect(tensorsToJson(t).a!.data).to.deep.equal(["9007199254740993", -1]);
  });

  for (const [what, text, message] of [
    ["not JSON", "{", /not valid JSON/],
    ["an array", "[]", /expected an object of tensors/],
    ["an unknown dtype", '{"x": {"dtype": "F99", "data": [1]}}', /unknown dtype "F99"/],
    ["ragged data", '{"x": {"dtype": "F32", "data": [[1, 2], [3]]}}', /ragged/],
    [
      "a count that does not fit the shape",
      '{"x": {"dtype": "F32", "shape": [3], "data": [1, 2]}}',
      /2 values for shape \[3\]/,
    ],
    ["a string in float data", '{"x": {"dtype": "F32", "data": ["a"]}}', /"a" is not a number/],
    ["a fraction in integer data", '{"x": {"dtype": "I32", "data": [1.5]}}', /not an integer/],
  ] as const) {
    it(`rejects ${what} with TensorFormatError`, function () {
      expect(() => parseJsonTensors(text)).to.throw(TensorFormatError, message);
    });
  }
});
