// The thread behind keccak-off-thread.ts: hashes what it is sent, in order.
import { parentPort } from "node:worker_threads";
import { keccak256 } from "viem";

parentPort!.on("message", (m: { id: number; bytes: Uint8Array }) => {
  parentPort!.postMessage({ id: m.id, hash: keccak256(m.bytes) });
});
