import assert from "node:assert/strict";
import { countedUpdates } from "../../../lib/coordinator/closing.ts";
import type { JobRecord, UpdateRecord } from "../../../lib/coordinator/state.ts";
import type { JobSpec } from "../../../lib/job/job_spec.ts";

const key = (tag: string) => `0x${tag.repeat(32)}` as const;

Deno.test("victim: a task group's agreeing majority counts after one of its members was replaced", () => {
  // Prepare: a redundancy-3 group whose first member went silent and was replaced; of the three
  // members holding the task now, two deliver the same update and one a different one. Found in
  // the job owner audit: the group's size counted every node ever given the task (four), so two
  // agreeing were no majority and the task's work was dropped from every later round, while the
  // chain (which counts the round's members) settled the group and paid it.
  const [gone, b, c, d] = ["aa", "bb", "cc", "dd"].map(key);
  const job = {
    assigned: [d, b, c],
    taskOf: { [gone!]: 0, [b!]: 0, [c!]: 0, [d!]: 0 },
  } as unknown as JobRecord;
  const spec = { verification: { redundancy: 3, challengeRate: 0, sampleRate: 0 } } as JobSpec;
  const update = (nodePubkey: string, digest: string) =>
    ({
      nodePubkey,
      lossDigest: key(digest),
      gradientDigest: key(digest),
      weightsDigest: key(digest),
    }) as UpdateRecord;

  // Execute
  const counted = countedUpdates(job, spec, [update(d!, "01"), update(b!, "01"), update(c!, "02")]);

  // Assert: one copy of the majority's update counts; both agreeing members delivered.
  assert.deepEqual(counted.nodes, [b]);
  assert.deepEqual(counted.delivered, [b, d]);
});
