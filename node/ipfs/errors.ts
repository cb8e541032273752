import { FatalError, RetryableError } from "../errors.ts";

/** The string is not a CID: retrying the same string cannot help. */
export class InvalidCidError extends FatalError {
  readonly code = "CID_INVALID";
}

/**
 * The bytes of a CID did not arrive before the caller's signal fired (no provider reachable, or
 * the transfer was too slow). A provider may come online later.
 */
export class ContentUnavailableError extends RetryableError {
  readonly code = "CONTENT_UNAVAILABLE";
}

/** The content is larger than the caller allows; a CID's size never changes, so this is final. */
export class ContentTooLargeError extends FatalError {
  readonly code = "CONTENT_TOO_LARGE";
}

/**
 * The CID names something that is not a readable file: a directory, a non-UnixFS DAG, or a file DAG
 * whose leaves disagree with the size its root declares. Blocks are immutable, so this is final.
 */
export class ContentInvalidError extends FatalError {
  readonly code = "CONTENT_INVALID";
}

/** The IPFS engine (a Kubo daemon) cannot be reached or failed while answering. */
export class IpfsUnreachableError extends RetryableError {
  readonly code = "IPFS_UNREACHABLE";
}

/** A peer named by multiaddr could not be dialled. */
export class PeerUnreachableError extends RetryableError {
  readonly code = "PEER_UNREACHABLE";
}
