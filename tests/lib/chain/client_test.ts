import assert from "node:assert/strict";
import { parseEther } from "viem";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { rpcGateway } from "./_gateway.ts";

/**
 * A gateway in front of the node that forwards every request but loses the answer to the first
 * `eth_sendRawTransaction` (503 after the node accepted it), as a timeout or a proxy does.
 */
function lossyGateway(rpcUrl: string) {
  let lost = 0;
  const gateway = rpcGateway(rpcUrl, (method) => {
    if (lost > 0 || method !== "eth_sendRawTransaction") return undefined;
    lost++;
    return new Response("upstream answer lost", { status: 503 });
  });
  return { ...gateway, lost: () => lost };
}

Deno.test("createArthaClient: a send whose answer was lost succeeds once; a refused one fails", async () => {
  await using net = await startDevnet({ accounts: 2 });
  const gateway = lossyGateway(net.rpcUrl);
  try {
    const client = createArthaClient({
      rpcUrl: gateway.url,
      chainId: net.chainId,
      account: net.accounts[0]!,
    });
    const to = net.accounts[1]!.address;
    const before = await client.getBalance({ address: to });
    // The send's answer is a 503, but the node has the transaction: the send succeeded.
    const hash = await client.sendTransaction({ to, value: parseEther("1") });
    assert.equal(gateway.lost(), 1);
    const receipt = await client.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, "success");
    assert.equal(await client.getBalance({ address: to }), before + parseEther("1"));
    // A copy the node refuses for its own reason, and does not have, is still an error.
    await assert.rejects(
      client.sendTransaction({ to, value: parseEther("100000000") }),
      /insufficient funds|exceeds the balance/i,
    );
  } finally {
    await gateway.server.shutdown();
  }
});

Deno.test("createArthaClient: a read the devnet refuses with its block-range race is asked again", async () => {
  // anvil can answer a read of "latest" with BlockOutOfRangeError while it mines a block
  // (foundry-rs/foundry#10709, #4843); the read is idempotent, so it is asked again.
  await using net = await startDevnet({ accounts: 1 });
  let refused = 0;
  const gateway = rpcGateway(net.rpcUrl, (method, answer) => {
    if (refused > 0 || method !== "eth_getBalance") return undefined;
    refused++;
    const { id } = JSON.parse(answer);
    const message = "BlockOutOfRangeError: block height is 87 but requested was 78";
    return Response.json({ jsonrpc: "2.0", id, error: { code: -32602, message } });
  });
  try {
    const client = createArthaClient({
      rpcUrl: gateway.url,
      chainId: net.chainId,
      account: net.accounts[0]!,
    });
    const balance = await client.getBalance({ address: client.account.address });
    assert.equal(refused, 1);
    assert.ok(balance > 0n);
  } finally {
    await gateway.server.shutdown();
  }
});
