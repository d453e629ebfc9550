import assert from "node:assert/strict";
import { startDevnet } from "../../../lib/chain/devnet.ts";
import { type ArthaClient, createArthaClient } from "../../../lib/chain/client.ts";
import {
  arthaDIDRegistryAbi,
  arthaDIDRegistryBytecode,
} from "../../../lib/abi/ArthaDIDRegistry.ts";
import { generateNodeKey } from "../../../lib/crypto/keys.ts";
import { type EncKey, generateEncKey } from "../../../lib/crypto/enc_key.ts";
import { DecryptionError } from "../../../lib/crypto/aead.ts";
import { unwrapKey } from "../../../lib/crypto/key_wrap.ts";
import type { Hex } from "../../../lib/crypto/digest.ts";
import { MemoryBlockstore } from "../../../lib/store/memory_blockstore.ts";
import { Store } from "../../../lib/store/store.ts";
import { registerIdentity } from "../../../lib/did/resolve.ts";
import { getDataset, getGrant } from "../../../lib/did/data_access.ts";
import { AccessDeniedError, grantContext, openDataset } from "../../../lib/did/dataset_share.ts";
import { isKAnonymous } from "../../../lib/privacy/k_anonymity.ts";
import { emptyPiiCounts, type PiiKind } from "../../../lib/privacy/pii.ts";
import { parseCsv } from "../../../lib/dataset/csv.ts";
import { parseRecords } from "../../../lib/dataset/read_records.ts";
import { DatasetInputError } from "../../../lib/dataset/dataset_error.ts";
import {
  prepareDataset,
  prepareRecords,
  type PublishTarget,
} from "../../../lib/dataset/prepare.ts";
import { uploadToStore } from "../../../lib/dataset/upload.ts";
import { formatReport } from "../../../lib/dataset/report.ts";
import { formatDid } from "../../../lib/did/did.ts";
import { revokeDid } from "../../../lib/did/registry.ts";

interface Party {
  client: ArthaClient;
  didHash: Hex;
  enc: EncKey;
}

/** Personal data planted in the notes, by kind; `{i}` makes each row's different. */
const PLANTED: [PiiKind, (i: number) => string][] = [
  ["email", (i) => `write to kim.park${i}@example.com`],
  ["phone", (i) => `call 020 7946 0${String(100 + i)}`],
  ["card", () => "paid with 4111 1111 1111 1111"],
  ["iban", () => "refund to DE89 3704 0044 0532 0130 00"],
  ["dob", (i) => `born 3 July 19${50 + i}`],
  ["address", (i) => `moved to ${i + 1} Baker Street`],
  ["name", () => "ask Sarah Thompson"],
  ["ssn", () => "SSN 123-45-6789"],
];
const ROWS = 40;

/** 40 people: a name and e-mail column, age and ZIP (quasi-identifiers), a diagnosis, a note. */
function peopleCsv(): { csv: string; planted: string[]; counts: Record<PiiKind, number> } {
  const counts = emptyPiiCounts();
  const planted: string[] = [];
  const lines = ["name,email,age,zip,diagnosis,note"];
  for (let i = 0; i < ROWS; i++) {
    const name = `Person${i} Surname${i}`;
    const email = `person${i}@example.org`;
    counts.email++; // the e-mail column is free text too
    planted.push(email, name);
    let note = "no complaints";
    if (i % 2 === 0) {
      const [kind, make] = PLANTED[(i / 2) % PLANTED.length]!;
      note = `Customer note: ${make(i)}.`;
      planted.push(make(i).replace(/^\S+ (to |with |at )?/, ""));
      counts[kind]++;
    }
    const zip = ["94110", "94117", "10001", "10003"][i % 4]!;
    lines.push(`${name},${email},${20 + (i * 7) % 50},${zip},flu,"${note}"`);
  }
  return { csv: lines.join("\n") + "\n", planted, counts };
}

