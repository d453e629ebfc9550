/**
 * POST /register {nodePubkey, operator, nonce, signature} — binds a node's Ed25519 key to its
 * operator's EVM account after it staked on chain (lib/coordinator/register.ts). Answers
 * {ok: true, node}; a repeat of the same binding is a no-op success.
 */
import { type Context, contextFromEnv } from "../lib/coordinator/context.ts";
import { bindNode } from "../lib/coordinator/register.ts";
import { field, handler, HttpError, json, readJson, unwrap } from "./_http.ts";

/** Creates the register handler over a context. */
export function createRegister(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot register: use POST");
    const body = await readJson(req);
    const { node } = unwrap(
      await bindNode(ctx, {
        nodePubkey: field.hex32(body, "nodePubkey"),
        operator: field.address(body, "operator"),
        nonce: field.int(body, "nonce", 0, 1_000_000),
        signature: field.hex(body, "signature", 64),
      }),
    );
    return json({ ok: true, node });
  });
}

export default {
  fetch: async (req: Request) => createRegister(await contextFromEnv())(req),
};
