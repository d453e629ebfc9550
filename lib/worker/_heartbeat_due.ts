/**
 * When a worker heartbeats: once its last heartbeat on chain is half the chain's interval old
 * (private to ./worker.ts). Found in the worker audit: heartbeats went out on a local 10-minute
 * timer, six a chain interval of one hour, each paying gas; half the interval leaves a look or
 * two of slack before a miss.
 *
 * @example
 * ```ts ignore
 * import { heartbeatDue } from "./_heartbeat_due.ts";
 * if (await heartbeatDue(client, { addresses, nodePubkey })) await sendHeartbeat(client, ...);
 * ```
 */
import type { Hex } from "viem";
import type { ArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { getHeartbeatInterval } from "../chain/get_heartbeat_interval.ts";
import { getNodeCert } from "../chain/get_node_cert.ts";

/**
 * Whether the node's last heartbeat on chain is at least half the chain's heartbeat interval
 * old, or so old that the next look (`lookEveryMs` away) could come too late; true when a read
 * fails (a heartbeat too many costs gas, one missed costs stake). Found reviewing the schedule:
 * with half the interval alone, a chain interval of 20 minutes and looks every 10 were missed.
 */
export async function heartbeatDue(
  client: ArthaClient,
  params: { addresses: ArthaAddresses; nodePubkey: Hex; lookEveryMs: number; now?: () => number },
): Promise<boolean> {
  try {
    const { addresses, nodePubkey } = params;
    const [cert, interval, head] = await Promise.all([
      getNodeCert(client, { addresses, nodePubkey }),
      getHeartbeatInterval(client, { addresses }),
      client.getBlock(),
    ]);
    // The later of the chain's time and this machine's: a chain that makes blocks only for
    // transactions shows an old head, while a report of the miss is judged at its own block.
    const wall = BigInt(Math.floor((params.now?.() ?? Date.now()) / 1000));
    const now = head.timestamp > wall ? head.timestamp : wall;
    const half = BigInt(interval) / 2n;
    const beforeNextLooks = BigInt(interval) - 2n * BigInt(Math.ceil(params.lookEveryMs / 1000));
    return now - BigInt(cert.lastHeartbeat) >= (beforeNextLooks < half ? beforeNextLooks : half);
  } catch {
    return true;
  }
}
