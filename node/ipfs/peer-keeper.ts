import { oneLine } from "../errors.ts";
import type { Logger } from "../log.ts";
import { createTicker, type Service, type ServiceDeps } from "../service.ts";
import type { ContentStore } from "./content-store.ts";

/** How often the configured peers are dialled again. */
const PEER_REDIAL_MS = 5_000;

interface PeerKeeperDeps extends ServiceDeps {
  content: Pick<ContentStore, "dial">;
  /** Multiaddrs from `ipfs.peers`. */
  peers: readonly string[];
  log: Logger;
  everyMs?: number;
}

interface PeerKeeper extends Service {
  /** Dials every peer once (at start-up, before the services that fetch). */
  dialAll(): Promise<void>;
}

/**
 * Keeps the configured IPFS peers dialled. Without discovery (a private network), a peer reached
 * only by a dial at start-up is lost for good when that dial fails or the connection drops, and
 * the runner can then fetch no model over bitswap. A dial can fail for no fault of the peer's:
 * libp2p accepts at most 5 new connections a second from one host, and on one machine (a devnet,
 * the tests) every node dials from 127.0.0.1. So each peer is dialled at start and again every
 * `everyMs`: a dial to a connected peer reuses its connection (Helia) or does nothing (Kubo's
 * swarm/connect). A peer that cannot be dialled is logged once, and again once it is back.
 */
export function createPeerKeeper(deps: PeerKeeperDeps): PeerKeeper {
  const { content, peers, log } = deps;
  const down = new Set<string>();
  const dialAll = async () => {
    await Promise.all(
      peers.map(async (peer) => {
        try {
          await content.dial(peer);
          if (down.delete(peer)) log.info("IPFS peer dialled", { peer });
        } catch (error) {
          if (down.has(peer)) return;
          down.add(peer);
          log.warn("cannot dial IPFS peer; dialling it again every few seconds", {
            peer,
            error: oneLine(error),
          });
        }
      }),
    );
  };
  const ticker = createTicker({
    signal: deps.signal,
    everyMs: deps.everyMs ?? PEER_REDIAL_MS,
    run: dialAll,
    onError: (error) => log.warn("dialling IPFS peers failed", { error: oneLine(error) }),
  });
  return {
    dialAll,
    start: () => (peers.length > 0 ? ticker.start() : undefined),
    stop: () => ticker.stop(),
  };
}
