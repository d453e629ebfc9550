import assert from "node:assert/strict";
import { freePort } from "../../../lib/chain/devnet.ts";

Deno.test("freePort: distinct ports outside the pool outgoing connections draw from", () => {
  const ports = Array.from({ length: 50 }, () => freePort());
  assert.equal(new Set(ports).size, ports.length, "never the same port twice in a process");
  for (const port of ports) {
    assert.ok(port >= 20000 && port < 32768, `${port} is below every OS's ephemeral range`);
    Deno.listen({ hostname: "127.0.0.1", port }).close(); // still free to listen on
  }
});
