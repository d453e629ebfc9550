import assert from "node:assert/strict";
import { createJoin } from "../../functions/join.ts";

Deno.test("attacker: names of Object.prototype under /join/ are 404s, not server faults", async () => {
  // Found in the node routes audit: the file table was a plain object, so /join/__proto__ found
  // Object.prototype and the read of its undefined URL failed as a 500 (logged as a fault).
  const join = createJoin();
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    const res = await join(new Request(`http://127.0.0.1/join/${name}`));
    const body = await res.json();
    assert.equal(res.status, 404, `${name}: ${JSON.stringify(body)}`);
    assert.match(body.error.message, /no such file/);
  }
});
