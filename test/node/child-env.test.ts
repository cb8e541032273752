import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { withoutTsx } from "../helpers/node-options.ts";

describe("the environment of the processes tests start (test/helpers/child-env.ts)", function () {
  it("drops tsx's --import from NODE_OPTIONS, however written, and keeps every other option as written", function () {
    const hardhat = `--import "file:///repo/node_modules/tsx/dist/esm/index.mjs"`;
    expect(withoutTsx(hardhat)).to.equal("");
    expect(withoutTsx(`--max-old-space-size=512 ${hardhat} --import=/tmp/hook.mjs`)).to.equal(
      "--max-old-space-size=512 --import=/tmp/hook.mjs",
    );
    expect(withoutTsx("--import tsx/esm --enable-source-maps")).to.equal("--enable-source-maps");
    expect(withoutTsx("--import=tsx")).to.equal("");
    expect(withoutTsx(`--import "/a b/my-tsx-hook.mjs" --import ./tsxy.mjs`)).to.equal(
      `--import "/a b/my-tsx-hook.mjs" --import ./tsxy.mjs`,
    );
    expect(withoutTsx("")).to.equal("");
  });

  it("this mocha worker's children get no tsx (the hook ran here)", function () {
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(process.env.NODE_OPTIONS ?? '')"], {
      encoding: "utf8",
    });
    expect(child.status).to.equal(0);
    expect(child.stdout).to.not.match(/tsx/);
  });
});
