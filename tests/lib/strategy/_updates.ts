import type { ClientUpdate } from "../../../lib/strategy/strategy.ts";

/** The three tiny updates worked by hand: sum n·d = [5, 6, 2], N = 4 -> [1.25, 1.5, 0.5]. */
export function threeUpdates(): ClientUpdate[] {
  return [
    { nodeId: "0xa", delta: new Float32Array([1, 2, 3]), numSamples: 1 },
    { nodeId: "0xb", delta: new Float32Array([2, 0, -1]), numSamples: 2 },
    { nodeId: "0xc", delta: new Float32Array([0, 4, 1]), numSamples: 1 },
  ];
}

/** xorshift32 in [0, 1). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** `count` updates of `length` params, mixed scales (1e-1 .. 1e-8) and sample counts. */
export function randomUpdates(count: number, length: number, seed = 1): ClientUpdate[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, i) => {
    const delta = new Float32Array(length);
    const scale = 10 ** -(1 + Math.floor(r() * 8));
    for (let j = 0; j < length; j++) delta[j] = (r() - 0.5) * scale * (j % 7 === 0 ? 1e3 : 1);
    return {
      nodeId: `0x${i.toString(16).padStart(4, "0")}`,
      delta,
      numSamples: 1 + Math.floor(r() * 1000),
    };
  });
}

/** Fisher-Yates shuffle copy. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const r = rng(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Byte equality of two Float32Arrays (distinguishes -0 and NaN payloads). */
export function sameBytes(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
