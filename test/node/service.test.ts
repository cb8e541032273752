import { expect } from "chai";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createOutputStore } from "../../node/jobs/output-store.ts";
import { createTicker, serviceOf } from "../../node/service.ts";
import { testDir } from "../helpers/temp-dir.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("service lifecycle (service.ts)", function () {
  it("a ticker runs at start when asked, then every interval, until it stops", async function () {
    let runs = 0;
    const ticker = createTicker({ everyMs: 20, atStart: true, run: () => void runs++, onError: () => undefined });
    ticker.start();
    await sleep(5);
    expect(runs).to.equal(1);
    await sleep(70);
    await ticker.stop();
    const stoppedAt = runs;
    expect(stoppedAt).to.be.greaterThan(1);
    await sleep(50);
    expect(runs).to.equal(stoppedAt);
  });

  it("a ticker stops at the shutdown signal, and a failed run is reported without ending the ticker", async function () {
    const shutdown = new AbortController();
    const errors: unknown[] = [];
    let runs = 0;
    const ticker = createTicker({
      signal: shutdown.signal,
      everyMs: 10,
      run: () => {
        runs++;
        throw new Error("boom");
      },
      onError: (error) => errors.push(error),
    });
    ticker.start();
    await sleep(45);
    shutdown.abort();
    const at = runs;
    expect(at).to.be.greaterThan(1);
    expect(errors).to.have.length(at);
    await sleep(40);
    expect(runs).to.equal(at);
    ticker.start(); // after the shutdown: starts nothing
    await sleep(30);
    expect(runs).to.equal(at);
  });

  it("serviceOf gives a start/stop shape to a component closed by a function of its own", async function () {
    const calls: string[] = [];
    const service = serviceOf({ stop: () => void calls.push("close") });
    await service.start();
    await service.stop();
    expect(calls).to.deep.equal(["close"]);
  });
});

describe("output store", function () {
  it("keeps a job's outputs by id, reads null for a job it holds none of, and removes them", async function () {
    const dir = testDir("outputs-");
    try {
      const outputs = createOutputStore(path.join(dir, "outputs"));
      await outputs.save(7n, new Uint8Array([1, 2, 3]));
      expect([...outputs.read(7n)!]).to.deep.equal([1, 2, 3]);
      expect(outputs.read(8n)).to.equal(null);
      outputs.remove(7n);
      outputs.remove(7n);
      expect(outputs.read(7n)).to.equal(null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes whole files or none: a failed write rejects and leaves nothing; a crash's partial files go at the next start", async function () {
    const dir = testDir("outputs-");
    try {
      const at = path.join(dir, "outputs");
      const outputs = createOutputStore(at);
      await outputs.save(1n, new Uint8Array([1]));
      // The job's file is a directory here: the rename onto it fails, as a full disk would fail the write.
      mkdirSync(path.join(at, "2.safetensors"));
      const failed = await outputs.save(2n, new Uint8Array([2])).then(
        () => null,
        (error: unknown) => error,
      );
      expect(failed).to.be.instanceOf(Error);
      expect(readdirSync(at).sort()).to.deep.equal(["1.safetensors", "2.safetensors"]);
      writeFileSync(path.join(at, "3.safetensors.123-1.partial"), new Uint8Array([3]));
      createOutputStore(at);
      expect(readdirSync(at).sort()).to.deep.equal(["1.safetensors", "2.safetensors"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
