import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * The output tensors of the jobs this runner computed, as safetensors files by job id: kept for
 * `/jobs/<id>/outputs` and for consumer callbacks, removed when the job is pruned.
 */
export interface OutputStore {
  /**
   * Writes the job's outputs off the event loop (a file created per job cost the loop ~0.3 ms of
   * blocking I/O, every job of a burst), whole or not at all: a reader never sees part of them.
   */
  save(jobId: bigint, safetensors: Uint8Array): Promise<void>;
  /** The job's outputs; null when this runner holds none. */
  read(jobId: bigint): Uint8Array | null;
  remove(jobId: bigint): void;
}

export function createOutputStore(dir: string): OutputStore {
  mkdirSync(dir, { recursive: true });
  // Writes a crash cut short.
  for (const name of readdirSync(dir)) if (name.endsWith(".partial")) rmSync(path.join(dir, name), { force: true });
  const fileOf = (jobId: bigint) => path.join(dir, `${jobId}.safetensors`);
  // Each write its own partial file: a job computed again (after a reorg) may overlap the first write.
  let writes = 0;
  return {
    save: async (jobId, safetensors) => {
      const partial = `${fileOf(jobId)}.${process.pid}-${++writes}.partial`;
      try {
        await writeFile(partial, safetensors);
        await rename(partial, fileOf(jobId));
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
    },
    read: (jobId) => {
      try {
        return new Uint8Array(readFileSync(fileOf(jobId)));
      } catch {
        return null;
      }
    },
    remove: (jobId) => rmSync(fileOf(jobId), { force: true }),
  };
}
