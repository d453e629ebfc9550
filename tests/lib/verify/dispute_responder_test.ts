/** A node's look for disputes to play, from the side of the RPC it reads. */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import type { ArthaClient } from "../../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../../lib/chain/contracts.ts";
import { LOG_QUERY_BLOCKS, RESCAN_BLOCKS } from "../../../lib/chain/log_ranges.ts";
import { DisputeResponder } from "../../../lib/verify/dispute_responder.ts";

Deno.test("victim: a node's look for disputes never asks the RPC for more blocks than it serves", async () => {
  // Prepare: a chain a million blocks long behind an RPC that refuses a log query over 10,000
  // blocks, as public ones do. Found in the second worker audit: the first look after a start
  // read from block 0 in one query, which such an RPC refuses, so a dispute of a kept commit
  // went unplayed (the side that does not move loses).
  let head = 1_000_000n;
  const ranges: [bigint, bigint][] = [];
  const client = {
    getBlock: () => Promise.resolve({ number: head, timestamp: 1_700_000_000n + head }),
    getContractEvents: (p: { fromBlock: bigint; toBlock: bigint }) => {
      if (p.toBlock - p.fromBlock >= 10_000n) return Promise.reject(new Error("range too large"));
      ranges.push([p.fromBlock, p.toBlock]);
      return Promise.resolve([]);
    },
  } as unknown as ArthaClient;
  const addresses = { disputes: `0x${"03".repeat(20)}` } as ArthaAddresses;
  const digest = (b: string) => `0x${b.repeat(32)}` as Hex;
  /** A commit the node keeps to defend: two step digests, the last its weights digest. */
  const kept = {
    jobId: digest("0a"),
    round: 0,
    lossDigest: digest("11"),
    gradientDigest: digest("22"),
    weightsDigest: digest("33"),
    stepDigests: [digest("44"), digest("33")],
  };

  // Execute + Assert: with nothing committed to defend, a look reads nothing and the next starts
  // near it (RESCAN_BLOCKS back, a reorg's margin).
  const idle = new DisputeResponder(`0x${"02".repeat(32)}` as Hex);
  assert.equal(await idle.answer(client, addresses), 0);
  assert.equal(ranges.length, 0);
  head += 10n;
  idle.remember(kept);
  await idle.answer(client, addresses);
  assert.deepEqual(ranges, [[1_000_001n - RESCAN_BLOCKS, 1_000_010n]]);

  // A restarted node with a kept commit reads from block 0, in parts the RPC serves.
  ranges.length = 0;
  const restarted = new DisputeResponder(`0x${"02".repeat(32)}` as Hex);
  restarted.remember(kept);
  await restarted.answer(client, addresses);
  assert.equal(ranges[0]![0], 0n);
  assert.equal(ranges.at(-1)![1], head);
  assert.ok(ranges.every(([a, b]) => b - a < LOG_QUERY_BLOCKS));
});
