/**
 * Error families shared by every part of the node code. Callers branch on `retryable` (retry
 * with backoff, never drop the work) or on the class, never on message text.
 */
export abstract class ConclaveError extends Error {
  /** Whether the same operation may succeed later (RPC down, IPFS peer gone). */
  abstract readonly retryable: boolean;
  /** Stable machine-readable code, e.g. "CONFIG_INVALID". */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A fault that may clear by itself: retry with backoff. */
export abstract class RetryableError extends ConclaveError {
  readonly retryable = true;
}

/** A fault that retrying cannot fix. */
export abstract class FatalError extends ConclaveError {
  readonly retryable = false;
}

/** Bad configuration or parameters: the process stops with one clear line. */
export class ConfigError extends FatalError {
  readonly code = "CONFIG_INVALID";
}

/** The JSON-RPC endpoint cannot be reached. */
export class RpcUnreachableError extends RetryableError {
  readonly code = "RPC_UNREACHABLE";
}

/** A deployment record is missing or does not match the chain. */
export class DeploymentError extends FatalError {
  readonly code = "DEPLOYMENT_INVALID";
}

/** A contract artifact is missing: the contracts were not built. */
export class ArtifactMissingError extends FatalError {
  readonly code = "ARTIFACT_MISSING";
}

/** A signed attestation cannot be encoded for a batch (e.g. a signature that is not 65 bytes). */
export class InvalidAttestationError extends FatalError {
  readonly code = "ATTESTATION_INVALID";
}

/**
 * One line for a person: the message of a known error, or the first line of an unknown one. A
 * viem error's first line is its short message ("Transaction creation failed."); the node's own
 * words are in its `details`, which follow it.
 */
export function oneLine(error: unknown): string {
  if (error instanceof Error) {
    const first = (error instanceof ConclaveError ? error.message : (error.message.split("\n")[0] ?? "")).trim();
    const details = (error as { details?: unknown }).details;
    const said = typeof details === "string" ? (details.split("\n")[0] ?? "").trim() : "";
    if (said && first && !first.includes(said)) return `${first} (${said})`;
    return first || error.name;
  }
  return String(error);
}
