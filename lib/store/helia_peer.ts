/**
 * A Helia light node for the SVDB: TCP on loopback, noise, yamux, identify and bitswap,
 * with no bootstrap list, no DHT, no HTTP gateways and no peer discovery, so it talks
 * only to peers it is told to dial. By default a connection gater also refuses to dial, or
 * take a connection from, anything but loopback addresses.
 *
 * @module
 */
import { createHeliaLight } from "helia";
import { withLibp2pLight } from "@helia/libp2p";
import { withBitswap } from "@helia/bitswap";
import { tcp } from "@libp2p/tcp";
import { identify } from "@libp2p/identify";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import type { Multiaddr } from "@multiformats/multiaddr";
import type { Blockstore } from "./blockstore.ts";
import { toInterfaceBlockstore } from "./_helia_adapter.ts";
import { MemoryBlockstore } from "./memory_blockstore.ts";

/** Options of {@link createHeliaPeer}. */
export interface HeliaPeerOptions {
  /** Listen multiaddrs. Default `/ip4/127.0.0.1/tcp/0` (a free loopback port). */
  listen?: string[];
  /**
   * Refuse to dial non-loopback addresses, and connections from them. Default true: the peer
   * serves every block it holds to whoever connects.
   */
  loopbackOnly?: boolean;
  /**
   * Where the node keeps its blocks, e.g. an {@link FsBlockstore} so the peer serves and
   * persists the SVDB on disk. Default: a {@link MemoryBlockstore}. Always one of ours, so
   * blocks are kept by codec (Helia's own stores key by hash alone).
   */
  blockstore?: Blockstore;
}

/**
 * Creates and starts a Helia light node. Stop it with `helia.stop()` (or close the
 * {@link HeliaBlockstore} that wraps it).
 *
 * @example
 * ```ts ignore
 * import { createHeliaPeer } from "./helia_peer.ts";
 * const a = await createHeliaPeer();
 * const b = await createHeliaPeer();
 * await b.libp2p.dial(a.libp2p.getMultiaddrs()[0]!);
 * await a.stop();
 * await b.stop();
 * ```
 */
export async function createHeliaPeer(options: HeliaPeerOptions = {}) {
  const loopbackOnly = options.loopbackOnly ?? true;
  const local = toInterfaceBlockstore(options.blockstore ?? new MemoryBlockstore());
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: local }), {
    addresses: { listen: options.listen ?? ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionGater: {
      denyDialMultiaddr: (ma: Multiaddr) => loopbackOnly && !isLoopback(ma),
      // Inbound too: bitswap serves every block it holds, private files' included, to any peer
      // that connects, so a peer listening on a public address (`listen`) served the job data
      // and updates the gateway guards to anyone on the network.
      denyInboundConnection: (conn: { remoteAddr: Multiaddr }) =>
        loopbackOnly && !isLoopback(conn.remoteAddr),
    },
  }));
  await helia.start();
  return helia;
}

function isLoopback(ma: Multiaddr): boolean {
  const text = ma.toString();
  return text.startsWith("/ip4/127.") || text.startsWith("/ip6/::1/");
}
