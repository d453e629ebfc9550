/**
 * The coordinator's context: Deno KV for off-chain state, the SVDB store, the chain client
 * with the coordinator's account, and the protocol settings. Deno Deploy-style functions build
 * it once from the environment; tests and the demo pass their own.
 */
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type ArthaClient, createArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { openFsStore, type Store } from "../store/store.ts";

export interface CoordinatorConfig {
  /** Share of assigned nodes whose updates close a round early (default 0.8). */
  quorum: number;
  /** A round closes with whatever arrived once this many ms passed (default 10 min). */
  roundDeadlineMs: number;
  /** A node silent for this long is considered dropped (default 2 min). */
  heartbeatTimeoutMs: number;
  /** Largest accepted update or block in bytes (default 64 MiB). */
  maxBlobBytes: number;
}

export const DEFAULT_CONFIG: CoordinatorConfig = {
  quorum: 0.8,
  roundDeadlineMs: 10 * 60_000,
  heartbeatTimeoutMs: 2 * 60_000,
  maxBlobBytes: 64 << 20,
};

export interface Context {
  kv: Deno.Kv;
  store: Store;
  chain: { client: ArthaClient; addresses: ArthaAddresses; chainId: number };
  config: CoordinatorConfig;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  now: () => number;
}

function env(name: string): string {
  const v = Deno.env.get(name);
  if (!v) throw new Error(`Cannot start coordinator: environment variable ${name} is not set`);
  return v;
}

let fromEnv: Promise<Context> | undefined;

/**
 * The context of a deployed function: ARTHA_RPC_URL (or ARTH_RPC_URL), ARTHA_CHAIN_ID, ARTHA_PRIVATE_KEY
 * (coordinator account), ARTHA_ADDRESSES (JSON of the eight contract addresses),
 * ARTHA_KV_PATH (optional), ARTHA_STORE_DIR (default .artha/svdb).
 */
export function contextFromEnv(): Promise<Context> {
  fromEnv ??= (async () => {
    // ARTH_RPC_URL is accepted too (the coin's name); ARTHA_RPC_URL wins when both are set.
    const rpcUrl = Deno.env.get("ARTHA_RPC_URL") ?? Deno.env.get("ARTH_RPC_URL") ??
      env("ARTHA_RPC_URL");
    const chainId = Number(env("ARTHA_CHAIN_ID"));
    const account = privateKeyToAccount(env("ARTHA_PRIVATE_KEY") as Hex);
    const addresses = JSON.parse(env("ARTHA_ADDRESSES")) as ArthaAddresses;
    return {
      kv: await Deno.openKv(Deno.env.get("ARTHA_KV_PATH")),
      store: await openFsStore(Deno.env.get("ARTHA_STORE_DIR") ?? ".artha/svdb"),
      chain: { client: createArthaClient({ rpcUrl, chainId, account }), addresses, chainId },
      config: DEFAULT_CONFIG,
      now: Date.now,
    };
  })();
  return fromEnv;
}
