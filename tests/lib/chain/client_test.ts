import assert from "node:assert/strict";
import { parseEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { rpcGateway } from "./_gateway.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";
import { assignNodes } from "../../../lib/chain/assign_nodes.ts";
import { commitRound } from "../../../lib/chain/commit_round.ts";
import { getJobChallenges } from "../../../lib/chain/get_job_challenges.ts";
import { issueChallenge } from "../../../lib/verify/challenge_chain.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "./_devnet_job.ts";

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

/**
 * A gateway that refuses, as most public RPCs do, an `eth_getLogs` spanning more than `cap`
 * blocks (an open end counts to the node's head), and records the span of each it forwards.
 */
function cappedLogsGateway(rpcUrl: string, cap: bigint) {
  const spans: [bigint, bigint][] = [];
  const ask = async (body: string) =>
    await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const { id, method, params } = JSON.parse(body);
    if (method === "eth_getLogs") {
      const head = await ask(JSON.stringify({ jsonrpc: "2.0", id: 0, method: "eth_blockNumber" }));
      const number = (tag: string | undefined, latest: bigint) =>
        tag === undefined || tag === "latest" ? latest : tag === "earliest" ? 0n : BigInt(tag);
      const latest = BigInt((await head.json()).result);
      const from = number(params[0].fromBlock, latest), to = number(params[0].toBlock, latest);
      if (to - from + 1n > cap) {
        const message = `query exceeds max block range ${cap}`;
        return Response.json({ jsonrpc: "2.0", id, error: { code: -32005, message } });
      }
      spans.push([from, to]);
    }
    const answer = await ask(body);
    return new Response(await answer.text(), { status: answer.status, headers: answer.headers });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, server, spans };
}

Deno.test("victim: a scan from block 0 is read in parts through an RPC that caps a log query's range", async () => {
  // Prepare: a job whose node was challenged, on a chain 25,000 blocks past it, read through an
  // RPC that refuses a log query over 10,000 blocks. Found in the last note's list: every scan
  // from block 0 (`job cancel`'s open cases, a committee's candidates, the data-access log) was one
  // query to the head, which such an RPC refuses once the chain is that long: the owner's
  // `job cancel` could not settle the case that held the nodes' pay and its refund.
  await using net = await startDevnet({ accounts: 3 });
  const [coAcct, opAcct, ownerAcct] = net.accounts;
  const direct = (account: typeof coAcct) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: account! });
  const co = direct(coAcct);
  const addresses = await deployArtha(co, { settlementDelay: 0 });
  const nodePubkey = await registerDevnetNode(direct(opAcct), addresses);
  const { jobId } = await submitTrain(direct(ownerAcct), {
    addresses,
    budget: parseEther("5"),
    terms: devnetJobTerms(2),
  });
  await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
  const digests = { lossDigest: b32("2"), gradientDigest: b32("3"), weightsDigest: b32("4") };
  await commitRound(direct(opAcct), {
    addresses,
    commit: { jobId, round: 0, nodePubkey, ...digests, proofsRoot: b32("5") },
  });
  const issued = await issueChallenge(co, { addresses, jobId, round: 0, nodePubkey });
  // 25,000 blocks, asked without the client's request timeout: under a loaded CI's two cores
  // anvil took longer than viem's 10 s to mine them.
  const mined = await fetch(net.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "anvil_mine", params: ["0x61a8"] }),
  });
  assert.equal(mined.status, 200, await mined.text());
  const gateway = cappedLogsGateway(net.rpcUrl, 10_000n);
  try {
    const owner = createArthaClient({
      rpcUrl: gateway.url,
      chainId: net.chainId,
      account: ownerAcct!,
    });

    // Execute: the owner's scan of the job's challenges, from block 0 to the head.
    const challenges = await getJobChallenges(owner, { addresses, jobId });

    // Assert: the challenge is found, and the parts cover block 0 to the head without a gap.
    assert.deepEqual(challenges.map((c) => c.challengeId), [issued.challengeId]);
    const head = await co.getBlockNumber();
    assert.ok(gateway.spans.length >= 3, `${gateway.spans.length} queries`);
    assert.deepEqual(gateway.spans[0]![0], 0n);
    assert.ok(gateway.spans.at(-1)![1] >= head - 1n);
    gateway.spans.slice(1).forEach(([from], i) => assert.equal(from, gateway.spans[i]![1] + 1n));
  } finally {
    await gateway.server.shutdown();
  }
});

Deno.test("victim: a client of a chain with real blocks does not ask for the head every 50 ms", () => {
  // Found in the chain audit: every client polled every 50 ms, and one heartbeat waiting for a
  // 12 s block asked the node for its head 225 times (a metered RPC's quota, its rate limit).
  // Prepare
  const account = privateKeyToAccount(generatePrivateKey());
  const at = (chainId: number) =>
    createArthaClient({ rpcUrl: "https://rpc.example.org", chainId, account });

  // Execute
  const real = at(8453), devnet = at(31337);

  // Assert: a second (its receipt waits, its head's cache) on a real chain; 50 ms on a local
  // devnet, which mines as it receives.
  assert.equal(real.pollingInterval, 1_000);
  assert.equal(devnet.pollingInterval, 50);
});
