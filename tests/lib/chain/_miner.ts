/**
 * A devnet whose head moves on its own, as a chain with block times does: one block every `ms`
 * until disposed (anvil mines only when sent a transaction otherwise). Disposing waits for the
 * request under way.
 */
export function mineEvery(rpcUrl: string, ms: number): AsyncDisposable {
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "anvil_mine", params: ["0x1"] });
  const headers = { "content-type": "application/json" };
  let inFlight: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    inFlight = inFlight.then(() =>
      fetch(rpcUrl, { method: "POST", headers, body }).then((r) => r.text()).catch(() => "")
    );
  }, ms);
  return {
    async [Symbol.asyncDispose]() {
      clearInterval(timer);
      await inFlight;
    },
  };
}
