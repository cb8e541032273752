/** The client's typed errors (jobs.ts, consumer.ts): fatal ones end the call, retryable ones may succeed on another try. */
import { FatalError, RetryableError } from "../errors.ts";

/** A delivered result does not hash to what its provider committed to. */
export class ResultMismatchError extends FatalError {
  readonly code = "RESULT_MISMATCH";
}

/** A request names required tags the market cannot carry (a job holds bits 0-63). */
export class TagsOutOfRangeError extends FatalError {
  readonly code = "TAGS_OUT_OF_RANGE";
}

/** The input is too large to travel inline and there is no IPFS node to put it on. */
export class InputTooLargeError extends FatalError {
  readonly code = "INPUT_TOO_LARGE";
}

/** A delivery's outputs are larger than the client agreed to fetch. */
export class OutputTooLargeError extends FatalError {
  readonly code = "OUTPUT_TOO_LARGE";
}

/** A requestJob transaction was mined and reverted: nothing was escrowed, no job exists. */
export class RequestRevertedError extends FatalError {
  readonly code = "REQUEST_REVERTED";
}

/** The job did not end before the wait's deadline. */
export class JobTimeoutError extends RetryableError {
  readonly code = "JOB_TIMEOUT";
}

/** A consumer call that cannot be made as asked (wrong status, nothing to retry or withdraw). */
export class ConsumerCallError extends FatalError {
  readonly code = "CONSUMER_CALL_INVALID";
}

/** The callback did not reach the awaited state before the wait's deadline. */
export class CallbackTimeoutError extends RetryableError {
  readonly code = "CALLBACK_TIMEOUT";
}
