/** The coordinator's context from the environment, from the side of an attacker at its RPC. */
import assert from "node:assert/strict";
import { toHex } from "viem";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { NodeRole } from "../../../lib/chain/contracts.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { contextFromEnv } from "../../../lib/coordinator/context.ts";
import { registerWith, setNextBaseFee } from "../chain/_register_with.ts";
import { withEnvAsync } from "../_env.ts";

Deno.test("attacker: a chain node asking fees above the coordinator's cap gets nothing signed", async () => {
  // Found in the chain audit: the coordinator's client had no fee cap, so its RPC node (lying or
  // compromised) set the fee of every assignment, challenge and draw it signed.
  // Prepare: a coordinator started from its environment, with no fee setting; the node's next
  // block asks 5,000 gwei a unit of gas.
  await using net = await startDevnet({ accounts: 2 });
  const deployer = createArthaClient({
    rpcUrl: net.rpcUrl,
    chainId: net.chainId,
    account: net.accounts[0]!,
  });
  const addresses = await deployArtha(deployer, { settlementDelay: 0 });
  const dir = await Deno.makeTempDir();
  const ctx = await withEnvAsync({
    ARTHA_RPC_URL: net.rpcUrl,
    ARTHA_CHAIN_ID: String(net.chainId),
    ARTHA_PRIVATE_KEY: toHex(net.accounts[1]!.getHdKey().privateKey!),
    ARTHA_ADDRESSES: JSON.stringify(addresses),
    ARTHA_KV_PATH: `${dir}/coordinator.kv`,
    ARTHA_STORE: "memory",
  }, contextFromEnv);
  try {
    const { client } = ctx.chain;
    const me = client.account.address;
    const stake = await getRequiredStake(client, { addresses, role: NodeRole.GPUProvider });
    await setNextBaseFee(net.rpcUrl, 5_000n);

    // Execute
    const refused = registerWith(client, addresses, stake, 0n);

    // Assert: the worker's default cap (1,000 gwei) holds; nothing was sent.
    await assert.rejects(refused, (e: Error & { code?: string }) => {
      assert.equal(e.code, "FEE_ABOVE_CAP");
      assert.match(e.message, /above this account's cap of 1000 gwei/);
      return true;
    });
    assert.equal(await client.getTransactionCount({ address: me }), 0);
  } finally {
    ctx.kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
