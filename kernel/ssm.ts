/**
 * SSM mixer: input projection, per-channel diagonal linear recurrence (kernel/wasm/ssm.ts),
 * output projection. Linear in time and memory in T, which is why it suits CPUs.
 */
import type { Mixer, MixerContext } from "./mixer.ts";

export const ssmMixer: Mixer = {
  actSizes: (B, T, C) => ({ u: B * T * C, h: B * T * C, y: B * T * C }),
  dactSizes: (B, T, C) => ({ du: B * T * C, dy: B * T * C }),
  scratchBytes: (_B, _T, C) => 2 * C * 4,
  linears: (C) => [[C, C], [C, C]],

  forward(x: MixerContext, l: number, out: number, inp: number): void {
    const { k, B, T, C } = x;
    const BT = B * T;
    const u = x.act(l, "u"), y = x.act(l, "y");
    k.ops.matmulForward(u, inp, x.param(l, "inw"), x.param(l, "inb"), BT, C, C);
    k.ops.ssmForward(
      y,
      x.act(l, "h"),
      u,
      x.param(l, "alpha"),
      x.param(l, "bc"),
      x.param(l, "cc"),
      x.param(l, "dc"),
      B,
      T,
      C,
    );
    k.ops.matmulForward(out, y, x.param(l, "projw"), x.param(l, "projb"), BT, C, C);
  },

  backward(x: MixerContext, l: number, dinp: number, dout: number, inp: number): void {
    const { k, B, T, C } = x;
    const BT = B * T;
    const u = x.act(l, "u"), y = x.act(l, "y");
    const du = x.dact(l, "du"), dy = x.dact(l, "dy");
    k.ops.matmulBackward(
      dy,
      x.grad(l, "projw"),
      x.grad(l, "projb"),
      dout,
      y,
      x.param(l, "projw"),
      BT,
      C,
      C,
    );
    k.ops.ssmBackward(
      du,
      x.grad(l, "alpha"),
      x.grad(l, "bc"),
      x.grad(l, "cc"),
      x.grad(l, "dc"),
      dy,
      u,
      x.act(l, "h"),
      x.param(l, "alpha"),
      x.param(l, "bc"),
      x.param(l, "cc"),
      x.param(l, "dc"),
      B,
      T,
      C,
    );
    k.ops.matmulBackward(
      dinp,
      x.grad(l, "inw"),
      x.grad(l, "inb"),
      du,
      inp,
      x.param(l, "inw"),
      BT,
      C,
      C,
    );
  },
};
