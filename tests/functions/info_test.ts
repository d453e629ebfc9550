import assert from "node:assert/strict";
import { createInfo } from "../../functions/info.ts";
import { type Context, DEFAULT_CONFIG } from "../../lib/coordinator/context.ts";

/** A context whose chain client is at `rpc`, with `publicRpcUrl` configured or not. */
function contextAt(rpc: string, publicRpcUrl?: string): Context {
  const client = {
    chain: { rpcUrls: { default: { http: [rpc] } } },
    account: { address: `0x${"11".repeat(20)}` },
  };
  return {
    chain: { client, addresses: {}, chainId: 31337 },
    config: { ...DEFAULT_CONFIG, ...(publicRpcUrl ? { publicRpcUrl } : {}) },
  } as unknown as Context;
}

async function rpcUrlOf(ctx: Context): Promise<string | undefined> {
  const res = await createInfo(ctx)(new Request("http://127.0.0.1/info"));
  assert.equal(res.status, 200);
  return (await res.json()).rpcUrl;
}

Deno.test("attacker: GET /info gives no RPC URL that may hold the coordinator's API key", async () => {
  // Found in the inference audit: /info returned ARTHA_RPC_URL as it was, to anyone, and
  // providers put their API keys in its path, query or user part.
  const keyed = [
    "https://eth-mainnet.example.com/v2/SECRETKEY",
    "https://rpc.example.com/?apikey=SECRET",
    "https://user:secret@rpc.example.com",
  ];
  for (const rpc of keyed) assert.equal(await rpcUrlOf(contextAt(rpc)), undefined, rpc);
  // A bare endpoint (the demo's devnet) is given as it is; a configured public one wins.
  assert.equal(await rpcUrlOf(contextAt("http://127.0.0.1:8545")), "http://127.0.0.1:8545");
  const pub = "https://public-rpc.example.com";
  assert.equal(await rpcUrlOf(contextAt(keyed[0]!, pub)), pub);
});
