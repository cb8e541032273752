#!/usr/bin/env node
// The peer of `npm run bench:coldstart`, in a process of its own as a peer on another host would
// be: adds the given files to an embedded IPFS node that serves them over bitswap and as a
// trustless gateway, prints one JSON line (addresses and CIDs), and stops when its stdin closes.
import { readFileSync } from "node:fs";
import { createHeliaStore } from "../node/ipfs/helia-store.ts";

const [dir, ...files] = process.argv.slice(2);
if (!dir || files.length === 0) {
  console.error("usage: bench-coldstart-peer.ts <repo dir> <file>...");
  process.exit(1);
}
const holder = await createHeliaStore({ dir, gateway: { host: "127.0.0.1", port: 0 } });
const cids: string[] = [];
for (const file of files) cids.push(await holder.add(new Uint8Array(readFileSync(file))));
console.log(JSON.stringify({ multiaddr: holder.multiaddrs()[0], gateway: holder.gatewayUrl!(), cids }));
process.stdin.resume();
process.stdin.on("end", () => void holder.stop().then(() => process.exit(0)));
