/**
 * What the server learns: (a) from its whole view before unmasking, alone or with colluding
 * clients holding fewer than t shares, a victim's masked input is uniform and uncorrelated
 * with the input; (e) the DP noise is fresh, unpredictable from public data, and of the
 * promised size.
 */
import assert from "node:assert/strict";
import { openSealed } from "../../../../lib/crypto/aead.ts";
import { hexToBytes } from "../../../../lib/crypto/digest.ts";
import type { SecAggClientOptions } from "../../../../lib/privacy/secure_aggregation/client.ts";
import { encodeFixedPoint } from "../../../../lib/privacy/secure_aggregation/fixed_point.ts";
import type {
  MaskedInput,
  MaskedInputRequest,
} from "../../../../lib/privacy/secure_aggregation/messages.ts";
import {
  resolveParams,
  type SecAggConfig,
  type SecAggParams,
} from "../../../../lib/privacy/secure_aggregation/params.ts";
import { expandSeed } from "../../../../lib/privacy/secure_aggregation/prg.ts";
import { combineBytes } from "../../../../lib/privacy/secure_aggregation/shamir.ts";
import {
  keyPairFromSecret,
  pairMaskSeed,
  shareKey,
} from "../../../../lib/privacy/secure_aggregation/_keys.ts";
import { shareAad } from "../../../../lib/privacy/secure_aggregation/_wire.ts";
import { randomBytes } from "../../_helpers.ts";
import { advanceTo, makeConfig, runRound } from "./_round.ts";

const L = 20_000;

/** Pearson correlation of the signed reading of ring values with the input. */
function correlation(ring: Uint32Array, x: Float32Array): number {
  const a = new Int32Array(ring.buffer, ring.byteOffset, ring.length);
  let sa = 0, sx = 0, saa = 0, sxx = 0, sax = 0;
  for (let i = 0; i < x.length; i++) {
    sa += a[i]!;
    sx += x[i]!;
    saa += a[i]! * a[i]!;
    sxx += x[i]! * x[i]!;
    sax += a[i]! * x[i]!;
  }
  const n = x.length;
  return (sax / n - (sa / n) * (sx / n)) /
    Math.sqrt((saa / n - (sa / n) ** 2) * (sxx / n - (sx / n) ** 2));
}

/** Chi-square of the top 4 bits against uniform (15 dof; the 1 - 1e-6 quantile is 56.5). */
function chi2TopBits(ring: Uint32Array): number {
  const bins = new Array(16).fill(0);
  for (const w of ring) bins[w >>> 28]++;
  const e = ring.length / 16;
  return bins.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}

function assertHides(ring: Uint32Array, x: Float32Array, what: string): void {
  const r = correlation(ring, x);
  assert.ok(Math.abs(r) < 5 / Math.sqrt(x.length), `${what}: correlation ${r}`);
  assert.ok(chi2TopBits(ring) < 56.5, `${what}: not uniform`);
}

/** Records each client's secret draws: [c^SK, s^SK, b, ...Shamir coefficients]. */
function recorder() {
  const draws = new Map<string, Uint8Array[]>();
  const options = (id: string) => ({
    randomBytes: (n: number) => {
      const b = crypto.getRandomValues(new Uint8Array(n));
      draws.set(id, [...(draws.get(id) ?? []), b.slice()]);
      return b;
    },
  });
  return { draws, options };
}

/** Runs to MaskedInputCollection; every client sends its masked input; returns the view. */
async function collect(
  config: SecAggConfig | SecAggParams,
  clientOptions?: (id: string) => SecAggClientOptions,
) {
  const round = await advanceTo({ config, clientOptions }, "MaskedInputCollection");
  const masked = new Map<string, MaskedInput>();
  for (const [id, req] of round.requests) {
    const msg = await round.clients.get(id)!.maskInput(req as MaskedInputRequest, round.inputs(id));
    masked.set(id, msg);
    await round.server.receive(msg);
  }
  return { ...round, masked };
}

