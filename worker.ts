/**
 * The ArthaTrain worker: what a laptop runs to earn ARTH by training.
 *
 *   export ARTHA_PRIVATE_KEY=0x...         # the operator's EVM key (pays stake and gas)
 *   deno task worker --coordinator http://127.0.0.1:8787 --rpc http://127.0.0.1:8545 \
 *     --chain-id 31337 --addresses addresses.json [--key ~/.artha/node.key] [--state ~/.artha/worker.json]
 *
 * Flags (environment variable used when the flag is absent):
 *   --coordinator URL    the coordinator's base URL (required)
 *   --rpc URL            the chain's JSON-RPC endpoint (ARTHA_RPC_URL, or ARTH_RPC_URL)
 *   --chain-id N         the chain id (ARTHA_CHAIN_ID, default 31337)
 *   --addresses FILE     the deployment's contract addresses as JSON (ARTHA_ADDRESSES_FILE)
 *   --key FILE           the Ed25519 node key, created with mode 0600 if missing
 *                        (default ~/.artha/node.key)
 *   --state FILE         crash state, with residual files beside it (default ~/.artha/worker.json)
 *   --poll MS            wait between ticks when there is nothing to do (default 1000)
 *   --heartbeat-ms MS    minimum time between on-chain heartbeats (default 600000)
 *   --quiet              print nothing but errors
 *
 * It creates (or loads) its Ed25519 node key (file mode 0600), stakes and registers on chain,
 * binds the key to the operator account with the coordinator, heartbeats, asks for tasks,
 * downloads the model and its data shard by CID (checking every byte against the CID), trains
 * with the WASM kernel, signs proofs every N steps, uploads its update to SVDB, commits the round
 * on chain in one transaction, and posts the signed update. After a crash it resumes: a finished
 * update that was not yet delivered is re-sent as is, never retrained or counted twice. It also
 * answers challenges and disputes on its recent commits, aggregates a cluster or validates a
 * committee target when the coordinator asks. SIGTERM or SIGINT stops it after the current tick.
 *
 * Started with the right to run programs (as `deno task worker` does), it relaunches itself with
 * the least permissions it needs (lib/worker/sandbox.ts): its coordinator and chain hosts, its
 * key and state folders, the kernel's WASM and the address file, its ARTHA_* variables; a
 * worker cannot read the rest of the owner's home directory.
 *
 * This file is the command line only; the worker itself is lib/worker/ (worker.ts ties client,
 * gateway, state, train, deliver, register, cluster and validate together).
 */
import { parseArgs } from "node:util";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createArthaClient } from "./lib/chain/client.ts";
import type { ArthaAddresses } from "./lib/chain/contracts.ts";
import { loadOrCreateNodeKey } from "./lib/crypto/keys.ts";
import { httpCoordinator } from "./lib/worker/client.ts";
import { Worker, type WorkerEvent } from "./lib/worker/worker.ts";
import { env } from "./lib/config.ts";
import {
  exitWithParent,
  mayRelaunch,
  runSandboxed,
  workerPermissions,
} from "./lib/worker/sandbox.ts";

const HOME = env.home();

/** The command line: flags with their environment defaults. */
function parseFlags(args: string[]) {
  return parseArgs({
    args,
    options: {
      coordinator: { type: "string" },
      rpc: {
        type: "string",
        default: env.rpcUrl(),
      },
      "chain-id": { type: "string", default: env.chainId() ?? "31337" },
      addresses: { type: "string", default: env.addressesFile() },
      key: { type: "string", default: `${HOME}/.artha/node.key` },
      state: { type: "string", default: `${HOME}/.artha/worker.json` },
      poll: { type: "string", default: "1000" },
      "heartbeat-ms": { type: "string", default: String(10 * 60_000) },
      quiet: { type: "boolean", default: false },
    },
  }).values;
}

/** Prints `message` and exits with status 2 (a usage error). */
function usageError(message: string): never {
  console.error(message);
  Deno.exit(2);
}

/** The integer flag `name`, at least `min`. */
function intFlag(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    usageError(`--${name} must be an integer >= ${min}, got ${value}`);
  }
  return n;
}

