/**
 * GET /did/access's audit trail from an anonymous caller's side on a long chain: each request
 * spends a bounded number of log queries, and the trail still comes whole (found in the DID
 * audit: each request scanned the whole chain from block 0).
 */
import assert from "node:assert/strict";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import { generateEncKey } from "../../../lib/crypto/enc_key.ts";
import { registerIdentity } from "../../../lib/did/resolve.ts";
import { grantAccess, openDataset, shareDataset } from "../../../lib/did/dataset_share.ts";
import { ACCESS_SCAN_PARTS, accessTrail } from "../../../lib/coordinator/access_log.ts";
import { read, setupCoordinator } from "../../functions/_coordinator.ts";
import { logQueries } from "../chain/_log_queries.ts";

/** A grant with one recorded access, `blocks` empty blocks, then a second access. */
async function longTrail(blocks: number) {
  const fx = await setupCoordinator({ operators: 1 });
  const s = await fx.scenario();
  const [owner, grantee] = [fx.clients[2]!, fx.clients[1]!];
  const { addresses, store } = fx;
  const enc = generateEncKey();
  const identity = (client: typeof owner, encKey: `0x${string}`) =>
    registerIdentity(client, { addresses, store, authKey: generateNodeKey(), encKey });
  const ownerId = await identity(owner, generateEncKey().publicKeyHex);
  const granteeId = await identity(grantee, enc.publicKeyHex);
  const plaintext = new TextEncoder().encode("a,b\n1,2\n");
  const shared = await shareDataset(owner, {
    addresses,
    store,
    ownerDid: ownerId.didHash,
    plaintext,
  });
  const { datasetId, dataKey } = shared;
  const granteeDid = granteeId.didHash;
  await grantAccess(owner, { addresses, store, datasetId, dataKey, granteeDid });
  const open = () =>
    openDataset(grantee, { addresses, store, datasetId, granteeDid, encSecretKey: enc.secretKey });
  await open();
  const mine = `0x${blocks.toString(16)}`;
  await owner.request({ method: "anvil_mine" as never, params: [mine] as never });
  await open();
  const ask = () =>
    logQueries(async () =>
      await read(await s.call(`/did/access?dataset=${datasetId}&grantee=${granteeId.did}`))
    );
  return { fx, s, grantee, datasetId, granteeDid, ask };
}

Deno.test("attacker: repeated GET /did/access does not rescan the chain", async () => {
  // Prepare: 12,000 blocks: 7 log queries from block 0.
  const t = await longTrail(12_000);
  await using _ = t.fx;

  // Execute: the first request catches the index up; the next ones read only new blocks.
  const first = await t.ask();
  const again = await t.ask();
  const third = await t.ask();

  // Assert: the whole trail each time, and at most one query once caught up.
  assert.ok(first.queries <= ACCESS_SCAN_PARTS, `${first.queries} log queries`);
  for (const r of [first, again, third]) {
    assert.equal(r.value.body.auditComplete, true);
    assert.equal(r.value.body.audit.length, 2);
    assert.equal(r.value.body.audit[0].accessor, t.grantee.account.address);
  }
  assert.ok(again.queries <= 1 && third.queries <= 1, `${again.queries}, ${third.queries}`);
});

Deno.test("a catch-up cut to its budget goes on where it stopped, and the trail comes whole", async () => {
  const t = await longTrail(12_000);
  await using _ = t.fx;
  const ask = (parts: number) => accessTrail(t.s.ctx, t.datasetId, t.granteeDid, { parts });

  const first = await logQueries(() => ask(2));
  assert.equal(first.queries, 2);
  assert.equal(first.value.complete, false);
  assert.equal(first.value.audit.length, 1, "the first access, in the first 4,000 blocks");
  let last = first.value;
  for (let i = 0; i < 4 && !last.complete; i++) last = await ask(2);
  assert.equal(last.complete, true);
  assert.equal(last.audit.length, 2);
});

