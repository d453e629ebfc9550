/**
 * `job model` from the side of a coordinator that serves a model folder built to write outside
 * the owner's output folder.
 */
import assert from "node:assert/strict";
import type { CID } from "multiformats/cid";
import { computeCid, parseCid } from "../../../lib/store/cid.ts";
import { directoryBlock } from "../model/_folder.ts";
import {
  downloadModel,
  expectedModel,
  ModelMismatchError,
  ModelNotReadyError,
} from "../../../lib/job/job_model.ts";
import { JobStatus } from "../../../lib/chain/contracts.ts";
import { type JobSpec, jobSpecHash } from "../../../lib/job/job_spec.ts";
import { exportHfModelChunks, writeModelFiles } from "../../../lib/model/hf_model.ts";
import { putModelFolder } from "../../../lib/model/model_folder.ts";
import { openStore } from "../../../lib/store/open_store.ts";
import type { Store } from "../../../lib/store/store.ts";
import { paramLayout } from "../../../kernel/params.ts";
import { merkleRoot } from "../../../lib/crypto/merkle.ts";
import { f32Bytes } from "../../../lib/round/local_training.ts";

/** A gateway serving folder blocks (`?format=raw`) and files by CID, and how to build them. */
function gateway() {
  const blocks = new Map<string, Uint8Array>();
  const files = new Map<string, Uint8Array>();
  const file = async (text: string) => {
    const bytes = new TextEncoder().encode(text);
    const cid = await computeCid(bytes);
    files.set(cid.toString(), bytes);
    blocks.set(cid.toString(), bytes);
    return cid;
  };
  const dir = (links: [string, CID][]) => directoryBlock(blocks, links);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const u = new URL(req.url);
    const cid = u.pathname.replace("/svdb/", "");
    const b = u.searchParams.get("format") === "raw" ? blocks.get(cid) : files.get(cid);
    return b ? new Response(b.slice()) : new Response("not found", { status: 404 });
  });
  return { file, dir, server, base: `http://127.0.0.1:${server.addr.port}` };
}

/** A gateway on 127.0.0.1 serving `store`'s files and (`?format=raw`) blocks by CID. */
function storeGateway(store: Store) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const u = new URL(req.url);
    const cid = parseCid(u.pathname.replace("/svdb/", ""));
    const raw = u.searchParams.get("format") === "raw";
    return new Response((raw ? await store.getBlock(cid) : await store.get(cid)).slice());
  });
}

