/** Counting a run's log queries: what a chain scan costs on an RPC that caps a query's span. */

/** `run`'s value and the eth_getLogs requests it sent through fetch (the chain client's HTTP). */
export async function logQueries<T>(run: () => Promise<T>): Promise<{ value: T; queries: number }> {
  const fetch = globalThis.fetch;
  let queries = 0;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const body = typeof init?.body === "string" ? init.body : "";
    queries += (body.match(/"eth_getLogs"/g) ?? []).length;
    return fetch(input, init);
  };
  try {
    return { value: await run(), queries };
  } finally {
    globalThis.fetch = fetch;
  }
}
