/** ModelRegistry.isPublished under a CID's usual spellings (lib/chain/is_model_published.ts). */
import assert from "node:assert/strict";
import { zeroHash } from "viem";
import { createArthaClient } from "../../../lib/chain/client.ts";
import { deployArtha } from "../../../lib/chain/deploy.ts";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { isModelPublished } from "../../../lib/chain/is_model_published.ts";
import { publishModel } from "../../../lib/chain/publish_model.ts";
import { registerModel } from "../../../lib/chain/register_model.ts";
import { computeCid, parseCid } from "../../../lib/store/cid.ts";

Deno.test("victim: a model published under its CIDv0 is known under its CIDv1 too", async () => {
  // Found in the inference audit: the coordinator asked the registry under the CIDv1 it names
  // files by, so a model published as Qm... (how `ipfs add` names it) read as unpublished, and a
  // job owner could make its bytes private data, unreadable by everyone.
  await using net = await startDevnet({ accounts: 2 });
  const client = createArthaClient({
    rpcUrl: net.rpcUrl,
    chainId: net.chainId,
    account: net.accounts[0]!,
  });
  const addresses = await deployArtha(client, { settlementDelay: 0 });
  const v0 = (await computeCid(new Uint8Array(300_000).fill(3), { cidVersion: 0 })).toString();
  const v1 = parseCid(v0).toV1().toString();
  const modelId = await registerModel(client, {
    addresses,
    name: "published-as-v0",
    jobId: zeroHash,
    publisher: client.account.address,
  });
  assert.equal(await isModelPublished(client, { addresses, cid: v1 }), false);
  await publishModel(client, { addresses, modelId, cid: v0, weightsDigest: zeroHash });
  assert.equal(await isModelPublished(client, { addresses, cid: v1 }), true);
  assert.equal(await isModelPublished(client, { addresses, cid: v0 }), true);
  const other = (await computeCid(new Uint8Array([1]))).toString();
  assert.equal(await isModelPublished(client, { addresses, cid: other }), false);
});
