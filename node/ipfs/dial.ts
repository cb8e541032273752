import { multiaddr, type Multiaddr } from "@multiformats/multiaddr";
import { ConfigError } from "../errors.ts";

/**
 * Dials a peer by multiaddr for a content store (Helia or Kubo): an address that does not parse is
 * a ConfigError (the operator's typo, never worth a retry); a failed connection is whatever
 * `failed` makes of it.
 */
export async function dialPeer(
  address: string,
  connect: (ma: Multiaddr) => Promise<unknown>,
  failed: (error: unknown) => unknown,
): Promise<void> {
  let ma: Multiaddr;
  try {
    ma = multiaddr(address);
  } catch (error) {
    throw new ConfigError(`not a multiaddr: ${JSON.stringify(address)}`, { cause: error });
  }
  try {
    await connect(ma);
  } catch (error) {
    throw failed(error);
  }
}
