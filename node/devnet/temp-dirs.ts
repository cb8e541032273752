import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Temporary folders a local network makes for itself (its deployment file, its runners' data
 * dirs) and removes when it stops: every test, benchmark and chaos run starts one, and each
 * left behind a few megabytes of journals, blockstores and model caches.
 */
export interface TempDirs {
  /** A fresh folder under the OS temp dir, named `<prefix>XXXXXX`. */
  make(prefix: string): string;
  /** The folders made so far, oldest first. */
  list(): readonly string[];
  /** Removes every folder made so far (best effort: one that is gone or busy is skipped). */
  removeAll(): void;
}

export function createTempDirs(): TempDirs {
  const made: string[] = [];
  return {
    make(prefix) {
      const dir = mkdtempSync(path.join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    list: () => [...made],
    removeAll() {
      for (const dir of made.splice(0)) {
        try {
          rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
        } catch {
          // A folder still held open (a runner not yet gone) stays: it is a temporary one anyway.
        }
      }
    },
  };
}
