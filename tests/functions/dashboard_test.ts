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

Deno.test("attacker: markup injected into the dashboard's origin could not run as script", async () => {
  // Found in the browser audit: the dashboard's policy allowed 'unsafe-inline' scripts on the
  // origin that keeps the browser node's key. Its policy now names its own script by hash.
  const res = await createDashboard()(new Request("http://127.0.0.1/dashboard"));
  const html = await res.text();
  const policy = res.headers.get("content-security-policy")!;
  assert.doesNotMatch(policy, /unsafe-inline/);
  const script = html.slice(
    html.indexOf(">", html.indexOf("<script")) + 1,
    html.indexOf("</script>"),
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script));
  const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
  assert.match(policy, new RegExp(`script-src 'sha256-${hash.replace(/[+/]/g, "\\$&")}'`));
});
