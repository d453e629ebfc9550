/** Environment variables set for the length of a call, in the settings readers' tests. */

/** Sets `vars` (undefined: unset); returns what they were, to put back the same way. */
function setEnv(vars: Record<string, string | undefined>): Record<string, string | undefined> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  for (const [k, x] of Object.entries(vars)) {
    x === undefined ? Deno.env.delete(k) : Deno.env.set(k, x);
  }
  return saved;
}

/** Runs `fn` with the variables set (undefined: unset), restoring them after. */
export function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = setEnv(vars);
  try {
    return fn();
  } finally {
    setEnv(saved);
  }
}

/** {@link withEnv} for an async `fn`: the variables stay set until its promise settles. */
export async function withEnvAsync<T>(
  vars: Record<string, string | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = setEnv(vars);
  try {
    return await fn();
  } finally {
    setEnv(saved);
  }
}