Deno.test("attacker: a model folder cannot write outside the owner's output folder", async () => {
  // Prepare: the owner's .artha folder holds its deployment's addresses; the coordinator's
  // "model" has a directory named ".." holding an addresses.json of its own. Found in the job
  // owner audit: names were checked against [\w.-]+, which takes "..", and joined onto --out,
  // so the owner's next job submit escrowed its budget with the coordinator's contract.
  const g = gateway();
  const home = await Deno.makeTempDir();
  try {
    const artha = `${home}/.artha`;
    await Deno.mkdir(artha);
    const real = JSON.stringify({ jobs: "0xREAL" });
    await Deno.writeTextFile(`${artha}/addresses.json`, real);
    const evil = await g.file(JSON.stringify({ jobs: "0xattacker" }));
    const inner = await g.dir([["addresses.json", evil]]);
    const root = await g.dir([["..", inner], ["config.json", await g.file("{}")]]);

    // Execute
    const download = downloadModel(g.base, root.toString(), `${artha}/model`);

    // Assert: refused by name; the owner's file is untouched and nothing was written.
    await assert.rejects(download, /Cannot read folder: bad name "\.\."/);
    assert.equal(await Deno.readTextFile(`${artha}/addresses.json`), real);
    await assert.rejects(Deno.stat(`${artha}/model`), Deno.errors.NotFound);
    // And the writer itself refuses any name that climbs, wherever the names came from.
    await assert.rejects(
      writeModelFiles(`${artha}/model`, { "a/../../addresses.json": new Uint8Array(1) }),
      /outside/,
    );
    assert.equal(await Deno.readTextFile(`${artha}/addresses.json`), real);
  } finally {
    await g.server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("attacker: a coordinator cannot hand the owner a model other than the one its job trained", async () => {
  // Prepare: the job's last round closed on chain with trained weights; the coordinator names a
  // folder of other weights (an untrained model). Found in the job owner audit: `job model`
  // wrote whatever folder /status named.
  const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const size = paramLayout(config).size;
  const trained = Float32Array.from({ length: size }, (_, i) => Math.sin(i) / 10);
  const untrained = new Float32Array(size).fill(0.01);
  const store = await openStore({ kind: "memory" });
  const folder = async (w: Float32Array) =>
    (await putModelFolder(store, exportHfModelChunks(config, w))).toString();
  const [good, bad] = [await folder(trained), await folder(untrained)];
  await using server = storeGateway(store);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const onChain = { weightsDigest: merkleRoot(f32Bytes(trained)) };
  const out = await Deno.makeTempDir();
  try {
    // Execute + Assert: the substitute is refused and nothing is written; the trained one is.
    await assert.rejects(
      downloadModel(base, bad, `${out}/model`, onChain),
      (e) => e instanceof ModelMismatchError && /nothing was written/.test(e.message),
    );
    await assert.rejects(Deno.stat(`${out}/model`), Deno.errors.NotFound);
    const files = await downloadModel(base, good, `${out}/model`, onChain);
    assert.ok(files.includes("model.safetensors"));
  } finally {
    await store.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("attacker: a coordinator cannot ship the trained weights beside another graph or model", async () => {
  // Prepare: the job trained `trained` (heads 2). Found in the inference audit: only
  // model.safetensors was checked against the chain's digest, while `deno task infer` and
  // transformers.js run onnx/model.onnx; a coordinator kept the trained safetensors and shipped an
  // untrained graph (or a config with another head count, which the weights' size does not show).
  const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const size = paramLayout(config).size;
  const trained = Float32Array.from({ length: size }, (_, i) => Math.sin(i) / 10);
  const honest = exportHfModelChunks(config, trained);
  const swapped = {
    ...honest,
    "onnx/model.onnx": exportHfModelChunks(config, new Float32Array(size))["onnx/model.onnx"]!,
  };
  const otherHeads = exportHfModelChunks({ ...config, heads: 1 }, trained);
  const store = await openStore({ kind: "memory" });
  const folder = async (files: typeof honest) => (await putModelFolder(store, files)).toString();
  const [good, graph, heads] = [
    await folder(honest),
    await folder(swapped),
    await folder(otherHeads),
  ];
  await using server = storeGateway(store);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const expect = { weightsDigest: merkleRoot(f32Bytes(trained)), model: config };
  const out = await Deno.makeTempDir();
  try {
    // Execute + Assert: both substitutes are refused, nothing is written; the honest one is.
    await assert.rejects(
      downloadModel(base, graph, `${out}/model`, expect),
      (e) => e instanceof ModelMismatchError && /onnx\/model.onnx is not what/.test(e.message),
    );
    await assert.rejects(
      downloadModel(base, heads, `${out}/model`, expect),
      (e) => e instanceof ModelMismatchError && /"heads":1.*the job's spec trains/.test(e.message),
    );
    await assert.rejects(Deno.stat(`${out}/model`), Deno.errors.NotFound);
    const files = await downloadModel(base, good, `${out}/model`, expect);
    assert.ok(files.includes("onnx/model.onnx"));
  } finally {
    await store.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("attacker: a coordinator cannot name a spec other than the one the job escrowed", async () => {
  // The model the folder is checked against comes from the spec the coordinator names; only a
  // spec whose hash is the job's paramsHash on chain is taken.
  const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const spec = { model: config } as JobSpec;
  const gateway = { spec: () => Promise.resolve(spec) };
  const onChain = {
    status: JobStatus.Finalized,
    currentRound: 3,
    rounds: 3,
    paramsHash: jobSpecHash(spec),
    latestWeightsDigest: `0x${"11".repeat(32)}` as const,
  };
  assert.deepEqual(await expectedModel(gateway, onChain, "bafy-spec"), {
    weightsDigest: onChain.latestWeightsDigest,
    model: config,
  });
  const other = { ...onChain, paramsHash: `0x${"22".repeat(32)}` as const };
  await assert.rejects(
    expectedModel(gateway, other, "bafy-spec"),
    (e) => e instanceof ModelMismatchError && /not the job's paramsHash/.test(e.message),
  );
});

Deno.test("attacker: a running job's early checkpoint is not handed over as its model", async () => {
  // Prepare: the job runs on chain, round 1 of 10 open, round 0 closed with `round0`'s digest; the
  // coordinator names a folder of exactly those weights. Found in the job owner audit: the digest
  // matched, and `job model` wrote round 0's checkpoint to .artha/model as the trained model.
  const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const spec = { model: config, rounds: 10 } as JobSpec;
  const round0 = Float32Array.from({ length: paramLayout(config).size }, (_, i) => Math.cos(i));
  const store = await openStore({ kind: "memory" });
  const folder = (await putModelFolder(store, exportHfModelChunks(config, round0))).toString();
  await using server = storeGateway(store);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const gateway = { spec: () => Promise.resolve(spec) };
  const onChain = {
    status: JobStatus.Running,
    currentRound: 1,
    rounds: 10,
    paramsHash: jobSpecHash(spec),
    latestWeightsDigest: merkleRoot(f32Bytes(round0)),
  };
  const out = await Deno.makeTempDir();
  try {
    // Execute: what `job model` does, the chain's expectation first.
    const download = expectedModel(gateway, onChain, "bafy-spec")
      .then((expect) => downloadModel(base, folder, `${out}/model`, expect));

    // Assert: refused, saying the job runs; nothing written.
    await assert.rejects(
      download,
      (e) =>
        e instanceof ModelNotReadyError &&
        /running on chain \(1 of 10 rounds closed\)/.test(e.message),
    );
    await assert.rejects(Deno.stat(`${out}/model`), Deno.errors.NotFound);
    // An open or cancelled job has no model either.
    for (const status of [JobStatus.Open, JobStatus.Cancelled]) {
      await assert.rejects(
        expectedModel(gateway, { ...onChain, status, currentRound: 0 }, "bafy-spec"),
        ModelNotReadyError,
      );
    }
  } finally {
    await store.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("owner: an abandoned job's model is its last closed round's, and said to be", async () => {
  // Abandoned after 3 of its 10 rounds (AIJobManager._abandon: completed, rounds cut to 4, the
  // 4th never closed): its model is round 3's, which the owner is told; abandoned before any
  // round closed, it has none.
  const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
  const spec = { model: config, rounds: 10 } as JobSpec;
  const gateway = { spec: () => Promise.resolve(spec) };
  const cut = {
    status: JobStatus.Completed,
    currentRound: 3,
    rounds: 4,
    paramsHash: jobSpecHash(spec),
    latestWeightsDigest: `0x${"11".repeat(32)}` as const,
  };
  assert.deepEqual((await expectedModel(gateway, cut, "bafy-spec")).cut, {
    closed: 3,
    planned: 10,
  });
  const whole = { ...cut, status: JobStatus.Finalized, currentRound: 10, rounds: 10 };
  assert.equal((await expectedModel(gateway, whole, "bafy-spec")).cut, undefined);
  await assert.rejects(
    expectedModel(gateway, { ...cut, currentRound: 0, rounds: 1 }, "bafy-spec"),
    (e) => e instanceof ModelNotReadyError && /abandoned before any round closed/.test(e.message),
  );
});
