/** A node's look for challenges to answer, from the side of the RPC it reads. */
import assert from "node:assert/strict";
import { type Hex, parseEther } from "viem";
import type { ArthaClient } from "../../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../../lib/chain/contracts.ts";
import { ChallengeResponder } from "../../../lib/verify/responder.ts";
import { RESCAN_BLOCKS } from "../../../lib/chain/log_ranges.ts";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";
import { assignNodes } from "../../../lib/chain/assign_nodes.ts";
import { commitRound } from "../../../lib/chain/commit_round.ts";
import { issueChallenge } from "../../../lib/verify/challenge_chain.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "../chain/_devnet_job.ts";

Deno.test("victim: each look for challenges reads the blocks since the last and a margin, not from block 0", async () => {
  // Prepare: an RPC at block 1,000 with no challenge issued, which records the range of every log
  // query. Found in the second worker audit: the node read every ChallengeIssued event from block
  // 0 at each look (every 30 s); an RPC that caps a log query's range (most public ones do) then
  // failed every look, the error was swallowed in the chores, and no challenge was ever answered
  // (each costs 10% of the stake at its timeout).
  let head = 1_000n;
  const ranges: [bigint | undefined, bigint | undefined][] = [];
  const client = {
    getBlock: (p?: { blockNumber?: bigint }) => {
      const number = p?.blockNumber ?? head;
      return Promise.resolve({ number, timestamp: 1_000n + number });
    },
    getBlockNumber: () => Promise.resolve(head),
    readContract: () => Promise.resolve(3_600n), // responseWindow: longer than the chain
    getContractEvents: (p: { fromBlock?: bigint; toBlock?: bigint }) => {
      ranges.push([p.fromBlock, p.toBlock]);
      return Promise.resolve([]);
    },
  } as unknown as ArthaClient;
  const addresses = { verification: `0x${"01".repeat(20)}` } as ArthaAddresses;
  const responder = new ChallengeResponder(`0x${"02".repeat(32)}` as Hex);

  // Execute: a look, a look with no new block, then one after five more blocks.
  await responder.answer(client, addresses);
  await responder.answer(client, addresses);
  head = 1_005n;
  await responder.answer(client, addresses);

  // Assert: each later look reads the last RESCAN_BLOCKS again (a reorg's margin) and what is new.
  const again = 1_001n - RESCAN_BLOCKS;
  assert.deepEqual(ranges, [[0n, 1_000n], [again, 1_000n], [again, 1_005n]]);
});

Deno.test("victim: a node's first look after a start reads only the blocks a challenge could still be answered from", async () => {
  // Prepare: a chain a million blocks long, a block a second, a one-hour answer window, and an
  // RPC that refuses a log query over 10,000 blocks (as public ones do). Found in the second
  // worker audit: after every start the node's first look read from block 0, which such an RPC
  // refuses, so no challenge was answered until the node was slashed.
  const head = 1_000_000n;
  const ranges: [bigint, bigint][] = [];
  const client = {
    getBlock: (p?: { blockNumber?: bigint }) => {
      const number = p?.blockNumber ?? head;
      return Promise.resolve({ number, timestamp: 1_700_000_000n + number });
    },
    getBlockNumber: () => Promise.resolve(head),
    readContract: () => Promise.resolve(3_600n), // responseWindow
    getContractEvents: (p: { fromBlock: bigint; toBlock: bigint }) => {
      if (p.toBlock - p.fromBlock > 10_000n) return Promise.reject(new Error("range too large"));
      ranges.push([p.fromBlock, p.toBlock]);
      return Promise.resolve([]);
    },
  } as unknown as ArthaClient;
  const addresses = { verification: `0x${"01".repeat(20)}` } as ArthaAddresses;

  // Execute
  await new ChallengeResponder(`0x${"02".repeat(32)}` as Hex).answer(client, addresses);

  // Assert: the hour before the head, and no block of it left out.
  assert.ok(ranges.length > 0);
  assert.ok(ranges[0]![0] <= head - 3_600n && ranges[0]![0] >= head - 3_700n, `${ranges[0]}`);
  assert.equal(ranges.at(-1)![1], head);
  ranges.slice(1).forEach(([from], i) => assert.equal(from, ranges[i]![1] + 1n));
});

Deno.test("victim: a challenge a one-block reorg moves to a height already read is still seen", async () => {
  // Prepare: a node with a commit, and a responder that has looked once. Found auditing the chain
  // client: each look started at the block after the last one read, so a challenge that a reorg
  // put at a height already read was never seen, never answered, and timed out (10% of stake).
  await using net = await startDevnet({ accounts: 3 });
  const mk = (i: number) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const [co, op, owner] = [mk(0), mk(1), mk(2)];
  const addresses = await deployArtha(co, { settlementDelay: 0 });
  const nodePubkey = await registerDevnetNode(op, addresses);
  const terms = devnetJobTerms(2);
  const { jobId } = await submitTrain(owner, { addresses, budget: parseEther("5"), terms });
  await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
  const digests = { lossDigest: b32("2"), gradientDigest: b32("3"), weightsDigest: b32("4") };
  const commit = { jobId, round: 0, nodePubkey, ...digests, proofsRoot: b32("5") };
  await commitRound(op, { addresses, commit });
  const responder = new ChallengeResponder(nodePubkey);
  await responder.answer(op, addresses);
  const rpc = (method: string, params: unknown[] = []) => co.request({ method, params } as never);

  // Execute: the node reads an empty block; the chain reorgs it away and the challenge lands at
  // that height; the node looks again five blocks later.
  const fork = await rpc("evm_snapshot");
  await rpc("anvil_mine", ["0x1"]);
  await responder.answer(op, addresses);
  await rpc("evm_revert", [fork]);
  await issueChallenge(co, { addresses, jobId, round: 0, nodePubkey });
  await rpc("anvil_mine", ["0x5"]);
  await responder.answer(op, addresses);

  // Assert: the look saw the challenge of the node's round.
  assert.equal(responder.pinned().size, 1);
});
