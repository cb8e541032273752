import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * The output tensors of the jobs this runner computed, as safetensors files by job id: kept for
 * `/jobs/<id>/outputs` and for consumer callbacks, removed when the job is pruned.
 */
export interface OutputStore {
  save(jobId: bigint, safetensors: Uint8Array): void;
  /** The job's outputs; null when this runner holds none. */
  read(jobId: bigint): Uint8Array | null;
  remove(jobId: bigint): void;
}

export function createOutputStore(dir: string): OutputStore {
  mkdirSync(dir, { recursive: true });
  const fileOf = (jobId: bigint) => path.join(dir, `${jobId}.safetensors`);
  return {
    save: (jobId, safetensors) => writeFileSync(fileOf(jobId), safetensors),
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
