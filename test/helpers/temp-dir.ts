import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Folders for a test's files (journals, configs, blockstores): each is made inside one folder of
 * this test process, which is removed when the process exits. Tests used to make their own under
 * the OS temp dir and leave them there: some 470 folders, hundreds of megabytes, per `npm test`.
 */
let root: string | undefined;

export function testDir(prefix: string): string {
  if (root === undefined) {
    root = mkdtempSync(path.join(tmpdir(), "conclave-test-"));
    const made = root;
    process.once("exit", () => rmSync(made, { recursive: true, force: true }));
  }
  return mkdtempSync(path.join(root, prefix));
}
