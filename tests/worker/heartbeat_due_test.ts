/**
 * How often a worker heartbeats, from the victim's side (found in the worker audit): heartbeats
 * went out on a local 10-minute timer, six times a chain interval of one hour, each paying gas.
 * A node now heartbeats once its last heartbeat on chain is half the chain's interval old, and
 * at once when it is older or the chain cannot be read.
 */
import assert from "node:assert/strict";
import type { ArthaClient } from "../../lib/chain/client.ts";
import type { ArthaAddresses } from "../../lib/chain/contracts.ts";
import { generateNodeKey } from "../../lib/crypto/keys.ts";
import { Worker } from "../../lib/worker/worker.ts";

/** The chain's time at the start of each test (seconds; later than any test machine's clock). */
const T0 = 4_000_000_000;
const INTERVAL = 3_600;
const LOOK_MS = 10 * 60_000;

const ADDRESSES = {
  verification: `0x${"0e".repeat(20)}`,
  proofs: `0x${"0f".repeat(20)}`,
  registry: `0x${"10".repeat(20)}`,
} as ArthaAddresses;

/**
 * A chain whose clock is `clock.ms` (also this machine's) and where the node's last heartbeat is at
 * `lastHeartbeat` (seconds); each heartbeat sent is counted and moves lastHeartbeat to now.
 * With `failReads` every read of the registry fails.
 */
function chain(lastHeartbeat: number, failReads = false, interval = INTERVAL) {
  const clock = { ms: T0 * 1000 };
  const chainNow = () => BigInt(Math.floor(clock.ms / 1000));
  let last = BigInt(lastHeartbeat);
  let sent = 0;
  const beats: number[] = [lastHeartbeat];
  const client = {
    chain: { id: 31_337 },
    account: { address: `0x${"0c".repeat(20)}`, type: "json-rpc" },
    getBlock: () => Promise.resolve({ number: 1n, timestamp: chainNow() }),
    readContract: (p: { functionName: string }) => {
      if (failReads) return Promise.reject(new Error("RPC away"));
      if (p.functionName === "getNode") {
        return Promise.resolve({ lastHeartbeat: last, active: true });
      }
      if (p.functionName === "heartbeatInterval") return Promise.resolve(BigInt(interval));
      return Promise.reject(new Error(`unexpected read ${p.functionName}`));
    },
    simulateContract: (request: unknown) => Promise.resolve({ request }),
    estimateContractGas: () => Promise.resolve(50_000n),
    writeContract: (request: { functionName: string }) => {
      assert.equal(request.functionName, "heartbeat");
      sent++;
      last = chainNow();
      beats.push(Number(last));
      return Promise.resolve(`0x${sent.toString(16).padStart(64, "0")}`);
    },
    getTransactionReceipt: () => Promise.resolve({ status: "success", gasUsed: 1n }),
  } as unknown as ArthaClient;
  return { client, clock, sent: () => sent, beats };
}

/** A worker of `client` with the default heartbeat looks, its Date.now the chain's clock. */
async function withClock<T>(
  fake: ReturnType<typeof chain>,
  run: (worker: Worker) => Promise<T>,
): Promise<T> {
  const realNow = Date.now;
  Date.now = () => fake.clock.ms;
  try {
    const worker = new Worker({
      coordinator: () => Promise.reject(new Error("no coordinator in this test")),
      client: fake.client,
      addresses: ADDRESSES,
      chainId: 31_337,
      key: generateNodeKey(),
    });
    return await run(worker);
  } finally {
    Date.now = realNow;
  }
}

Deno.test("victim: over two hours of 10-minute looks a node heartbeats about every half interval, not at each look", async () => {
  // Prepare: a node that heartbeat just now, by the chain's clock.
  const fake = chain(T0);

  // Execute: twelve looks, ten simulated minutes apart.
  await withClock(fake, async (worker) => {
    for (let k = 1; k <= 12; k++) {
      fake.clock.ms = T0 * 1000 + k * LOOK_MS;
      await worker.heartbeat();
    }
  });

  // Assert: one every 30 minutes (4 in 2 hours; 12 before, one at every look).
  assert.equal(fake.sent(), 4);
});

Deno.test("victim: a node whose last heartbeat is old heartbeats at its first look", async () => {
  // Prepare: a node last heard of 50 minutes ago (restarted after a crash).
  const fake = chain(T0 - 50 * 60);

  // Execute
  await withClock(fake, (worker) => worker.heartbeat());

  // Assert
  assert.equal(fake.sent(), 1);
});

Deno.test("victim: a node that cannot read the registry heartbeats all the same", async () => {
  // Prepare: a node that heartbeat just now, and a registry that cannot be read.
  const fake = chain(T0, true);

  // Execute: two looks ten minutes apart.
  await withClock(fake, async (worker) => {
    await worker.heartbeat();
    fake.clock.ms += LOOK_MS;
    await worker.heartbeat();
  });

  // Assert: a heartbeat too many costs gas, a missed one stake.
  assert.equal(fake.sent(), 2);
});

Deno.test("victim: with a chain interval of 20 minutes and looks every 10, no heartbeat comes late", async () => {
  // Found reviewing the schedule: sending at half the interval alone, a look just short of it
  // (599 s) left the next look (1,204 s) past the 1,200 s interval: a miss, 10% of the stake
  // after three.
  const interval = 1_200;
  const fake = chain(T0, false, interval);
  await withClock(fake, async (worker) => {
    for (let k = 0; k < 12; k++) {
      fake.clock.ms = (T0 + 599 + k * 605) * 1000;
      await worker.heartbeat();
    }
  });
  const gaps = fake.beats.slice(1).map((b, i) => b - fake.beats[i]!);
  assert.ok(gaps.length > 0 && Math.max(...gaps) <= interval, `gaps ${gaps}`);
});
