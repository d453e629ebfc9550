/**
 * Two processes sending with one key, from the victim's side (found in the chain audit: several
 * coordinator isolates, a worker and its `worker withdraw`): each fills the same pending nonce.
 * The second one's transaction was refused ("replacement transaction underpriced") and the call
 * failed; or, with fees 10% higher, it replaced the first in the node's pool, and the first call
 * was reported as run with the other's receipt.
 */
import assert from "node:assert/strict";
import { keccak256, parseGwei } from "viem";
import type { Hex } from "viem";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { sendHeartbeat } from "../../../lib/chain/heartbeat.ts";
import { ChainCallError, SentUnconfirmedError } from "../../../lib/chain/send_contract.ts";
import { registerDevnetNode } from "./_devnet_job.ts";
import { rpcGateway } from "./_gateway.ts";

/** Sends "the other process's" transaction: a transfer to itself at `nonce` with these fees. */
async function otherProcessSends(
  client: ArthaClient,
  nonce: number,
  fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint },
): Promise<Hex> {
  const me = client.account.address;
  const serializedTransaction = await client.account.signTransaction!({
    chainId: client.chain.id,
    type: "eip1559",
    to: me,
    value: 0n,
    gas: 21_000n,
    nonce,
    ...fees,
  });
  return await client.sendRawTransaction({ serializedTransaction });
}

/** A devnet with a registered node of account 1, mining only when told to. */
async function setUp() {
  const net = await startDevnet({ accounts: 2 });
  const at = (rpcUrl: string, i: number) =>
    createArthaClient({ rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const addresses = await deployArtha(at(net.rpcUrl, 0), { settlementDelay: 0 });
  const direct = at(net.rpcUrl, 1);
  const nodePubkey = await registerDevnetNode(direct, addresses);
  const rpc = (method: string, params: unknown[]) =>
    direct.request({ method, params } as never) as Promise<unknown>;
  await rpc("evm_setAutomine", [false]);
  return { net, at, addresses, direct, nodePubkey, rpc };
}

Deno.test("victim: a call refused beside another process's transaction at its nonce lands once that one is mined", async () => {
  // Prepare: the other process's transaction holds the nonce in the pool at a higher fee; this
  // process's fill comes from a replica whose pool does not have it (the same nonce).
  const { net, at, addresses, direct, nodePubkey, rpc } = await setUp();
  await using _net = net;
  const me = direct.account.address;
  const nonce = await direct.getTransactionCount({ address: me });
  const fees = { maxFeePerGas: parseGwei("100"), maxPriorityFeePerGas: parseGwei("50") };
  const other = await otherProcessSends(direct, nonce, fees);
  const refused = Promise.withResolvers<void>();
  let rewrote = false;
  const gateway = rpcGateway(net.rpcUrl, (method, text) => {
    if (method === "eth_sendRawTransaction" && /underpriced/.test(text)) refused.resolve();
    if (method !== "eth_fillTransaction" || rewrote) return undefined;
    rewrote = true;
    const json = JSON.parse(text);
    json.result.tx.nonce = `0x${nonce.toString(16)}`;
    return Response.json(json);
  });
  try {
    // Execute: the heartbeat is refused; then the other transaction is mined.
    const sending = sendHeartbeat(at(gateway.url, 1), { addresses, nodePubkey });
    await Promise.race([refused.promise, sending]);
    await rpc("anvil_mine", ["0x1"]);
    await rpc("evm_setAutomine", [true]);
    const sent = await sending;

    // Assert: the heartbeat ran, in its own transaction after the other one.
    assert.equal(sent.receipt.status, "success");
    assert.notEqual(sent.hash, other);
    assert.ok(sent.receipt.logs.length > 0, "the heartbeat's event");
    assert.equal((await direct.getTransactionReceipt({ hash: other })).status, "success");
    assert.equal(await direct.getTransactionCount({ address: me }), nonce + 2);
  } finally {
    await gateway.server.shutdown();
  }
});

Deno.test("victim: a call whose pending transaction another process replaced is not reported as run", async () => {
  // Prepare: the heartbeat waits in the pool for a block.
  const { net, at, addresses, direct, nodePubkey, rpc } = await setUp();
  await using _net = net;
  const me = direct.account.address;
  const nonce = await direct.getTransactionCount({ address: me });
  const raw: Hex[] = [];
  const gateway = rpcGateway(net.rpcUrl, (method, _text, params) => {
    if (method === "eth_sendRawTransaction") raw.push(params[0] as Hex);
    return undefined;
  });
  try {
    const sending = sendHeartbeat(at(gateway.url, 1), { addresses, nodePubkey });
    while (raw.length === 0) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300)); // the send waits for its receipt
    const mine = await direct.getTransaction({ hash: keccak256(raw[0]!) });

    // Execute: the other process's transaction, at the same nonce with 3x the fees, replaces it
    // in the pool and is mined.
    const other = await otherProcessSends(direct, nonce, {
      maxFeePerGas: mine.maxFeePerGas! * 3n,
      maxPriorityFeePerGas: mine.maxPriorityFeePerGas! * 3n,
    });
    await rpc("anvil_mine", ["0x1"]);

    // Assert: the call fails as not run (not as unconfirmed), naming the replacement; only the
    // other transaction was mined.
    await assert.rejects(sending, (e) => {
      assert.ok(e instanceof ChainCallError && !(e instanceof SentUnconfirmedError), String(e));
      assert.match(e.message, new RegExp(`replaced by ${other}`));
      return true;
    });
    assert.equal(await direct.getTransactionCount({ address: me }), nonce + 1);
    assert.equal((await direct.getTransactionReceipt({ hash: other })).status, "success");
  } finally {
    await gateway.server.shutdown();
  }
});
