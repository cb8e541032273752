#!/usr/bin/env node
// `conclave`: the command line for DAO members, providers and clients.
import { main } from "./cli/main.ts";

// Exit explicitly: embedded IPFS and RPC sockets may keep the event loop alive after the work.
main(process.argv.slice(2)).then((code) => process.exit(code));
