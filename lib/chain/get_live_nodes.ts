/**
 * Which of many nodes are live (and compute-eligible): NodeCertRegistry.isLive and
 * isComputeEligible for every key, sent as JSON-RPC batches of {@link LIVE_BATCH} calls over one
 * connection instead of one HTTP request per read, so starting a 10,000-node job costs a few
 * dozen round trips.
 *
 * @example
 * ```ts ignore
 * import { getLiveNodes } from "./get_live_nodes.ts";
 * const live = await getLiveNodes(client, { addresses, nodePubkeys, computeEligible: true });
 * const chosen = nodePubkeys.filter((_, i) => live[i]);
 * ```
 */
import { createPublicClient, type Hex, http } from "viem";
import type { ArthaClient } from "./client.ts";
import { abis, type ArthaAddresses } from "./contracts.ts";

/** Reads per JSON-RPC batch. */
export const LIVE_BATCH = 500;

export interface GetLiveNodesParameters {
  addresses: ArthaAddresses;
  nodePubkeys: readonly Hex[];
  /** Also require NodeCertRegistry.isComputeEligible (default false). */
  computeEligible?: boolean;
}

const batching = new WeakMap<ArthaClient, ReturnType<typeof batchClient>>();

function batchClient(client: ArthaClient) {
  return createPublicClient({
    chain: client.chain,
    transport: http(client.transport.url, { batch: { batchSize: LIVE_BATCH } }),
  });
}

/** A reader of `client`'s chain that sends its reads as JSON-RPC batches of {@link LIVE_BATCH}. */
export function batchReader(client: ArthaClient): ReturnType<typeof batchClient> {
  let reader = batching.get(client);
  if (!reader) batching.set(client, reader = batchClient(client));
  return reader;
}

/** For each key, whether it is live (and compute-eligible when asked), in the keys' order. */
export async function getLiveNodes(
  client: ArthaClient,
  params: GetLiveNodesParameters,
): Promise<boolean[]> {
  const reader = batchReader(client);
  const read = (functionName: "isLive" | "isComputeEligible", nodePubkey: Hex) =>
    reader.readContract({
      address: params.addresses.registry,
      abi: abis.registry,
      functionName,
      args: [nodePubkey],
    });
  const live = await Promise.all(params.nodePubkeys.map((n) => read("isLive", n)));
  if (!params.computeEligible) return live;
  // Eligibility is read only for live nodes: a dead node is not eligible whatever its record.
  return await Promise.all(
    params.nodePubkeys.map((n, i) => live[i] ? read("isComputeEligible", n) : false),
  );
}
