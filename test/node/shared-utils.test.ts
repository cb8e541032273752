import { RpcRequestError, TransactionRejectedRpcError } from "viem";
import { expect } from "chai";
import { ConfigError, oneLine } from "../../node/errors.ts";
import { jsonStringify } from "../../node/json-stringify.ts";

describe("small shared utilities", function () {
  it("jsonStringify writes bigints as decimal strings, at any depth, and indents as JSON.stringify", function () {
    expect(jsonStringify({ a: 1n, b: [2n, { c: -3n }], d: "x", e: null })).to.equal(
      '{"a":"1","b":["2",{"c":"-3"}],"d":"x","e":null}',
    );
    expect(jsonStringify(2n ** 70n)).to.equal('"1180591620717411303424"');
    expect(jsonStringify({ a: 1n }, 2)).to.equal('{\n  "a": "1"\n}');
    expect(jsonStringify({ a: [1, "y"] })).to.equal(JSON.stringify({ a: [1, "y"] }));
  });

  it("oneLine keeps the first line of an unknown error, a known error's message, and names what has no message", function () {
    expect(oneLine(new Error("first line\n    at stack-like detail\nmore"))).to.equal("first line");
    expect(oneLine(new ConfigError("bad value"))).to.equal("bad value");
    expect(oneLine(new TypeError(""))).to.equal("TypeError");
  });

  it("oneLine adds the node's own words to a viem error's short message", function () {
    const rejected = new TransactionRejectedRpcError(
      new RpcRequestError({
        body: {},
        url: "http://127.0.0.1",
        error: { code: -32003, message: "transaction already imported" },
      }),
    );
    expect(oneLine(rejected)).to.equal("Transaction creation failed. (transaction already imported)");
    // Said once when the short message already carries them.
    expect(oneLine(Object.assign(new Error("execution reverted"), { details: "execution reverted" }))).to.equal(
      "execution reverted",
    );
    expect(oneLine("a string")).to.equal("a string");
    expect(oneLine(undefined)).to.equal("undefined");
  });
});
