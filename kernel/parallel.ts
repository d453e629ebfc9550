/**
 * How each op of a training step splits across threads, shared by the main thread and the
 * workers of kernel/threads.ts. A split never changes a bit: it only hands out independent
 * output blocks (rows of a matmul output, (batch, head) pairs of attention, row ranges of
 * row-wise ops, element ranges of elementwise ops), and every reduction keeps the single-thread
 * order by splitting over what it produces rather than over what it sums (a weight gradient
 * splits over input channels and sums over all B*T rows in ascending order; bias and layernorm
 * parameter gradients split over columns).
 *
 * Ops not listed here (embedding backward, dropout forward, the SSM scan, the f64 sums) run on
 * the calling thread alone; they are a small share of a step.
 */
import type { KernelExports } from "./wasm_module.ts";

/**
 * What a part sees: the instance of the thread running it, the block index j and the block count
 * n. Blocks are fixed by (op, n) alone; which thread runs which block does not matter.
 */
export interface PartContext {
  o: KernelExports;
  j: number;
  n: number;
}

/** Part j of n of [0, count): contiguous, boundaries on multiples of `align` (f32x4, tiles). */
export function splitRange(count: number, n: number, j: number, align = 1): [number, number] {
  const chunk = Math.ceil(count / n / align) * align;
  const start = Math.min(count, j * chunk);
  return [start, Math.min(count, start + chunk)];
}

const F32 = 4;
const ROW_TILE = 4; // the GEMM's register tile rows: a split on them packs no extra padding

type Part = (c: PartContext, ...args: number[]) => void;

/** Rows [r0, r1) of an op over (rows, width) buffers: the byte offset of row r0. */
const rowOffset = (r0: number, width: number) => r0 * width * F32;

function elementwise(
  run: (o: KernelExports, offset: number, count: number) => void,
): (c: PartContext, N: number) => void {
  return ({ o, j, n }, N) => {
    const [i0, i1] = splitRange(N, n, j, 4);
    if (i1 > i0) run(o, i0 * F32, i1 - i0);
  };
}

/**
 * Each parallel op: `work` (elements or multiply-adds it touches, to keep tiny ops on one
 * thread) and `part` (block j of n, same arguments as the op after the context).
 */
