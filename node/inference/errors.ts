import { FatalError, RetryableError } from "../errors.ts";
import type { FailureKind } from "./worker-protocol.ts";

/** The executor's typed errors: fatal ones end the job, retryable ones may succeed on another try. */

/** The model file's inputs/outputs differ from its schema, or it yields something the schema cannot describe. */
export class ModelMismatchError extends FatalError {
  readonly code = "MODEL_MISMATCH";
}

/** onnxruntime could not create a session from the model file (missing, corrupt, unsupported ops). */
export class ModelLoadError extends FatalError {
  readonly code = "MODEL_LOAD_FAILED";
}

/** `run` or a queued job named a key that is not (or no longer) loaded. */
export class ModelNotLoadedError extends FatalError {
  readonly code = "MODEL_NOT_LOADED";
}

/** onnxruntime rejected a run whose inputs matched the schema. */
export class InferenceFailedError extends FatalError {
  readonly code = "INFERENCE_FAILED";
}

/** The run exceeded its `timeoutMs`; the worker running it was killed. Retrying cannot make the model faster. */
export class InferenceTimeoutError extends FatalError {
  readonly code = "INFERENCE_TIMEOUT";
}

/** The worker process died under the request (crash, killed, or restarted after another run's timeout). */
export class WorkerCrashedError extends RetryableError {
  readonly code = "WORKER_CRASHED";
}

/** The executor was closed before the request finished; another process may still do the work. */
export class ExecutorClosedError extends RetryableError {
  readonly code = "EXECUTOR_CLOSED";
}

/** The error a worker's failure reply becomes, by its kind. */
export const FAILURES: Record<FailureKind, new (message: string) => Error> = {
  load: ModelLoadError,
  run: InferenceFailedError,
  "not-loaded": ModelNotLoadedError,
  "unsupported-output": ModelMismatchError,
};
