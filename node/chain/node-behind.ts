import { oneLine } from "../errors.ts";

/**
 * How a node answers a call about a block it does not have yet: a load-balanced provider's node
 * behind the others, asked of a block its peers already served. Providers word it differently and
 * share no error code: geth "header not found", others "unknown block" or "block not found",
 * Anvil "BlockOutOfRangeError".
 */
const BLOCK_NOT_ON_NODE = /unknown block|not found|BlockOutOfRange/i;

/** Whether `error` is a node's answer that it lacks the block asked of (see BLOCK_NOT_ON_NODE). */
export function isBlockNotOnNode(error: unknown): boolean {
  return BLOCK_NOT_ON_NODE.test(oneLine(error));
}
