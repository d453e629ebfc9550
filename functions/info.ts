/**
 * GET /info — which chain and deployment this coordinator runs on, and its account: what a worker
 * or job owner checks before it stakes or pays, so a wrong chain id or addresses file is named
 * up front instead of failing every signature later; and the JSON-RPC URL a browser worker
 * (GET /join) sends its chain calls to: ARTHA_PUBLIC_RPC_URL, else the coordinator's own only
 * when it holds nothing that may be a credential (no user, password, query or path: providers put
 * API keys in each), else none.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { handler, HttpError, json } from "./_http.ts";

/** Creates the info handler over a context. */
export function createInfo(ctx: Context) {
  return handler((req) => {
    if (req.method !== "GET") throw new HttpError(405, "Cannot read info: use GET");
    const { chainId, addresses, client } = ctx.chain;
    const rpcUrl = ctx.config.publicRpcUrl ?? shareable(client.chain?.rpcUrls.default.http[0]);
    return json({ chainId, addresses, coordinator: client.account.address, rpcUrl });
  });
}

/** `url` when nothing in it may be a credential; undefined otherwise. */
function shareable(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const u = new URL(url);
  const bare = !u.username && !u.password && !u.search && (u.pathname === "/" || u.pathname === "");
  return bare ? url : undefined;
}

export default {
  fetch: async (req: Request) => createInfo(await contextFromEnv())(req),
};
