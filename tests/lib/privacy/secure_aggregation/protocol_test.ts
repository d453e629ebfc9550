import assert from "node:assert/strict";
import {
  ProtocolError,
  TooFewSharesError,
  TooFewSurvivorsError,
} from "../../../../lib/privacy/secure_aggregation/errors.ts";
import {
  decodeMaskedInput,
  encodeMaskedInput,
  type MaskedInput,
  type MaskedInputRequest,
} from "../../../../lib/privacy/secure_aggregation/messages.ts";
import { resolveParams } from "../../../../lib/privacy/secure_aggregation/params.ts";
import {
  advanceTo,
  defaultInput,
  type Dropouts,
  expectedSum,
  makeConfig,
  runRound,
} from "./_round.ts";

Deno.test("8 clients, nobody drops: the exact sum, everyone included", async () => {
  // Prepare
  const config = makeConfig(8, { vectorLength: 1000 });
  const params = resolveParams(config);
  // Execute
  const { result } = await runRound({ config: params });
  // Assert
  assert.deepEqual(result.included, params.clients);
  assert.deepEqual(result.excluded, {});
  assert.deepEqual(result.sum, expectedSum(params, params.clients, defaultInput(params)));
  assert.equal(result.noiseStd, 0);
});

/** Clients `c{i}` for each i. */
const some = (...i: number[]) => i.map((k) => `c${k}`);

for (
  const [name, drop, gone] of [
    ["10% drop before MaskedInput", { maskedInput: some(3) }, some(3)],
    ["30% drop before MaskedInput", { maskedInput: some(0, 4, 9) }, some(0, 4, 9)],
    ["10% drop before Unmasking", { unmasking: some(5) }, []],
    ["30% drop before Unmasking", { unmasking: some(1, 2, 8) }, []],
    [
      "10% at MaskedInput and 20% at Unmasking",
      { maskedInput: some(6), unmasking: some(0, 7) },
      some(6),
    ],
    ["10% drop before ShareKeys", { shareKeys: some(2) }, some(2)],
  ] as [string, Dropouts, string[]][]
) {
  Deno.test(`10 clients, ${name}: exact sum of the survivors' inputs`, async () => {
    // Prepare: complete graph, t = 5, minSurvivors = 7
    const params = resolveParams(makeConfig(10, { vectorLength: 500 }));
    // Execute
    const { result } = await runRound({ config: params, drop });
    // Assert
    const survivors = params.clients.filter((id) => !gone.includes(id));
    assert.deepEqual(result.included, survivors);
    assert.deepEqual(Object.keys(result.excluded), gone);
    assert.deepEqual(result.sum, expectedSum(params, survivors, defaultInput(params)));
  });
}

Deno.test("SecAgg+ graph (40 clients, degree 10): 10% + 10% dropouts, exact sum", async () => {
  // Prepare
  const params = resolveParams(makeConfig(40, { vectorLength: 300, degree: 10 }));
  assert.equal(params.threshold, 6);
  const dropped = some(3, 17, 29, 35);
  // Execute
  const { result } = await runRound({
    config: params,
    drop: { maskedInput: dropped, unmasking: some(0, 11, 22, 38) },
  });
  // Assert
  const survivors = params.clients.filter((id) => !dropped.includes(id));
  assert.deepEqual(result.included, survivors);
  assert.deepEqual(result.sum, expectedSum(params, survivors, defaultInput(params)));
});

Deno.test("below minSurvivors at MaskedInput: TooFewSurvivorsError, no sum", async () => {
  // 10 clients, minSurvivors 7: 4 dropouts leave 6.
  const config = makeConfig(10);
  await assert.rejects(
    () => runRound({ config, drop: { maskedInput: some(0, 1, 2, 3) } }),
    (e: unknown) =>
      e instanceof TooFewSurvivorsError && e.code === "SECAGG_TOO_FEW_SURVIVORS" &&
      e.stage === "MaskedInputCollection" && e.survivors === 6 && e.needed === 7,
  );
});

