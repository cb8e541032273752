import { expect } from "chai";
import { RequestError } from "../../node/cli/command.ts";
import { assertFaucetChain, FaucetRefusedError } from "../../node/cli/commands/token.ts";
import { formatTags, parseTags, TAGS, tagNames } from "../../node/cli/tags.ts";

describe("named capability tags (CLI)", function () {
  it("keeps bit 0 as cpu, the local network's meaning, and gives every name its own bit", function () {
    expect(parseTags("--tags", "cpu")).to.equal(1n);
    expect(new Set(TAGS.map((t) => t.bit)).size).to.equal(TAGS.length);
    expect(new Set(TAGS.map((t) => t.name)).size).to.equal(TAGS.length);
  });

  it("parses names (any case, spaces around commas), bit<N>, none and raw bitmasks", function () {
    expect(parseTags("--tags", "gpu,fp16")).to.equal(0b110n);
    expect(parseTags("--tags", "CPU, eu")).to.equal(1n | (1n << 8n));
    expect(parseTags("--tags", "cpu,bit12")).to.equal(1n | (1n << 12n));
    expect(parseTags("--tags", "none")).to.equal(0n);
    expect(parseTags("--tags", "5")).to.equal(5n);
    expect(parseTags("--tags", "0x105")).to.equal(0x105n);
  });

  it("refuses unknown names, out-of-range bits, empty text and masks over 256 bits with a typed error", function () {
    for (const bad of ["gpu,quantum", "bit256", "", " ", `0x1${"0".repeat(64)}`]) {
      expect(() => parseTags("--tags", bad), bad).to.throw(RequestError);
    }
  });

  it("prints bit sets by name, lowest bit first, unnamed bits as bit<N>", function () {
    expect(formatTags(0n)).to.equal("none");
    expect(formatTags(5n)).to.equal("cpu,fp16");
    expect(tagNames((1n << 8n) | (1n << 12n) | 2n)).to.deep.equal(["gpu", "eu", "bit12"]);
    for (const t of TAGS) expect(parseTags("tags", formatTags(1n << BigInt(t.bit)))).to.equal(1n << BigInt(t.bit));
    const mixed = (1n << 255n) | 3n;
    expect(parseTags("tags", formatTags(mixed))).to.equal(mixed);
  });

  it("the faucet pays out on the local chain only", function () {
    expect(() => assertFaucetChain(31337, "0x0000000000000000000000000000000000000001")).to.not.throw();
    expect(() => assertFaucetChain(11155111, "0x0000000000000000000000000000000000000001")).to.throw(
      FaucetRefusedError,
    );
  });
});
