#!/usr/bin/env node
// The peer of `npm run bench:coldstart`, in a process of its own as a peer on another host would
// be: adds the given files to an embedded IPFS node that serves them over bitswap and as a
// trustless gateway (a file request answered from the file, as a runner does from its model
// cache), prints one JSON line (addresses and CIDs), and stops when its stdin closes.
import { readFileSync } from "node:fs";
import { createHeliaStore } from "../node/ipfs/helia-store.ts";

const [dir, ...files] = process.argv.slice(2);
if (!dir || files.length === 0) {
  console.error("usage: bench-coldstart-peer.ts <repo dir> <file>...");
  process.exit(1);
}
// As a runner answers from its verified model cache, the peer answers file requests from the files.
const byCid = new Map<string, string>();
const holder = await createHeliaStore({ dir, gateway: { host: "127.0.0.1", port: 0, files: (cid) => byCid.get(cid) } });
const cids: string[] = [];
for (const file of files) {
  const cid = await holder.add(new Uint8Array(readFileSync(file)));
  byCid.set(cid, file);
  cids.push(cid);
}
console.log(JSON.stringify({ multiaddr: holder.multiaddrs()[0], gateway: holder.gatewayUrl!(), cids }));
process.stdin.resume();
process.stdin.on("end", () => void holder.stop().then(() => process.exit(0)));
