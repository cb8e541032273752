import { FsBlockstore } from "blockstore-fs";
import { FsDatastore } from "datastore-fs";
import type { CID } from "multiformats/cid";
import { InFlight } from "../in-flight.ts";

/**
 * Helia's disk stores, safe for writes of one key at once. blockstore-fs and datastore-fs write a
 * key's file through one temporary name (steno): of two writes at once, one renames the other's
 * file away, and the other's rename fails and is retried every 100 ms for a second before it
 * gives up (and is taken as done). Jobs with equal outputs, or files sharing a chunk, write the
 * same block at once in a burst, and each such write held its job back for 1-2 s.
 */

/** Type of `FsBlockstore.put`'s arguments after the key. */
type BlockPutRest = Parameters<FsBlockstore["put"]> extends [CID, ...infer R] ? R : never;

/** A block is its CID's bytes: a write of a block being written joins that write. */
export class JoinedWritesBlockstore extends FsBlockstore {
  readonly #writing = new InFlight<string, CID>();

  override put(key: CID, ...rest: BlockPutRest): Promise<CID> {
    return this.#writing.join(key.toString(), () => super.put(key, ...rest));
  }
}

/** `FsDatastore.put`'s key (interface-datastore's Key), and its arguments after the key. */
type Key = Parameters<FsDatastore["put"]>[0];
type DataPutRest = Parameters<FsDatastore["put"]> extends [Key, ...infer R] ? R : never;

/** A key's value may change: writes of one key go one after another, in the order asked. */
export class OrderedWritesDatastore extends FsDatastore {
  readonly #last = new Map<string, Promise<unknown>>();

  override put(key: Key, ...rest: DataPutRest): Promise<Key> {
    const id = key.toString();
    const before = this.#last.get(id);
    const written = before
      ? before.then(
          () => super.put(key, ...rest),
          () => super.put(key, ...rest),
        )
      : super.put(key, ...rest);
    this.#last.set(id, written);
    const forget = () => {
      if (this.#last.get(id) === written) this.#last.delete(id);
    };
    written.then(forget, forget);
    return written;
  }
}
