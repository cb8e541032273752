#!/usr/bin/env node
// `conclave`: the command line for DAO members, providers and clients.
import "./quiet-warnings.ts";

// Loaded after the line above: node:sqlite must not be loaded before it.
const { main } = await import("./cli/main.ts");

// Exit explicitly: embedded IPFS and RPC sockets may keep the event loop alive after the work.
main(process.argv.slice(2)).then((code) => process.exit(code));
