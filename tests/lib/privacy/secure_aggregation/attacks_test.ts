/**
 * A lying server and forged messages: what honest clients refuse (b), what AEAD rejects (c),
 * what the signatures exclude (d), and the optional ConsistencyCheck round.
 */
import assert from "node:assert/strict";
import { DecryptionError } from "../../../../lib/crypto/aead.ts";
import type { Hex } from "../../../../lib/crypto/digest.ts";
import {
  generateNodeKey,
  type NodeKey,
  signBytes,
  verifyBytes,
} from "../../../../lib/crypto/keys.ts";
import {
  InvalidShareError,
  ProtocolError,
  UnmaskRefusedError,
} from "../../../../lib/privacy/secure_aggregation/errors.ts";
import {
  type MaskedInputRequest,
  type Receipt,
  rosterBitmap,
  type ShareKeysRequest,
  type UnmaskRequest,
  type UnmaskResponse,
} from "../../../../lib/privacy/secure_aggregation/messages.ts";
import { bytesToHex, hexToBytes } from "../../../../lib/crypto/digest.ts";
import { advertisePayload } from "../../../../lib/privacy/secure_aggregation/_wire.ts";
import {
  advanceTo,
  answer,
  createParties,
  defaultInput,
  expectedSum,
  makeConfig,
} from "./_round.ts";

const refused = (reason: string, client?: string) => (e: unknown) =>
  e instanceof UnmaskRefusedError && e.code === "SECAGG_UNMASK_REFUSED" && e.reason === reason &&
  (client === undefined || e.client === client);

Deno.test("(b) asked for both shares of one client in one request: refused", async () => {
  // Prepare
  const { params, clients, requests } = await advanceTo({ config: makeConfig(8) }, "Unmasking");
  const honest = requests.get("c0") as UnmaskRequest;
  // Execute: the server lists c1 as a survivor and as dropped
  const both = { ...honest, dropped: rosterBitmap(["c1"], params.clients) };
  // Assert
  await assert.rejects(() => clients.get("c0")!.unmask(both), refused("both-shares", "c1"));
});

Deno.test("(b) claims a live client dropped after getting its b share: refused", async () => {
  // Prepare
  const { params, clients, requests } = await advanceTo({ config: makeConfig(8) }, "Unmasking");
  const honest = requests.get("c0") as UnmaskRequest;
  const c0 = clients.get("c0")!;
  const first = await c0.unmask(honest);
  assert.ok(first.selfMaskShares.some((s) => s.of === "c1"));
  // Execute: a second request says c1 dropped, to get its s^SK share as well
  const lie: UnmaskRequest = {
    stage: "Unmasking",
    survivors: rosterBitmap(params.clients.filter((id) => id !== "c1"), params.clients),
    dropped: rosterBitmap(["c1"], params.clients),
  };
  // Assert
  await assert.rejects(() => c0.unmask(lie), refused("conflicts-earlier-answer", "c1"));
  assert.deepEqual(await c0.unmask(honest), first, "a retry of the same request is answered");
});

Deno.test("(b) says the client itself dropped, or too few survivors: refused", async () => {
  const { params, clients } = await advanceTo({ config: makeConfig(8) }, "Unmasking");
  const set = (ids: readonly string[]) => rosterBitmap(ids, params.clients);
  const others = params.clients.filter((id) => id !== "c2");
  await assert.rejects(
    () =>
      clients.get("c2")!.unmask({
        stage: "Unmasking",
        survivors: set(others),
        dropped: set(["c2"]),
      }),
    refused("self-dropped", "c2"),
  );
  const few = params.clients.slice(0, params.minSurvivors - 1);
  await assert.rejects(
    () => clients.get("c0")!.unmask({ stage: "Unmasking", survivors: set(few), dropped: set([]) }),
    refused("too-few-survivors"),
  );
});

