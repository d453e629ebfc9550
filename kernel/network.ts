/**
 * The decoder network shared by both model kinds, written as one forward and one backward pass
 * (llm.c's gpt2_forward/gpt2_backward): token+position embedding, L residual blocks
 * (layernorm -> mixer -> residual, layernorm -> MLP with GELU -> residual), final layernorm,
 * head tied to the token embedding, fused softmax cross-entropy.
 *
 * All buffers live in the kernel's linear memory, allocated once per (config, B, T); the
 * network holds byte pointers only, because memory growth detaches typed-array views.
 */
import { attentionMixer } from "./gpt.ts";
import type { Mixer, MixerContext } from "./mixer.ts";
import { type ParamLayout, VOCAB } from "./params.ts";
import { ssmMixer } from "./ssm.ts";
import type { Kernel } from "./wasm_module.ts";

export interface Network {
  readonly kernel: Kernel;
  readonly layout: ParamLayout;
  readonly B: number;
  readonly T: number;
  /** Byte pointers of the flat parameter and gradient buffers (layout.size f32 each). */
  readonly params: number;
  readonly grads: number;
  /** Byte pointers of the (B,T) i32 inputs and targets. */
  readonly tokens: number;
  readonly targets: number;
  /** Byte pointer of the (B,T) per-position losses written by `forward`. */
  readonly losses: number;
  /** Byte pointer of the (B,T,V) logits written by `forward` (inference reads them). */
  readonly logits: number;
  /** Bytes of linear memory this network occupies. */
  readonly bytes: number;
  /**
   * Runs the forward pass and returns the summed loss (f64, ascending order). With a seed and a
   * dropout rate > 0, dropout masks come from (seed, layer); without a seed it is inference.
   */
  forward(seed?: number): number;
  /** Backpropagates d(total)/d(each position's loss) = dloss; accumulates into grads. */
  backward(dloss: number): void;
}

const LAYER_ACTS = (BT: number, C: number) => ({
  ln1: BT * C,
  ln1m: BT,
  ln1r: BT,
  mix: BT * C,
  res2: BT * C,
  ln2: BT * C,
  ln2m: BT,
  ln2r: BT,
  fch: BT * 4 * C,
  fchg: BT * 4 * C,
  fcproj: BT * C,
  res3: BT * C,
});
const LAYER_DACTS = (BT: number, C: number) => ({
  dln1: BT * C,
  dmix: BT * C,
  dres2: BT * C,
  dln2: BT * C,
  dfch: BT * 4 * C,
  dfchg: BT * 4 * C,
  dfcproj: BT * C,
  dres3: BT * C,
});

// Residual-branch dropout (GPT-2 places it on the attention and MLP outputs).
const DROPOUT_ACTS = (BT: number, C: number) => ({
  mixd: BT * C,
  mixmask: BT * C,
  fcprojd: BT * C,
  fcprojmask: BT * C,
});
const DROPOUT_DACTS = (BT: number, C: number) => ({ dmixd: BT * C, dfcprojd: BT * C });