Deno.test("dataset prepare on anvil: redact, k-anonymise, encrypt, upload, register, grant", async (t) => {
  // Prepare: a devnet with the DID registry, an owner, a grantee and a stranger with DIDs
  await using net = await startDevnet({ accounts: 3 });
  const clients = net.accounts.map((account) =>
    createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account })
  );
  const hash = await clients[0]!.deployContract({
    abi: arthaDIDRegistryAbi,
    bytecode: arthaDIDRegistryBytecode,
    args: [],
  });
  const addresses = {
    dids: (await clients[0]!.waitForTransactionReceipt({ hash })).contractAddress!,
  };
  const store = new Store(new MemoryBlockstore());
  const parties: Party[] = [];
  for (const client of clients) {
    const enc = generateEncKey();
    const { didHash } = await registerIdentity(client, {
      addresses,
      store,
      authKey: generateNodeKey(),
      encKey: enc.publicKeyHex,
    });
    parties.push({ client, didHash, enc });
  }
  const [owner, grantee, stranger] = parties as [Party, Party, Party];
  const uploads: Uint8Array[] = [];
  const upload = uploadToStore(store);
  const target: PublishTarget = {
    client: owner.client,
    addresses,
    upload: (bytes) => {
      uploads.push(bytes);
      return upload(bytes);
    },
    ownerDid: owner.didHash,
    grantees: [grantee.didHash],
  };
  const dir = await Deno.makeTempDir();
  const people = peopleCsv();
  await Deno.writeTextFile(`${dir}/people.csv`, people.csv);

  await t.step(
    "a CSV: PII gone from what the grantee decrypts, k=4 holds, counts match",
    async () => {
      // Execute
      const { report, plaintext } = await prepareDataset(`${dir}/people.csv`, {
        drop: ["name"],
        k: 4,
        quasi: [{ column: "age" }, { column: "zip" }],
      }, target);
      const p = report.published!;
      const opened = await openDataset(grantee.client, {
        addresses,
        store,
        datasetId: p.datasetId,
        granteeDid: grantee.didHash,
        encSecretKey: grantee.enc.secretKey,
      });
      // Assert: what was uploaded decrypts to the prepared plaintext, without the planted PII
      assert.deepEqual(opened, plaintext);
      const text = new TextDecoder().decode(opened);
      for (const value of people.planted) assert.ok(!text.includes(value), `${value} leaked`);
      assert.deepEqual(report.redaction.counts, people.counts);
      assert.equal(report.redaction.total, ROWS + ROWS / 2);
      assert.deepEqual(report.redaction.columns, ["email", "diagnosis", "note"]);
      // k-anonymity holds on the output, and the report's numbers add up
      const out = parseCsv(text);
      assert.deepEqual(out.columns, ["email", "age", "zip", "diagnosis", "note"]);
      const rows = out.rows.map((r) => Object.fromEntries(out.columns.map((c, i) => [c, r[i]!])));
      assert.ok(isKAnonymous(rows, ["age", "zip"], 4));
      const k = report.kAnonymity!;
      assert.equal(k.rowsIn, ROWS);
      assert.equal(rows.length + k.rowsSuppressed, ROWS);
      assert.equal(report.output.rows, rows.length);
      assert.ok(k.kReached >= 4 && k.rowsGeneralised === rows.length);
      assert.deepEqual(report.input, {
        path: `${dir}/people.csv`,
        format: "csv",
        bytes: people.csv.length,
        rows: ROWS,
      });
      assert.equal(report.output.bytes, plaintext.length);
      // What the chain recorded: the dataset's CID, the grant, both transactions succeeded
      assert.equal(
        (await getDataset(owner.client, { addresses, datasetId: p.datasetId })).cid,
        p.cid,
      );
      assert.equal((await store.get(p.cid)).length, p.encryptedBytes);
      const grant = await getGrant(owner.client, {
        addresses,
        datasetId: p.datasetId,
        granteeDid: grantee.didHash,
      });
      assert.equal(grant.wrappedKeyCid, p.grants[0]!.wrappedKeyCid);
      for (const tx of [p.registerTx, p.grants[0]!.tx]) {
        const receipt = await owner.client.getTransactionReceipt({ hash: tx });
        assert.equal(receipt.status, "success");
      }
      assert.equal(uploads.length, 2); // the ciphertext and one wrapped key
    },
  );

  await t.step("a stranger can neither open the dataset nor unwrap the grantee's key", async () => {
    const { report } = await prepareDataset(`${dir}/people.csv`, { drop: ["name"] }, target);
    const p = report.published!;
    await assert.rejects(
      openDataset(stranger.client, {
        addresses,
        store,
        datasetId: p.datasetId,
        granteeDid: stranger.didHash,
        encSecretKey: stranger.enc.secretKey,
      }),
      AccessDeniedError,
    );
    assert.throws(
      () =>
        unwrapKey(uploads.at(-1)!, stranger.enc.secretKey, {
          context: grantContext(p.datasetId, grantee.didHash),
        }),
      DecryptionError,
    );
  });

  await t.step("a text file and a JSONL file are redacted the same way", async () => {
    // Prepare
    await Deno.writeTextFile(
      `${dir}/notes.txt`,
      "Hi, I'm Maria Gonzalez.\nMy IBAN is GB82 WEST 1234 5698 7654 32 and my phone 98765 43210.\n" +
        "Regards,\nPriya\n",
    );
    await Deno.writeTextFile(
      `${dir}/chat.jsonl`,
      '{"id": 1, "text": "mail bob [at] example [dot] com", "ok": true}\n' +
        '{"id": 2, "text": "born on 3 July 1990", "score": null}\n',
    );
    // Execute
    const text = await prepareDataset(`${dir}/notes.txt`, {}, target);
    const jsonl = await prepareDataset(`${dir}/chat.jsonl`, { textColumns: ["text"] }, target);
    // Assert
    assert.equal(
      new TextDecoder().decode(text.plaintext),
      "Hi, I'm [NAME].\nMy IBAN is [IBAN] and my phone [PHONE].\nRegards,\n[NAME]\n",
    );
    assert.deepEqual(text.report.redaction.counts, {
      ...emptyPiiCounts(),
      name: 2,
      iban: 1,
      phone: 1,
    });
    const records = parseRecords(new TextDecoder().decode(jsonl.plaintext), "jsonl");
    assert.deepEqual(records.format === "jsonl" && records.rows, [
      { id: 1, text: "mail [EMAIL]", ok: "true" },
      { id: 2, text: "born on [DOB]", score: null },
    ]);
    const opened = await openDataset(grantee.client, {
      addresses,
      store,
      datasetId: jsonl.report.published!.datasetId,
      granteeDid: grantee.didHash,
      encSecretKey: grantee.enc.secretKey,
      record: false,
    });
    assert.deepEqual(opened, jsonl.plaintext);
  });

  await t.step(
    "bad input fails with a DatasetInputError before anything is stored or sent",
    async () => {
      // Prepare
      await Deno.writeTextFile(`${dir}/ragged.csv`, "a,b\n1,2\n3,4,5\n");
      await Deno.writeTextFile(`${dir}/open.csv`, 'a,b\n1,"never closed\n');
      await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"a": 1}\n{"a": \n');
      await Deno.writeTextFile(`${dir}/nested.jsonl`, '{"a": {"b": 1}}\n');
      const unknownDid = `0x${"ab".repeat(32)}` as Hex;
      const cases: [string, Parameters<typeof prepareDataset>[1], PublishTarget, RegExp][] = [
        [`${dir}/missing.csv`, {}, target, /missing\.csv: no such file/],
        [`${dir}/ragged.csv`, {}, target, /line 3 has 3 fields, the header 2/],
        [`${dir}/open.csv`, {}, target, /line 2: a quoted field never closes/],
        [`${dir}/bad.jsonl`, {}, target, /line 2 is not JSON/],
        [`${dir}/nested.jsonl`, {}, target, /"a" is nested/],
        [`${dir}/people.csv`, { drop: ["nope"] }, target, /Cannot find column "nope"/],
        [`${dir}/people.csv`, { k: 41, quasi: [{ column: "age" }] }, target, /k=41.*only 40 rows/],
        [`${dir}/people.csv`, { k: 2 }, target, /give both --k and --quasi/],
        [`${dir}/notes.txt`, { k: 2, quasi: [{ column: "a" }] }, target, /text file/],
        [`${dir}/people.csv`, {}, { ...target, grantees: [unknownDid] }, /is not registered/],
        [`${dir}/people.csv`, {}, { ...target, ownerDid: grantee.didHash }, /is controlled by/],
      ];
      // Raw eth_blockNumber: viem's getBlockNumber may answer from its cache or an older
      // in-flight poll, which under load made this read stale (CI saw 8 before, 13 after).
      const blockNumber = async () => {
        const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber" });
        return (await (await fetch(net.rpcUrl, { method: "POST", body })).json()).result;
      };
      const before = [uploads.length, await blockNumber()];
      for (const [path, options, to, message] of cases) {
        // Execute, Assert
        await assert.rejects(
          prepareDataset(path, options, to),
          (e) =>
            e instanceof DatasetInputError && message.test(e.message) && !e.message.includes("\n"),
          `${path} ${JSON.stringify(options)}`,
        );
      }
      assert.deepEqual([uploads.length, await blockNumber()], before);
    },
  );

  await t.step(
    "victim: a grantee that revokes its DID mid-publish leaves the others their grants",
    async () => {
      // Found in the DID audit: the parties are checked before the upload; a grantee that
      // revoked its DID (or rotated to a key nothing can wrap to) in between stopped the grant
      // loop, so the grantees after it got nothing, and the data key (in this process only) was
      // gone with them. Prepare: the stranger, first of two grantees, revokes as the ciphertext
      // is uploaded.
      let revoked = false;
      const mid: PublishTarget = {
        ...target,
        grantees: [stranger.didHash, grantee.didHash],
        upload: async (bytes) => {
          if (!revoked) {
            revoked = true;
            await revokeDid(stranger.client, { addresses, didHash: stranger.didHash });
          }
          return await upload(bytes);
        },
      };

      // Execute
      const { report, plaintext } = await prepareDataset(`${dir}/notes.txt`, {}, mid);

      // Assert: the other grantee is granted and opens it; the revoked one is named.
      const p = report.published!;
      assert.deepEqual(p.grants.map((g) => g.did), [formatDid(grantee.didHash)]);
      assert.deepEqual(p.failed, [{
        did: formatDid(stranger.didHash),
        reason: `Cannot grant ${formatDid(stranger.didHash)}: its DID is revoked`,
      }]);
      const opened = await openDataset(grantee.client, {
        addresses,
        store,
        datasetId: p.datasetId,
        granteeDid: grantee.didHash,
        encSecretKey: grantee.enc.secretKey,
        record: false,
      });
      assert.deepEqual(opened, plaintext);
      assert.match(formatReport(report), /NOT granted did:artha:\S+: Cannot grant .* revoked/);
    },
  );

  await Deno.remove(dir, { recursive: true });
});

