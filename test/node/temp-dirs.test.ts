import { expect } from "chai";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createTempDirs } from "../../node/devnet/temp-dirs.ts";

describe("a local network's temporary folders", function () {
  it("removes every folder it made, with its files, and skips one already gone", function () {
    const dirs = createTempDirs();
    const a = dirs.make("conclave-temp-test-");
    const b = dirs.make("conclave-temp-test-");
    writeFileSync(path.join(a, "journal.sqlite"), "x");
    rmSync(b, { recursive: true });
    expect(dirs.list()).to.deep.equal([a, b]);
    dirs.removeAll();
    expect(existsSync(a)).to.equal(false);
    expect(dirs.list()).to.deep.equal([]);
  });
});
