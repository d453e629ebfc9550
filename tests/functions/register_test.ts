import assert from "node:assert/strict";
import { generateNodeKey, signBinding } from "../../lib/crypto/keys.ts";
import { abis } from "../../lib/chain/contracts.ts";
import type { NodeRecord } from "../../lib/coordinator/state.ts";
import { read, setupCoordinator, type TestNode } from "./_coordinator.ts";

Deno.test("register", async (t) => {
  await using fx = await setupCoordinator();
  const s = await fx.scenario();
  const chainId = fx.net.chainId;
  const registry = fx.addresses.registry;

  /** A binding body for `node` with the given nonce (default: its real index). */
  async function binding(node: TestNode, nonce?: number, signer = node.key) {
    const operator = node.operator.account.address;
    const keys = await fx.coordinator.readContract({
      address: registry,
      abi: abis.registry,
      functionName: "nodesOf",
      args: [operator],
    });
    const n = nonce ?? keys.findIndex((k) => k.toLowerCase() === node.nodePubkey);
    const signature = signBinding(signer, { chainId, registry, operator, nonce: BigInt(n) });
    return { nodePubkey: node.key.publicKeyHex, operator, nonce: n, signature };
  }

  const a = await s.node({ bind: false, operator: 0 });
  const b = await s.node({ bind: false, operator: 0 });

  await t.step("binds a staked key and records it in KV", async () => {
    const body = await binding(a);
    const res = await read(await s.post("/register", body));
    assert.equal(res.status, 200);
    assert.equal(res.body.ok, true);
    assert.equal(res.body.node.nodePubkey, a.nodePubkey);
    assert.equal(res.body.node.role, 1);
    const rec = (await s.ctx.kv.get<NodeRecord>(["node", a.nodePubkey])).value!;
    assert.equal(rec.operator, a.operator.account.address);
    assert.equal(rec.stake, 10n ** 19n + "");
    assert.equal(rec.caps.computeUnits, 2);
  });

  await t.step("re-registering the same binding is a 200 (worker retry)", async () => {
    const res = await read(await s.post("/register", await binding(a)));
    assert.equal(res.status, 200);
  });

  await t.step("a forged binding signature is a 401", async () => {
    const res = await read(
      await s.post("/register", await binding(b, undefined, generateNodeKey())),
    );
    assert.equal(res.status, 401);
    assert.match(res.body.error.message, /binding signature/);
  });

  await t.step("a binding signed for another nonce (replayed index) is a 409", async () => {
    // b is index 1 of its operator; a genuine signature of b over nonce 0 (a's slot).
    const res = await read(await s.post("/register", await binding(b, 0)));
    assert.equal(res.status, 409);
    assert.match(res.body.error.message, /nonce 0/);
    assert.equal((await s.ctx.kv.get(["node", b.nodePubkey])).value, null);
  });

  await t.step("a key the chain does not know is a 409 telling to stake first", async () => {
    const key = generateNodeKey();
    const operator = a.operator.account.address;
    const signature = signBinding(key, { chainId, registry, operator, nonce: 5n });
    const res = await read(
      await s.post("/register", { nodePubkey: key.publicKeyHex, operator, nonce: 5, signature }),
    );
    assert.equal(res.status, 409);
    assert.match(res.body.error.message, /stake first/);
  });

  await t.step("a signature valid for another operator is refused", async () => {
    const other = fx.clients[3]!.account.address;
    const body = await binding(b);
    const signature = signBinding(b.key, { chainId, registry, operator: other, nonce: 1n });
    const res = await read(await s.post("/register", { ...body, operator: other, signature }));
    assert.equal(res.status, 409);
  });

  await t.step("bad input is a 4xx naming the field", async () => {
    const good = await binding(b);
    const cases: [unknown, number, RegExp][] = [
      ["{not json", 400, /not valid JSON/],
      ["[1,2]", 400, /JSON object/],
      [{ ...good, nodePubkey: "0x1234" }, 400, /"nodePubkey"/],
      [{ ...good, nodePubkey: `0x${"zz".repeat(32)}` }, 400, /"nodePubkey"/],
      [{ ...good, operator: "0xnotanaddress" }, 400, /"operator"/],
      [{ ...good, nonce: -1 }, 400, /"nonce"/],
      [{ ...good, nonce: 1.5 }, 400, /"nonce"/],
      [{ ...good, signature: "0xabcd" }, 400, /"signature"/],
      [{ nodePubkey: good.nodePubkey, operator: good.operator, nonce: 1 }, 400, /"signature"/],
    ];
    for (const [body, status, message] of cases) {
      const res = await read(await s.post("/register", body));
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(res.body.error.message, message);
    }
    const text = await read(
      await s.call("/register", {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify(good),
      }),
    );
    assert.equal(text.status, 415);
    assert.match(text.body.error.message, /content-type/);
    const big = await read(await s.post("/register", { ...good, pad: "x".repeat(1 << 20) }));
    assert.equal(big.status, 413);
    const declared = await read(
      await s.call("/register", {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": String(2 << 20) },
        body: "{}",
      }),
    );
    assert.equal(declared.status, 413);
  });

  await t.step("any method but POST is a 405", async () => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      assert.equal((await read(await s.call("/register", { method }))).status, 405);
    }
  });
});
