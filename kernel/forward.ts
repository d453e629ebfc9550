/**
 * Logits from the kernel's own forward pass (network.ts, no dropout): the reference that every
 * exported model and inference backend is compared against, and the "kernel" backend itself.
 *
 * Networks are allocated per power-of-two sequence bucket (up to maxT) and hold their own copy of
 * the weights; a shorter input is padded at the end, which cannot change earlier positions'
 * logits because attention is causal and every op works row by row in a fixed order.
 *
 * @example
 * ```ts
 * import { createForward } from "./forward.ts";
 * import { initWeights, paramLayout } from "./params.ts";
 * import { loadKernel } from "./wasm_module.ts";
 * const config = { kind: "gpt" as const, maxT: 8, layers: 1, heads: 2, width: 8 };
 * const kernel = loadKernel();
 * const fwd = createForward(kernel, config, initWeights(kernel, paramLayout(config), 1));
 * console.assert(fwd.logits([104, 105]).length === 2 * 256);
 * ```
 */
import { createNetwork, type Network } from "./network.ts";
import { type ModelConfig, paramLayout, VOCAB } from "./params.ts";
import type { Kernel } from "./wasm_module.ts";

export interface Forward {
  readonly config: ModelConfig;
  /** Logits (n, 256) of every position of `tokens` (1 <= n <= maxT), a fresh array. */
  logits(tokens: ArrayLike<number>): Float32Array;
}

/** Binds a forward pass to one kernel instance and one set of weights. */
export function createForward(kernel: Kernel, config: ModelConfig, weights: Float32Array): Forward {
  const layout = paramLayout(config);
  if (weights.length !== layout.size) {
    throw new RangeError(
      `Cannot create forward: weights have ${weights.length} values, model needs ${layout.size}`,
    );
  }
  const own = weights.slice();
  const nets = new Map<number, Network>();

  function network(n: number): Network {
    const T = Math.min(config.maxT, 2 ** Math.ceil(Math.log2(n)));
    let net = nets.get(T);
    if (!net) {
      net = createNetwork(kernel, layout, 1, T);
      kernel.f32(net.params, layout.size).set(own);
      nets.set(T, net);
    }
    return net;
  }

  function logits(tokens: ArrayLike<number>): Float32Array {
    const n = tokens.length;
    if (!Number.isInteger(n) || n < 1 || n > config.maxT) {
      throw new RangeError(`Cannot run forward: need 1..${config.maxT} tokens, got ${n}`);
    }
    const net = network(n);
    const ids = kernel.i32(net.tokens, net.T);
    ids.fill(0);
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= VOCAB) {
        throw new RangeError(`Cannot run forward: token ${t} is not a byte`);
      }
      ids[i] = t;
    }
    kernel.i32(net.targets, net.T).fill(0);
    net.forward();
    return kernel.f32(net.logits, n * VOCAB).slice();
  }

  return { config, logits };
}