/** Allocates a network for batches of B sequences of T tokens, with residual dropout rate p. */
export function createNetwork(
  kernel: Kernel,
  layout: ParamLayout,
  B: number,
  T: number,
  dropout = 0,
): Network {
  const cfg = layout.config;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1 || T > cfg.maxT) {
    throw new RangeError(`Cannot create network: need B >= 1 and 1 <= T <= ${cfg.maxT}`);
  }
  if (!(dropout >= 0 && dropout < 1)) {
    throw new RangeError(`Cannot create network: dropout ${dropout} is not in [0, 1)`);
  }
  const drop = dropout > 0;
  let dropped = false; // whether the last forward applied dropout (backward must match it)
  const mixer: Mixer = cfg.kind === "gpt" ? attentionMixer : ssmMixer;
  const { k, C, NH, L, BT, V } = {
    k: kernel,
    C: cfg.width,
    NH: cfg.heads,
    L: cfg.layers,
    BT: B * T,
    V: VOCAB,
  };
  const start = k.mark();

  const params = k.alloc(layout.size);
  const grads = k.alloc(layout.size);
  const tokens = k.alloc(BT);
  const targets = k.alloc(BT);
  const acts = new Map<string, number>();
  const put = (map: Map<string, number>, prefix: string, sizes: Record<string, number>) => {
    for (const [name, size] of Object.entries(sizes)) map.set(prefix + name, k.alloc(size));
  };
  put(acts, "", {
    encoded: BT * C,
    lnf: BT * C,
    lnfm: BT,
    lnfr: BT,
    logits: BT * V,
    probs: BT * V,
    losses: BT,
  });
  for (let l = 0; l < L; l++) {
    put(acts, `${l}.`, LAYER_ACTS(BT, C));
    put(acts, `${l}.`, mixer.actSizes(B, T, C, NH));
    if (drop) put(acts, `${l}.`, DROPOUT_ACTS(BT, C));
  }
  // Activation gradients sit in one contiguous block so a single fill zeroes them per step.
  const dactStart = k.mark();
  const dacts = new Map<string, number>();
  put(dacts, "", { dencoded: BT * C, dlnf: BT * C, dlogits: BT * V });
  for (let l = 0; l < L; l++) {
    put(dacts, `${l}.`, LAYER_DACTS(BT, C));
    put(dacts, `${l}.`, mixer.dactSizes(B, T, C, NH));
    if (drop) put(dacts, `${l}.`, DROPOUT_DACTS(BT, C));
  }
  const dactBytes = k.mark() - dactStart;
  // Every gemm the step runs: each linear (in,out) as forward, d(input) and d(weight) products,
  // and the tied head (logits, d(lnf), d(wte)).
  const linears: [number, number][] = [[C, 4 * C], [4 * C, C], ...mixer.linears(C)];
  const gemms = linears.flatMap(([i, o]) => [[BT, i, o], [BT, o, i], [i, BT, o]]);
  gemms.push([BT, C, V], [BT, V, C], [V, BT, C]);
  const scratchBytes = Math.max(
    mixer.scratchBytes(B, T, C),
    ...gemms.map(([m, kk]) => k.ops.gemmScratchBytes(m!, kk!)),
  );
  const scratch = k.alloc(Math.ceil(scratchBytes / 4));
  const bytes = k.mark() - start;

  const get = (map: Map<string, number>, key: string): number => {
    const p = map.get(key);
    if (p === undefined) throw new Error(`Cannot find buffer ${key}`);
    return p;
  };
  const tensor = (name: string) => {
    const t = layout.byName.get(name);
    if (!t) throw new Error(`Cannot find parameter ${name}`);
    return t.offset * 4;
  };
  const P = (name: string) => params + tensor(name);
  const G = (name: string) => grads + tensor(name);
  const A = (name: string) => get(acts, name);
  const D = (name: string) => get(dacts, name);
  const ctx: MixerContext = {
    k,
    B,
    T,
    C,
    NH,
    param: (l, name) => P(`h${l}.${name}`),
    grad: (l, name) => G(`h${l}.${name}`),
    act: (l, name) => A(`${l}.${name}`),
    dact: (l, name) => D(`${l}.${name}`),
  };
  const o = k.ops;
  const losses = A("losses");

  function forward(seed?: number): number {
    o.setScratch(scratch);
    dropped = drop && seed !== undefined;
    // Dropout on a residual branch: returns the pointer the residual add should read.
    const branch = (l: number, name: string, stream: number): number => {
      const x = A(`${l}.${name}`);
      if (!dropped) return x;
      const out = A(`${l}.${name}d`);
      o.dropoutForward(out, A(`${l}.${name}mask`), x, BT * C, dropout, seed! >>> 0, stream);
      return out;
    };
    o.encoderForward(A("encoded"), tokens, P("wte"), P("wpe"), B, T, C);
    for (let l = 0; l < L; l++) {
      const h = (n: string) => P(`h${l}.${n}`);
      const a = (n: string) => A(`${l}.${n}`);
      const residual = l === 0 ? A("encoded") : A(`${l - 1}.res3`);
      o.layernormForward(a("ln1"), a("ln1m"), a("ln1r"), residual, h("ln1w"), h("ln1b"), BT, C);
      mixer.forward(ctx, l, a("mix"), a("ln1"));
      o.residualForward(a("res2"), residual, branch(l, "mix", 2 * l), BT * C);
      o.layernormForward(a("ln2"), a("ln2m"), a("ln2r"), a("res2"), h("ln2w"), h("ln2b"), BT, C);
      o.matmulForward(a("fch"), a("ln2"), h("fcw"), h("fcb"), BT, C, 4 * C);
      o.geluForward(a("fchg"), a("fch"), BT * 4 * C);
      o.matmulForward(a("fcproj"), a("fchg"), h("fcprojw"), h("fcprojb"), BT, 4 * C, C);
      o.residualForward(a("res3"), a("res2"), branch(l, "fcproj", 2 * l + 1), BT * C);
    }
    const last = A(`${L - 1}.res3`);
    o.layernormForward(A("lnf"), A("lnfm"), A("lnfr"), last, P("lnfw"), P("lnfb"), BT, C);
    // logits (BT,V) = lnf (BT,C) @ wte^T: the head shares the token embedding (GPT-2).
    o.gemm(A("logits"), A("lnf"), P("wte"), 0, BT, C, V, 0, 1, 0);
    o.crossEntropyForward(losses, A("probs"), A("logits"), targets, BT, V);
    return o.sumF64(losses, BT);
  }

  function backward(dloss: number): void {
    o.setScratch(scratch);
    k.f32(dactStart, dactBytes / 4).fill(0);
    o.crossEntropyBackward(D("dlogits"), A("probs"), targets, dloss, BT, V);
    o.gemm(D("dlnf"), D("dlogits"), P("wte"), 0, BT, V, C, 0, 0, 1);
    o.gemm(G("wte"), D("dlogits"), A("lnf"), 0, V, BT, C, 1, 0, 1);
    const last = A(`${L - 1}.res3`);
    o.layernormBackward(
      D(`${L - 1}.dres3`),
      G("lnfw"),
      G("lnfb"),
      D("dlnf"),
      last,
      P("lnfw"),
      A("lnfm"),
      A("lnfr"),
      BT,
      C,
    );
    for (let l = L - 1; l >= 0; l--) {
      const h = (n: string) => P(`h${l}.${n}`);
      const g = (n: string) => G(`h${l}.${n}`);
      const a = (n: string) => A(`${l}.${n}`);
      const d = (n: string) => D(`${l}.${n}`);
      const residual = l === 0 ? A("encoded") : A(`${l - 1}.res3`);
      const dresidual = l === 0 ? D("dencoded") : D(`${l - 1}.dres3`);
      o.residualBackward(d("dres2"), dropped ? d("dfcprojd") : d("dfcproj"), d("dres3"), BT * C);
      if (dropped) o.dropoutBackward(d("dfcproj"), d("dfcprojd"), a("fcprojmask"), BT * C);
      o.matmulBackward(
        d("dfchg"),
        g("fcprojw"),
        g("fcprojb"),
        d("dfcproj"),
        a("fchg"),
        h("fcprojw"),
        BT,
        4 * C,
        C,
      );
      o.geluBackward(d("dfch"), d("dfchg"), a("fch"), BT * 4 * C);
      o.matmulBackward(d("dln2"), g("fcw"), g("fcb"), d("dfch"), a("ln2"), h("fcw"), BT, C, 4 * C);
      o.layernormBackward(
        d("dres2"),
        g("ln2w"),
        g("ln2b"),
        d("dln2"),
        a("res2"),
        h("ln2w"),
        a("ln2m"),
        a("ln2r"),
        BT,
        C,
      );
      o.residualBackward(dresidual, dropped ? d("dmixd") : d("dmix"), d("dres2"), BT * C);
      if (dropped) o.dropoutBackward(d("dmix"), d("dmixd"), a("mixmask"), BT * C);
      mixer.backward(ctx, l, d("dln1"), d("dmix"), a("ln1"));
      o.layernormBackward(
        dresidual,
        g("ln1w"),
        g("ln1b"),
        d("dln1"),
        residual,
        h("ln1w"),
        a("ln1m"),
        a("ln1r"),
        BT,
        C,
      );
    }
    o.encoderBackward(G("wte"), G("wpe"), D("dencoded"), tokens, B, T, C);
  }

  const logits = A("logits");
  return {
    kernel,
    layout,
    B,
    T,
    params,
    grads,
    tokens,
    targets,
    losses,
    logits,
    bytes,
    forward,
    backward,
  };
}