Deno.test("(a) the server alone: each masked input is uniform and uncorrelated with its input", async () => {
  // Prepare
  const { masked, inputs, params } = await collect(makeConfig(8, { vectorLength: L }));
  // Assert: the test can see an input when it is not masked (positive control)
  const plain = encodeFixedPoint(inputs("c0"), params);
  assert.ok(correlation(plain, inputs("c0")) > 0.99);
  for (const [id, msg] of masked) assertHides(msg.masked, inputs(id), id);
});

/**
 * The server plus `colluders` (who give it every secret they hold) against the victim c0:
 * everything they can strip from y_c0 is stripped; what is left must still hide x_c0.
 */
async function collusion(config: SecAggConfig | SecAggParams, colluders: string[]) {
  const { draws, options } = recorder();
  const view = await collect(config, options);
  const { params, masked, requests } = view;
  const victim = "c0";
  const honest = params.neighbours.get(victim)!.filter((v) => !colluders.includes(v));
  const sPkOf = async (id: string) => (await keyPairFromSecret(draws.get(id)![1]!)).publicKey;
  // Colluders' pairwise masks with the victim: c0 is first in the roster, so it added +PRG.
  const residual = masked.get(victim)!.masked.slice();
  for (const c of colluders.filter((v) => params.neighbours.get(victim)!.includes(v))) {
    const mine = await keyPairFromSecret(draws.get(c)![1]!);
    const pair = {
      peerPublicKey: await sPkOf(victim),
      context: params.context,
      ids: [c, victim] as const,
    };
    const seed = await pairMaskSeed(mine.privateKey, pair);
    const mask = await expandSeed(seed, L);
    for (let i = 0; i < L; i++) residual[i] = residual[i]! - mask[i]!;
  }
  // The colluders' shares of the victim's secrets, decrypted with their c keys.
  const shares = [];
  for (const c of colluders) {
    const sealed = (requests.get(c) as MaskedInputRequest).shares.find((s) => s.from === victim);
    if (!sealed) continue;
    const cKey = await keyPairFromSecret(draws.get(c)![0]!);
    const victimC = await keyPairFromSecret(draws.get(victim)![0]!);
    const pair = {
      peerPublicKey: victimC.publicKey,
      context: params.context,
      ids: [c, victim] as const,
    };
    const key = await shareKey(cKey.privateKey, pair);
    const plain = openSealed(
      key,
      hexToBytes(sealed.ciphertext),
      shareAad(params.context, victim, c),
    );
    shares.push({ x: params.index.get(c)! + 1, share: plain.slice(0, 33) });
  }
  return { ...view, victim, honest, residual, shares, draws, sPkOf };
}

/** Positive control: stripping b and the honest pair masks too leaves exactly encode(x). */
async function assertOnlyHonestMasksHide(a: Awaited<ReturnType<typeof collusion>>) {
  const { params, residual, draws, victim, honest, inputs } = a;
  const rest = residual.slice();
  const seeds = [draws.get(victim)![2]!];
  const mine = await keyPairFromSecret(draws.get(victim)![1]!);
  for (const h of honest) {
    const pair = {
      peerPublicKey: await a.sPkOf(h),
      context: params.context,
      ids: [victim, h] as const,
    };
    seeds.push(await pairMaskSeed(mine.privateKey, pair));
  }
  for (const seed of seeds) {
    const mask = await expandSeed(seed, L);
    for (let i = 0; i < L; i++) rest[i] = rest[i]! - mask[i]!;
  }
  assert.deepEqual(rest, encodeFixedPoint(inputs(victim), params));
}

Deno.test("(a) server + n-2 colluding clients (t = 7 of 7): the victim's input stays hidden", async () => {
  // Prepare: 8 clients, complete graph; only c0 (victim) and c1 are honest.
  const colluders = ["c2", "c3", "c4", "c5", "c6", "c7"];
  // Execute
  const a = await collusion(makeConfig(8, { vectorLength: L, threshold: 7 }), colluders);
  // Assert: masked by b_c0 and the c0-c1 pair mask, the residual is uniform noise
  assertHides(a.residual, a.inputs("c0"), "residual");
  // 6 shares of b_c0 < t: interpolating them does not give b_c0
  assert.equal(a.shares.length, 6);
  assert.throws(() => combineBytes(a.shares, { threshold: 7 }), RangeError);
  let guess: Uint8Array | undefined;
  try {
    guess = combineBytes(a.shares, { threshold: 6 });
  } catch { /* not even 32 bytes */ }
  assert.notDeepEqual(guess, a.draws.get("c0")![2]);
  await assertOnlyHonestMasksHide(a);
});

