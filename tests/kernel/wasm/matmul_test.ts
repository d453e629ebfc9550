import assert from "node:assert/strict";
import { loadKernel } from "../../../kernel/wasm_module.ts";
import { type Arrays, checkOp, gaussians } from "../op_check.ts";

const k = loadKernel();

function matmulRef(x: Arrays, BT: number, C: number, OC: number): Float64Array {
  const out = new Float64Array(BT * OC);
  for (let r = 0; r < BT; r++) {
    for (let o = 0; o < OC; o++) {
      let s = x.bias![o]!;
      for (let c = 0; c < C; c++) s += x.inp![r * C + c]! * x.weight![c * OC + o]!;
      out[r * OC + o] = s;
    }
  }
  return out;
}

// Full tiles (multiples of 4x8), ragged edges in every dimension, and reductions longer than one
// K block (256): over C in the forward and d(input), over BT in d(weight).
for (
  const [BT, C, OC] of [[8, 16, 16], [7, 13, 11], [5, 3, 9], [3, 300, 5], [300, 6, 9]] as const
) {
  Deno.test(`matmul forward/backward ${BT}x${C}x${OC}`, () => {
    checkOp(k, {
      name: "matmul",
      inputs: { inp: { size: BT * C }, weight: { size: C * OC }, bias: { size: OC } },
      outputs: { out: BT * OC },
      diff: ["inp", "weight", "bias"],
      scratchBytes: Math.max(
        k.ops.gemmScratchBytes(BT, C),
        k.ops.gemmScratchBytes(BT, OC),
        k.ops.gemmScratchBytes(C, BT),
      ),
      hasNaive: true,
      forward: (k, p, naive) =>
        (naive ? k.ops.matmulForwardNaive : k.ops.matmulForward)(
          p.out!,
          p.inp!,
          p.weight!,
          p.bias!,
          BT,
          C,
          OC,
        ),
      backward: (k, p, d, dout, naive) =>
        (naive ? k.ops.matmulBackwardNaive : k.ops.matmulBackward)(
          d.inp!,
          d.weight!,
          d.bias!,
          dout,
          p.inp!,
          p.weight!,
          BT,
          C,
          OC,
        ),
      reference: (x) => matmulRef(x, BT, C, OC),
    });
  });
}

Deno.test("gemm: all transpose/accumulate variants match f64 and the naive kernel bit for bit", () => {
  const [M, K, N] = [9, 530, 19]; // K spans two full K blocks and a partial one
  const a = gaussians(1, M * K), b = gaussians(2, K * N), bias = gaussians(3, N);
  const old = gaussians(4, M * N);
  const mark = k.mark();
  const pa = k.fromF32(Float32Array.from(a)), pb = k.fromF32(Float32Array.from(b));
  const pbias = k.fromF32(Float32Array.from(bias));
  const o1 = k.alloc(M * N), o2 = k.alloc(M * N);
  k.ops.setScratch(k.alloc(k.ops.gemmScratchBytes(M, K) / 4));
  const A = Float64Array.from(Float32Array.from(a)), B = Float64Array.from(Float32Array.from(b));
  const O = Float64Array.from(Float32Array.from(old));
  for (const tA of [0, 1]) {
    for (const tB of [0, 1]) {
      for (const acc of [0, 1]) {
        for (const useBias of [0, 1]) {
          k.f32(o1, M * N).set(Float32Array.from(old));
          k.f32(o2, M * N).set(Float32Array.from(old));
          const bp = useBias ? pbias : 0;
          k.ops.gemm(o1, pa, pb, bp, M, K, N, tA, tB, acc);
          k.ops.gemmNaive(o2, pa, pb, bp, M, K, N, tA, tB, acc);
          const got = k.f32(o1, M * N).slice();
          assert.deepEqual(got, k.f32(o2, M * N).slice(), `naive differs ${tA}${tB}${acc}`);
          for (let m = 0; m < M; m++) {
            for (let n = 0; n < N; n++) {
              let s = 0;
              for (let kk = 0; kk < K; kk++) {
                s += A[tA ? kk * M + m : m * K + kk]! * B[tB ? n * K + kk : kk * N + n]!;
              }
              if (useBias) s += Math.fround(bias[n]!);
              if (acc) s += O[m * N + n]!;
              assert.ok(Math.abs(got[m * N + n]! - s) < 1e-4, `gemm ${tA}${tB}${acc} [${m},${n}]`);
            }
          }
        }
      }
    }
  }
  k.release(mark);
});
