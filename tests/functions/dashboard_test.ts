import assert from "node:assert/strict";
import { createDashboard } from "../../functions/dashboard.ts";
import { createJoin } from "../../functions/join.ts";

Deno.test("attacker: the dashboard and the join page refuse to be framed by another site", async () => {
  // A page that frames them could overlay them and steer the clicks that withdraw, export a key
  // or join and sign.
  const pages = [
    await createDashboard()(new Request("http://127.0.0.1/dashboard")),
    await createJoin()(new Request("http://127.0.0.1/join/")),
  ];
  for (const res of pages) {
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
  }
});
