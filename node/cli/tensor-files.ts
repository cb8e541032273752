import { readFileSync, writeFileSync } from "node:fs";
import { ConfigError, oneLine } from "../errors.ts";
import type { TensorMap } from "../tensors/dtypes.ts";
import { parseJsonTensors, tensorsToJson } from "../tensors/json-tensors.ts";
import { decodeSafetensors, encodeSafetensors } from "../tensors/safetensors.ts";

/** Reads an input file: safetensors (by its .safetensors extension) or JSON tensors. */
export function readTensorFile(file: string): TensorMap {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new ConfigError(`cannot read input file ${file}`);
  }
  try {
    return file.endsWith(".safetensors")
      ? decodeSafetensors(new Uint8Array(bytes)).tensors
      : parseJsonTensors(bytes.toString("utf8"));
  } catch (error) {
    throw new ConfigError(`input file ${file}: ${oneLine(error)}`, { cause: error });
  }
}

/** Writes outputs as safetensors when the name ends in .safetensors, JSON tensors otherwise. */
export function writeTensorFile(file: string, tensors: TensorMap): void {
  writeFileSync(
    file,
    file.endsWith(".safetensors") ? encodeSafetensors(tensors) : `${JSON.stringify(tensorsToJson(tensors), null, 2)}\n`,
  );
}
