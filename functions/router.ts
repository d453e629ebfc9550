/**
 * Serves every function from one process (local development, the demo, tests):
 *
 *   deno task serve        # needs ARTHA_* environment (see README)
 *
 * Routes: /register, /assign, /aggregate, /aggregate/update, /aggregate/cluster, /finalize,
 * /status, /svdb[/<cid>], /ai/infer, /rpc, /v1/completions, /v1/models, /dashboard (and /),
 * /did/{resolve,access,grant,grant/prepare}. Aggregate and finalize also run every minute from
 * Deno.cron.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { errorResponse, HttpError } from "./_http.ts";
import { createAggregate } from "./aggregate.ts";
import { aggregateAll } from "../lib/coordinator/round_close.ts";
import { createAssign } from "./assign.ts";
import { createCluster } from "./cluster.ts";
import { createDidGrant } from "./did_grant.ts";
import { createFinalize } from "./finalize.ts";
import { finalizeAll } from "../lib/coordinator/finalize.ts";
import { onQueueMessage } from "../lib/coordinator/close_trigger.ts";
import { collectSvdbGarbage } from "../lib/coordinator/svdb_retention.ts";
import { createCompletions, createModelList } from "./completions.ts";
import { createDashboard } from "./dashboard.ts";
import { createInfer } from "./infer.ts";
import { createRegister } from "./register.ts";
import { createRpc } from "./rpc.ts";
import { createStatus } from "./status.ts";
import { createSvdb } from "./svdb.ts";
import { createUpdate } from "./update.ts";
import { env } from "../lib/config.ts";

type Handler = (req: Request) => Promise<Response>;

/** One handler for all routes over a context. */
export function createRouter(ctx: Context): Handler {
  const routes: [RegExp, Handler][] = [
    [/^\/register\/?$/, createRegister(ctx)],
    [/^\/assign\/?$/, createAssign(ctx)],
    [/^\/aggregate\/update\/?$/, createUpdate(ctx)],
    [/^\/aggregate\/cluster\/?$/, createCluster(ctx)],
    [/^\/aggregate\/?$/, createAggregate(ctx)],
    [/^\/finalize\/?$/, createFinalize(ctx)],
    [/^\/status\/?$/, createStatus(ctx)],
    [/^\/svdb(\/[^/]+)?\/?$/, createSvdb(ctx)],
    [/^\/ai\/infer\/?$/, createInfer(ctx)],
    [/^\/rpc\/?$/, createRpc(ctx)],
    [/^\/v1\/completions\/?$/, createCompletions(ctx)],
    [/^\/v1\/models\/?$/, createModelList(ctx)],
    [/^\/(dashboard\/?)?$/, createDashboard()],
    [/^\/did\/(resolve|access|grant|grant\/prepare)\/?$/, createDidGrant(ctx)],
  ];
  return async (req) => {
    const path = new URL(req.url).pathname;
    for (const [pattern, handle] of routes) if (pattern.test(path)) return await handle(req);
    return errorResponse(
      new HttpError(404, `Cannot route ${path}`, { code: "UNKNOWN_ROUTE" }),
    );
  };
}

if (import.meta.main) {
  const ctx = await contextFromEnv();
  const port = env.port();
  const route = createRouter(ctx);
  // ARTHA_CRON=off leaves rounds to explicit POSTs (tests that must decide when a round closes).
  if (env.cron()) {
    Deno.cron("aggregate", "* * * * *", async () => void await aggregateAll(ctx));
    Deno.cron("finalize", "* * * * *", async () => void await finalizeAll(ctx));
    // Uploads are leased, not pinned: what nothing references goes once its lease is over.
    Deno.cron("svdb-gc", "*/15 * * * *", async () => void await collectSvdbGarbage(ctx));
    // The update that completes a round enqueues its close: no wait for the minute cron.
    ctx.kv.listenQueue((message) => onQueueMessage(ctx, message));
  }
  Deno.serve({ hostname: env.host(), port }, route);
}

export default {
  fetch: async (req: Request) => createRouter(await contextFromEnv())(req),
};
