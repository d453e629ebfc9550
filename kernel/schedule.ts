/**
 * Learning-rate schedule: linear warmup, then cosine decay to minLrRatio * lr.
 * Uses its own cosine (a fixed Taylor series in f64) rather than Math.cos, whose last bit is
 * implementation-defined across JavaScript engines: every worker must derive the same lr.
 */

export interface ScheduleConfig {
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Final learning rate as a fraction of the peak. */
  minLrRatio: number;
}

/** cos(pi * x) for x in [0, 1], from +, *, / only (deterministic across engines). */
export function cosPi(x: number): number {
  const y = Math.PI * Math.min(1, Math.max(0, x));
  const y2 = y * y;
  let term = 1;
  let sum = 1;
  // 24 terms: the series for |y| <= pi has converged far below f64 precision by then.
  for (let n = 1; n <= 24; n++) {
    term = (-term * y2) / ((2 * n - 1) * (2 * n));
    sum += term;
  }
  return sum;
}

/** Learning rate for a 0-based step. */
export function learningRate(step: number, cfg: ScheduleConfig): number {
  if (step < cfg.warmupSteps) return (cfg.lr * (step + 1)) / cfg.warmupSteps;
  const span = Math.max(1, cfg.totalSteps - cfg.warmupSteps);
  const progress = Math.min(1, (step - cfg.warmupSteps) / span);
  const minLr = cfg.lr * cfg.minLrRatio;
  return minLr + 0.5 * (cfg.lr - minLr) * (1 + cosPi(progress));
}

/**
 * The lr of 0-based step `step` under a linear warmup of `warmupSteps` and no decay (the
 * schedule above with minLrRatio 1, so every engine derives the same value); `lr` itself when
 * there is no warmup. The server optimizers ramp their outer lr with it.
 */
export function warmedLr(lr: number, step: number, warmupSteps: number): number {
  if (warmupSteps === 0) return lr;
  return learningRate(step, { lr, warmupSteps, totalSteps: warmupSteps, minLrRatio: 1 });
}

/**
 * `warmupSteps` if it is a non-negative integer.
 *
 * @throws {RangeError} otherwise
 */
export function checkWarmup(warmupSteps: number): number {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new RangeError(
      `Cannot create optimizer: warmupSteps ${warmupSteps} is not an integer >= 0`,
    );
  }
  return warmupSteps;
}
