/**
 * POST /aggregate/cluster — a cluster aggregator's signed mean of its cluster's updates
 * (lib/coordinator/clusters.ts): 201 when recorded, 200 for a retry of the same aggregate.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { receiveCluster } from "../lib/coordinator/cluster_intake.ts";
import type { ClusterSubmission } from "../lib/round/cluster_task.ts";
import { field, handler, HttpError, json, readJson, unwrap } from "./_http.ts";

/** The submission of a request body (400 naming the field that is wrong). */
function parseSubmission(body: Record<string, unknown>): ClusterSubmission {
  return {
    jobId: field.hex32(body, "jobId"),
    round: field.int(body, "round", 0, 100_000),
    cluster: field.int(body, "cluster", 0, 1_000_000),
    nodePubkey: field.hex32(body, "nodePubkey"),
    aggregateCid: field.cid(body, "aggregateCid"),
    totalSamples: field.int(body, "totalSamples", 0, 2 ** 52),
    membersDigest: field.hex32(body, "membersDigest"),
  };
}

/** Creates the cluster-intake handler over a context. */
export function createCluster(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot accept cluster: use POST");
    const body = await readJson(req);
    const sub = parseSubmission(body);
    const signature = field.hex(body, "signature", 64);
    const { status, record } = unwrap(await receiveCluster(ctx, sub, signature));
    return json(record, status);
  });
}

export default {
  fetch: async (req: Request) => createCluster(await contextFromEnv())(req),
};