Deno.test("attacker: --text-column does not narrow redaction to its columns", () => {
  // Found in the data owner audit: `--text-column zip` redacted zip alone and shipped the note's
  // e-mail in the clear; every column not dropped or generalised is now redacted.
  // Prepare
  const data = parseRecords(
    "zip,note,age\n94110,mail a@b.io,34\n94117,call 415-555-0132,35\n",
    "csv",
  );
  // Execute
  const out = prepareRecords(data, { textColumns: ["zip"] });
  // Assert
  assert.equal(
    new TextDecoder().decode(out.plaintext),
    "zip,note,age\n94110,mail [EMAIL],34\n94117,call [PHONE],35\n",
  );
  assert.deepEqual(out.redaction.columns, ["zip", "note", "age"]);
  // A quasi-identifier is left to k-anonymity unless --text-column names it.
  const quasi = { k: 1, quasi: [{ column: "note", kind: "category" as const }] };
  assert.deepEqual(prepareRecords(data, quasi).redaction.columns, ["zip", "age"]);
  assert.deepEqual(
    prepareRecords(data, { ...quasi, textColumns: ["note"] }).redaction.columns,
    ["zip", "note", "age"],
  );
});

Deno.test("attacker: personal data in CSV headers is redacted after the options used them", () => {
  // Found in the data owner audit: a header (a JSONL key) was never searched.
  // Prepare: --drop and --quasi name columns by their names in the input
  const data = parseRecords(
    "id,alice@example.com,bob@example.org,age\n1,x,y,31\n2,x,z,38\n",
    "csv",
  );
  // Execute
  const out = prepareRecords(data, {
    drop: ["id"],
    k: 2,
    quasi: [{ column: "bob@example.org", kind: "category" }],
  });
  // Assert
  const text = new TextDecoder().decode(out.plaintext);
  assert.equal(text.split("\n")[0], "[EMAIL],[EMAIL] 2,age");
  assert.doesNotMatch(text, /alice|bob|example/);
  assert.equal(out.redaction.counts.email, 2);
  assert.equal(out.redaction.columnsRenamed, 2);
});
