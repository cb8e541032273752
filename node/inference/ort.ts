/**
 * onnxruntime-node, with Microsoft's telemetry off: every module imports it from here.
 *
 * Its Linux build (1.30) carries Microsoft's 1DS telemetry SDK. Each process that creates a
 * session writes `.ses` and an empty `mat-debug-<pid>.log` into the temporary folder and never
 * removes the log (a runner whose inference workers restart leaves one per worker; the test suite
 * left 34), and the SDK tries HTTPS uploads with the machine's details. A provider's machine does
 * not report to a third party unless its owner says so: onnxruntime reads ORT_DISABLE_TELEMETRY
 * when it creates its environment (at the first session), and "1" turns the SDK off. An owner who
 * wants it sets the variable to 0.
 */
import * as ort from "onnxruntime-node";

process.env.ORT_DISABLE_TELEMETRY ??= "1";

export { ort };
