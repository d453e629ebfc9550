/**
 * lib/job/job_record.ts: the folder's record of its last job, from the owner's side. A record
 * whose escrow can never be mined must not hold the folder's later submits, cancels and starts.
 */
import assert from "node:assert/strict";
import { type Hex, keccak256, parseEther, stringToHex } from "viem";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import type { ArthaAddresses } from "../../../lib/chain/contracts.ts";
import {
  escrowedJobId,
  type JobRecord,
  JobRecordError,
  refuseUnresolved,
} from "../../../lib/job/job_record.ts";

Deno.test("owner: a recorded escrow whose nonce another transaction used holds nothing back", async () => {
  // Prepare: the owner's account sent its first transaction (nonce 0), and the folder records a
  // pending escrow of nonce 0 that the chain never saw (the node refused it, or another network
  // took it). Found reviewing the record: it was NOT_MINED for ever, and every later submit,
  // cancel and start of the folder refused to go on.
  await using net = await startDevnet({ accounts: 2 });
  const owner = createArthaClient({
    rpcUrl: net.rpcUrl,
    chainId: net.chainId,
    account: net.accounts[0]!,
  });
  await owner.sendTransaction({ to: net.accounts[1]!.address, value: parseEther("1") });
  const record: JobRecord = {
    jobId: keccak256(stringToHex("job")),
    pending: true,
    txHash: keccak256(stringToHex("an escrow never mined")) as Hex,
    txNonce: 0,
  };
  const addresses = {} as ArthaAddresses;

  // Execute + Assert: a new submit may replace it; cancel and start are told nothing was escrowed.
  await refuseUnresolved(owner, { addresses, file: "last-job.json", record });
  await assert.rejects(
    escrowedJobId(owner, record),
    (e) => e instanceof JobRecordError && e.code === "NOT_ESCROWED",
  );
  // A nonce not used yet may still be mined: that one still holds the folder.
  await assert.rejects(
    refuseUnresolved(owner, {
      addresses,
      file: "last-job.json",
      record: { ...record, txNonce: 5 },
    }),
    (e) => e instanceof JobRecordError && e.code === "NOT_MINED",
  );
});
