import { checkTensor, isDType, TensorFormatError, type TensorMap } from "./dtypes.ts";

const MAX_HEADER = 100 * 1024 * 1024;

/**
 * Serializes tensors in the safetensors layout: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets}}` padded with spaces to 8 bytes, then the raw data. Names
 * are written in sorted order so the same tensors always give the same bytes.
 */
export function encodeSafetensors(tensors: TensorMap, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    checkTensor(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    out.set(tensors[name]!.data, at);
    at += tensors[name]!.data.byteLength;
  }
  return out;
}

/** Parses and validates safetensors bytes; data is copied out so the input may be reused. */
export function decodeSafetensors(bytes: Uint8Array): { tensors: TensorMap; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) throw new TensorFormatError("safetensors: shorter than its 8-byte header length");
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER, bytes.byteLength - 8))) {
    throw new TensorFormatError(`safetensors: header length ${headerLength} exceeds the file`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart))) as Record<
      string,
      unknown
    >;
  } catch (cause) {
    throw new TensorFormatError("safetensors: header is not valid UTF-8 JSON", { cause });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    throw new TensorFormatError("safetensors: header must be a JSON object");
  const dataLength = bytes.byteLength - dataStart;
  const tensors: TensorMap = {};
  let metadata: Record<string, string> = {};
  const ranges: [number, number][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(e.dtype))
      throw new TensorFormatError(`safetensors: tensor ${name} has unknown dtype ${String(e.dtype)}`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new TensorFormatError(`safetensors: tensor ${name} has bad data_offsets`);
    }
    const [start, end] = offsets as [number, number];
    if (start > end || end > dataLength)
      throw new TensorFormatError(`safetensors: tensor ${name} data [${start}, ${end}) is outside the file`);
    const tensor = {
      dtype: e.dtype,
      shape: e.shape as number[],
      data: bytes.slice(dataStart + start, dataStart + end),
    };
    checkTensor(name, tensor);
    tensors[name] = tensor;
    ranges.push([start, end]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  let cursor = 0;
  for (const [start, end] of ranges) {
    if (start !== cursor) throw new TensorFormatError("safetensors: tensor data overlaps or leaves holes");
    cursor = end;
  }
  if (cursor !== dataLength)
    throw new TensorFormatError(`safetensors: ${dataLength - cursor} trailing bytes after the tensors`);
  return { tensors, metadata };
}
