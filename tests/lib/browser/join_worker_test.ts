/** The join page's operator client from the attacker's side (lib/browser/join_worker.ts). */
import assert from "node:assert/strict";
import { bytesToHex } from "viem";
import { generatePrivateKey } from "viem/accounts";
import {
  joinFailure,
  otherStakedNodes,
  pastedKeyClient,
} from "../../../lib/browser/join_worker.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import { registerWorker } from "../../../lib/worker/register.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { NodeRole } from "../../../lib/chain/contracts.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { registerWith, setNextBaseFee } from "../chain/_register_with.ts";

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
  await setNextBaseFee(net.rpcUrl, 5_000n);

  // Execute: the tab stakes and registers its node.
  const sent = registerWith(tab, addresses, stake, 0n);

  // Assert: refused before signing; nothing sent.
  await assert.rejects(sent, (e: Error & { code?: string }) => e.code === "FEE_ABOVE_CAP");
  assert.equal(await tab.getTransactionCount({ address: tab.account.address }), 0);
});

Deno.test("a new user's failed join is worded for the tab: no CLI flag or variable it does not have", async () => {
  // Found in the browser audit: an unfunded tab was told to use another ARTHA_PRIVATE_KEY, and a
  // deployment asking more stake than a tab may lock said to raise --max-stake.
  await using net = await startDevnet({ accounts: 2 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const addresses = await deployArtha(createArthaClient({ ...at, account: net.accounts[0]! }), {
    settlementDelay: 0,
  });
  const register = (privateKey: `0x${string}`, maxStake?: bigint) =>
    registerWorker(pastedKeyClient(at, privateKey), undefined as never, {
      addresses,
      chainId: net.chainId,
      key: generateNodeKey(),
      maxStake,
    }).then(() => new Error("registered"), (e: Error) => e);

  // Execute: an account holding nothing; a funded one on a stake above the tab's limit.
  const poor = await register(generatePrivateKey());
  const capped = await register(bytesToHex(net.accounts[1]!.getHdKey().privateKey!), 1n);

  // Assert: the reason kept, the way out one a tab has.
  assert.match(joinFailure(poor), /holds 0 ARTH, .* send ARTH to this account/);
  assert.match(joinFailure(capped), /asks \d+ ARTH .* run the laptop worker/);
  for (const why of [joinFailure(poor), joinFailure(capped)]) {
    assert.doesNotMatch(why, /ARTHA_|--max-stake \(|deno task chain/);
  }
});

Deno.test("a new key beside the operator's staked node is named before anything is staked", async () => {
  await using net = await startDevnet({ accounts: 2 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const addresses = await deployArtha(createArthaClient({ ...at, account: net.accounts[0]! }), {
    settlementDelay: 0,
  });
  const operator = createArthaClient({ ...at, account: net.accounts[1]! });
  const stake = await getRequiredStake(operator, { addresses, role: NodeRole.GPUProvider });
  const first = generateNodeKey(), fresh = generateNodeKey();
  assert.deepEqual(await otherStakedNodes(operator, { addresses, key: first }), []);

  await registerWith(operator, addresses, stake, 0n, first);

  assert.deepEqual(await otherStakedNodes(operator, { addresses, key: fresh }), [
    first.publicKeyHex,
  ]);
  assert.deepEqual(await otherStakedNodes(operator, { addresses, key: first }), [], "resumes");
});
