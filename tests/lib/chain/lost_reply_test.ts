/**
 * A send whose answer was lost, from the victim's side (found in the worker audit): the node took
 * the signed transaction and mined it, its answer never came back (a load balancer's timeout,
 * whose retry of the same transaction another replica refused as "nonce too low"), and the
 * lagging replica asked for the transaction did not know it yet. sendContract then filled and signed the
 * call again with the next nonce: a duplicate that reverted on chain and paid its gas (a
 * registration's fixed 800k always), or, for a call that does not revert, was paid twice.
 */
import assert from "node:assert/strict";
import { keccak256, parseEther } from "viem";
import type { Hex } from "viem";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { NodeRole } from "../../../lib/chain/contracts.ts";
import { getRequiredStake } from "../../../lib/chain/get_required_stake.ts";
import { sendHeartbeat } from "../../../lib/chain/heartbeat.ts";
import { ChainCallError, SentUnconfirmedError } from "../../../lib/chain/send_contract.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import { devnetJobTerms, registerDevnetNode } from "./_devnet_job.ts";
import { rpcGateway } from "./_gateway.ts";
import { mineEvery } from "./_miner.ts";
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

/** A JSON-RPC answer to request `id`: a result, or the node's error `message`. */
function answer(id: unknown, result: unknown, message?: string): Response {
  if (message === undefined) return Response.json({ jsonrpc: "2.0", id, result });
  return Response.json({ jsonrpc: "2.0", id, error: { code: -32000, message } });
}

/**
 * A load-balanced RPC that loses the answer to the first raw transaction (the node mines it; the
 * balancer's retry meets "nonce too low") in front of replicas that have not caught up with it:
 * for `lagMs` (Infinity: ever) its receipt and its look-up by hash are null, and with `hideBlock`
 * so is the block holding it. Every raw transaction sent is in `raw`.
 */
function laggingReplicas(rpcUrl: string, o: { lagMs: number; hideBlock?: boolean }) {
  const raw: Hex[] = [];
  let lost: Hex | undefined;
  let sentAt = 0;
  const gateway = rpcGateway(rpcUrl, (method, text, params) => {
    const { id } = JSON.parse(text);
    if (method === "eth_sendRawTransaction") {
      raw.push(params[0] as Hex);
      if (lost) return undefined;
      lost = keccak256(params[0] as Hex);
      sentAt = Date.now();
      return answer(id, undefined, "nonce too low");
    }
    if (!lost || Date.now() - sentAt >= o.lagMs) return undefined;
    const byHash = method === "eth_getTransactionReceipt" || method === "eth_getTransactionByHash";
    if (byHash && String(params[0]).toLowerCase() === lost) return answer(id, null);
    if (o.hideBlock && method === "eth_getBlockByNumber" && text.includes(lost)) {
      return answer(id, null);
    }
    return undefined;
  });
  return { ...gateway, raw };
}

