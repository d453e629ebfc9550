/**
 * Serves every function from one process (local development, the demo, tests):
 *
 *   deno task serve        # deno serve on 127.0.0.1:8787; ARTHA_* environment (see README)
 *   DENO_SERVE_ADDRESS=tcp:127.0.0.1:9000 deno task serve     # elsewhere
 *
 * Routes: /info, /register, /assign, /aggregate, /aggregate/update, /aggregate/cluster, /finalize,
 * /status, /svdb[/<cid>], /ai/infer, /rpc, /v1/completions, /v1/models[/<id>], /dashboard (and /),
 * /join,
 * /did/{resolve,access,grant,grant/prepare}. Aggregate and finalize also run every minute from
 * Deno.cron. An address already in use is one line naming it, exit status 2.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { errorResponse, HttpError, type ServeInfo } from "./_http.ts";
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
import { createJoin } from "./join.ts";
import { createInfer } from "./infer.ts";
import { createRegister } from "./register.ts";
import { createRpc } from "./rpc.ts";
import { createSecagg } from "./secagg.ts";
import { createStatus } from "./status.ts";
import { createSvdb } from "./svdb.ts";
import { createUpdate } from "./update.ts";
import { createInfo } from "./info.ts";
import { env, readCoordinatorSettings } from "../lib/config.ts";
import { runCli } from "../lib/network/cli.ts";
import { checkChain } from "../lib/network/preflight.ts";
import { isAuthorisedCoordinator } from "../lib/chain/is_authorised.ts";

/** A route's handler; `info` is Deno.serve's (the remote address inference limits clients by). */
type Handler = (req: Request, info?: ServeInfo) => Promise<Response>;

/** One handler for all routes over a context. */
export function createRouter(ctx: Context): Handler {
  const routes: [RegExp, Handler][] = [
    [/^\/info\/?$/, createInfo(ctx)],
    [/^\/register\/?$/, createRegister(ctx)],
    [/^\/assign\/?$/, createAssign(ctx)],
    [/^\/aggregate\/update\/?$/, createUpdate(ctx)],
    [/^\/aggregate\/cluster\/?$/, createCluster(ctx)],
    [/^\/aggregate\/?$/, createAggregate(ctx)],
    [/^\/secagg\/?$/, createSecagg(ctx)],
    [/^\/finalize\/?$/, createFinalize(ctx)],
    [/^\/status\/?$/, createStatus(ctx)],
    [/^\/svdb(\/[^/]+)?\/?$/, createSvdb(ctx)],
    [/^\/ai\/infer\/?$/, createInfer(ctx)],
    [/^\/rpc\/?$/, createRpc(ctx)],
    [/^\/v1\/completions\/?$/, createCompletions(ctx)],
    [/^\/v1\/models(\/[^/]+)?\/?$/, createModelList(ctx)],
    [/^\/(dashboard\/?)?$/, createDashboard()],
    [/^\/join(\/[\w.-]*)?$/, createJoin()],
    [/^\/did\/(resolve|access|grant|grant\/prepare)\/?$/, createDidGrant(ctx)],
  ];
  return async (req, info) => {
    const path = new URL(req.url).pathname;
    for (const [pattern, handle] of routes) if (pattern.test(path)) return await handle(req, info);
    return errorResponse(
      new HttpError(404, `Cannot route ${path}`, { code: "UNKNOWN_ROUTE" }),
    );
  };
}

/**
 * Started by `deno serve` (where import.meta.main is true too): read and check the settings, check
 * the chain (reachable, chain id, contracts) before serving, and register the crons and the close
 * queue's listener. A bad setting or a failed check is one line and exit status 2.
 */
