/**
 * A send whose answer was lost, from the victim's side (found in the worker audit): the node took
 * the signed transaction and mined it, its answer never came back (a load balancer's timeout,
 * whose retry of the same transaction another replica refused as "nonce too low"), and the
 * lagging replica asked for the transaction did not know it yet. sendContract then filled and signed the
 * call again with the next nonce: a duplicate that reverted on chain and paid its gas (a
 * registration's fixed 800k always), or, for a call that does not revert, was paid twice.
 */
import assert from "node:assert/strict";
import { keccak256 } from "viem";
import type { Hex } from "viem";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { NodeRole } from "../../../lib/chain/contracts.ts";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { sendHeartbeat } from "../../../lib/chain/heartbeat.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import { rpcGateway } from "./_gateway.ts";
import { registerWith } from "./_register_with.ts";

/**
 * A load-balanced RPC that, once `armed`, loses the answer to the next raw transaction: the node
 * takes and mines it, the balancer times out and sends it again to another replica, which
 * answers "nonce too low" (the transaction is in its chain already); and a lagging replica
 * answers every look-up of a transaction by hash with null. Every raw transaction sent is in
 * `raw`.
 */
function losingGateway(rpcUrl: string) {
  const raw: Hex[] = [];
  let armed = false;
  const gateway = rpcGateway(rpcUrl, (method, answer, params) => {
    if (!armed) return undefined;
    const { id } = JSON.parse(answer);
    if (method === "eth_getTransactionByHash") {
      return Response.json({ jsonrpc: "2.0", id, result: null });
    }
    if (method !== "eth_sendRawTransaction") return undefined;
    raw.push(params[0] as Hex);
    if (raw.length > 1) return undefined;
    const error = { code: -32000, message: "nonce too low" };
    return Response.json({ jsonrpc: "2.0", id, error });
  });
  const arm = () => {
    raw.length = 0;
    armed = true;
  };
  return { ...gateway, raw, arm };
}

Deno.test("victim: a send whose answer was lost is not signed again on 'nonce too low'", async (t) => {
  // Prepare: a devnet behind the losing gateway, and an operator's client through it.
  await using net = await startDevnet({ accounts: 2 });
  const addresses = await deployArtha(
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[0]! }),
    { settlementDelay: 0 },
  );
  const gateway = losingGateway(net.rpcUrl);
  try {
    const client = createArthaClient({
      rpcUrl: gateway.url,
      chainId: net.chainId,
      account: net.accounts[1]!,
    });
    const address = client.account.address;
    const stake = await getRequiredStake(client, { addresses, role: NodeRole.GPUProvider });
    const key = generateNodeKey();

    await t.step("a registration within its fixed gas bound", async () => {
      // Execute
      gateway.arm();
      const sent = await registerWith(client, addresses, stake, 0n, key);

      // Assert: one transaction signed, and its receipt.
      assert.equal(new Set(gateway.raw).size, 1, "one transaction signed");
      assert.equal(sent.hash, keccak256(gateway.raw[0]!));
      assert.equal(sent.receipt.status, "success");
      assert.equal(await client.getTransactionCount({ address }), 1);
    });

    await t.step("an estimated heartbeat", async () => {
      // Execute
      gateway.arm();
      const sent = await sendHeartbeat(client, { addresses, nodePubkey: key.publicKeyHex });

      // Assert: not paid twice.
      assert.equal(new Set(gateway.raw).size, 1, "one transaction signed");
      assert.equal(sent.hash, keccak256(gateway.raw[0]!));
      assert.equal(sent.receipt.status, "success");
      assert.equal(await client.getTransactionCount({ address }), 2);
    });
  } finally {
    await gateway.server.shutdown();
  }
});
