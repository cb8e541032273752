/**
 * Loaded by every mocha worker (hardhat.config.ts): the processes a test starts run as users run
 * them, on Node's own type stripping, not under tsx.
 *
 * Hardhat's mocha plugin starts its parallel workers with NODE_OPTIONS="--import <tsx>", and every
 * process a test starts (the CLI, runners, inference workers, `npm start`'s script) inherited it:
 * tsx's loader then transformed each module again, about a third more CPU per process start
 * (`conclave --help`: 0.94 s of CPU without it, 1.25 s with it), on a suite that keeps both cores
 * busy. The worker itself keeps tsx: it is loaded already.
 */
import { withoutTsx } from "./node-options.ts";

const options = withoutTsx(process.env.NODE_OPTIONS ?? "");
if (options === "") delete process.env.NODE_OPTIONS;
else process.env.NODE_OPTIONS = options;