/** The deployment's addresses from the --addresses file (registry, jobs, proofs required). */
async function readAddresses(path: string): Promise<ArthaAddresses> {
  try {
    const addresses = JSON.parse(await Deno.readTextFile(path)) as ArthaAddresses;
    for (const k of ["registry", "jobs", "proofs"] as const) {
      if (!/^0x[0-9a-fA-F]{40}$/.test(addresses[k] ?? "")) throw new Error(`no address for ${k}`);
    }
    return addresses;
  } catch (e) {
    usageError(`Cannot read --addresses ${path}: ${(e as Error).message}`);
  }
}

/** What this process may touch, for the owner to see (read, write, net, run). */
function describePermissions(): string {
  const state = (name: "read" | "write" | "net" | "run") =>
    `${name} ${Deno.permissions.querySync({ name }).state === "granted" ? "all" : "scoped"}`;
  return (["read", "write", "net", "run"] as const).map(state).join(", ");
}

function bar(done: number, total: number, width = 24): string {
  const n = Math.round((done / total) * width);
  return `[${"#".repeat(n)}${".".repeat(width - n)}]`;
}

/** Prints registration, a progress bar per local step and each submitted round. */
function printProgress(nodePubkey: Hex): (e: WorkerEvent) => void {
  return (e) => {
    if (e.kind === "registered") console.log(`registered ${nodePubkey} (stake ${e.stake} wei)`);
    if (e.kind === "step") {
      const line = `\rround ${e.round} ${bar(e.step + 1, e.steps)} ${e.step + 1}/${e.steps} loss ${
        e.loss.toFixed(3)
      }`;
      Deno.stdout.writeSync(new TextEncoder().encode(line));
    }
    if (e.kind === "submitted") {
      console.log(
        `\nround ${e.round} submitted: mean loss ${e.result.meanLoss.toFixed(3)}, ${e.bytes} bytes`,
      );
    }
  };
}

/** Parses the command line, registers the node and runs the worker until SIGTERM or SIGINT. */
async function main(args: string[]): Promise<void> {
  const a = parseFlags(args);
  const pk = env.privateKey();
  if (!a.coordinator || !a.rpc || !a.addresses || !pk) {
    usageError(
      "usage: ARTHA_PRIVATE_KEY=0x.. deno run -A worker.ts --coordinator URL --rpc URL --addresses FILE",
    );
  }
  const chainId = intFlag("chain-id", a["chain-id"], 1);
  const pollMs = intFlag("poll", a.poll, 10);
  const heartbeatMs = intFlag("heartbeat-ms", a["heartbeat-ms"], 0);
  if (!/^0x[0-9a-fA-F]{64}$/.test(pk)) {
    usageError("ARTHA_PRIVATE_KEY must be a 0x-prefixed 32-byte hex key");
  }
  if (mayRelaunch()) {
    // Started with broad rights: go on as a child holding only what the worker needs.
    const resources = { ...a, coordinator: a.coordinator, rpc: a.rpc, addresses: a.addresses };
    try {
      workerPermissions(resources);
    } catch (e) {
      usageError((e as Error).message);
    }
    Deno.exit(await runSandboxed(new URL(import.meta.url), args, resources));
  }
  exitWithParent(env.sandboxed());
  if (!a.quiet) console.log(`sandbox (pid ${Deno.pid}): ${describePermissions()}`);
  const addresses = await readAddresses(a.addresses);
  const client = createArthaClient({
    rpcUrl: a.rpc,
    chainId,
    account: privateKeyToAccount(pk as Hex),
  });
  const key = await loadOrCreateNodeKey(a.key);
  const worker = new Worker({
    coordinator: httpCoordinator(a.coordinator),
    client,
    addresses,
    chainId,
    key,
    statePath: a.state,
    heartbeatEveryMs: heartbeatMs,
    onProgress: a.quiet ? undefined : printProgress(key.publicKeyHex),
  });
  await worker.register();
  const stop = new AbortController();
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  Deno.addSignalListener("SIGINT", () => stop.abort());
  await worker.run(stop.signal, pollMs);
}

if (import.meta.main) await main(Deno.args);
