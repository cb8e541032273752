import { expect } from "chai";
import { createLogger, lineBatcher } from "../../node/log.ts";

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("log lines written together (issue 14: one write per turn of the event loop)", function () {
  it("writes a turn's lines in one call, in order, each ending its line", async function () {
    const writes: string[] = [];
    const lines = lineBatcher((text) => writes.push(text));
    const log = createLogger({ write: lines.write }).child({ provider: "p" });
    log.info("one", { jobId: 1n });
    log.warn("two");
    log.debug("dropped below the level");
    expect(writes, "nothing is written within the turn").to.deep.equal([]);
    await nextTurn();
    expect(writes).to.have.length(1);
    const parsed = writes[0]!
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { msg: string; jobId?: string; provider: string });
    expect(parsed.map((l) => l.msg)).to.deep.equal(["one", "two"]);
    expect(parsed[0]!.jobId).to.equal("1");
    expect(parsed.every((l) => l.provider === "p")).to.equal(true);
    expect(writes[0]!.endsWith("\n")).to.equal(true);
    log.info("three");
    await nextTurn();
    expect(writes).to.have.length(2);
    expect((JSON.parse(writes[1]!) as { msg: string }).msg).to.equal("three");
  });

  it("writes at once when the lines waiting reach the limit, and on flush; never an empty write", async function () {
    const writes: string[] = [];
    const lines = lineBatcher((text) => writes.push(text), 10);
    lines.write("12345");
    expect(writes).to.deep.equal([]);
    lines.write("67890");
    expect(writes).to.deep.equal(["12345\n67890\n"]);
    lines.write("last");
    lines.flush();
    expect(writes).to.deep.equal(["12345\n67890\n", "last\n"]);
    lines.flush();
    await nextTurn();
    expect(writes, "the flushed turn schedules no second write").to.have.length(2);
    lines.write("waiting");
    lines.close();
    lines.write("after close");
    expect(writes.slice(2), "closed: each line at once").to.deep.equal(["waiting\n", "after close\n"]);
  });
});
