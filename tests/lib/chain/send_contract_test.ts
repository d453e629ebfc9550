import assert from "node:assert/strict";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { abis, NodeRole } from "../../../lib/chain/contracts.ts";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { bindingNonce } from "../../../lib/chain/register_node.ts";
import { ChainCallError, sendContract } from "../../../lib/chain/send_contract.ts";
import { registerDevnetNode } from "./_devnet_job.ts";
import { rpcGateway } from "./_gateway.ts";
import { registerWith, setNextBaseFee } from "./_register_with.ts";

/** Registers a fresh node key of `client`'s operator with `stake`, its binding at `nonce`. */

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
  const register = (stake: bigint, nonce: bigint) => registerWith(client, addresses, stake, nonce);

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

/**
 * A gateway whose first `times` `eth_fillTransaction`s are answered by a replica one block
 * behind: the filled nonce is the account's previous one, which the node then refuses ("nonce
 * too low"), as a load-balanced RPC provider does when a lagging replica answers the fill.
 */
function laggingGateway(rpcUrl: string, times = 1) {
  let stale = 0;
  const gateway = rpcGateway(rpcUrl, (method, answer) => {
    if (stale >= times || method !== "eth_fillTransaction") return undefined;
    const json = JSON.parse(answer);
    const nonce = BigInt(json.result.tx.nonce);
    if (nonce === 0n) return undefined;
    stale++;
    json.result.tx.nonce = `0x${(nonce - 1n).toString(16)}`;
    return Response.json(json);
  });
  return { ...gateway, stale: () => stale };
}

Deno.test("sendContract: a nonce filled by a lagging replica is refilled, and the call lands once", async () => {
  await using net = await startDevnet({ accounts: 2 });
  // Account `i`'s client through `rpcUrl` (the node's, or a gateway's).
  const at = (rpcUrl: string, i: number) =>
    createArthaClient({ rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const addresses = await deployArtha(at(net.rpcUrl, 0), { settlementDelay: 0 });
  const gateway = laggingGateway(net.rpcUrl);
  try {
    const direct = at(net.rpcUrl, 1);
    const client = at(gateway.url, 1);
    const role = NodeRole.GPUProvider;
    const stake = await getRequiredStake(client, { addresses, role });
    const register = (c: typeof client, nonce: bigint) => registerWith(c, addresses, stake, nonce);
    // The account's first transaction goes straight to the node; its second through the gateway,
    // whose fill says nonce 0 again.
    await register(direct, 0n);
    const sent = await register(client, 1n);
    assert.equal(gateway.stale(), 1);
    assert.equal(sent.receipt.status, "success");
    const address = client.account.address;
    assert.equal(await client.getTransactionCount({ address }), 2);
    assert.equal(await bindingNonce(client, { addresses, operator: address }), 2n);
    // A replica that never catches up: a few refills, then the node's refusal is the caller's.
    const stuck = laggingGateway(net.rpcUrl, Infinity);
    try {
      const behind = at(stuck.url, 1);
      await assert.rejects(
        register(behind, 2n),
        (e) => e instanceof ChainCallError && /nonce too low/.test(e.message),
      );
      assert.equal(stuck.stale(), 4);
      assert.equal(await bindingNonce(client, { addresses, operator: address }), 2n);
    } finally {
      await stuck.server.shutdown();
    }
  } finally {
    await gateway.server.shutdown();
  }
});

Deno.test("attacker: a chain node asking fees above the account's cap gets nothing signed", async () => {
  // Prepare: the node's next block asks 5,000 gwei a unit of gas (a compromised or lying RPC
  // endpoint fills any fee it likes). Found in the worker audit: every heartbeat and commit paid
  // whatever fee the node filled.
  await using net = await startDevnet({ accounts: 2 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const addresses = await deployArtha(createArthaClient({ ...at, account: net.accounts[0]! }), {
    settlementDelay: 0,
  });
  const capped = createArthaClient({ ...at, account: net.accounts[1]!, maxFeePerGas: 10n ** 12n });
  const me = capped.account.address;
  const required = await getRequiredStake(capped, { addresses, role: NodeRole.GPUProvider });
  await setNextBaseFee(net.rpcUrl, 5_000n);

  // Execute
  const refused = registerWith(capped, addresses, required, 0n);

  // Assert: refused before signing, naming the fee, the cap and the setting; nothing was sent.
  await assert.rejects(refused, (e: Error & { code?: string }) => {
    assert.equal(e.code, "FEE_ABOVE_CAP");
    assert.match(
      e.message,
      /asks up to \d+(\.\d+)? gwei a unit of gas, above this account's cap of 1000 gwei/,
    );
    return true;
  });
  assert.equal(await capped.getTransactionCount({ address: me }), 0);
  // Under the cap the same call goes through.
  const uncapped = createArthaClient({
    ...at,
    account: net.accounts[1]!,
    maxFeePerGas: 10n ** 14n,
  });
  assert.equal((await registerWith(uncapped, addresses, required, 0n)).receipt.status, "success");
});

Deno.test("attacker: a chain node asking fees above the account's cap gets no pending-block call signed", async () => {
  // Found in the chain audit: a call judged against the pending block (the coordinator's
  // spot-check draw) was sent through writeContract, which never checked the fee.
  // Prepare: a node of account 1, and the node's next block asking 5,000 gwei a unit of gas.
  await using net = await startDevnet({ accounts: 2 });
  const at = { rpcUrl: net.rpcUrl, chainId: net.chainId };
  const addresses = await deployArtha(createArthaClient({ ...at, account: net.accounts[0]! }), {
    settlementDelay: 0,
  });
  const capped = createArthaClient({ ...at, account: net.accounts[1]!, maxFeePerGas: 10n ** 12n });
  const nodePubkey = await registerDevnetNode(capped, addresses);
  const me = capped.account.address;
  const sent = await capped.getTransactionCount({ address: me });
  await setNextBaseFee(net.rpcUrl, 5_000n);
  const heartbeat = {
    address: addresses.registry,
    abi: abis.registry,
    functionName: "heartbeat",
    args: [nodePubkey],
    blockTag: "pending",
  } as const;

  // Execute
  const refused = sendContract(capped, heartbeat);

  // Assert: refused before signing, naming the fee and the cap; nothing was sent.
  await assert.rejects(refused, (e: Error & { code?: string }) => {
    assert.equal(e.code, "FEE_ABOVE_CAP");
    assert.match(e.message, /above this account's cap of 1000 gwei/);
    return true;
  });
  assert.equal(await capped.getTransactionCount({ address: me }), sent);
  // Under the cap the same call goes through.
  const uncapped = createArthaClient({
    ...at,
    account: net.accounts[1]!,
    maxFeePerGas: 10n ** 14n,
  });
  assert.equal((await sendContract(uncapped, heartbeat)).receipt.status, "success");
});
