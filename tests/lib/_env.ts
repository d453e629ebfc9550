/** Environment variables set for the length of a call, in the settings readers' tests. */

/** Runs `fn` with the variables set (undefined: unset), restoring them after. */
export function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      x === undefined ? Deno.env.delete(k) : Deno.env.set(k, x);
    }
  };
  apply(vars);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}
