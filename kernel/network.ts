/**
 * The decoder network shared by both model kinds, written as one forward and one backward pass
 * (llm.c's gpt2_forward/gpt2_backward): token+position embedding, L residual blocks
 * (layernorm -> mixer -> residual, layernorm -> MLP with GELU -> residual), final layernorm,
 * head tied to the token embedding, fused softmax cross-entropy.
 *
 * All buffers live in the kernel's linear memory, allocated once per (config, B, T); the
 * network holds byte pointers only, because memory growth detaches typed-array views. Activation
 * gradients exist for one layer at a time (every layer's are zeroed before its backward, so the
 * sums are those of per-layer buffers); `recompute` does the same for activations and `offload`
 * for layer parameters, which is how models past 4 GiB of state train (kernel/offload.ts).
 */
import { attentionMixer } from "./gpt.ts";
import type { Mixer, MixerContext } from "./mixer.ts";
import { isLayerTensor, layerRange, type ParamLayout, VOCAB } from "./params.ts";
import { ssmMixer } from "./ssm.ts";
import type { Kernel } from "./wasm_module.ts";

export interface Network {
  readonly kernel: Kernel;
  readonly layout: ParamLayout;
  readonly B: number;
  readonly T: number;
  /**
   * Byte pointers of the parameter and gradient buffers: the whole flat layout (layout.size
   * f32), or with `offload` only the tensors outside the layers, in layout order
   * (`residentSize` f32: wte, wpe, lnfw, lnfb).
   */
  readonly params: number;
  readonly grads: number;
  /** f32 count of `params` and `grads`. */
  readonly residentSize: number;
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

/**
 * Layer parameters kept outside linear memory (kernel/offload.ts): one layer at a time is copied
 * into a window of `layerRange(layout, 0).size` f32 for its parameters and one for its gradients.
 */
export interface LayerOffload {
  /** Fill `dst` (byte pointer) with layer l's parameters. */
  loadParams(layer: number, dst: number): void;
  /** Before layer l's backward: fill `dst` with its gradient accumulated so far (or zeros). */
  loadGrads(layer: number, dst: number): void;
  /** After layer l's backward: take its gradient from `src`. */
  storeGrads(layer: number, src: number): void;
}

export interface NetworkOptions {
  /** Residual dropout rate in [0, 1) (default 0). */
  dropout?: number;
  /**
   * Activation recomputation (gradient checkpointing): keep only each layer's output through the
   * forward pass and recompute a layer's other activations right before its backward, into one
   * set of buffers shared by all layers. Costs one more forward of the layers (about a third
   * more compute) and saves all but one layer's activations; bits are unchanged, because the
   * recomputation repeats the same ops on the same inputs (dropout masks included).
   */
  recompute?: boolean;
  /** Stream layer parameters and gradients through a one-layer window (see LayerOffload). */
  offload?: LayerOffload;
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
});
const LAYER_DACTS = (BT: number, C: number) => ({
  dln1: BT * C,
  dmix: BT * C,
  dres2: BT * C,
  dln2: BT * C,
  dfch: BT * 4 * C,
  dfchg: BT * 4 * C,
  dfcproj: BT * C,
});

// Residual-branch dropout (GPT-2 places it on the attention and MLP outputs).
const DROPOUT_ACTS = (BT: number, C: number) => ({
  mixd: BT * C,
  mixmask: BT * C,
  fcprojd: BT * C,
  fcprojmask: BT * C,
});
const DROPOUT_DACTS = (BT: number, C: number) => ({ dmixd: BT * C, dfcprojd: BT * C });