Deno.test("(b) splitting the neighbours between 'alive' and 'dropped' yields < t of one kind", async () => {
  // Prepare: 8 clients, complete graph: k = 7, t = 4, so 2t > k.
  const { params, clients } = await advanceTo({ config: makeConfig(8) }, "Unmasking");
  const set = (ids: readonly string[]) => rosterBitmap(ids, params.clients);
  const aliveView = {
    stage: "Unmasking" as const,
    survivors: set(params.clients),
    dropped: set([]),
  };
  const deadView = {
    stage: "Unmasking" as const,
    survivors: set(params.clients.filter((id) => id !== "c1")),
    dropped: set(["c1"]),
  };
  // Execute: 3 neighbours told c1 is alive, the other 4 told it dropped
  const replies: UnmaskResponse[] = [];
  for (const [i, id] of ["c0", "c2", "c3", "c4", "c5", "c6", "c7"].entries()) {
    replies.push(await clients.get(id)!.unmask(i < 3 ? aliveView : deadView));
  }
  // Assert: 4 s^SK shares (the s key is exposed) but only 3 b shares: b_c1 stays hidden,
  // and no split of 7 honest answers can reach t = 4 of both kinds.
  const bShares = replies.flatMap((r) => r.selfMaskShares).filter((s) => s.of === "c1");
  const skShares = replies.flatMap((r) => r.maskKeyShares).filter((s) => s.of === "c1");
  assert.equal(bShares.length, 3);
  assert.equal(skShares.length, 4);
  assert.ok(bShares.length < params.threshold);
  for (let m = 0; m <= params.degree; m++) {
    assert.ok(m < params.threshold || params.degree - m < params.threshold);
  }
});

/** A fresh 5-client round stopped at MaskedInputCollection. */
async function atMaskedInput() {
  return await advanceTo({ config: makeConfig(5) }, "MaskedInputCollection");
}

const invalidShare = (from: string) => (e: unknown) =>
  e instanceof InvalidShareError && e.code === "SECAGG_INVALID_SHARE" && e.client === from;

