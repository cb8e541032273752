import { createTempDirs, type TempDirs } from "../../node/devnet/temp-dirs.ts";

/**
 * Folders for a test's files (journals, configs, blockstores), removed when the test process
 * exits. Tests used to make their own under the OS temp dir and leave them there: some 470
 * folders, hundreds of megabytes, per `npm test`.
 */
let dirs: TempDirs | undefined;

export function testDir(prefix: string): string {
  if (dirs === undefined) {
    const made = createTempDirs();
    process.once("exit", () => made.removeAll());
    dirs = made;
  }
  return dirs.make(prefix);
}
