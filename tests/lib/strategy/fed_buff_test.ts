import assert from "node:assert/strict";
import { sqrtStaleness } from "../../../lib/strategy/fed_buff.ts";

Deno.test("sqrtStaleness is FedBuff's 1/sqrt(1+tau): 1 when fresh, decreasing with age", () => {
  assert.equal(sqrtStaleness(0), 1);
  assert.equal(sqrtStaleness(3), 0.5);
  assert.equal(sqrtStaleness(8), 1 / 3);
  for (let t = 0; t < 10; t++) assert.ok(sqrtStaleness(t + 1) < sqrtStaleness(t));
});