Deno.test("below t answers at Unmasking: TooFewSharesError names the secret", async () => {
  // 10 clients, t = 5: 5 of 10 silent at Unmasking leaves 4 shares of each secret.
  const config = makeConfig(10);
  await assert.rejects(
    () => runRound({ config, drop: { unmasking: some(0, 1, 2, 3, 4) } }),
    (e: unknown) =>
      e instanceof TooFewSharesError && e.code === "SECAGG_TOO_FEW_SHARES" &&
      e.kind === "self-mask" && e.shares <= 4 && e.needed === 5,
  );
});

Deno.test("too few ShareKeys senders: the server aborts at once", async () => {
  const config = makeConfig(6, { minSurvivors: 5 });
  await assert.rejects(
    () => runRound({ config, drop: { shareKeys: some(1, 2) } }),
    (e: unknown) => e instanceof TooFewSurvivorsError && e.stage === "ShareKeys",
  );
});

Deno.test("DP noise: the sum carries std sigma*sqrt(s/(t-1)), reported for the accountant", async () => {
  // Prepare: inputs all zero so the decoded sum is the noise alone.
  const sigma = 0.05, L = 20_000;
  const params = resolveParams(makeConfig(6, { vectorLength: L, noiseStd: sigma, clip: 0.1 }));
  assert.equal(params.minSurvivors, 4);
  // Execute: one client drops, 5 >= 4 survive
  const { result } = await runRound({
    config: params,
    inputs: () => new Float32Array(L),
    drop: { maskedInput: ["c2"] },
  });
  // Assert
  const want = sigma * Math.sqrt(5 / 3);
  assert.ok(Math.abs(result.noiseStd - want) < 1e-15);
  const std = Math.sqrt(result.sum.reduce((s, x) => s + x * x, 0) / L);
  assert.ok(Math.abs(std / want - 1) < 0.03, `empirical ${std} vs ${want}`);
  assert.ok(result.noiseStd >= sigma);
});

Deno.test("masked input binary form round-trips and refuses bad headers", () => {
  const msg: MaskedInput = {
    stage: "MaskedInputCollection",
    id: "node-é",
    masked: Uint32Array.from([0, 1, 2 ** 32 - 1]),
  };
  const bytes = encodeMaskedInput(msg);
  assert.deepEqual(decodeMaskedInput(bytes), msg);
  assert.throws(() => decodeMaskedInput(bytes.subarray(0, bytes.length - 1)), /truncated/);
  const wrong = bytes.slice();
  wrong[4] = 9;
  assert.throws(() => decodeMaskedInput(wrong), /version 9/);
  assert.throws(() => decodeMaskedInput(new Uint8Array(20)), /SAGM/);
});

Deno.test("params: threshold must exceed half the degree", () => {
  assert.throws(() => resolveParams(makeConfig(10, { threshold: 4 })), /threshold 4/);
  assert.throws(() => resolveParams(makeConfig(10, { minSurvivors: 1 })), /minSurvivors/);
  assert.throws(() => resolveParams(makeConfig(10, { seed: "0x00" })), /32 bytes/);
  const p = resolveParams(makeConfig(1000));
  assert.equal(p.degree, 60);
  assert.equal(p.threshold, 31);
  assert.equal(p.minSurvivors, 667);
});

Deno.test("client: out-of-order calls are refused; a non-finite update can be corrected", async () => {
  // Prepare
  const round = await advanceTo(
    { config: makeConfig(4, { vectorLength: 3 }) },
    "MaskedInputCollection",
  );
  const c0 = round.clients.get("c0")!;
  const req = round.requests.get("c0") as MaskedInputRequest;
  // Execute + Assert
  await assert.rejects(() => c0.advertiseKeys(), ProtocolError);
  await assert.rejects(() => c0.maskInput(req, new Float32Array([0, NaN, 0])), /value 1 is NaN/);
  await assert.rejects(() => c0.maskInput(req, new Float32Array(2)), /2 values/);
  const msg = await c0.maskInput(req, new Float32Array([0.1, 0.2, 0.3]));
  assert.equal(msg.masked.length, 3);
  await assert.rejects(() => c0.maskInput(req, new Float32Array(3)), ProtocolError);
});
