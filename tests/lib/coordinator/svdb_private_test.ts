import assert from "node:assert/strict";
import type { Hex } from "viem";
import { type Context, DEFAULT_CONFIG } from "../../../lib/coordinator/context.ts";
import { jobKey, jobMetricKey, setLarge } from "../../../lib/coordinator/state.ts";
import { authorizeRead, grantReads, privateKey } from "../../../lib/coordinator/svdb_private.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import { nodeUploadSigner, signUpload, uploadDomain } from "../../../lib/store/upload_signature.ts";
import { countListed } from "./_kv_reads.ts";

const REGISTRY = `0x${"33".repeat(20)}` as Hex;
const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

/** A coordinator's KV holding a running job of `rounds` closed rounds whose shard is `CID`. */
async function jobWithShard(rounds: number) {
  const kv = await Deno.openKv(":memory:");
  const jobId = `0x${"ab".repeat(32)}` as Hex;
  const head = {
    jobId,
    specCid: "spec",
    owner: `0x${"11".repeat(20)}`,
    rounds: rounds + 1,
    round: rounds,
    status: "running",
    assignedCount: 0,
    globalCid: "cid",
    roundOpenedAt: 1,
    initialValLoss: 3,
    metrics: [],
    reassigned: [],
  };
  await setLarge(kv.atomic(), jobKey(jobId), head).commit();
  for (let r = 0; r < rounds; r += 500) {
    const op = kv.atomic();
    for (let k = r; k < Math.min(rounds, r + 500); k++) {
      op.set(jobMetricKey(jobId, k), {
        round: k,
        valLoss: 2.5,
        updates: 10,
        missingCount: 0,
        reason: "all updates",
        bytes: 1,
        checkpointCid: "bafk",
        closedAt: 1,
      });
    }
    await op.commit();
  }
  await kv.set(privateKey(CID), { owner: `0x${"22".repeat(20)}`, jobs: [jobId] });
  const ctx = {
    kv,
    config: DEFAULT_CONFIG,
    now: Date.now,
    chain: {
      chainId: 31337,
      addresses: { registry: REGISTRY },
      client: { account: { address: `0x${"44".repeat(20)}` } },
    },
  } as unknown as Context;
  return { ctx, jobId, [Symbol.dispose]: () => kv.close() };
}

/** A GET of `CID` signed by a node key of its own. */
async function signedRead(signer = nodeUploadSigner(generateNodeKey())) {
  const headers = await signUpload(signer, uploadDomain(31337, REGISTRY), new Uint8Array(), {
    method: "GET",
    path: `/svdb/${CID}`,
  });
  return { signer, headers: new Headers(headers) };
}

Deno.test("attacker: a stranger's signed read of a long job's shard does not list the job's rounds", async () => {
  // Found in the coordinator DoS audit: deciding who may read a job's private shard read the
  // job's head with every round's metric, 5,000 KV entries per signed GET of a public CID by any
  // key, where only the job's owner, status and spec are looked at.
  // Prepare
  using c = await jobWithShard(5_000);
  const reads = countListed(c.ctx.kv);
  const stranger = await signedRead();

  // Execute
  const refused = await authorizeRead(c.ctx, stranger.headers, CID);

  // Assert
  assert.equal(refused?.code, "NOT_A_READER");
  assert.ok(reads.listed < 50, `${reads.listed} KV entries listed`);
});

Deno.test("attacker: a node granted a duty's read of a long job's shard costs no listing of its rounds", async () => {
  // The grant's check (its job not finalized yet) read the head with every metric too.
  // Prepare
  using c = await jobWithShard(5_000);
  const member = await signedRead();
  await grantReads(c.ctx, c.jobId, CID, [member.signer.id]);
  const reads = countListed(c.ctx.kv);

  // Execute
  const allowed = await authorizeRead(c.ctx, member.headers, CID);

  // Assert
  assert.equal(allowed, undefined);
  assert.ok(reads.listed < 50, `${reads.listed} KV entries listed`);
});