async function start(): Promise<Context> {
  const settings = readCoordinatorSettings();
  const ctx = await contextFromEnv();
  const { name, addresses } = settings.deployment;
  await checkChain(settings, {
    deployment: { name, addresses },
    onRetry: (why, ms) => console.error(`${why}; retrying in ${ms / 1000} s`),
  });
  for (const line of await accountWarnings(ctx)) console.error(line);
  // deno serve stops serving on SIGTERM but the crons and the queue would keep the process up.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, () => Deno.exit(0));
    } catch {
      // no signals where the platform runs the isolate (Deno Deploy)
    }
  }
  // ARTHA_CRON=off leaves rounds to explicit POSTs (tests that must decide when a round closes).
  if (settings.cron) {
    Deno.cron("aggregate", "* * * * *", async () => void await aggregateAll(ctx));
    Deno.cron("finalize", "* * * * *", async () => void await finalizeAll(ctx));
    // Uploads are leased, not pinned: what nothing references goes once its lease is over.
    Deno.cron("svdb-gc", "*/15 * * * *", async () => void await collectSvdbGarbage(ctx));
    // The update that completes a round enqueues its close: no wait for the minute cron.
    ctx.kv.listenQueue((message) => onQueueMessage(ctx, message));
  }
  return ctx;
}

/**
 * What the coordinator's account lacks to do its work: gas money, and AIJobManager's
 * authorisation (assigning nodes, closing rounds). Warned, not refused: either may come after the
 * start. Found walking through the README as a new user: a coordinator on an unfunded,
 * unauthorised key listened as if all were well, and only a job's submit said why nothing moved.
 */
async function accountWarnings(ctx: Context): Promise<string[]> {
  const { client, addresses } = ctx.chain;
  const account = client.account.address;
  const [balance, authorised] = await Promise.all([
    client.getBalance({ address: account }),
    isAuthorisedCoordinator(client, { addresses, account }),
  ]);
  const out: string[] = [];
  if (balance === 0n) {
    out.push(`warning: the coordinator's account ${account} has no funds for gas; fund it`);
  }
  if (!authorised) {
    out.push(
      `warning: the coordinator's account ${account} is not an authorised coordinator of ` +
        `AIJobManager ${addresses.jobs}: it cannot assign nodes or close rounds until the ` +
        "deployment's owner authorises it (the deployer's key is authorised by `deno task deploy`)",
    );
  }
  return out;
}

/** Where `deno serve` listens, for messages: DENO_SERVE_ADDRESS, else the serve task's. */
function listenAddress(): string {
  const set = env.serveAddress();
  return set ? `${set} (DENO_SERVE_ADDRESS)` : "127.0.0.1:8787 (deno task serve's --host/--port)";
}

/**
 * `deno serve` binds after this module ran and reports a taken address as an uncaught rejection
 * with a stack trace; this turns it into one line naming the address and how to pick another.
 * Caught rather than probed ahead: under `deno serve --port` the script cannot see the port, and
 * a probe of the default could refuse a run that listens elsewhere.
 */
function refuseBusyAddress(): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (!(event.reason instanceof Deno.errors.AddrInUse)) return;
    event.preventDefault();
    console.error(
      `Cannot start the coordinator: ${listenAddress()} is already in use by another program; ` +
        "stop it, or listen elsewhere: DENO_SERVE_ADDRESS=tcp:127.0.0.1:8788 deno task serve " +
        "(and ARTHA_COORDINATOR=http://127.0.0.1:8788 for its clients)",
    );
    Deno.exit(2);
  });
}

let started: Promise<Context> | undefined;
if (import.meta.main) {
  refuseBusyAddress();
  await runCli("start the coordinator", () => started = start());
}

let routed: Promise<Handler> | undefined;

export default {
  fetch: async (req: Request, info?: Deno.ServeHandlerInfo) => {
    routed ??= (started ?? contextFromEnv()).then(createRouter);
    routed.catch(() => routed = undefined);
    return (await routed)(req, info);
  },
  onListen: ({ hostname, port }: Deno.NetAddr) => {
    const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    console.log(`coordinator listening on ${url} (dashboard ${url}/dashboard)`);
  },
};
