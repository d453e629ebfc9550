/**
 * POST /register — binds a node's Ed25519 key to its operator's EVM account.
 *
 * The worker first stakes on chain (NodeCertRegistry.registerNode from the operator account, with
 * the node key's Ed25519 signature over the EIP-712 NodeBinding, which the registry verifies), then
 * posts {nodePubkey, operator, nonce, signature}: the same signature. The function checks it again
 * and that the chain records this key as the operator's `nonce`-th node, so a binding can be
 * neither forged nor replayed for another key.
 * Bound nodes are what `assign` may give work to.
 */
import { abis } from "../lib/chain/contracts.ts";
import { verifyBinding } from "../lib/keys.ts";
import { decodeCaps } from "../lib/caps.ts";
import type { Context } from "./_context.ts";
import { contextFromEnv } from "./_context.ts";
import { field, handler, HttpError, json, readJson } from "./_http.ts";
import { nodeKey, type NodeRecord } from "./_state.ts";

/** Creates the register handler over a context. */
export function createRegister(ctx: Context) {
  return handler(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "Cannot register: use POST");
    const body = await readJson(req);
    const nodePubkey = field.hex32(body, "nodePubkey");
    const operator = field.address(body, "operator");
    const nonce = field.int(body, "nonce", 0, 1_000_000);
    const signature = field.hex(body, "signature", 64);
    const { client, addresses, chainId } = ctx.chain;

    const params = { chainId, registry: addresses.registry, operator, nonce: BigInt(nonce) };
    if (!verifyBinding(nodePubkey, signature, params)) {
      throw new HttpError(401, "Cannot register: binding signature does not verify for this key");
    }
    const [cert, operatorNodes] = await Promise.all([
      client.readContract({
        address: addresses.registry,
        abi: abis.registry,
        functionName: "getNode",
        args: [nodePubkey],
      }),
      client.readContract({
        address: addresses.registry,
        abi: abis.registry,
        functionName: "nodesOf",
        args: [operator],
      }),
    ]);
    if (cert.operator.toLowerCase() !== operator.toLowerCase()) {
      throw new HttpError(
        409,
        "Cannot register: the chain does not record this operator for this key; stake first",
      );
    }
    if (operatorNodes[nonce]?.toLowerCase() !== nodePubkey) {
      throw new HttpError(
        409,
        `Cannot register: nonce ${nonce} is not this key's registration index`,
      );
    }
    if (!cert.active) throw new HttpError(409, "Cannot register: node is not active on chain");

    const record: NodeRecord = {
      nodePubkey,
      operator,
      role: cert.role,
      region: cert.region,
      caps: decodeCaps(cert.caps),
      stake: cert.stake.toString(),
      boundAt: ctx.now(),
      lastSeen: ctx.now(),
    };
    // Re-registering the same binding is a no-op success: the worker may retry after a crash.
    await ctx.kv.set(nodeKey(nodePubkey), record);
    return json({ ok: true, node: record });
  });
}

export default {
  fetch: async (req: Request) => createRegister(await contextFromEnv())(req),
};
