/** Counting a run's chain requests: what a scan or a check costs the coordinator's RPC endpoint. */

/** `run`'s value and the JSON-RPC requests of `method` it sent through fetch (the chain client). */
export async function rpcQueries<T>(
  method: string,
  run: () => Promise<T>,
): Promise<{ value: T; queries: number }> {
  const fetch = globalThis.fetch;
  let queries = 0;
  const pattern = new RegExp(`"${method}"`, "g");
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const body = typeof init?.body === "string" ? init.body : "";
    queries += (body.match(pattern) ?? []).length;
    return fetch(input, init);
  };
  try {
    return { value: await run(), queries };
  } finally {
    globalThis.fetch = fetch;
  }
}

/** `run`'s value and the eth_getLogs requests it sent. */
export function logQueries<T>(run: () => Promise<T>): Promise<{ value: T; queries: number }> {
  return rpcQueries("eth_getLogs", run);
}
