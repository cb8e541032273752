/**
 * JSON text of a value that may hold bigints (amounts in wei, job ids, block numbers): each bigint
 * is written as its decimal string, where plain `JSON.stringify` throws. `indent` as
 * JSON.stringify's third argument.
 */
export function jsonStringify(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), indent);
}
