/**
 * Top-k selection by magnitude in O(n): quickselect the k-th largest |x| on a scratch copy,
 * then collect indices in increasing order (ties at the threshold taken first come first),
 * so the output is deterministic and ready for gap coding.
 *
 * @module
 */

/** Resolves `{ k }` or `{ fraction }` to a count in [0, length]. */
export function resolveK(length: number, options: { k?: number; fraction?: number }): number {
  if (options.k !== undefined) {
    if (!Number.isInteger(options.k) || options.k < 0) {
      throw new RangeError(`Cannot select top-k: k ${options.k} is not a non-negative integer`);
    }
    return Math.min(options.k, length);
  }
  const fraction = options.fraction ?? 0.01;
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`Cannot select top-k: fraction ${fraction} is not in (0, 1]`);
  }
  return Math.min(length, Math.max(1, Math.ceil(length * fraction)));
}

/** Indices (increasing) of the `k` entries of largest magnitude. */
export function selectTopK(values: Float32Array, k: number): Uint32Array {
  const n = values.length;
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  if (k === 0) return new Uint32Array(0);
  const mags = new Float32Array(n);
  for (let i = 0; i < n; i++) mags[i] = Math.abs(values[i]!);
  const threshold = kthLargest(mags, k);
  let above = 0;
  for (let i = 0; i < n; i++) if (Math.abs(values[i]!) > threshold) above++;
  let ties = k - above;
  const out = new Uint32Array(k);
  let pos = 0;
  for (let i = 0; i < n && pos < k; i++) {
    const a = Math.abs(values[i]!);
    if (a > threshold) out[pos++] = i;
    else if (a === threshold && ties > 0) {
      out[pos++] = i;
      ties--;
    }
  }
  return out;
}

/** The k-th largest value of `a` (1-based); reorders `a`. Hoare quickselect, median-of-3. */
function kthLargest(a: Float32Array, k: number): number {
  const target = a.length - k; // k-th largest = (n-k)-th smallest, 0-based
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!, y = a[mid]!, z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}
