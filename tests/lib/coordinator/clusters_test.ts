import assert from "node:assert/strict";
import { auditDrawn } from "../../../lib/coordinator/clusters.ts";

const JOB = `0x${"ab".repeat(32)}` as const;

Deno.test("a cluster's audit draw is the coordinator's secret's: public data does not tell it", () => {
  const [a, b] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
  const draws = (secret: Uint8Array, cid: string) =>
    Array.from(
      { length: 64 },
      (_, cluster) => auditDrawn(secret, { jobId: JOB, round: 3, cluster, aggregateCid: cid }, 0.5),
    );
  // The same secret and submission always draw the same (a restart re-derives the audit) ...
  assert.deepEqual(draws(a, "bafy1"), draws(a, "bafy1"));
  // ... another secret, or another submitted aggregate, draws otherwise.
  assert.notDeepEqual(draws(a, "bafy1"), draws(b, "bafy1"));
  assert.notDeepEqual(draws(a, "bafy1"), draws(a, "bafy2"));
  // The rate is kept: about half of 64 at 0.5, none at 0, all at 1.
  const n = draws(a, "bafy1").filter(Boolean).length;
  assert.ok(n > 16 && n < 48, `${n} of 64 drawn at rate 0.5`);
  const at = { jobId: JOB, round: 0, cluster: 0, aggregateCid: "x" };
  assert.equal(auditDrawn(a, at, 0), false);
  assert.equal(auditDrawn(a, at, 1), true);
});
