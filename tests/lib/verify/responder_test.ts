/** A node's look for challenges to answer, from the side of the RPC it reads. */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import type { ArthaClient } from "../../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../../lib/chain/contracts.ts";
import { ChallengeResponder } from "../../../lib/verify/responder.ts";

Deno.test("victim: each look for challenges reads only the blocks since the last, not from block 0", async () => {
  // Prepare: an RPC at block 100 with no challenge issued, which records the range of every log
  // query. Found in the second worker audit: the node read every ChallengeIssued event from block
  // 0 at each look (every 30 s); an RPC that caps a log query's range (most public ones do) then
  // failed every look, the error was swallowed in the chores, and no challenge was ever answered
  // (each costs 10% of the stake at its timeout).
  let head = 100n;
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
  head = 105n;
  await responder.answer(client, addresses);

  // Assert
  assert.deepEqual(ranges, [[0n, 100n], [101n, 105n]]);
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