/** Allocates a network for batches of B sequences of T tokens. */
export function createNetwork(
  kernel: Kernel,
  layout: ParamLayout,
  B: number,
  T: number,
  dropout = 0,
  options: NetworkOptions = {},
): Network {
  const cfg = layout.config;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1 || T > cfg.maxT) {
    throw new RangeError(`Cannot create network: need B >= 1 and 1 <= T <= ${cfg.maxT}`);
  }
  dropout = options.dropout ?? dropout;
  if (!(dropout >= 0 && dropout < 1)) {
    throw new RangeError(`Cannot create network: dropout ${dropout} is not in [0, 1)`);
  }
  const { recompute = false, offload } = options;
  const drop = dropout > 0;
  let dropped = false; // whether the last forward applied dropout (backward must match it)
  let lastSeed = 0;
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

  // Parameters: all resident, or (offload) the non-layer tensors resident plus a one-layer window.
  const residentOffset = new Map<string, number>();
  let residentSize = 0;
  for (const t of layout.tensors) {
    if (offload && isLayerTensor(t.name)) continue;
    residentOffset.set(t.name, offload ? residentSize : t.offset);
    residentSize = offload ? residentSize + t.size : layout.size;
  }
  const params = k.alloc(residentSize);
  const grads = k.alloc(residentSize);
  const layerSize = offload ? layerRange(layout, 0).size : 0;
  const windowParams = k.alloc(layerSize);
  const windowGrads = k.alloc(layerSize);
  let windowLayer = -1; // the layer whose parameters are in the window

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
  // Each layer's output (res3) always; the rest per layer, or once for all with recompute.
  for (let l = 0; l < L; l++) {
    put(acts, `${l}.`, { res3: BT * C });
    if (recompute && l > 0) continue;
    put(acts, `${l}.`, LAYER_ACTS(BT, C));
    put(acts, `${l}.`, mixer.actSizes(B, T, C, NH));
    if (drop) put(acts, `${l}.`, DROPOUT_ACTS(BT, C));
  }
  // Activation gradients: the head's, two residual-stream buffers used alternately by the layers
  // (layer l reads its output's gradient from one and writes its input's into the other), and one
  // layer's worth in a contiguous block, zeroed before each layer's backward.
  const dacts = new Map<string, number>();
  put(dacts, "", { dencoded: BT * C, dlnf: BT * C, dlogits: BT * V, dres0: BT * C, dres1: BT * C });
  const dactStart = k.mark();
  put(dacts, "", LAYER_DACTS(BT, C));
  put(dacts, "", mixer.dactSizes(B, T, C, NH));
  if (drop) put(dacts, "", DROPOUT_DACTS(BT, C));
  const dactCount = (k.mark() - dactStart) / 4;
  // Every gemm the step runs: each linear (in,out) as forward, d(input) and d(weight) products,
  // and the tied head (logits, d(lnf), d(wte)).
  const linears: [number, number][] = [[C, 4 * C], [4 * C, C], ...mixer.linears(C)];
  const gemms = linears.flatMap(([i, o]) => [[BT, i, o], [BT, o, i], [i, BT, o]]);
  gemms.push([BT, C, V], [BT, V, C], [V, BT, C]);
  const scratchBytes = Math.max(
    mixer.scratchBytes(B, T, C),
    ...gemms.map(([m, kk]) => k.ops.gemmScratchBytes(m!, kk!)),
  );
  // One scratch region per thread (the GEMM packs into it), cache-line aligned.
  const scratchStride = Math.ceil(scratchBytes / 64) * 64;
  const scratch = k.alloc((scratchStride / 4) * k.threads);
  const bytes = k.mark() - start;

  const get = (map: Map<string, number>, key: string): number => {
    const p = map.get(key);
    if (p === undefined) throw new Error(`Cannot find buffer ${key}`);
    return p;
  };
  const tensorByte = (name: string): [resident: boolean, byte: number] => {
    const r = residentOffset.get(name);
    if (r !== undefined) return [true, r * 4];
    const t = layout.byName.get(name);
    if (!t) throw new Error(`Cannot find parameter ${name}`);
    const layer = Number(name.slice(1, name.indexOf(".")));
    return [false, (t.offset - layerRange(layout, layer).offset) * 4];
  };
  const pointers = new Map<string, [number, number]>();
  const ptrs = (name: string) => {
    let p = pointers.get(name);
    if (!p) {
      const [resident, b] = tensorByte(name);
      p = resident ? [params + b, grads + b] : [windowParams + b, windowGrads + b];
      pointers.set(name, p);
    }
    return p;
  };
  const P = (name: string) => ptrs(name)[0];
  const G = (name: string) => ptrs(name)[1];
  const A = (name: string) => get(acts, name);
  /** Layer l's activation `name`: its own buffer, or with recompute the shared one. */
  const LA = (l: number, name: string) => A(`${recompute && name !== "res3" ? 0 : l}.${name}`);
  const D = (name: string) => get(dacts, name);
  const dres = (l: number) => D(l & 1 ? "dres1" : "dres0"); // d(output of layer l)
  const ctx: MixerContext = {
    k,
    B,
    T,
    C,
    NH,
    param: (l, name) => P(`h${l}.${name}`),
    grad: (l, name) => G(`h${l}.${name}`),
    act: (l, name) => LA(l, name),
    dact: (_l, name) => D(name),
  };
  const o = k.ops;
  const losses = A("losses");

  function loadLayer(l: number): void {
    if (offload && windowLayer !== l) {
      offload.loadParams(l, windowParams);
      windowLayer = l;
    }
  }

  // Dropout on a residual branch: returns the pointer the residual add should read.
  function branch(l: number, name: string, stream: number): number {
    const x = LA(l, name);
    if (!dropped) return x;
    const out = LA(l, `${name}d`);
    o.dropoutForward(out, LA(l, `${name}mask`), x, BT * C, dropout, lastSeed >>> 0, stream);
    return out;
  }

  function layerForward(l: number): void {
    loadLayer(l);
    const h = (n: string) => P(`h${l}.${n}`);
    const a = (n: string) => LA(l, n);
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

  function forward(seed?: number): number {
    k.useScratch(scratch, scratchStride);
    dropped = drop && seed !== undefined;
    lastSeed = seed ?? 0;
    windowLayer = -1; // the host may have changed the weights since the last pass
    o.encoderForward(A("encoded"), tokens, P("wte"), P("wpe"), B, T, C);
    for (let l = 0; l < L; l++) layerForward(l);
    const last = A(`${L - 1}.res3`);
    o.layernormForward(A("lnf"), A("lnfm"), A("lnfr"), last, P("lnfw"), P("lnfb"), BT, C);
    // logits (BT,V) = lnf (BT,C) @ wte^T: the head shares the token embedding (GPT-2).
    o.gemm(A("logits"), A("lnf"), P("wte"), 0, BT, C, V, 0, 1, 0);
    o.crossEntropyForward(losses, A("probs"), A("logits"), targets, BT, V);
    return o.sumF64(losses, BT);
  }

  function layerBackward(l: number): void {
    const h = (n: string) => P(`h${l}.${n}`);
    const g = (n: string) => G(`h${l}.${n}`);
    const a = (n: string) => LA(l, n);
    const residual = l === 0 ? A("encoded") : A(`${l - 1}.res3`);
    const dresidual = l === 0 ? D("dencoded") : dres(l - 1);
    o.fillZero(dresidual, BT * C);
    o.fillZero(dactStart, dactCount);
    o.residualBackward(D("dres2"), dropped ? D("dfcprojd") : D("dfcproj"), dres(l), BT * C);
    if (dropped) o.dropoutBackward(D("dfcproj"), D("dfcprojd"), a("fcprojmask"), BT * C);
    o.matmulBackward(
      D("dfchg"),
      g("fcprojw"),
      g("fcprojb"),
      D("dfcproj"),
      a("fchg"),
      h("fcprojw"),
      BT,
      4 * C,
      C,
    );
    o.geluBackward(D("dfch"), D("dfchg"), a("fch"), BT * 4 * C);
    o.matmulBackward(D("dln2"), g("fcw"), g("fcb"), D("dfch"), a("ln2"), h("fcw"), BT, C, 4 * C);
    o.layernormBackward(
      D("dres2"),
      g("ln2w"),
      g("ln2b"),
      D("dln2"),
      a("res2"),
      h("ln2w"),
      a("ln2m"),
      a("ln2r"),
      BT,
      C,
    );
    o.residualBackward(dresidual, dropped ? D("dmixd") : D("dmix"), D("dres2"), BT * C);
    if (dropped) o.dropoutBackward(D("dmix"), D("dmixd"), a("mixmask"), BT * C);
    mixer.backward(ctx, l, D("dln1"), D("dmix"), a("ln1"));
    o.layernormBackward(
      dresidual,
      g("ln1w"),
      g("ln1b"),
      D("dln1"),
      residual,
      h("ln1w"),
      a("ln1m"),
      a("ln1r"),
      BT,
      C,
    );
  }

  function backward(dloss: number): void {
    k.useScratch(scratch, scratchStride);
    o.fillZero(D("dlnf"), BT * C);
    o.fillZero(D("dlogits"), BT * V);
    o.crossEntropyBackward(D("dlogits"), A("probs"), targets, dloss, BT, V);
    o.gemm(D("dlnf"), D("dlogits"), P("wte"), 0, BT, V, C, 0, 0, 1);
    o.gemm(G("wte"), D("dlogits"), A("lnf"), 0, V, BT, C, 1, 0, 1);
    const last = A(`${L - 1}.res3`);
    o.fillZero(dres(L - 1), BT * C);
    o.layernormBackward(
      dres(L - 1),
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
      // The last layer's activations and parameters are still in place from the forward pass.
      if (recompute && l < L - 1) layerForward(l);
      loadLayer(l);
      if (offload) offload.loadGrads(l, windowGrads);
      layerBackward(l);
      if (offload) offload.storeGrads(l, windowGrads);
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
    residentSize,
    tokens,
    targets,
    losses,
    logits,
    bytes,
    forward,
    backward,
  };
}