Deno.test("a range the RPC refuses is answered as incomplete, not as an error for every pair", async () => {
  // Found reviewing the index: it reads every pair's events, so one range a provider refused
  // (too many results, which anyone's padding can cause) threw for every GET /did/access.
  const t = await longTrail(4_000);
  await using _ = t.fx;
  const client = t.s.ctx.chain.client;
  const read = client.getContractEvents;
  let refused = 0;
  client.getContractEvents = ((...args: Parameters<typeof read>) => {
    if (refused++ === 0) return Promise.reject(new Error("query returned more than 10000 results"));
    return read.apply(client, args);
  }) as typeof read;
  try {
    const first = await accessTrail(t.s.ctx, t.datasetId, t.granteeDid);
    assert.equal(first.complete, false);
    const second = await accessTrail(t.s.ctx, t.datasetId, t.granteeDid);
    assert.equal(second.complete, true);
    assert.equal(second.audit.length, 2);
  } finally {
    client.getContractEvents = read;
  }
});

Deno.test("a cursor of another chain (a reset under the same address) reads the trail again", async () => {
  const t = await longTrail(10);
  await using _ = t.fx;
  const ctx = t.s.ctx;
  // Where the index keeps its cursor, as a KV kept from an earlier, longer chain left it.
  const key = ["did_access_scan", ctx.chain.chainId, ctx.chain.addresses.dids.toLowerCase()];
  const genesis = `0x${"ab".repeat(32)}`;
  await ctx.kv.set(key, { next: 10n ** 9n, genesis, span: 2_000n, fails: 0 });
  const trail = await accessTrail(ctx, t.datasetId, t.granteeDid);
  assert.equal(trail.complete, true);
  assert.equal(trail.audit.length, 2);
});

Deno.test("a head read from a lagging replica keeps the index", async () => {
  // Found reviewing the reset check: a head behind the cursor was taken for a reset, and the
  // whole index was thrown away and read again from block 0.
  const t = await longTrail(10);
  await using _ = t.fx;
  const ctx = t.s.ctx;
  assert.equal((await accessTrail(ctx, t.datasetId, t.granteeDid)).audit.length, 2);
  const client = ctx.chain.client;
  const head = client.getBlockNumber;
  const behind = await head.call(client) - 3n;
  client.getBlockNumber = (() => Promise.resolve(behind)) as typeof head;
  try {
    const { result, queries } = await logQueries(async () => ({
      result: await accessTrail(ctx, t.datasetId, t.granteeDid),
    })).then((r) => ({ result: r.value.result, queries: r.queries }));
    assert.equal(result.audit.length, 2);
    assert.equal(queries, 0, "nothing read again");
  } finally {
    client.getBlockNumber = head;
  }
});

Deno.test("a range the RPC always refuses is narrowed until it is read", async () => {
  // Found reviewing the index: a range refused for too many results was asked again, as it
  // was, at every request, and the index stopped for good.
  const t = await longTrail(4_000);
  await using _ = t.fx;
  const client = t.s.ctx.chain.client;
  const read = client.getContractEvents;
  client.getContractEvents = ((...args: Parameters<typeof read>) => {
    const { fromBlock, toBlock } = args[0] as { fromBlock: bigint; toBlock: bigint };
    if (toBlock - fromBlock + 1n > 500n) {
      return Promise.reject(new Error("more than 10000 results"));
    }
    return read.apply(client, args);
  }) as typeof read;
  try {
    let trail = await accessTrail(t.s.ctx, t.datasetId, t.granteeDid);
    for (let i = 0; i < 20 && !trail.complete; i++) {
      trail = await accessTrail(t.s.ctx, t.datasetId, t.granteeDid);
    }
    assert.equal(trail.complete, true);
    assert.equal(trail.audit.length, 2);
  } finally {
    client.getContractEvents = read;
  }
});
