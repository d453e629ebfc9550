import assert from "node:assert/strict";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { NodeRole } from "../../../lib/chain/contracts.ts";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { registerNode } from "../../../lib/chain/register_node.ts";
import { ChainCallError } from "../../../lib/chain/send_contract.ts";
import { generateNodeKey, signBinding } from "../../../lib/crypto/keys.ts";
import { encodeCaps } from "../../../lib/chain/caps.ts";
import { LAPTOP_CAPS } from "../../../lib/worker/register.ts";

Deno.test("sendContract: three requests a transaction; a revert is named, estimated or bounded", async (t) => {
  await using net = await startDevnet({ accounts: 2 });
  const client = createArthaClient({
    rpcUrl: net.rpcUrl,
    chainId: net.chainId,
    account: net.accounts[1]!,
  });
  const addresses = await deployArtha(
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[0]! }),
    { settlementDelay: 0 },
  );
  const role = NodeRole.GPUProvider;
  const required = await getRequiredStake(client, { addresses, role });
  const register = (stake: bigint, nonce: bigint) => {
    const key = generateNodeKey();
    const binding = { chainId: net.chainId, registry: addresses.registry, nonce };
    return registerNode(client, {
      addresses,
      nodePubkey: key.publicKeyHex,
      role,
      region: "eu",
      caps: encodeCaps(LAPTOP_CAPS),
      slaId: `0x${"00".repeat(32)}`,
      stake,
      bindingSignature: signBinding(key, { ...binding, operator: client.account.address }),
    });
  };

  await t.step("a registration within its known gas bound: fill, send, receipt", async () => {
    const methods: string[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      methods.push(JSON.parse(String(init?.body)).method);
      return original(input, init);
    };
    try {
      const sent = await register(required, 0n);
      assert.equal(sent.receipt.status, "success");
    } finally {
      globalThis.fetch = original;
    }
    // No simulation and no estimate: one fill, the send, then the receipt (asked again only
    // while a loaded devnet has not mined it yet).
    assert.deepEqual(methods.slice(0, 3), [
      "eth_fillTransaction",
      "eth_sendRawTransaction",
      "eth_getTransactionReceipt",
    ]);
    assert.ok(methods.slice(3).every((m) => m === "eth_getTransactionReceipt"), String(methods));
  });

  await t.step(
    "a bounded call that reverts is named by replaying it",
    async () => {
      await assert.rejects(
        () => register(required - 1n, 1n),
        (e) => e instanceof ChainCallError && e.errorName === "NodeCert__StakeTooLow",
      );
    },
  );
});
