import assert from "node:assert/strict";
import { ConfigError, env } from "../../lib/config.ts";

Deno.test("a missing or unusable setting names its variable", () => {
  // Prepare
  const saved = Deno.env.get("ARTHA_CHAIN_ID");
  try {
    Deno.env.delete("ARTHA_CHAIN_ID");
    // Execute, Assert
    assert.throws(
      () => env.requireChainId(),
      (e) =>
        e instanceof ConfigError && e.variable === "ARTHA_CHAIN_ID" && /is not set/.test(e.message),
    );
    Deno.env.set("ARTHA_CHAIN_ID", "abc");
    assert.throws(() => env.requireChainId(), /ARTHA_CHAIN_ID must be a positive integer/);
    Deno.env.set("ARTHA_CHAIN_ID", "31337");
    assert.equal(env.requireChainId(), 31337);
  } finally {
    if (saved === undefined) Deno.env.delete("ARTHA_CHAIN_ID");
    else Deno.env.set("ARTHA_CHAIN_ID", saved);
  }
});

Deno.test("defaults: store, port, host, cron", () => {
  assert.equal(typeof env.storeDir(), "string");
  assert.ok(Number.isInteger(env.port()));
  assert.ok(env.modelCacheDir().endsWith("arthatrain/models"));
});
