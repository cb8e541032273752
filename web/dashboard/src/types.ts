/** The snapshot JSON the dashboard process sends: its types are the process's own, never copied. */
export type { Snapshot } from "../../../node/dashboard/snapshot-types.ts";
