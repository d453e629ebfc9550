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
    getBlock: () => Promise.resolve({ number: head, timestamp: 1_000n + head }),
    getBlockNumber: () => Promise.resolve(head),
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