Deno.test("(c) a tampered share ciphertext is rejected by AEAD", async () => {
  // Prepare
  const { clients, requests, inputs } = await atMaskedInput();
  const req = structuredClone(requests.get("c0")) as MaskedInputRequest;
  const bytes = hexToBytes(req.shares[1]!.ciphertext);
  bytes[40]! ^= 1;
  req.shares[1]!.ciphertext = `0x${
    Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
  // Execute + Assert
  await assert.rejects(
    () => clients.get("c0")!.maskInput(req, inputs("c0")),
    (e: unknown) =>
      invalidShare(req.shares[1]!.from)(e) && (e as Error).cause instanceof DecryptionError,
  );
});

Deno.test("(c) a share replayed from another round is rejected", async () => {
  // Prepare: two rounds with the same roster; round B gets round A's ciphertext
  const a = await atMaskedInput();
  const b = await atMaskedInput();
  const req = structuredClone(b.requests.get("c0")) as MaskedInputRequest;
  req.shares[0]!.ciphertext = (a.requests.get("c0") as MaskedInputRequest).shares[0]!.ciphertext;
  // Execute + Assert
  await assert.rejects(
    () => b.clients.get("c0")!.maskInput(req, b.inputs("c0")),
    invalidShare("c1"),
  );
});

Deno.test("(c) a share readdressed to another client, or reflected to its sender, is rejected", async () => {
  // Readdressed: c2's share for c1, presented to c0 as c2's share for c0.
  const r1 = await atMaskedInput();
  const toC1 = (r1.requests.get("c1") as MaskedInputRequest).shares.find((s) => s.from === "c2")!;
  const req1 = structuredClone(r1.requests.get("c0")) as MaskedInputRequest;
  req1.shares.find((s) => s.from === "c2")!.ciphertext = toC1.ciphertext;
  await assert.rejects(
    () => r1.clients.get("c0")!.maskInput(req1, r1.inputs("c0")),
    invalidShare("c2"),
  );
  // Reflected: c0's own share for c2 sent back to c0 as if from c2 (same pair key, other AAD).
  const r2 = await atMaskedInput();
  const fromC0 = (r2.requests.get("c2") as MaskedInputRequest).shares.find((s) => s.from === "c0")!;
  const req2 = structuredClone(r2.requests.get("c0")) as MaskedInputRequest;
  req2.shares.find((s) => s.from === "c2")!.ciphertext = fromC0.ciphertext;
  await assert.rejects(
    () => r2.clients.get("c0")!.maskInput(req2, r2.inputs("c0")),
    invalidShare("c2"),
  );
});

Deno.test("(c) a repeated or truncated share is refused", async () => {
  const r1 = await atMaskedInput();
  const req1 = structuredClone(r1.requests.get("c0")) as MaskedInputRequest;
  req1.shares.push(req1.shares[0]!);
  await assert.rejects(() => r1.clients.get("c0")!.maskInput(req1, r1.inputs("c0")), ProtocolError);
  const r2 = await atMaskedInput();
  const req2 = structuredClone(r2.requests.get("c0")) as MaskedInputRequest;
  req2.shares[0]!.ciphertext = req2.shares[0]!.ciphertext.slice(0, -2) as Hex;
  await assert.rejects(
    () => r2.clients.get("c0")!.maskInput(req2, r2.inputs("c0")),
    invalidShare("c1"),
  );
});

/** Six Ed25519 node identities; the roster ids are their public keys. */
function identities(n: number) {
  const keys = new Map<string, NodeKey>();
  for (let i = 0; i < n; i++) {
    const k = generateNodeKey();
    keys.set(k.publicKeyHex, k);
  }
  const verify = (id: string, m: Uint8Array, s: Hex) => verifyBytes(id as Hex, m, s);
  return { keys, ids: [...keys.keys()], verify };
}

Deno.test("(d) a client whose AdvertiseKeys signature is wrong is excluded; the rest aggregate", async () => {
  // Prepare: ids[2] signs with a key that is not its identity
  const { keys, ids, verify } = identities(6);
  const impostor = generateNodeKey();
  const parties = await createParties({
    config: makeConfig(6, { clients: ids, minSurvivors: 4 }),
    verify,
    clientOptions: (id) => ({
      sign: (m) => signBytes(id === ids[2] ? impostor : keys.get(id)!, m),
      verify,
    }),
  });
  const { server, clients, params } = parties;
  const round = { ...parties, inputs: defaultInput(params) };
  // Execute
  const receipts = new Map<string, Receipt>();
  for (const [id, c] of clients) receipts.set(id, await server.receive(await c.advertiseKeys()));
  const unsigned = await server.receive({
    stage: "AdvertiseKeys",
    id: ids[3]!,
    cPk: `0x${"09".repeat(32)}`,
    sPk: `0x${"09".repeat(32)}`,
  });
  let requests = server.closeStage();
  while (server.stage !== "Unmasking") {
    await answer(round, requests);
    requests = server.closeStage();
  }
  await answer(round, requests);
  const result = await server.finish();
  // Assert
  assert.deepEqual(receipts.get(ids[2]!), {
    ok: false,
    code: "BAD_SIGNATURE",
    message: `Cannot accept message: signature of ${ids[2]} does not verify`,
  });
  assert.equal(unsigned.ok ? "" : unsigned.code, "DUPLICATE", "ids[3] already advertised");
  const rest = ids.filter((id) => id !== ids[2]);
  assert.deepEqual(result.included, rest);
  assert.deepEqual(result.excluded, { [ids[2]!]: "bad-signature" });
  assert.deepEqual(result.sum, expectedSum(params, rest, defaultInput(params)));
});

for (const which of ["cPk", "sPk"] as const) {
  Deno.test(`(d) attacker: a signed low-order ${which} is refused; its sender is left out, the rest aggregate`, async () => {
    // Found in the secure aggregation audit: the server checked the keys' length only and relayed
    // an all-zero key, signed by its sender; every honest neighbour then failed the round (at
    // ShareKeys for a c key, while masking for an s key) and nobody was named for it.
    const { keys, ids, verify } = identities(6);
    const evil = ids[0]!;
    const parties = await createParties({
      config: makeConfig(6, { clients: ids, minSurvivors: 4 }),
      verify,
      clientOptions: (id) => ({ sign: (m) => signBytes(keys.get(id)!, m), verify }),
    });
    const { server, clients, params } = parties;
    const round = { ...parties, inputs: defaultInput(params) };
    // Execute
    let receipt: Receipt | undefined;
    for (const [id, c] of clients) {
      const msg = await c.advertiseKeys();
      if (id === evil) {
        msg[which] = `0x${"00".repeat(32)}`;
        const payload = advertisePayload(
          params.context,
          id,
          hexToBytes(msg.cPk),
          hexToBytes(msg.sPk),
        );
        msg.signature = signBytes(keys.get(id)!, payload);
        receipt = await server.receive(msg);
      } else assert.ok((await server.receive(msg)).ok);
    }
    let requests = server.closeStage();
    while (server.stage !== "Unmasking") {
      await answer(round, requests);
      requests = server.closeStage();
    }
    await answer(round, requests);
    const result = await server.finish();
    // Assert
    assert.equal(receipt?.ok ? "" : receipt?.code, "MALFORMED");
    const rest = ids.filter((id) => id !== evil);
    assert.deepEqual(result.included, rest);
    assert.deepEqual(result.excluded, { [evil]: "no-keys" });
    assert.deepEqual(result.sum, expectedSum(params, rest, defaultInput(params)));
  });
}

Deno.test("(d) attacker: fields a sender pads its keys with are not relayed to its neighbours", async () => {
  // Found in the secure aggregation audit: a signed AdvertiseKeys carrying a megabyte of an
  // unknown field was kept whole and sent in each neighbour's ShareKeys request.
  const { keys, ids, verify } = identities(4);
  const { server, clients } = await createParties({
    config: makeConfig(4, { clients: ids, minSurvivors: 3 }),
    verify,
    clientOptions: (id) => ({ sign: (m) => signBytes(keys.get(id)!, m), verify }),
  });
  for (const [id, c] of clients) {
    const msg = await c.advertiseKeys();
    const sent = id === ids[0] ? { ...msg, pad: "x".repeat(100_000) } : msg;
    assert.ok((await server.receive(sent)).ok);
  }
  const requests = [...server.closeStage().values()] as ShareKeysRequest[];
  const relayed = requests.flatMap((r) => r.keys);
  assert.ok(relayed.some((k) => k.id === ids[0]), "its keys are relayed");
  for (const k of relayed) {
    assert.deepEqual(Object.keys(k), ["stage", "id", "cPk", "sPk", "signature"]);
  }
});

Deno.test("(d) unsigned keys are refused by a verifying server", async () => {
  const { ids, verify } = identities(3);
  const { server } = await createParties({ config: makeConfig(3, { clients: ids }), verify });
  const receipt = await server.receive({
    stage: "AdvertiseKeys",
    id: ids[0]!,
    cPk: `0x${"09".repeat(32)}`,
    sPk: `0x${"0a".repeat(32)}`,
  });
  assert.equal(receipt.ok ? "" : receipt.code, "BAD_SIGNATURE");
});

Deno.test("(d) a server that swaps in its own keys for a neighbour is caught by the client", async () => {
  // Prepare
  const { keys, ids, verify } = identities(4);
  const setup = {
    config: makeConfig(4, { clients: ids }),
    verify,
    clientOptions: (id: string) => ({
      sign: (m: Uint8Array) => signBytes(keys.get(id)!, m),
      verify,
    }),
  };
  const { clients, requests } = await advanceTo(setup, "ShareKeys");
  const req = structuredClone(requests.get(ids[0]!)) as ShareKeysRequest;
  // Execute: the server's own key in place of ids[1]'s, under ids[1]'s signature
  req.keys.find((k) => k.id === ids[1])!.cPk = `0x${"42".repeat(32)}`;
  // Assert
  await assert.rejects(() => clients.get(ids[0]!)!.shareKeys(req), /keys of .*: bad signature/);
});

Deno.test("ConsistencyCheck round: signed survivor set, exact sum with dropouts", async () => {
  // Prepare
  const { keys, ids, verify } = identities(8);
  const setup = {
    config: makeConfig(8, { clients: ids, consistencyCheck: true, minSurvivors: 5 }),
    verify,
    clientOptions: (id: string) => ({
      sign: (m: Uint8Array) => signBytes(keys.get(id)!, m),
      verify,
    }),
    drop: { maskedInput: [ids[1]!], consistency: [ids[4]!] },
  };
  // Execute
  const round = await advanceTo(setup, "Unmasking");
  await answer(round, round.requests);
  const result = await round.server.finish();
  // Assert: ids[4] did not sign, yet its input is in the sum (its b is rebuilt by neighbours)
  assert.ok(!round.requests.has(ids[4]!), "only signers are asked to unmask");
  const survivors = ids.filter((id) => id !== ids[1]);
  assert.deepEqual(result.included, survivors);
  assert.deepEqual(result.sum, expectedSum(round.params, survivors, round.inputs));
});

Deno.test("ConsistencyCheck: another survivor set or too few signatures is refused", async () => {
  // Prepare
  const { keys, ids, verify } = identities(6);
  const setup = {
    config: makeConfig(6, { clients: ids, consistencyCheck: true, minSurvivors: 4 }),
    verify,
    clientOptions: (id: string) => ({
      sign: (m: Uint8Array) => signBytes(keys.get(id)!, m),
      verify,
    }),
  };
  const { clients, requests, params } = await advanceTo(setup, "Unmasking");
  const req = requests.get(ids[0]!) as UnmaskRequest;
  const c0 = clients.get(ids[0]!)!;
  // Execute + Assert: a set without ids[5] (not the one everyone signed)
  const other = { ...req, survivors: rosterBitmap(ids.slice(0, 5), params.clients) };
  await assert.rejects(() => c0.unmask(other), refused("consistency"));
  // Only 3 signatures (4 needed), or one signature repeated
  await assert.rejects(
    () => c0.unmask({ ...req, signatures: req.signatures!.slice(0, 3) }),
    refused("consistency"),
  );
  const repeated = Array(6).fill(req.signatures![0]!);
  await assert.rejects(() => c0.unmask({ ...req, signatures: repeated }), refused("consistency"));
  // The honest request is answered
  assert.equal((await c0.unmask(req)).selfMaskShares.length, 5);
});

Deno.test("server refuses messages out of stage, from strangers, twice, or malformed", async () => {
  const { server, clients } = await createParties({ config: makeConfig(4) });
  const adv = await clients.get("c0")!.advertiseKeys();
  const code = (r: Receipt) => r.ok ? "ok" : r.code;
  assert.equal(code(await server.receive({ ...adv, id: "mallory" })), "UNKNOWN_CLIENT");
  assert.equal(code(await server.receive({ ...adv, cPk: "0x01" })), "MALFORMED");
  assert.equal(code(await server.receive(adv)), "ok");
  assert.equal(code(await server.receive(adv)), "DUPLICATE");
  assert.equal(
    code(
      await server.receive({
        stage: "ShareKeys",
        id: "c0",
        shares: [],
        bCommit: `0x${"00".repeat(32)}`,
      }),
    ),
    "WRONG_STAGE",
  );
  for (const id of ["c1", "c2", "c3"]) await server.receive(await clients.get(id)!.advertiseKeys());
  server.closeStage();
  assert.equal(
    code(
      await server.receive({
        stage: "ShareKeys",
        id: "c0",
        shares: [],
        bCommit: `0x${"00".repeat(32)}`,
      }),
    ),
    "MALFORMED",
  );
  await assert.rejects(() => server.finish(), ProtocolError);
});

Deno.test("(e) attacker: a survivor that reveals a wrong share at Unmasking is refused; the sum stays exact", async () => {
  // Prepare: every client reached Unmasking. Found in the node routes audit: nothing checked a
  // revealed share, and the server rebuilt each secret from the first t it got, so one survivor
  // answering first with a wrong share of a neighbour's b made the server strip the wrong mask:
  // a sum of ring noise, applied to the job's checkpoint as the round's update.
  const round = await advanceTo({ config: makeConfig(8) }, "Unmasking");
  const { params, server, clients, requests, inputs } = round;
  const honest = await clients.get("c0")!.respond(requests.get("c0")!) as UnmaskResponse;
  const [first, ...rest] = honest.selfMaskShares;
  const wrong = hexToBytes(first!.share);
  wrong[1] = wrong[1]! ^ 0xff;
  const lie: UnmaskResponse = {
    ...honest,
    selfMaskShares: [{ of: first!.of, share: bytesToHex(wrong) }, ...rest],
  };

  // Execute: the liar answers first, then everyone else.
  const receipt = await server.receive(lie);
  const others = new Map([...requests].filter(([id]) => id !== "c0"));
  await answer(round, others);
  const result = await server.finish();

  // Assert: the lie is refused naming the share; the sum is every survivor's, exactly.
  assert.equal(receipt.ok, false);
  assert.equal((receipt as { code: string }).code, "BAD_SHARE");
  assert.match((receipt as { message: string }).message, new RegExp(`share of ${first!.of}`));
  assert.deepEqual(result.sum, expectedSum(params, params.clients, inputs));
});

Deno.test("(e) a share whose digest its sender did not commit to is refused by its recipient", async () => {
  // Prepare: c1 seals its shares, then changes the digest it sent c0 for its b share (a sender
  // that commits to other shares than it sealed could later have an honest reveal refused).
  const round = await advanceTo({ config: makeConfig(8) }, "MaskedInputCollection");
  const request = round.requests.get("c0") as MaskedInputRequest;
  const shares = request.shares.map((s) =>
    s.from === "c1" ? { ...s, bDigest: `0x${"00".repeat(32)}` as Hex } : s
  );

  // Execute + Assert: c0 refuses the share from c1 rather than hold one it could not reveal.
  await assert.rejects(
    () => round.clients.get("c0")!.maskInput({ ...request, shares }, round.inputs("c0")),
    (e) => e instanceof InvalidShareError && e.client === "c1",
  );
});
