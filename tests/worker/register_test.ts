/**
 * A worker's registration from the side of whoever sets the stake it is asked for: a registry
 * owner that raised its role's tier, or an RPC endpoint that lies about it.
 */
import assert from "node:assert/strict";
import { parseEther } from "viem";
import { createArthaClient } from "../../lib/chain/client.ts";
import { abis, NodeRole } from "../../lib/chain/contracts.ts";
import { deployArtha } from "../../lib/chain/deploy.ts";
import { startDevnet } from "../../lib/chain/devnet.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { CoordinatorClient } from "../../lib/worker/client.ts";
import { DEFAULT_MAX_STAKE, registerWorker } from "../../lib/worker/register.ts";

Deno.test("attacker: a stake raised past the worker's limit locks none of its balance", async () => {
  // Prepare: the registry's owner raises the GPUProvider tier to 9,000 ARTH (an RPC that lies
  // about requiredStake looks the same to the worker). Found in the worker audit: the worker
  // staked whatever the chain asked while the balance covered it, all of it locked for the
  // unbonding delay and exposed to every percentage slash.
  await using net = await startDevnet({ accounts: 2, balanceArth: 10_000 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const owner = createArthaClient({ ...at, account: net.accounts[0]! });
  const operator = createArthaClient({ ...at, account: net.accounts[1]! });
  const addresses = await deployArtha(owner, { settlementDelay: 0 });
  const raised = parseEther("9000");
  await owner.waitForTransactionReceipt({
    hash: await owner.writeContract({
      address: addresses.registry,
      abi: abis.registry,
      functionName: "setRoleStake",
      args: [NodeRole.GPUProvider, raised],
    }),
  });
  const posts: string[] = [];
  const coordinator = new CoordinatorClient((path) => {
    posts.push(String(path));
    return Promise.resolve(Response.json({ ok: true }));
  });
  const me = operator.account.address;
  const before = { balance: await operator.getBalance({ address: me }) };
  const params = { addresses, chainId: net.chainId, key: generateNodeKey() };

  // Execute
  const refused = registerWorker(operator, coordinator, params);

  // Assert: refused before any transaction, naming both amounts and the setting to change.
  await assert.rejects(refused, (e: Error & { code?: string }) => {
    assert.equal(e.code, "STAKE_ABOVE_LIMIT");
    assert.match(e.message, /asks 9000 ARTH for this role, more than the 10 ARTH .* --max-stake/);
    return true;
  });
  assert.equal(await operator.getBalance({ address: me }), before.balance);
  assert.equal(await operator.getTransactionCount({ address: me }), 0);
  assert.deepEqual(posts, []);
  // An operator that means it says so, and the same call stakes.
  const r = await registerWorker(operator, coordinator, { ...params, maxStake: raised });
  assert.equal(r.stake, raised);
  assert.ok(r.registered);
  assert.equal(DEFAULT_MAX_STAKE, parseEther("10"), "the default is the GPUProvider tier");
});
