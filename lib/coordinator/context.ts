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
import { env } from "../config.ts";

export interface CoordinatorConfig {
  /** Share of assigned nodes whose updates close a round early (default 0.8). */
  quorum: number;
  /** A round closes with whatever arrived once this many ms passed (default 10 min). */
  roundDeadlineMs: number;
  /** A node silent for this long is considered dropped (default 2 min). */
  heartbeatTimeoutMs: number;
  /** Largest accepted update or block in bytes (default 64 MiB). */
  maxBlobBytes: number;
  /** Largest file GET /svdb serves and the coordinator reads, by its declared size (1 GiB). */
  maxFileBytes: number;
  /** Bytes one signer (node key or account) may upload to /svdb per quota window (2 GiB). */
  uploadQuotaBytes: number;
  /** Length of an upload quota window in ms (default 24 h). */
  uploadQuotaWindowMs: number;
  /** How long an upload is kept unless the coordinator pins it (default 24 h). */
  uploadLeaseMs: number;
  /** How far an upload's signed timestamp may be from the coordinator's clock (5 min). */
  uploadSignatureWindowMs: number;
  /** EVM accounts (lowercase 0x hex) that may upload with neither a job nor a DID. */
  uploadWriters: string[];
}

export const DEFAULT_CONFIG: CoordinatorConfig = {
  quorum: 0.8,
  roundDeadlineMs: 10 * 60_000,
  heartbeatTimeoutMs: 2 * 60_000,
  maxBlobBytes: 64 << 20,
  maxFileBytes: 1 << 30,
  uploadQuotaBytes: 2 ** 31,
  uploadQuotaWindowMs: 24 * 3_600_000,
  uploadLeaseMs: 24 * 3_600_000,
  uploadSignatureWindowMs: 5 * 60_000,
  uploadWriters: [],
};

export interface Context {
  kv: Deno.Kv;
  store: Store;
  chain: { client: ArthaClient; addresses: ArthaAddresses; chainId: number };
  config: CoordinatorConfig;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  now: () => number;
}

let fromEnv: Promise<Context> | undefined;

/**
 * The context of a deployed function: ARTHA_RPC_URL (or ARTH_RPC_URL), ARTHA_CHAIN_ID, ARTHA_PRIVATE_KEY
 * (coordinator account), ARTHA_ADDRESSES (JSON of the eight contract addresses),
 * ARTHA_KV_PATH (optional), ARTHA_STORE_DIR (default .artha/svdb).
 */
export function contextFromEnv(): Promise<Context> {
  fromEnv ??= (async () => {
    const rpcUrl = env.requireRpcUrl();
    const chainId = env.requireChainId();
    const account = privateKeyToAccount(env.requirePrivateKey() as Hex);
    const addresses = JSON.parse(env.requireAddressesJson()) as ArthaAddresses;
    return {
      kv: await Deno.openKv(env.kvPath()),
      store: await openFsStore(env.storeDir()),
      chain: { client: createArthaClient({ rpcUrl, chainId, account }), addresses, chainId },
      config: DEFAULT_CONFIG,
      now: Date.now,
    };
  })();
  return fromEnv;
}
