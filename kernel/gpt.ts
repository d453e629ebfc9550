/** GPT-2 mixer: qkv projection, causal multi-head attention, output projection. */
import type { Mixer, MixerContext } from "./mixer.ts";

export const attentionMixer: Mixer = {
  actSizes: (B, T, C, NH) => ({ qkv: B * T * 3 * C, atty: B * T * C, att: B * NH * T * T }),
  dactSizes: (B, T, C) => ({ dqkv: B * T * 3 * C, datty: B * T * C }),
  scratchBytes: (_B, T) => T * 4,
  linears: (C) => [[C, 3 * C], [C, C]],

  forward(x: MixerContext, l: number, out: number, inp: number): void {
    const { k, B, T, C, NH } = x;
    const BT = B * T;
    const qkv = x.act(l, "qkv"), atty = x.act(l, "atty");
    k.ops.matmulForward(qkv, inp, x.param(l, "qkvw"), x.param(l, "qkvb"), BT, C, 3 * C);
    k.ops.attentionForward(atty, x.act(l, "att"), qkv, B, T, C, NH);
    k.ops.matmulForward(out, atty, x.param(l, "projw"), x.param(l, "projb"), BT, C, C);
  },

  backward(x: MixerContext, l: number, dinp: number, dout: number, inp: number): void {
    const { k, B, T, C, NH } = x;
    const BT = B * T;
    const qkv = x.act(l, "qkv"), atty = x.act(l, "atty");
    const dqkv = x.dact(l, "dqkv"), datty = x.dact(l, "datty");
    k.ops.matmulBackward(
      datty,
      x.grad(l, "projw"),
      x.grad(l, "projb"),
      dout,
      atty,
      x.param(l, "projw"),
      BT,
      C,
      C,
    );
    k.ops.attentionBackward(dqkv, datty, qkv, x.act(l, "att"), B, T, C, NH);
    k.ops.matmulBackward(
      dinp,
      x.grad(l, "qkvw"),
      x.grad(l, "qkvb"),
      dqkv,
      inp,
      x.param(l, "qkvw"),
      BT,
      C,
      3 * C,
    );
  },
};
