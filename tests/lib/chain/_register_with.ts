/** Chain set-up shared by the fee-cap tests: a fresh node's registration, the next block's fee. */
import assert from "node:assert/strict";
import type { ArthaClient } from "../../../lib/chain/client.ts";
import { type ArthaAddresses, NodeRole } from "../../../lib/chain/contracts.ts";
import { encodeCaps } from "../../../lib/chain/caps.ts";
import { registerNode } from "../../../lib/chain/register_node.ts";
import { generateNodeKey, type NodeKey, signBinding } from "../../../lib/crypto/keys.ts";
import { LAPTOP_CAPS } from "../../../lib/worker/register.ts";

/** Registers `key` (default a fresh one) under `client`'s account with `stake`, nonce `nonce`. */
export function registerWith(
  client: ArthaClient,
  addresses: ArthaAddresses,
  stake: bigint,
  nonce: bigint,
  key: NodeKey = generateNodeKey(),
) {
  const binding = { chainId: client.chain.id, registry: addresses.registry, nonce };
  return registerNode(client, {
    addresses,
    nodePubkey: key.publicKeyHex,
    role: NodeRole.GPUProvider,
    region: "eu",
    caps: encodeCaps(LAPTOP_CAPS),
    slaId: `0x${"00".repeat(32)}`,
    stake,
    bindingSignature: signBinding(key, { ...binding, operator: client.account.address }),
  });
}

/** Makes the devnet's next block ask `gwei` a unit of gas as its base fee. */
export async function setNextBaseFee(rpcUrl: string, gwei: bigint): Promise<void> {
  const fee = `0x${(gwei * 10n ** 9n).toString(16)}`;
  const body = { jsonrpc: "2.0", id: 1, method: "anvil_setNextBlockBaseFeePerGas", params: [fee] };
  const headers = { "content-type": "application/json" };
  const res = await fetch(rpcUrl, { method: "POST", headers, body: JSON.stringify(body) });
  assert.deepEqual((await res.json()).error, undefined);
}
