import assert from "node:assert/strict";
import { encodePacked, type Hex, keccak256, zeroAddress } from "viem";
import {
  abis,
  b32,
  createDidArgs,
  didOf,
  event,
  expectRevert,
  HOUR,
  mined,
  nodePubkey,
  rotateKeysArgs,
  setupFixture,
  ZERO32,
} from "./_fixture.ts";

Deno.test("ArthaDIDRegistry", async (t) => {
  await using fx = await setupFixture({ accounts: 5 });
  const [owner, heir, alice, bob, stranger] = fx.clients as [
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
    typeof fx.owner,
  ];
  const dids = fx.c.dids;
  /** A dataset's id: keccak256(ownerDid ++ cid), what registerDataset checks. */
  const datasetIdOf = (ownerDid: Hex, cid: string) =>
    keccak256(encodePacked(["bytes32", "string"], [ownerDid, cid]));
  const [aliceDid, bobDid] = [didOf("a-auth"), didOf("b-auth")];
  const dataset = datasetIdOf(aliceDid, "bafy-cipher");
  const purpose = b32("job-42");
  const getDID = (d: Hex) => owner.readContract({ ...dids, functionName: "getDID", args: [d] });
  const hasAccess = () =>
    owner.readContract({ ...dids, functionName: "hasAccess", args: [dataset, bobDid] });
  /** Bob's encryption key now: the key a grant for him must be wrapped to. */
  const bobKey = async () => (await getDID(bobDid)).encKey;
  const grant = async (expiresAt = 0n) =>
    mined(
      alice,
      alice.writeContract({
        ...dids,
        functionName: "grantDataAccess",
        args: [dataset, bobDid, await bobKey(), "bafy-wrapped-key", expiresAt],
      }),
    );
  const recordAccess = (client = bob) =>
    client.simulateContract({
      ...dids,
      functionName: "recordAccess",
      args: [dataset, bobDid, purpose],
    });

  // Shared by every step: Alice's and Bob's DIDs and Alice's dataset.
  const created = await mined(
    alice,
    alice.writeContract({
      ...dids,
      functionName: "createDID",
      args: createDidArgs(fx, alice, "a-auth", b32("a-enc"), "bafy-a"),
    }),
  );
  await mined(
    bob,
    bob.writeContract({
      ...dids,
      functionName: "createDID",
      args: createDidArgs(fx, bob, "b-auth", b32("b-enc"), "bafy-b"),
    }),
  );
  const registered = await mined(
    alice,
    alice.writeContract({
      ...dids,
      functionName: "registerDataset",
      args: [dataset, aliceDid, "bafy-cipher"],
    }),
  );

  await fx.step(t, "createDID stores the document and emits DIDCreated", async () => {
    assert.deepEqual(event(created, abis.dids, "DIDCreated"), {
      didHash: aliceDid,
      owner: alice.account.address,
      authKey: nodePubkey("a-auth"),
      encKey: b32("a-enc"),
      metaCid: "bafy-a",
    });
    const ts = (await owner.getBlock({ blockNumber: created.blockNumber })).timestamp;
    assert.deepEqual(await getDID(aliceDid), {
      didHash: aliceDid,
      owner: alice.account.address,
      authKey: nodePubkey("a-auth"),
      encKey: b32("a-enc"),
      metaCid: "bafy-a",
      created: ts,
      updated: ts,
      revoked: false,
      keyNonce: 1,
    });
    const args = await expectRevert(
      stranger.simulateContract({
        ...dids,
        functionName: "createDID",
        args: createDidArgs(fx, stranger, "a-auth", b32("k"), ""),
      }),
      "DID__AlreadyExists",
    );
    assert.deepEqual(args, [aliceDid]);
    for (
      const [argsIn, field] of [
        [[ZERO32, b32("k"), b32("k"), "", "0x"], "didHash"],
        [[b32("d"), ZERO32, b32("k"), "", "0x"], "authKey"],
        [[b32("d"), b32("k"), ZERO32, "", "0x"], "encKey"],
      ] as const
    ) {
      const a = await expectRevert(
        stranger.simulateContract({ ...dids, functionName: "createDID", args: argsIn }),
        "DID__InvalidArgument",
      );
      assert.deepEqual(a, [field]);
    }
  });

  await fx.step(t, "rotateKeys replaces both keys; only the controller may rotate", async () => {
    await fx.increaseTime(60);
    const receipt = await mined(
      alice,
      alice.writeContract({
        ...dids,
        functionName: "rotateKeys",
        args: rotateKeysArgs(fx, alice, aliceDid, "a-auth2", b32("a-enc2")),
      }),
    );
    assert.deepEqual(event(receipt, abis.dids, "KeysRotated"), {
      didHash: aliceDid,
      authKey: nodePubkey("a-auth2"),
      encKey: b32("a-enc2"),
    });
    // The document CID moves in the same transaction: the DID resolves at every block.
    assert.deepEqual(event(receipt, abis.dids, "MetadataUpdated"), {
      didHash: aliceDid,
      metaCid: "bafy-a-auth2",
    });
    const d = await getDID(aliceDid);
    assert.equal(d.authKey, nodePubkey("a-auth2"));
    assert.equal(d.encKey, b32("a-enc2"));
    assert.equal(d.metaCid, "bafy-a-auth2");
    assert.ok(d.updated > d.created);
    const args = await expectRevert(
      stranger.simulateContract({
        ...dids,
        functionName: "rotateKeys",
        args: rotateKeysArgs(fx, stranger, aliceDid, "x", b32("y")),
      }),
      "DID__NotController",
    );
    assert.deepEqual(args, [stranger.account.address, aliceDid]);
    await expectRevert(
      alice.simulateContract({
        ...dids,
        functionName: "rotateKeys",
        args: [aliceDid, ZERO32, b32("y"), "", "0x"],
      }),
      "DID__InvalidArgument",
    );
    await expectRevert(
      alice.simulateContract({
        ...dids,
        functionName: "rotateKeys",
        args: [aliceDid, b32("x"), ZERO32, "", "0x"],
      }),
      "DID__InvalidArgument",
    );
    await expectRevert(
      alice.simulateContract({
        ...dids,
        functionName: "rotateKeys",
        args: [b32("none"), b32("x"), b32("y"), "", "0x"],
      }),
      "DID__UnknownDID",
    );
  });

  await fx.step(t, "updateMetadata points the DID at a new document", async () => {
    const receipt = await mined(
      alice,
      alice.writeContract({ ...dids, functionName: "updateMetadata", args: [aliceDid, "bafy-a2"] }),
    );
    assert.deepEqual(event(receipt, abis.dids, "MetadataUpdated"), {
      didHash: aliceDid,
      metaCid: "bafy-a2",
    });
    assert.equal((await getDID(aliceDid)).metaCid, "bafy-a2");
    await expectRevert(
      bob.simulateContract({ ...dids, functionName: "updateMetadata", args: [aliceDid, "x"] }),
      "DID__NotController",
    );
  });

  await fx.step(
    t,
    "changeOwner hands control of a DID and its datasets to another account",
    async () => {
      await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "changeOwner",
          args: [aliceDid, zeroAddress],
        }),
        "DID__InvalidArgument",
      );
      const receipt = await mined(
        alice,
        alice.writeContract({
          ...dids,
          functionName: "changeOwner",
          args: [aliceDid, heir.account.address],
        }),
      );
      assert.deepEqual(event(receipt, abis.dids, "DIDOwnerChanged"), {
        didHash: aliceDid,
        newOwner: heir.account.address,
      });
      assert.equal((await getDID(aliceDid)).owner, heir.account.address);
      await expectRevert(
        alice.simulateContract({ ...dids, functionName: "updateMetadata", args: [aliceDid, "x"] }),
        "DID__NotController",
      );
      const notOwner = await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "grantDataAccess",
          args: [dataset, bobDid, await bobKey(), "k", 0n],
        }),
        "DID__NotDatasetOwner",
      );
      assert.deepEqual(notOwner, [alice.account.address, dataset]);
      await mined(
        heir,
        heir.writeContract({
          ...dids,
          functionName: "grantDataAccess",
          args: [dataset, bobDid, await bobKey(), "k", 0n],
        }),
      );
      assert.equal(await hasAccess(), true);
    },
  );

  await fx.step(t, "revokeDID is final and stops the DID's grants", async () => {
    await grant();
    assert.equal(await hasAccess(), true);
    await expectRevert(
      alice.simulateContract({ ...dids, functionName: "revokeDID", args: [bobDid] }),
      "DID__NotController",
    );
    const receipt = await mined(
      bob,
      bob.writeContract({ ...dids, functionName: "revokeDID", args: [bobDid] }),
    );
    assert.deepEqual(event(receipt, abis.dids, "DIDRevoked"), { didHash: bobDid });
    assert.equal((await getDID(bobDid)).revoked, true);
    assert.equal(await hasAccess(), false);
    for (
      const call of [
        () =>
          bob.simulateContract({
            ...dids,
            functionName: "rotateKeys",
            args: [bobDid, b32("x"), b32("y"), "", "0x"],
          }),
        () =>
          bob.simulateContract({ ...dids, functionName: "updateMetadata", args: [bobDid, "x"] }),
        () =>
          bob.simulateContract({
            ...dids,
            functionName: "changeOwner",
            args: [bobDid, alice.account.address],
          }),
        () => bob.simulateContract({ ...dids, functionName: "revokeDID", args: [bobDid] }),
        () =>
          bob.simulateContract({
            ...dids,
            functionName: "recordConsent",
            args: [bobDid, purpose, true],
          }),
        () => recordAccess(),
      ]
    ) assert.deepEqual(await expectRevert(call(), "DID__Revoked"), [bobDid]);
    const args = await expectRevert(
      alice.simulateContract({
        ...dids,
        functionName: "grantDataAccess",
        args: [dataset, bobDid, await bobKey(), "k", 0n],
      }),
      "DID__Revoked",
    );
    assert.deepEqual(args, [bobDid]);
  });

  await fx.step(
    t,
    "registerDataset records the owner DID; duplicates and foreign DIDs revert",
    async () => {
      assert.deepEqual(event(registered, abis.dids, "DatasetRegistered"), {
        datasetId: dataset,
        ownerDid: aliceDid,
        cid: "bafy-cipher",
      });
      assert.deepEqual(
        await owner.readContract({ ...dids, functionName: "getDataset", args: [dataset] }),
        {
          ownerDid: aliceDid,
          keyVersion: 1,
          cid: "bafy-cipher",
        },
      );
      const exists = await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "registerDataset",
          args: [dataset, aliceDid, "bafy-cipher"],
        }),
        "DID__DatasetExists",
      );
      assert.deepEqual(exists, [dataset]);
      await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "registerDataset",
          args: [ZERO32, aliceDid, "x"],
        }),
        "DID__InvalidArgument",
      );
      // An id that is not keccak256(ownerDid ++ cid) (attacks 15).
      await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "registerDataset",
          args: [datasetIdOf(aliceDid, "y"), aliceDid, "x"],
        }),
        "DID__InvalidArgument",
      );
      await expectRevert(
        stranger.simulateContract({
          ...dids,
          functionName: "registerDataset",
          args: [datasetIdOf(aliceDid, "x"), aliceDid, "x"],
        }),
        "DID__NotController",
      );
    },
  );

  await fx.step(t, "grantDataAccess lets the grantee record uses of the dataset", async () => {
    assert.equal(await hasAccess(), false);
    await expectRevert(recordAccess(), "DID__NoAccess");
    const receipt = await grant();
    assert.deepEqual(event(receipt, abis.dids, "DataAccessGranted"), {
      datasetId: dataset,
      granteeDid: bobDid,
      wrappedKeyCid: "bafy-wrapped-key",
      expiresAt: 0n,
    });
    const ts = (await owner.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
    assert.deepEqual(
      await owner.readContract({ ...dids, functionName: "getGrant", args: [dataset, bobDid] }),
      {
        grantedAt: ts,
        expiresAt: 0n,
        active: true,
        keyVersion: 1,
        granteeKeyNonce: 1,
        wrappedKeyCid: "bafy-wrapped-key",
      },
    );
    assert.equal(await hasAccess(), true);
    const used = await mined(
      bob,
      bob.writeContract({
        ...dids,
        functionName: "recordAccess",
        args: [dataset, bobDid, purpose],
      }),
    );
    assert.deepEqual(event(used, abis.dids, "DataAccessed"), {
      datasetId: dataset,
      granteeDid: bobDid,
      accessor: bob.account.address,
      purposeHash: purpose,
    });
    // Only the grantee's controller records uses.
    await expectRevert(recordAccess(stranger), "DID__NotController");
    const notOwner = await expectRevert(
      stranger.simulateContract({
        ...dids,
        functionName: "grantDataAccess",
        args: [dataset, bobDid, await bobKey(), "k", 0n],
      }),
      "DID__NotDatasetOwner",
    );
    assert.deepEqual(notOwner, [stranger.account.address, dataset]);
    await expectRevert(
      alice.simulateContract({
        ...dids,
        functionName: "grantDataAccess",
        args: [b32("nope"), bobDid, await bobKey(), "k", 0n],
      }),
      "DID__UnknownDataset",
    );
    await expectRevert(
      alice.simulateContract({
        ...dids,
        functionName: "grantDataAccess",
        args: [dataset, b32("nobody"), ZERO32, "k", 0n],
      }),
      "DID__UnknownDID",
    );
  });

  await fx.step(
    t,
    "a grant with an expiry stops working at the expiry; past expiries revert",
    async () => {
      const now = await fx.now();
      const past = await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "grantDataAccess",
          args: [dataset, bobDid, await bobKey(), "k", now - 1n],
        }),
        "DID__ExpiryInPast",
      );
      assert.equal(past[0], now - 1n);
      await grant(now + BigInt(HOUR));
      assert.equal(await hasAccess(), true);
      await fx.increaseTime(HOUR - 60);
      assert.equal(await hasAccess(), true);
      await fx.increaseTime(120);
      assert.equal(await hasAccess(), false);
      const args = await expectRevert(recordAccess(), "DID__NoAccess");
      assert.deepEqual(args, [dataset, bobDid]);
    },
  );

  await fx.step(
    t,
    "rotateDataset bumps the key version: old grants end until re-granted; strangers revert",
    async () => {
      await grant();
      assert.equal(await hasAccess(), true);
      await expectRevert(
        stranger.simulateContract({
          ...dids,
          functionName: "rotateDataset",
          args: [dataset, "v2"],
        }),
        "DID__NotDatasetOwner",
      );
      const receipt = await mined(
        alice,
        alice.writeContract({
          ...dids,
          functionName: "rotateDataset",
          args: [dataset, "bafy-cipher-v2"],
        }),
      );
      assert.deepEqual(event(receipt, abis.dids, "DatasetRotated"), {
        datasetId: dataset,
        cid: "bafy-cipher-v2",
        keyVersion: 2,
      });
      assert.equal(await hasAccess(), false);
      await expectRevert(recordAccess(), "DID__NoAccess");
      await grant();
      assert.equal(await hasAccess(), true);
      assert.equal(
        (await owner.readContract({ ...dids, functionName: "getGrant", args: [dataset, bobDid] }))
          .keyVersion,
        2,
      );
    },
  );

  await fx.step(
    t,
    "revokeDataAccess ends a grant; revoking twice reverts with NoAccess",
    async () => {
      await grant();
      await expectRevert(
        stranger.simulateContract({
          ...dids,
          functionName: "revokeDataAccess",
          args: [dataset, bobDid],
        }),
        "DID__NotDatasetOwner",
      );
      const receipt = await mined(
        alice,
        alice.writeContract({ ...dids, functionName: "revokeDataAccess", args: [dataset, bobDid] }),
      );
      assert.deepEqual(event(receipt, abis.dids, "DataAccessRevoked"), {
        datasetId: dataset,
        granteeDid: bobDid,
      });
      assert.equal(await hasAccess(), false);
      assert.equal(
        (await owner.readContract({ ...dids, functionName: "getGrant", args: [dataset, bobDid] }))
          .active,
        false,
      );
      await expectRevert(recordAccess(), "DID__NoAccess");
      const args = await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "revokeDataAccess",
          args: [dataset, bobDid],
        }),
        "DID__NoAccess",
      );
      assert.deepEqual(args, [dataset, bobDid]);
      await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "revokeDataAccess",
          args: [b32("nope"), bobDid],
        }),
        "DID__UnknownDataset",
      );
    },
  );

  await fx.step(
    t,
    "attacker: a grantee's stolen key loses the grant once the grantee rotates its keys",
    async () => {
      // Found in the audits: grants were not bound to the grantee's keys, so a DID whose key was
      // stolen and rotated still had access on chain (recordAccess, and a coordinator that
      // checks hasAccess before it serves data) until the owner revoked or rotated the dataset.
      await grant();
      assert.equal(await hasAccess(), true);
      const nonce = (await getDID(bobDid)).keyNonce;
      await mined(
        bob,
        bob.writeContract({
          ...dids,
          functionName: "rotateKeys",
          args: rotateKeysArgs(fx, bob, bobDid, "b-auth2", b32("b-enc2"), BigInt(nonce)),
        }),
      );
      assert.equal(await hasAccess(), false);
      await expectRevert(recordAccess(), "DID__NoAccess");
      // A grant wrapped to the stolen key (in flight during the rotation, or a coordinator's
      // answer for Bob's key that lies) would name Bob's new key nonce; it reverts instead.
      const stale = await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "grantDataAccess",
          args: [dataset, bobDid, b32("b-enc"), "k", 0n],
        }),
        "DID__KeyChanged",
      );
      assert.deepEqual(stale, [bobDid, b32("b-enc"), b32("b-enc2")]);
      assert.equal(await hasAccess(), false);
      // The owner wraps the key for the new encryption key: access again.
      await grant();
      assert.equal(await hasAccess(), true);
    },
  );

  await fx.step(t, "recordConsent gives and withdraws consent for a purpose", async () => {
    const hasConsent = () =>
      owner.readContract({ ...dids, functionName: "hasConsent", args: [bobDid, purpose] });
    assert.equal(await hasConsent(), false);
    for (const given of [true, false]) {
      const receipt = await mined(
        bob,
        bob.writeContract({
          ...dids,
          functionName: "recordConsent",
          args: [bobDid, purpose, given],
        }),
      );
      assert.deepEqual(event(receipt, abis.dids, "ConsentRecorded"), {
        subjectDid: bobDid,
        purposeHash: purpose,
        given,
      });
      assert.equal(await hasConsent(), given);
    }
    await expectRevert(
      alice.simulateContract({
        ...dids,
        functionName: "recordConsent",
        args: [bobDid, purpose, true],
      }),
      "DID__NotController",
    );
  });

  await fx.step(
    t,
    "grantDataAccess reverts with Revoked when the owner DID is revoked",
    async () => {
      // The subject's consent, given before the revocation (checked below).
      const aliceConsents = () =>
        owner.readContract({ ...dids, functionName: "hasConsent", args: [aliceDid, purpose] });
      await mined(
        alice,
        alice.writeContract({
          ...dids,
          functionName: "recordConsent",
          args: [aliceDid, purpose, true],
        }),
      );
      assert.equal(await aliceConsents(), true);
      await mined(
        alice,
        alice.writeContract({ ...dids, functionName: "revokeDID", args: [aliceDid] }),
      );
      // Found in the DID audit: consent outlived its subject's DID, and the subject (whose
      // revoked DID controls nothing) could never withdraw it. It ends with the DID, as grants do.
      assert.equal(await aliceConsents(), false, "a revoked subject consents to nothing");
      await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "recordConsent",
          args: [aliceDid, purpose, false],
        }),
        "DID__Revoked",
      );
      await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "grantDataAccess",
          args: [dataset, bobDid, await bobKey(), "k", 0n],
        }),
        "DID__Revoked",
      );
    },
  );

  await fx.step(
    t,
    "attacker: a grantee keeps no access once the dataset's owner revoked its DID",
    async () => {
      // Found in the privacy audit: hasAccess checked the grantee's DID, not the owner's. An owner
      // that revoked its DID (a lost or stolen key: revokeDID is how it says "stop everything")
      // could no longer revoke its grants one by one, since a revoked DID controls nothing, and
      // every grant it had made stayed valid: Bob kept recording uses and the coordinator kept
      // serving him the dataset.
      await grant();
      assert.equal(await hasAccess(), true);
      await mined(
        alice,
        alice.writeContract({ ...dids, functionName: "revokeDID", args: [aliceDid] }),
      );
      assert.equal(await hasAccess(), false, "the owner's revocation ends its grants");
      await expectRevert(recordAccess(), "DID__NoAccess");
      await expectRevert(
        alice.simulateContract({
          ...dids,
          functionName: "revokeDataAccess",
          args: [dataset, bobDid],
        }),
        "DID__Revoked",
      );
    },
  );
});
