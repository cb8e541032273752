import { existsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { openJournal } from "../../node/journal/journal.ts";
import { startWalCheckpointer, type CheckpointerEvent } from "../../node/journal/wal-checkpointer.ts";
import { until } from "../helpers/until.ts";
import { testDir } from "../helpers/temp-dir.ts";

const file = () => path.join(testDir("conclave-checkpoints-"), "j.sqlite");
const walSize = (f: string) => statSync(`${f}-wal`).size;
/**
 * Each write its own commit: these tests count the WAL's pages per commit, and one synchronous
 * loop of writes would otherwise be a single group transaction (see the group commit tests).
 */
const perWrite = { groupCommit: false } as const;
/** About `pages` 4 KiB pages of commits, one row per commit. */
const write = (j: ReturnType<typeof openJournal>, pages: number, tag: string) => {
  for (let i = 0; i < pages; i++) j.setMeta(`${tag}-${i}`, "x".repeat(3_000));
};

describe("journal: WAL checkpoints off the event loop", function () {
  it("the checkpointer thread checkpoints the journal's commits, and the WAL is then reused from its start", async function () {
    const f = file();
    const events: CheckpointerEvent[] = [];
    // A long interval: the thread checkpoints when nudged, so the test knows when it does.
    const j = openJournal(f, { ...perWrite, checkpointIntervalMs: 60_000, onCheckpointer: (e) => events.push(e) });
    const full = () => events.filter((e) => e.kind === "checkpointed" && e.frames === e.log && e.log > 1_000);
    try {
      expect(j.checkpointsOffLoop).to.equal(true);
      // Its first checkpoint, at start, copies the schema; then it sleeps until nudged.
      await until("the thread's first checkpoint", () => events.length === 1);
      // 1,500 pages: past SQLite's 1,000-page autocheckpoint, which the journal's own commits no longer run.
      write(j, 1_500, "a");
      const grown = walSize(f);
      expect(grown).to.be.above(1_500 * 4096);
      expect(full()).to.deep.equal([]);
      j.checkpointSoon();
      await until("the thread's checkpoint of the whole WAL", () => full().length === 1);
      // All of it is in the database file: the next commits write the WAL from its start again,
      // and the file is cut back to the journal's size limit (16 MiB) as it is reused.
      write(j, 50, "b");
      expect(grown).to.be.above(16 * 1024 * 1024);
      expect(walSize(f)).to.equal(16 * 1024 * 1024);
      expect(j.getMeta("a-0")).to.have.length(3_000);
      expect(j.getMeta("b-49")).to.have.length(3_000);
      expect(events.filter((e) => e.kind === "failed")).to.deep.equal([]);
    } finally {
      j.close();
    }
    // The thread's connection closed before the journal's, so the last one removed the WAL.
    expect(existsSync(`${f}-wal`)).to.equal(false);
    expect(j.checkpointsOffLoop).to.equal(false);
  });

  it("a writer that never pauses for the thread is still bounded: past maxWalPages its own commit checkpoints", async function () {
    const f = file();
    const events: CheckpointerEvent[] = [];
    const j = openJournal(f, {
      ...perWrite,
      checkpointIntervalMs: 60_000,
      maxWalPages: 500,
      onCheckpointer: (e) => events.push(e),
    });
    try {
      // The thread's first checkpoint, at start, is over before the writes (then it sleeps).
      await until("the thread's first checkpoint", () => events.length === 1);
      write(j, 3_000, "a");
      expect(walSize(f)).to.be.below(1_000 * 4096);
    } finally {
      j.close();
    }
  });

  it("without the thread (interval 0) SQLite checkpoints inside commits, as before", function () {
    const f = file();
    const j = openJournal(f, { ...perWrite, checkpointIntervalMs: 0 });
    try {
      expect(j.checkpointsOffLoop).to.equal(false);
      write(j, 3_000, "a");
      // The 1,000-page autocheckpoint restarted the WAL: it never held the 3,000 pages.
      expect(walSize(f)).to.be.below(2_000 * 4096);
    } finally {
      j.close();
    }
  });

  it("when the thread fails, the journal's own commits checkpoint again, so the WAL stays bounded", async function () {
    const f = file();
    const events: CheckpointerEvent[] = [];
    const j = openJournal(f, {
      ...perWrite,
      onCheckpointer: (e) => events.push(e),
      startCheckpointer: (_file, _interval, onEvent) => {
        let running = true;
        queueMicrotask(() => {
          running = false;
          onEvent!({ kind: "failed", message: "disk gone" });
        });
        return {
          get running() {
            return running;
          },
          nudge: () => {},
          stop: () => {},
        };
      },
    });
    try {
      await until("the failure", () => events.length > 0);
      expect(events).to.deep.equal([{ kind: "failed", message: "disk gone" }]);
      expect(j.checkpointsOffLoop).to.equal(false);
      write(j, 3_000, "a");
      expect(walSize(f)).to.be.below(2_000 * 4096);
    } finally {
      j.close();
    }
  });

  it("a checkpointer that cannot open its database reports the failure and stops", async function () {
    const events: CheckpointerEvent[] = [];
    const c = startWalCheckpointer(path.join(tmpdir(), "no-such-dir-conclave", "x", "j.sqlite"), 10, (e) =>
      events.push(e),
    );
    await until("the failure", () => events.length > 0);
    expect(events[0]!.kind).to.equal("failed");
    await until("the thread's end", () => !c.running);
    c.stop(1_000);
  });
});
