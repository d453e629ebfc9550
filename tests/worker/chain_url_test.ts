/** What the worker prints while its chain is away, from the side of an operator sharing logs. */
import assert from "node:assert/strict";
import { HttpRequestError } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import type { CoordinatorFetch } from "../../lib/worker/client.ts";
import type { WorkerEvent } from "../../lib/worker/events.ts";
import { Worker } from "../../lib/worker/worker.ts";

/** A worker whose every tick fails as a chain that does not answer at `rpcUrl` does. */
class ChainAway extends Worker {
  constructor(readonly rpcUrl: string, onProgress: (e: WorkerEvent) => void) {
    const zero = `0x${"00".repeat(20)}` as const;
    const addresses = new Proxy({}, { get: () => zero }) as ArthaAddresses;
    super({
      coordinator: Object.assign(() => Promise.reject(new Error("unused")), {
        origin: "http://127.0.0.1:9",
      }) as CoordinatorFetch,
      client: createArthaClient({
        rpcUrl,
        chainId: 31337,
        account: privateKeyToAccount(generatePrivateKey()),
      }),
      addresses,
      chainId: 31337,
      key: generateNodeKey(),
      onProgress,
    });
  }

  override tick(): Promise<never> {
    const cause = new HttpRequestError({ url: this.rpcUrl });
    return Promise.reject(new Error("Cannot heartbeat: HTTP request failed.", { cause }));
  }
}

Deno.test("victim: an RPC URL's key and password are not printed while the chain is away", async () => {
  // Found in the chain audit: the worker printed "Cannot reach the chain at <its RPC URL>" whole,
  // an API key in its path and a user:password in it, into logs operators share.
  // Prepare
  const rpcUrl = "https://user:secret@rpc.example.org/v2/API-KEY";
  const events: WorkerEvent[] = [];
  const stop = new AbortController();
  const worker = new ChainAway(rpcUrl, (e) => {
    events.push(e);
    stop.abort();
  });

  // Execute: one failed tick.
  await worker.run(stop.signal, 1);

  // Assert: the retry names the host only.
  assert.equal(events[0]?.kind, "retrying");
  const message = (events[0] as { message: string }).message;
  assert.match(message, /^Cannot reach the chain at https:\/\/rpc\.example\.org\/\.\.\.: /);
  assert.doesNotMatch(message, /secret|API-KEY|user/);
});
