/** The join page's operator client from the attacker's side (lib/browser/join_worker.ts). */
import assert from "node:assert/strict";
import { bytesToHex } from "viem";
import { pastedKeyClient } from "../../../lib/browser/join_worker.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { NodeRole } from "../../../lib/chain/contracts.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { encodeCaps } from "../../../lib/chain/caps.ts";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { registerNode } from "../../../lib/chain/register_node.ts";
import { generateNodeKey, signBinding } from "../../../lib/crypto/keys.ts";
import { LAPTOP_CAPS } from "../../../lib/worker/register.ts";

Deno.test("attacker: an RPC filling huge fees gets nothing signed by a key pasted into the join page", async () => {
  // Prepare: the chain's next block asks 5,000 gwei a unit of gas (a lying or compromised RPC
  // fills any fee it likes). Found in the browser audit: the pasted key's client had no fee cap,
  // unlike the CLI worker's 1,000 gwei, and signs every heartbeat and commit unprompted (a PoC
  // paid 2,200,000 gwei a unit, ~180 ARTH for one heartbeat).
  await using net = await startDevnet({ accounts: 2 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const addresses = await deployArtha(createArthaClient({ ...at, account: net.accounts[0]! }), {
    settlementDelay: 0,
  });
  const tab = pastedKeyClient(at, bytesToHex(net.accounts[1]!.getHdKey().privateKey!));
  const stake = await getRequiredStake(tab, { addresses, role: NodeRole.GPUProvider });
  const fee = `0x${(5_000n * 10n ** 9n).toString(16)}`;
  const body = { jsonrpc: "2.0", id: 1, method: "anvil_setNextBlockBaseFeePerGas", params: [fee] };
  const headers = { "content-type": "application/json" };
  await (await fetch(net.rpcUrl, { method: "POST", headers, body: JSON.stringify(body) })).body
    ?.cancel();
  const key = generateNodeKey();
  const binding = { chainId: net.chainId, registry: addresses.registry, nonce: 0n };

  // Execute: the tab stakes and registers its node.
  const sent = registerNode(tab, {
    addresses,
    nodePubkey: key.publicKeyHex,
    role: NodeRole.GPUProvider,
    region: "eu",
    caps: encodeCaps(LAPTOP_CAPS),
    slaId: `0x${"00".repeat(32)}`,
    stake,
    bindingSignature: signBinding(key, { ...binding, operator: tab.account.address }),
  });

  // Assert: refused before signing; nothing sent.
  await assert.rejects(sent, (e: Error & { code?: string }) => e.code === "FEE_ABOVE_CAP");
  assert.equal(await tab.getTransactionCount({ address: tab.account.address }), 0);
});
