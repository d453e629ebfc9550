/**
 * lib/job/job_cases.ts on a long chain: the owner's `job cancel` (and an operator's `worker
 * settle`) scans the job's challenges, disputes and attestations. Found auditing the scans: each
 * started at block 0, a capped log query per 2,000 blocks of the whole chain (tens of thousands
 * on a public chain of millions of blocks), where the job's own blocks are a few.
 */
import assert from "node:assert/strict";
import { parseEther } from "viem";
import { advanceDevnetTime, startDevnet } from "../../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { LOG_QUERY_BLOCKS } from "../../../lib/chain/log_ranges.ts";
import { submitTrain } from "../../../lib/chain/submit_train.ts";
import { assignNodes } from "../../../lib/chain/assign_nodes.ts";
import { commitRound } from "../../../lib/chain/commit_round.ts";
import { closeRound } from "../../../lib/chain/close_round.ts";
import { issueChallenge } from "../../../lib/chain/issue_challenge.ts";
import { getOpenCases } from "../../../lib/chain/get_open_cases.ts";
import { endStaleCases } from "../../../lib/job/job_cases.ts";
import { b32, devnetJobTerms, registerDevnetNode } from "../chain/_devnet_job.ts";
import { logQueries } from "../chain/_log_queries.ts";

Deno.test("owner: ending a job's stale cases reads the job's blocks, not the chain's", async () => {
  // Prepare: 5 log queries' worth of blocks before the job; then a challenge left past its window.
  await using net = await startDevnet({ accounts: 3 });
  const mk = (i: number): ArthaClient =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[i]! });
  const [co, op, owner] = [mk(0), mk(1), mk(2)];
  const addresses = await deployArtha(co, { settlementDelay: 3600 });
  const nodePubkey = await registerDevnetNode(op, addresses);
  const blocks = 5n * LOG_QUERY_BLOCKS;
  await co.request({
    method: "anvil_mine" as never,
    params: [`0x${blocks.toString(16)}`] as never,
  });
  // anvil_mine stamps its blocks with one second: the job is created in a later one, as on a
  // chain whose clock moved on.
  await advanceDevnetTime(co, 60);
  const terms = devnetJobTerms(4);
  const { jobId } = await submitTrain(owner, { addresses, budget: parseEther("8"), terms });
  await assignNodes(co, { addresses, jobId, nodes: [nodePubkey] });
  const commit = {
    jobId,
    round: 0,
    nodePubkey,
    lossDigest: b32("2"),
    gradientDigest: b32("3"),
    weightsDigest: b32("6"),
    proofsRoot: b32("a"),
  };
  await commitRound(op, { addresses, commit });
  const close = { addresses, jobId, round: 0, checkpointCid: "cp-0", weightsDigest: b32("6") };
  await closeRound(co, close);
  await issueChallenge(co, { addresses, jobId, round: 0, nodePubkey });
  await advanceDevnetTime(co, 86_400);
  await co.request({ method: "evm_mine" as never });
  assert.equal(await getOpenCases(co, { addresses, jobId }), 1);

  // Execute
  const { value, queries } = await logQueries(() => endStaleCases(owner, { addresses, jobId }));

  // Assert: the challenge was found and ended, in one query a scan.
  assert.equal(value.ended, 1);
  assert.equal(await getOpenCases(co, { addresses, jobId }), 0);
  assert.ok(queries <= 3, `${queries} log queries`);
});
