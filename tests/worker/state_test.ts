/** What a worker keeps of its commits across a restart (lib/worker/state.ts). */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import { bytesToHex } from "../../lib/crypto/digest.ts";
import { type SavedCommit, type StateStorage, WorkerState } from "../../lib/worker/state.ts";

/** A storage in memory that says how large each record is. */
function memoryStorage(): StateStorage & { size(name: string): number } {
  const records = new Map<string, Uint8Array>();
  return {
    read: (name) => Promise.resolve(records.get(name)),
    write: (name, bytes) => Promise.resolve(void records.set(name, bytes.slice())),
    rename: (from, to) => {
      const r = records.get(from);
      if (r) records.set(to, r), records.delete(from);
      return Promise.resolve();
    },
    remove: (name) => Promise.resolve(void records.delete(name)),
    where: (name) => `memory:${name}`,
    size: (name) => records.get(name)?.length ?? 0,
  };
}

Deno.test("victim: a job of many steps a round keeps its commits' step records outside the commit list", async () => {
  // Prepare: commits of 20,000 steps a round (68-byte records, 32-byte digests). Found in the
  // second worker audit: the records went into the one JSON list of every kept commit, rewritten
  // at each commit; at a few hundred thousand steps a round the list passed the runtime's string
  // limit, the write threw after the commit was on chain, the update was never delivered, and
  // after a restart the node could answer no challenge of those rounds (10% of its stake each).
  const storage = memoryStorage();
  const state = new WorkerState(storage);
  const jobId = `0x${"0a".repeat(32)}` as Hex;
  const steps = 20_000;
  const commitOf = (round: number): SavedCommit => {
    const records = new Uint8Array(68 * steps).fill(round + 1);
    return {
      jobId,
      round,
      lossDigest: `0x${"11".repeat(32)}`,
      gradientDigest: `0x${"22".repeat(32)}`,
      weightsDigest: `0x${"33".repeat(32)}`,
      updateCid: "bafy",
      stepRecords: bytesToHex(records),
      stepDigests: Array.from(
        { length: steps },
        (_, i) => `0x${(i % 256).toString(16).padStart(2, "0").repeat(32)}` as Hex,
      ),
    };
  };

  // Execute
  for (let round = 0; round < 3; round++) await state.saveCommit(commitOf(round));

  // Assert: the list stays small; each commit's records and digests come back as saved.
  assert.ok(storage.size("commits") < 4096, `the commit list is ${storage.size("commits")} bytes`);
  const saved = await state.commits();
  assert.deepEqual(saved.map((c) => c.round), [0, 1, 2]);
  for (const c of saved) {
    const full = { ...c, ...await state.committedSteps(c.jobId, c.round) };
    assert.deepEqual(full, commitOf(c.round));
  }
});

Deno.test("victim: a job forgotten takes its residual and masked-input record with it", async () => {
  // Found in the browser audit: forgetJob dropped the commits only; each job's error-feedback
  // residual (4 bytes a parameter) stayed in memory and storage for good, so a long-running tab
  // grew by a model's worth with every job until its storage quota stopped it keeping commits.
  const storage = memoryStorage();
  const state = new WorkerState(storage);
  const jobId = `0x${"0b".repeat(32)}` as Hex;
  const residual = await state.residualFor(jobId, 1_000);
  residual.residual.fill(0.5);
  await state.stageResidual(jobId, residual);
  await state.adoptResidual(jobId, residual);
  await state.recordMaskedInput(jobId, { round: 0, attempt: 1 });
  const residualRecord = `${jobId.toLowerCase()}.residual`;
  assert.equal(storage.size(residualRecord), 4_000);

  // Execute
  await state.forgetJob(jobId);

  // Assert: both records gone from storage, and nothing of them kept in memory.
  assert.equal(storage.size(residualRecord), 0);
  assert.equal(storage.size(`${jobId.toLowerCase()}.secagg`), 0);
  assert.equal(await state.maskedInputSent(jobId), undefined);
  assert.ok((await state.residualFor(jobId, 1_000)).residual.every((x) => x === 0));
});

Deno.test("a commit kept before it was sent, once landed, forgets what the chain can no longer challenge, as saveCommit does", async () => {
  // Prepare: 20 rounds of one job kept each way: written whole after landing (saveCommit), or
  // written before sending and pruned once landed (saveIntendedCommit + commitLanded), which
  // writes a round's update bytes once instead of twice.
  const jobId = `0x${"0c".repeat(32)}` as Hex;
  const commitOf = (round: number): SavedCommit => ({
    jobId,
    round,
    lossDigest: `0x${"11".repeat(32)}`,
    gradientDigest: `0x${"22".repeat(32)}`,
    weightsDigest: `0x${"33".repeat(32)}`,
    updateCid: `bafy${round}`,
  });
  const after = new WorkerState(memoryStorage());
  const before = memoryStorage();
  const early = new WorkerState(before);
  const bytes = new Uint8Array(8);

  // Execute
  for (let round = 0; round < 20; round++) {
    await after.saveCommit(commitOf(round), bytes);
    assert.ok(await early.saveIntendedCommit(commitOf(round), bytes));
    await early.commitLanded(jobId);
  }

  // Assert: the same rounds kept; the bytes of the forgotten ones removed.
  const rounds = async (s: WorkerState) => (await s.commits()).map((c) => c.round);
  assert.deepEqual(await rounds(early), await rounds(after));
  assert.ok((await rounds(early)).length < 20, "old rounds are forgotten");
  assert.equal(before.size(`update.${jobId}.0`), 0);
  assert.equal(before.size(`update.${jobId}.19`), 8);
});
