/**
 * What a coordinator logs when its chain does not answer: the RPC URL by its host only, since
 * ARTHA_RPC_URL may hold an API key in its user, password, path or query (README: "never shown").
 */
import assert from "node:assert/strict";
import { HttpRequestError } from "viem";
import { errorResponse } from "../../functions/_http.ts";

Deno.test("attacker reading the logs: a chain outage logs the RPC URL without its credentials", async () => {
  // Prepare
  const url = "https://user:s3cret@rpc.example.org/v2/APIKEY123?key=K";
  const logged: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
  // Execute
  let res: Response;
  try {
    res = errorResponse(new Error("Cannot readJob", { cause: new HttpRequestError({ url }) }));
  } finally {
    console.error = original;
  }
  // Assert
  assert.equal(res.status, 503);
  assert.doesNotMatch(await res.text(), /rpc\.example|APIKEY/);
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /Cannot reach the chain at https:\/\/rpc\.example\.org\/\.\.\./);
  assert.doesNotMatch(logged[0]!, /user|s3cret|APIKEY123|key=K/);
});
