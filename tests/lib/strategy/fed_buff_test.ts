import assert from "node:assert/strict";
import { FedBuff, sqrtStaleness } from "../../../lib/strategy/fed_buff.ts";
import { FedMedian } from "../../../lib/strategy/fed_median.ts";
import { assertClose, upd } from "./_fixtures.ts";

Deno.test("FedBuff emits when K updates are buffered and advances the version", () => {
  // Prepare
  const buf = new FedBuff({ length: 2, bufferSize: 3 });
  // Execute / Assert: round 1, all fresh
  assert.equal(buf.submit(upd("0xa", [1, 1]), 0).status, "buffered");
  assert.equal(buf.submit(upd("0xb", [3, 1]), 0).status, "buffered");
  const first = buf.submit(upd("0xc", [2, 4], 2), 0);
  assert.ok(first.status === "aggregated");
  assertClose(first.result.delta, [2, 2.5]); // (1*[1,1] + 1*[3,1] + 2*[2,4]) / 4
  assert.equal(buf.version, 1);
  assert.equal(buf.pending, 0);
});

Deno.test("FedBuff discounts stale deltas by 1/sqrt(1+tau)", () => {
  // Prepare: move to version 1
  const buf = new FedBuff({ length: 2, bufferSize: 3 });
  for (const id of ["0x1", "0x2", "0x3"]) buf.submit(upd(id, [0, 0]), 0);
  // Execute: D trained on version 0 (tau = 1), E and F on version 1 (tau = 0)
  const d = buf.submit(upd("0xd", [2, 0]), 0);
  buf.submit(upd("0xe", [0, 2]), 1);
  const out = buf.submit(upd("0xf", [4, 4], 2), 1);
  // Assert: (s(1)*[2,0] + [0,2] + 2*[4,4]) / 4
  assert.deepEqual(d, { status: "buffered", staleness: 1 });
  assert.ok(out.status === "aggregated");
  assertClose(out.result.delta, [(2 * Math.SQRT1_2 + 8) / 4, 2.5]);
  assert.equal(sqrtStaleness(3), 0.5);
});

Deno.test("FedBuff rejects future, too-stale, malformed and duplicate updates", () => {
  const buf = new FedBuff({ length: 1, bufferSize: 2, maxStaleness: 0 });
  assert.match(rejectReason(buf.submit(upd("0xa", [1]), 1)), /base version 1 is not <= 0/);
  buf.submit(upd("0xa", [1]), 0);
  assert.match(rejectReason(buf.submit(upd("0xa", [2]), 0)), /already has an update/);
  assert.match(rejectReason(buf.submit(upd("0xb", [1, 2]), 0)), /length 2 != 1/);
  buf.submit(upd("0xb", [1]), 0); // version 1 now
  assert.match(rejectReason(buf.submit(upd("0xc", [1]), 0)), /staleness 1 exceeds 0/);
});

Deno.test("FedBuff can hand staleness-scaled deltas to a robust inner strategy", () => {
  const buf = new FedBuff({ length: 1, bufferSize: 3, inner: new FedMedian() });
  buf.submit(upd("0xa", [1]), 0);
  buf.submit(upd("0xb", [2]), 0);
  const out = buf.submit(upd("0xc", [1000]), 0);
  assert.ok(out.status === "aggregated");
  assertClose(out.result.delta, [2]);
});

function rejectReason(o: ReturnType<FedBuff["submit"]>): string {
  assert.equal(o.status, "rejected");
  return o.status === "rejected" ? o.reason : "";
}
