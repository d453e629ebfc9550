/**
 * Binding a node's Ed25519 key to its operator's EVM account. The worker stakes on chain first
 * (NodeCertRegistry.registerNode with the node key's signature over the EIP-712 NodeBinding),
 * then presents the same signature here: it is checked again, and the chain must record this
 * key as the operator's `nonce`-th node, so a binding can be neither forged nor replayed for
 * another key. Bound nodes are what job start may assign.
 */
import type { Address, Hex } from "viem";
import { getNodeCert } from "../chain/get_node_cert.ts";
import { getOperatorNodes } from "../chain/get_operator_nodes.ts";
import { decodeCaps } from "../chain/caps.ts";
import { verifyBinding } from "../crypto/keys.ts";
import type { Context } from "./context.ts";
import { reject, type Rejection } from "./result.ts";
import { nodeKey, type NodeRecord } from "./state.ts";

export interface BindNodeParameters {
  nodePubkey: Hex;
  operator: Address;
  /** The key's registration index among the operator's nodes. */
  nonce: number;
  signature: Hex;
}

const refuse = (status: number, code: string, why: string) =>
  reject(status, code, `Cannot register: ${why}`);

/** Checks a binding against the chain and records the node (a repeat is a no-op success). */
export async function bindNode(
  ctx: Context,
  p: BindNodeParameters,
): Promise<{ ok: true; node: NodeRecord } | Rejection> {
  const { client, addresses, chainId } = ctx.chain;
  const binding = {
    chainId,
    registry: addresses.registry,
    operator: p.operator,
    nonce: BigInt(p.nonce),
  };
  if (!verifyBinding(p.nodePubkey, p.signature, binding)) {
    const why = `binding signature does not verify for this key on chain ${chainId} with ` +
      `registry ${addresses.registry}; the worker's chain id and addresses must be these`;
    return refuse(401, "BAD_SIGNATURE", why);
  }
  const [cert, operatorNodes] = await Promise.all([
    getNodeCert(client, { addresses, nodePubkey: p.nodePubkey }),
    getOperatorNodes(client, { addresses, operator: p.operator }),
  ]);
  if (cert.operator.toLowerCase() !== p.operator.toLowerCase()) {
    const why = "the chain does not record this operator for this key; stake first";
    return refuse(409, "NOT_STAKED", why);
  }
  if (operatorNodes[p.nonce] !== p.nodePubkey) {
    const why = `nonce ${p.nonce} is not this key's registration index`;
    return refuse(409, "WRONG_NONCE", why);
  }
  if (!cert.active) return refuse(409, "NODE_INACTIVE", "node is not active on chain");
  const node: NodeRecord = {
    nodePubkey: p.nodePubkey,
    operator: p.operator,
    role: cert.role,
    region: cert.region,
    caps: decodeCaps(cert.caps),
    stake: cert.stake.toString(),
    boundAt: ctx.now(),
    lastSeen: ctx.now(),
  };
  // Re-registering the same binding is a no-op success: the worker may retry after a crash.
  await ctx.kv.set(nodeKey(p.nodePubkey), node);
  return { ok: true, node };
}