Deno.test("(a) SecAgg+ graph: server + everyone but 3 neighbours of the victim: still hidden", async () => {
  // Prepare: 24 clients, degree 6, t = 4; colluders hold t-1 = 3 of c0's neighbours
  const config = makeConfig(24, { vectorLength: L, degree: 6 });
  const params = resolveParams(config);
  const nbrs = params.neighbours.get("c0")!;
  const colluders = params.clients.filter((id) => id !== "c0" && !nbrs.slice(0, 3).includes(id));
  // Execute
  const a = await collusion(params, colluders);
  // Assert
  assert.equal(a.honest.length, 3);
  assert.equal(a.shares.length, params.threshold - 1);
  assertHides(a.residual, a.inputs("c0"), "residual");
  await assertOnlyHonestMasksHide(a);
});

/** Deterministic "secret" randomness per client, identical between two runs. */
function replayable() {
  const counters = new Map<string, number>();
  return (id: string) => ({
    randomBytes: (n: number) => {
      const k = (counters.get(id) ?? 0) + 1;
      counters.set(id, k);
      return randomBytes(n, Number(id.slice(1)) * 1000 + k);
    },
  });
}

Deno.test("(e) identical public inputs (and even identical keys): fresh noise of the promised std", async () => {
  // Prepare: everything public identical, and every key and mask identical too
  const sigma = 0.05;
  const config = makeConfig(5, { vectorLength: L, noiseStd: sigma, clip: 0.1 });
  const zeros = () => new Float32Array(L);
  // Execute
  const one = await runRound({ config, inputs: zeros, clientOptions: replayable() });
  const two = await runRound({ config, inputs: zeros, clientOptions: replayable() });
  // Assert: the inputs are zero, so each sum is noise alone
  const want = sigma * Math.sqrt(5 / (one.params.minSurvivors - 1));
  const std = (v: ArrayLike<number>) =>
    Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);
  for (const r of [one, two]) {
    assert.ok(Math.abs(std(r.result.sum) / want - 1) < 0.03, `std ${std(r.result.sum)} vs ${want}`);
  }
  const diff = one.result.sum.map((x, i) => x - two.result.sum[i]!);
  assert.ok(Math.abs(std(diff) / (want * Math.SQRT2) - 1) < 0.03, "the two noises are independent");
  assert.ok(Math.abs(correlation(one.result.ringSum, Float32Array.from(two.result.sum))) < 0.04);
});

Deno.test("(e) replayed keys give the same masks: the masked inputs differ by the noise only", async () => {
  const sigma = 0.05;
  const config = makeConfig(5, { vectorLength: L, noiseStd: sigma, clip: 0.1 });
  const zeros = () => new Float32Array(L);
  const setup = () => ({ config, inputs: zeros, clientOptions: replayable() });
  const [a, b] = [
    await advanceTo(setup(), "MaskedInputCollection"),
    await advanceTo(setup(), "MaskedInputCollection"),
  ];
  const req = (r: typeof a) => r.requests.get("c3") as MaskedInputRequest;
  const ya = (await a.clients.get("c3")!.maskInput(req(a), zeros())).masked;
  const yb = (await b.clients.get("c3")!.maskInput(req(b), zeros())).masked;
  const d = new Int32Array(ya.map((x, i) => x - yb[i]!).buffer);
  const perClient = sigma / Math.sqrt(a.params.minSurvivors - 1);
  const s = Math.sqrt(d.reduce((acc, v) => acc + (v / a.params.scale) ** 2, 0) / L);
  assert.ok(Math.abs(s / (perClient * Math.SQRT2) - 1) < 0.03, `difference std ${s}`);
});
