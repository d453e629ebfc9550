/**
 * The reference job (`deno task demo` defaults: 8 laptops, one Brown genre each, 5 rounds x
 * 80 AdamW steps of B 2 of the 2-layer GPT) run twice through the real coordinator, workers and
 * chain: once with fp32 deltas, once with the partition codec. The goal: >= 100x
 * fewer update bytes per node per round, final validation loss at most 1% worse. The first run
 * also keeps its outputs in a folder, which must load after the run's store is gone.
 */
import assert from "node:assert/strict";
import { DEFAULT_DEMO, type DemoResult, runDemo, updateBytesLine } from "../demo.ts";
import { readHfModel } from "../lib/model/hf_model.ts";
import { readModelDir } from "../lib/model/model_cache.ts";

const MIN_BYTES_RATIO = 100;
const MAX_LOSS_RATIO = 1.01;

function updateBytesPerNode(r: DemoResult): number {
  const per = r.job.metrics.map((m) => {
    assert.ok(m.updateBytes !== undefined && m.updates === DEFAULT_DEMO.nodes, "every node in");
    return m.updateBytes / m.updates;
  });
  return per.reduce((a, b) => a + b, 0) / per.length;
}

Deno.test({
  name: "reference job: partition codec sends >= 100x fewer bytes, final loss within 1% of fp32",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = { ...DEFAULT_DEMO, quiet: true, report: undefined, out: undefined };
    const out = await Deno.makeTempDir({ prefix: "artha-demo-out-" });
    const fp32 = await runDemo({ ...base, out });
    // What the demo keeps outlives its store: the published folder loads, the summary reads.
    const kept = readHfModel(await readModelDir(`${out}/model`));
    assert.equal(kept.weights.length, fp32.fp32UpdateBytes / 4);
    assert.equal(
      JSON.parse(await Deno.readTextFile(`${out}/job.json`)).publishedCid,
      fp32.publishedCid,
    );
    assert.ok((await Deno.stat(`${out}/report.html`)).size > 0);
    await Deno.remove(out, { recursive: true });
    const part = await runDemo({ ...base, compression: { codec: "partition", parts: 8 } });
    const fp32Loss = fp32.job.metrics.at(-1)!.valLoss;
    const partLoss = part.job.metrics.at(-1)!.valLoss;
    const bytesRatio = updateBytesPerNode(fp32) / updateBytesPerNode(part);
    const rawRatio = part.fp32UpdateBytes / updateBytesPerNode(part);
    console.log(
      `  fp32 ${updateBytesPerNode(fp32).toFixed(0)} B/node/round, loss ${fp32Loss.toFixed(4)}; ` +
        `partition ${updateBytesPerNode(part).toFixed(0)} B, loss ${partLoss.toFixed(4)}; ` +
        `bytes ratio ${bytesRatio.toFixed(1)}x (${rawRatio.toFixed(1)}x raw fp32), ` +
        `loss ratio ${(partLoss / fp32Loss).toFixed(4)}`,
    );
    assert.ok(rawRatio >= MIN_BYTES_RATIO, `bytes ratio ${rawRatio}`);
    assert.ok(partLoss / fp32Loss <= MAX_LOSS_RATIO, `loss ratio ${partLoss / fp32Loss}`);
    assert.ok(fp32Loss < fp32.job.initialValLoss - 2, "the reference job learns");
    assert.equal(part.job.status, "finalized");
  },
});

Deno.test({
  name: "the demo runs with the coordinator's SVDB in its Deno KV (as on Deno Deploy)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const short = { ...DEFAULT_DEMO, quiet: true, report: undefined, out: undefined };
    const r = await runDemo({ ...short, rounds: 2, localSteps: 5, store: "kv" });
    assert.equal(r.job.status, "finalized");
    assert.equal(r.job.metrics.length, 2);
    assert.ok(r.job.metrics.at(-1)!.valLoss < r.job.initialValLoss, "it learns on KV too");
    assert.match(r.publishedCid, /^baf/);
  },
});

/**
 * Epsilon of `rounds` full-batch Gaussian rounds at sensitivity `copies`, written here from the
 * Gaussian mechanism's RDP (a / (2 (z / copies)^2) per round) and the Balle et al. 2020 conversion,
 * minimised over `orders`.
 */
function independentEpsilon(
  z: number,
  copies: number,
  rounds: number,
  delta: number,
  orders: number[],
): number {
  let best = Infinity;
  for (const a of orders) {
    const rdp = (rounds * a * copies * copies) / (2 * z * z);
    best = Math.min(best, rdp + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1));
  }
  return best;
}

const INTEGER_ORDERS = Array.from({ length: 63 }, (_, i) => i + 2);
const FINE_ORDERS = Array.from({ length: 3_000 }, (_, i) => 1.01 * 1.002 ** i);

Deno.test({
  name:
    "demo --dp: the epsilon reported is the most-copied data owner's, as an independent accountant says",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const privacy = { clip: 1, noiseMultiplier: 1.5, delta: 1e-5, maxEpsilon: 100 };
    const short = { ...DEFAULT_DEMO, quiet: true, report: undefined, out: undefined };
    // 16 laptops over 15 genre shards: one data owner's shard is trained twice per round.
    const r = await runDemo({ ...short, nodes: 16, rounds: 2, localSteps: 2, privacy });
    const p = r.job.privacy!;
    assert.equal(Math.max(...p.shardCopyRuns.flat().map(([copies]) => copies)), 2);
    const z = privacy.noiseMultiplier;
    // The same method (integer orders) computed independently: equal.
    const same = independentEpsilon(z, 2, 2, privacy.delta, INTEGER_ORDERS);
    assert.ok(Math.abs(p.epsilon - same) < 1e-9, `${p.epsilon} vs ${same}`);
    // Against fractional orders: never below, and at most 2% above (integer orders only).
    const fine = independentEpsilon(z, 2, 2, privacy.delta, FINE_ORDERS);
    assert.ok(p.epsilon >= fine && p.epsilon / fine < 1.02, `${p.epsilon} vs ${fine}`);
  },
});

Deno.test("the update bytes line says more when the codec did not save bytes", () => {
  const job = (updateBytes: number) => ({
    metrics: [{ updates: 2, updateBytes: 2 * updateBytes }] as DemoResult["job"]["metrics"],
  });
  assert.equal(
    updateBytesLine(job(476240), 474112),
    "updates: 476240 bytes per node per round, 2128 more (1.004x) than fp32 deltas (474112 bytes)",
  );
  assert.match(updateBytesLine(job(3920), 474112)!, /, 120\.9x fewer than fp32 deltas/);
  assert.match(updateBytesLine(job(474112), 474112)!, /about as many as fp32 deltas/);
  assert.equal(updateBytesLine({ metrics: [] }, 474112), undefined);
});