Deno.test("victim: a job's escrow whose answer was lost is paid once while the replicas' receipts lag", async () => {
  // Found in the chain audit: after "nonce too low", the send looked for its receipts for 1.5 s,
  // then filled and signed the call again; behind replicas a block or so behind, submitTrain for
  // a 5 ARTH job signed two transactions, both mined, and 10 ARTH left the owner.
  // Prepare: receipts lag 2 s behind the node, past the old wait.
  await using net = await startDevnet({ accounts: 2 });
  const at = (rpcUrl: string, i: number) =>
    createArthaClient({ rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const addresses = await deployArtha(at(net.rpcUrl, 0), { settlementDelay: 0 });
  const gateway = laggingReplicas(net.rpcUrl, { lagMs: 2_000 });
  try {
    const owner = at(gateway.url, 1);
    const me = owner.account.address;
    const before = await owner.getBalance({ address: me });

    // Execute
    const budget = parseEther("5");
    const job = await submitTrain(owner, { addresses, budget, terms: devnetJobTerms(2) });

    // Assert: one transaction signed and mined, the job's; the budget left the owner once.
    assert.equal(new Set(gateway.raw).size, 1, "one transaction signed");
    assert.equal(await owner.getTransactionCount({ address: me }), 1);
    assert.equal(job.receipt.transactionHash, keccak256(gateway.raw[0]!));
    const spent = before - await owner.getBalance({ address: me });
    assert.ok(spent >= budget && spent < budget + parseEther("0.1"), `spent ${spent}`);
  } finally {
    await gateway.server.shutdown();
  }
});

Deno.test("victim: a job's escrow whose transaction cannot be found is not signed again", async () => {
  // Prepare: the first transaction is mined, but no replica shows it (receipt, look-up or block)
  // while the chain moves on; the call's fate cannot be told.
  await using net = await startDevnet({ accounts: 2 });
  const at = (rpcUrl: string, i: number) =>
    createArthaClient({ rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const addresses = await deployArtha(at(net.rpcUrl, 0), { settlementDelay: 0 });
  const gateway = laggingReplicas(net.rpcUrl, { lagMs: Infinity, hideBlock: true });
  try {
    await using _blocks = mineEvery(net.rpcUrl, 100);
    const owner = at(gateway.url, 1);
    const me = owner.account.address;

    // Execute
    const budget = parseEther("5");
    const sent = submitTrain(owner, { addresses, budget, terms: devnetJobTerms(2) });

    // Assert: refused as unconfirmed, naming the one transaction, which is all that was mined.
    await assert.rejects(sent, (e) => {
      assert.ok(e instanceof SentUnconfirmedError, String(e));
      assert.equal(e.code, "SENT_UNCONFIRMED");
      assert.deepEqual(e.hashes, [keccak256(gateway.raw[0]!)]);
      return true;
    });
    assert.equal(new Set(gateway.raw).size, 1, "one transaction signed");
    assert.equal(await owner.getTransactionCount({ address: me }), 1);
  } finally {
    await gateway.server.shutdown();
  }
});

Deno.test("victim: a send the node already holds is waited for, not reported as failed", async () => {
  // Found in the chain audit: a retried send answered "already known" (the node had it) failed
  // as a plain ChainCallError, and a caller that frees its claim on failure sent it again.
  // Prepare: the node takes the heartbeat; its answer is "already known", and a lagging replica
  // does not know the transaction by hash.
  await using net = await startDevnet({ accounts: 2 });
  const at = (rpcUrl: string, i: number) =>
    createArthaClient({ rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const addresses = await deployArtha(at(net.rpcUrl, 0), { settlementDelay: 0 });
  const nodePubkey = await registerDevnetNode(at(net.rpcUrl, 1), addresses);
  const raw: Hex[] = [];
  const gateway = rpcGateway(net.rpcUrl, (method, text, params) => {
    const { id } = JSON.parse(text);
    if (method === "eth_getTransactionByHash") return answer(id, null);
    if (method !== "eth_sendRawTransaction") return undefined;
    raw.push(params[0] as Hex);
    return raw.length === 1 ? answer(id, undefined, "already known") : undefined;
  });
  try {
    const operator = at(gateway.url, 1);

    // Execute
    const sent = await sendHeartbeat(operator, { addresses, nodePubkey });

    // Assert: the one transaction's receipt.
    assert.equal(raw.length, 1);
    assert.equal(sent.hash, keccak256(raw[0]!));
    assert.equal(sent.receipt.status, "success");
  } finally {
    await gateway.server.shutdown();
  }
});

Deno.test("victim: a send handed to the node whose answer or receipt is lost names its transaction", async (t) => {
  // Found in the chain audit: such a send failed as "not sent" (a ChainCallError, or viem's raw
  // HTTP error), with no hash; a caller that frees its claim on failure sent the call again.
  await using net = await startDevnet({ accounts: 2 });
  // A receipt waited for a second, not viem's three minutes.
  const at = (rpcUrl: string, i: number) =>
    createArthaClient({
      rpcUrl,
      chainId: net.chainId,
      account: net.accounts[i]!,
      receiptTimeoutMs: 1_000,
    });
  const addresses = await deployArtha(at(net.rpcUrl, 0), { settlementDelay: 0 });
  const nodePubkey = await registerDevnetNode(at(net.rpcUrl, 1), addresses);
  const raw: Hex[] = [];
  let lose: "send" | "receipt" | "one receipt" = "send";
  let receipts = 0;
  const gateway = rpcGateway(net.rpcUrl, (method, text, params) => {
    const { id } = JSON.parse(text);
    if (method === "eth_sendRawTransaction") raw.push(params[0] as Hex);
    if (method === "eth_getTransactionByHash") return answer(id, null);
    const losing = lose === "send" ? "eth_sendRawTransaction" : "eth_getTransactionReceipt";
    if (method !== losing) return undefined;
    // A hiccup longer than viem's own retries of the request (3).
    if (lose === "one receipt" && receipts++ >= 4) return undefined;
    return new Response("upstream answer lost", { status: 503 });
  });
  try {
    const operator = at(gateway.url, 1);
    const isUnconfirmed = (e: unknown) => {
      assert.ok(e instanceof SentUnconfirmedError, String(e));
      assert.ok(e instanceof ChainCallError, "callers of ChainCallError still see a failure");
      assert.deepEqual(e.hashes, [keccak256(raw.at(-1)!)]);
      return true;
    };

    await t.step("the send's answer", async () => {
      // Execute / Assert
      await assert.rejects(sendHeartbeat(operator, { addresses, nodePubkey }), isUnconfirmed);
    });

    await t.step("the receipt", async () => {
      // Execute / Assert
      lose = "receipt";
      await assert.rejects(sendHeartbeat(operator, { addresses, nodePubkey }), isUnconfirmed);
    });

    await t.step("a receipt read failing, then the RPC back: the send landed", async () => {
      // Found reviewing the change: a hiccup while reading a landed send's receipt gave up at once.
      lose = "one receipt";
      const sent = await sendHeartbeat(operator, { addresses, nodePubkey });
      assert.equal(sent.receipt.status, "success");
    });
  } finally {
    await gateway.server.shutdown();
  }
});