export const PARALLEL_OPS: Record<string, { work: (...a: number[]) => number; part: Part }> = {
  gemm: {
    work: (_o, _a, _b, _bias, M, K, N) => M * K * N,
    part: ({ o, j, n }, out, A, B, bias, M, K, N, tA, tB, acc) => {
      const [m0, m1] = splitRange(M, n, j, ROW_TILE);
      o.gemmRows(out, A, B, bias, M, K, N, tA, tB, acc, m0, m1);
    },
  },
  matmulForward: {
    work: (_o, _i, _w, _b, BT, C, OC) => BT * C * OC,
    part: ({ o, j, n }, out, inp, weight, bias, BT, C, OC) => {
      const [r0, r1] = splitRange(BT, n, j, ROW_TILE);
      o.gemmRows(out, inp, weight, bias, BT, C, OC, 0, 0, 0, r0, r1);
    },
  },
  matmulBackward: {
    work: (_di, _dw, _db, _d, _i, _w, BT, C, OC) => 2 * BT * C * OC,
    part: ({ o, j, n }, dinp, dweight, dbias, dout, inp, weight, BT, C, OC) => {
      if (dinp) {
        const [r0, r1] = splitRange(BT, n, j, ROW_TILE);
        o.gemmRows(dinp, dout, weight, 0, BT, OC, C, 0, 1, 1, r0, r1);
      }
      // d(weight) (C,OC) = inp^T @ dout: rows are input channels, each a full sum over BT.
      const [c0, c1] = splitRange(C, n, j, ROW_TILE);
      o.gemmRows(dweight, inp, dout, 0, C, BT, OC, 1, 0, 1, c0, c1);
      if (dbias) {
        const [o0, o1] = splitRange(OC, n, j, 4);
        o.biasGradCols(dbias, dout, BT, OC, o0, o1);
      }
    },
  },
  layernormForward: {
    work: (_o, _m, _r, _i, _w, _b, N, C) => N * C,
    part: ({ o, j, n }, out, mean, rstd, inp, weight, bias, N, C) => {
      const [r0, r1] = splitRange(N, n, j);
      if (r1 <= r0) return;
      const x = rowOffset(r0, C);
      o.layernormForward(
        out + x,
        mean + r0 * F32,
        rstd + r0 * F32,
        inp + x,
        weight,
        bias,
        r1 - r0,
        C,
      );
    },
  },
  layernormBackward: {
    work: (_di, _dw, _db, _d, _i, _w, _m, _r, N, C) => N * C,
    part: ({ o, j, n }, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C) => {
      const [r0, r1] = splitRange(N, n, j);
      if (r1 > r0) {
        const x = rowOffset(r0, C);
        const [m, r] = [mean + r0 * F32, rstd + r0 * F32];
        o.layernormBackwardInput(dinp + x, dout + x, inp + x, weight, m, r, r1 - r0, C);
      }
      const [c0, c1] = splitRange(C, n, j, 4);
      if (c1 > c0) o.layernormBackwardParams(dweight, dbias, dout, inp, mean, rstd, N, C, c0, c1);
    },
  },
  attentionForward: {
    work: (_o, _a, _i, B, T, C) => B * T * T * C,
    part: ({ o, j, n }, out, att, inp, B, T, C, NH) => {
      const [u0, u1] = splitRange(B * NH, n, j);
      o.attentionForwardHeads(out, att, inp, B, T, C, NH, u0, u1);
    },
  },
  attentionBackward: {
    work: (_di, _d, _i, _a, B, T, C) => 2 * B * T * T * C,
    part: ({ o, j, n }, dinp, dout, inp, att, B, T, C, NH) => {
      const [u0, u1] = splitRange(B * NH, n, j);
      o.attentionBackwardHeads(dinp, dout, inp, att, B, T, C, NH, u0, u1);
    },
  },
  crossEntropyForward: {
    work: (_l, _p, _x, _t, N, V) => N * V,
    part: ({ o, j, n }, losses, probs, logits, targets, N, V) => {
      const [r0, r1] = splitRange(N, n, j);
      if (r1 <= r0) return;
      const x = rowOffset(r0, V), r = r0 * F32;
      o.crossEntropyForward(losses + r, probs + x, logits + x, targets + r, r1 - r0, V);
    },
  },
  crossEntropyBackward: {
    work: (_d, _p, _t, _dl, N, V) => N * V,
    part: ({ o, j, n }, dlogits, probs, targets, dloss, N, V) => {
      const [r0, r1] = splitRange(N, n, j);
      if (r1 <= r0) return;
      const x = rowOffset(r0, V);
      o.crossEntropyBackward(dlogits + x, probs + x, targets + r0 * F32, dloss, r1 - r0, V);
    },
  },
  encoderForward: {
    work: (_o, _t, _te, _pe, B, T, C) => B * T * C,
    part: ({ o, j, n }, out, tokens, wte, wpe, B, T, C) => {
      const [b0, b1] = splitRange(B, n, j);
      if (b1 > b0) {
        o.encoderForward(out + b0 * T * C * F32, tokens + b0 * T * F32, wte, wpe, b1 - b0, T, C);
      }
    },
  },
  geluForward: {
    work: (_o, _i, N) => 8 * N,
    part: (c, out, inp, N) => elementwise((o, x, k) => o.geluForward(out + x, inp + x, k))(c, N),
  },
  geluBackward: {
    work: (_di, _d, _i, N) => 8 * N,
    part: (c, dinp, dout, inp, N) =>
      elementwise((o, x, k) => o.geluBackward(dinp + x, dout + x, inp + x, k))(c, N),
  },
  residualForward: {
    work: (_o, _a, _b, N) => N,
    part: (c, out, a, b, N) =>
      elementwise((o, x, k) => o.residualForward(out + x, a + x, b + x, k))(c, N),
  },
  residualBackward: {
    work: (_da, _db, _d, N) => N,
    part: (c, da, db, dout, N) =>
      elementwise((o, x, k) => o.residualBackward(da + x, db + x, dout + x, k))(c, N),
  },
  dropoutBackward: {
    work: (_di, _d, _m, N) => N,
    part: (c, dinp, dout, mask, N) =>
      elementwise((o, x, k) => o.dropoutBackward(dinp + x, dout + x, mask + x, k))(c, N),
  },
  adamwUpdate: {
    work: (_p, _g, _m, _v, N) => 4 * N,
    part: (c, p, g, m, v, N, lr, b1, b2, eps, wd, bc1, bc2) =>
      elementwise((o, x, k) =>
        o.adamwUpdate(p + x, g + x, m + x, v + x, k, lr, b1, b2, eps, wd, bc1, bc2)
      )(c, N),
  },
  sgdMomentumUpdate: {
    work: (_p, _g, _m, N) => 3 * N,
    part: (c, p, g, m, N, lr, mu, wd) =>
      elementwise((o, x, k) => o.sgdMomentumUpdate(p + x, g + x, m + x, k, lr, mu, wd))(c, N),
  },
  scaleInPlace: {
    work: (_p, N) => N,
    part: (c, p, N, s) => elementwise((o, x, k) => o.scaleInPlace(p + x, k, s))(c, N),
  },
  fillZero: {
    work: (_p, N) => N,
    part: (c, p, N) => elementwise((o, x, k) => o.fillZero(p + x, k))(c, N),
  },
};

/** Names of the parallel ops in a fixed order: the op code a worker receives is the index. */
export const PARALLEL_NAMES: readonly string[] = Object.keys(PARALLEL_OPS);

/** Work below which an op runs on one thread: a dispatch costs more than it saves. */
export const MIN_PARALLEL_WORK = 1 << 15;

/**
 * Blocks per thread of a parallel op. More blocks than threads let a thread that is ahead take
 * the blocks of one the OS has descheduled (a laptop runs other programs); few enough that each
 * GEMM block still has rows enough to amortise packing the other operand.
 */
export const BLOCKS_PER_THREAD = 2;

/** Runs block j of n of op `code` with `args` on instance `o`. */
export function runPart(
  o: KernelExports,
  code: number,
  args: ArrayLike<number>,
  j: number,
  n: number,
): void {
  const op = PARALLEL_OPS[PARALLEL_NAMES[code]!]!;
  op.part({ o, j, n }, ...Array.from(args));
}

/**
 * `ops` with every parallel op run as its n parts one after another on one instance: the
 * threads' exact arithmetic without threads (tests check each split against the whole op).
 */
export function splitSequential(ops: KernelExports, n: number): KernelExports {
  const out: Record<string, unknown> = { ...ops };
  for (const [name, op] of Object.entries(PARALLEL_OPS)) {
    out[name] = (...a: number[]) => {
      for (let j = 0; j < n; j++) op.part({ o: ops, j, n }, ...a);
    };
  }
  return out as unknown as KernelExports;
}
