/**
 * The update bytes of kept commits, from the victim's side (found in the worker audit): a node
 * kept every challengeable round's bytes in memory (the current one and 16 more a job), and a
 * restart read every saved `update.<job>.<round>` back. A 303M-parameter fp32 job, within a
 * 12 GiB budget, kept 19 GiB: out of memory, and again at every restart, while its heartbeats
 * and challenge answers (each slashed when missed) waited. The bytes are now read only for the
 * round a chunk challenge asks about.
 */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import type { ArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { merkleRoot } from "../../lib/crypto/merkle.ts";
import type { LocalResult } from "../../lib/round/local_training.ts";
import { openChunks } from "../../lib/verify/chunk_openings.ts";
import { CHALLENGE_ROUNDS } from "../../lib/verify/commit_retention.ts";
import { ChallengeResponder } from "../../lib/verify/responder.ts";
import { DisputeResponder } from "../../lib/verify/dispute_responder.ts";
import { keepCommitted } from "../../lib/worker/deliver.ts";
import { FileStateStorage, WorkerState } from "../../lib/worker/state.ts";
import { Worker } from "../../lib/worker/worker.ts";

const JOB: Hex = `0x${"0a".repeat(32)}`;
const SEED: Hex = `0x${"ab".repeat(32)}`;
/** A model whose update is several MiB (3 MiB of f32). */
const UPDATE_BYTES = 3 * 2 ** 20;
const CHALLENGED_ROUND = 3;

/** The update bytes the node committed in `round` (different each round). */
function updateOf(round: number): Uint8Array {
  const bytes = new Uint8Array(UPDATE_BYTES);
  for (let i = 0; i < bytes.length; i += 997) bytes[i] = (i + round * 31) & 0xff;
  return bytes;
}

/** A worker whose challenge responder a test can look at. */
class LookedAtWorker extends Worker {
  get responder(): ChallengeResponder {
    return this.challenges;
  }
}

/** A FileStateStorage that records the update records it reads. */
class CountingStorage extends FileStateStorage {
  readonly updateReads: string[] = [];

  override read(name: string): Promise<Uint8Array | undefined> {
    if (name.startsWith("update.")) this.updateReads.push(name);
    return super.read(name);
  }
}

/**
 * A chain with one open chunk challenge (id 7) of `nodePubkey`'s round CHALLENGED_ROUND of JOB;
 * the answers the node sends are pushed to `sent` (as the args of `respond`).
 */
function chainWithChallenge(nodePubkey: Hex, sent: unknown[][]): ArthaClient {
  const head = 100n;
  const challenge = {
    jobId: JOB,
    nodePubkey,
    seed: SEED,
    round: CHALLENGED_ROUND,
    step: 0,
    count: 2,
    deadline: 1_000_000n,
    status: 1, // open
  };
  const reads: Record<string, unknown> = {
    responseWindow: 3_600n,
    challengeOf: challenge,
    verificationOpen: true, // the job is kept
  };
  return {
    chain: { id: 31_337 },
    account: { address: `0x${"0c".repeat(20)}`, type: "json-rpc" },
    getBlock: (p?: { blockNumber?: bigint }) => {
      const number = p?.blockNumber ?? head;
      return Promise.resolve({ number, timestamp: 10_000n + number });
    },
    getBlockNumber: () => Promise.resolve(head),
    readContract: (p: { functionName: string }) => {
      if (!(p.functionName in reads)) throw new Error(`unexpected read ${p.functionName}`);
      return Promise.resolve(reads[p.functionName]);
    },
    getContractEvents: () => Promise.resolve([{ args: { challengeId: 7n }, blockNumber: 90n }]),
    simulateContract: (request: unknown) => Promise.resolve({ request }),
    estimateContractGas: () => Promise.resolve(100_000n),
    writeContract: (request: { args: unknown[] }) => {
      sent.push(request.args);
      return Promise.resolve(`0x${"0d".repeat(32)}`);
    },
    getTransactionReceipt: () => Promise.resolve({ status: "success", gasUsed: 1n }),
  } as unknown as ArthaClient;
}

Deno.test("victim: after a restart a node reads only the challenged round's update and answers it", async () => {
  // Prepare: the state a node left of CHALLENGE_ROUNDS + 1 committed rounds of a job (every one
  // still challengeable), each update several MiB; a chain with a chunk challenge of one round.
  const dir = await Deno.makeTempDir();
  const key = generateNodeKey();
  const nodePubkey = key.publicKeyHex.toLowerCase() as Hex;
  const saved = new WorkerState(`${dir}/worker.json`);
  const digests = new Map<number, Hex>();
  for (let round = 0; round <= CHALLENGE_ROUNDS; round++) {
    const bytes = updateOf(round);
    digests.set(round, merkleRoot(bytes));
    const commit = {
      jobId: JOB,
      round,
      lossDigest: `0x${"01".repeat(32)}` as Hex,
      gradientDigest: digests.get(round)!,
      weightsDigest: `0x${"02".repeat(32)}` as Hex,
      updateCid: `bafy-update-${round}`,
    };
    await saved.saveCommit(commit, bytes);
  }
  const storage = new CountingStorage(`${dir}/worker.json`);
  const sent: unknown[][] = [];
  const worker = new LookedAtWorker({
    coordinator: () => Promise.reject(new Error("no coordinator in this test")),
    client: chainWithChallenge(nodePubkey, sent),
    addresses: {
      verification: `0x${"0e".repeat(20)}`,
      proofs: `0x${"0f".repeat(20)}`,
      registry: `0x${"10".repeat(20)}`,
    } as ArthaAddresses,
    chainId: 31_337,
    key,
    stateStorage: storage,
    heartbeatEveryMs: Infinity,
  });

  try {
    // Execute: the restarted node's first look for challenges.
    const answered = await worker.answerChallenges();

    // Assert: one update read, the challenged round's, answered with its chunks; none held after.
    const challenged = `update.${JOB}.${CHALLENGED_ROUND}`;
    assert.deepEqual(storage.updateReads, [challenged], "only the challenged round's is read");
    assert.equal(answered, 1);
    const expected = openChunks(updateOf(CHALLENGED_ROUND), SEED, 2);
    assert.equal(sent.length, 1);
    const [challengeId, , gradientDigest, , chunks, proofs] = sent[0]!;
    assert.equal(challengeId, 7n);
    assert.equal(gradientDigest, digests.get(CHALLENGED_ROUND));
    assert.deepEqual(chunks, expected.chunks);
    assert.deepEqual(proofs, expected.proofs);
    assert.equal(worker.responder.heldUpdateBytes(), 0, "no update bytes held between looks");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("victim: a round kept with a loader holds no update bytes until a challenge asks", () => {
  // Prepare: a freshly committed round of a worker that keeps its state (the loader reads it).
  const challenges = new ChallengeResponder("0x01");
  const disputes = new DisputeResponder("0x01");
  const result = {
    lossDigest: `0x${"01".repeat(32)}`,
    gradientDigest: merkleRoot(updateOf(0)),
    weightsDigest: `0x${"02".repeat(32)}`,
    delta: new Float32Array(UPDATE_BYTES / 4),
  } as unknown as LocalResult;
  let loads = 0;
  const load = () => {
    loads++;
    return Promise.resolve(updateOf(0));
  };

  // Execute
  keepCommitted({ challenges, disputes }, JOB, 0, result, load);

  // Assert: nothing read, nothing held.
  assert.equal(loads, 0);
  assert.equal(challenges.heldUpdateBytes(), 0);
});
