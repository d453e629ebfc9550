/**
 * A dealer whose Shamir shares do not lie on one polynomial (found in the secure aggregation
 * audit): each share is sealed and digested honestly, so receivers accept them and their reveals
 * pass the digest check, but the secret the server rebuilds is wrong. For b (the self-mask seed)
 * the sum came out as noise, "Done", with nobody named; it must be refused naming the dealer.
 */
import assert from "node:assert/strict";
import { SecAggClient } from "../../../../lib/privacy/secure_aggregation/client.ts";
import { SecAggServer } from "../../../../lib/privacy/secure_aggregation/server.ts";
import { resolveParams } from "../../../../lib/privacy/secure_aggregation/params.ts";
import { InvalidShareError } from "../../../../lib/privacy/secure_aggregation/errors.ts";
import type { ShareKeys } from "../../../../lib/privacy/secure_aggregation/messages.ts";
import { offPolynomial } from "./_off_polynomial.ts";

const DEALER = "c1";

/** A round of 8 where the dealer's `kind` shares are off their polynomial; the dealer drops or not. */
async function roundWithDealer(kind: "b" | "sk", dealerDrops: boolean) {
  const params = resolveParams({
    context: `t:${crypto.randomUUID()}`,
    seed: `0x${"5a".repeat(32)}`,
    clients: Array.from({ length: 8 }, (_, i) => `c${i}`),
    vectorLength: 8,
    clip: 1,
  } as never);
  const server = new SecAggServer(params);
  const cSecret = crypto.getRandomValues(new Uint8Array(32));
  let first = true; // the dealer's first 32 random bytes are its c key's secret
  const randomBytes = (n: number) => {
    if (first && n === 32) {
      first = false;
      return cSecret.slice();
    }
    return crypto.getRandomValues(new Uint8Array(n));
  };
  const clients = new Map<string, SecAggClient>();
  for (const id of params.clients) {
    clients.set(id, await SecAggClient.create(params, id, id === DEALER ? { randomBytes } : {}));
  }
  const cPk = new Map<string, string>();
  for (const c of clients.values()) {
    const advertised = await c.advertiseKeys();
    cPk.set(c.id, advertised.cPk);
    assert.ok((await server.receive(advertised)).ok);
  }
  for (const [id, request] of server.closeStage()) {
    let msg = await clients.get(id)!.respond(request) as ShareKeys;
    if (id === DEALER) {
      msg = await offPolynomial(msg, { id: DEALER, context: params.context, cSecret, cPk }, kind);
    }
    assert.ok((await server.receive(msg)).ok);
  }
  const update = new Float32Array(8).fill(0.25);
  for (const [id, request] of server.closeStage()) {
    if (dealerDrops && id === DEALER) continue;
    assert.ok((await server.receive(await clients.get(id)!.respond(request, update))).ok);
  }
  for (const [id, request] of server.closeStage()) {
    assert.ok((await server.receive(await clients.get(id)!.respond(request))).ok);
  }
  return await server.finish();
}

const namesDealer = (e: unknown) => e instanceof InvalidShareError && e.client === DEALER;

Deno.test("attacker: shares of b off their polynomial are refused naming the dealer, never a sum of noise", async () => {
  await assert.rejects(roundWithDealer("b", false), namesDealer);
});

Deno.test("attacker: shares of the mask key off their polynomial, the dealer dropped: refused naming it", async () => {
  await assert.rejects(roundWithDealer("sk", true), namesDealer);
});
