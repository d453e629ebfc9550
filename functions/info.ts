/**
 * GET /info — which chain and deployment this coordinator runs on, and its account: what a worker
 * or job owner checks before it stakes or pays, so a wrong chain id or addresses file is named
 * up front instead of failing every signature later.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { handler, HttpError, json } from "./_http.ts";

/** Creates the info handler over a context. */
export function createInfo(ctx: Context) {
  return handler((req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot read info: use GET");
    const { chainId, addresses, client } = ctx.chain;
    // The RPC the coordinator uses: where a browser worker (GET /join) sends its chain calls.
    const rpcUrl = client.chain?.rpcUrls.default.http[0];
    return json({ chainId, addresses, coordinator: client.account.address, rpcUrl });
  });
}

export default {
  fetch: async (req: Request) => createInfo(await contextFromEnv())(req),
};
