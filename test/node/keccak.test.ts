import { expect } from "chai";
import { bytesToHex, keccak256 } from "viem";
import { keccakBytes, keccakHex } from "../../node/attest/keccak.ts";

describe("keccakBytes (WebAssembly Keccak-256)", function () {
  it("equals viem's keccak256 on empty, short, block-edge and multi-KiB inputs, used again and again", function () {
    // 135, 136 and 137 bytes straddle Keccak-256's 136-byte rate; the hasher is reused between calls.
    for (const n of [0, 1, 31, 32, 135, 136, 137, 1000, 3300, 65_536]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
      expect(keccakBytes(bytes), `${n} bytes`).to.equal(keccak256(bytes));
    }
  });

  it("keccakHex hashes the bytes a hex string spells, as viem's keccak256(hex) (upper and lower case)", function () {
    for (const n of [0, 1, 32, 137, 400]) {
      const hex = bytesToHex(Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
      expect(keccakHex(hex), `${n} bytes`).to.equal(keccak256(hex));
      expect(keccakHex(`0x${hex.slice(2).toUpperCase()}`), `${n} bytes, upper case`).to.equal(keccak256(hex));
    }
  });

  it("is Ethereum's Keccak-256 (the empty input's well-known digest), not FIPS SHA3-256", function () {
    expect(keccakBytes(new Uint8Array())).to.equal(
      "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    );
  });
});
