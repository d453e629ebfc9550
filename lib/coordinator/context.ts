/**
 * The coordinator's context: Deno KV for off-chain state, the SVDB store, the chain client
 * with the coordinator's account, and the protocol settings. Deno Deploy-style functions build
 * it once from the environment; tests and the demo pass their own.
 */
import { dirname } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { type ArthaClient, createArthaClient } from "../chain/client.ts";
import type { ArthaAddresses } from "../chain/contracts.ts";
import { type CoordinatorSettings, readCoordinatorSettings } from "../config.ts";
import type { Store } from "../store/store.ts";
import { openStore } from "../store/open_store.ts";

/**
 * The coordinator's own settings. When a round closes is the job's (its spec's
 * `aggregation.quorum` and `deadlineMs`), not the coordinator's.
 */
export interface CoordinatorConfig {
  /** A node silent for this long is considered dropped (default 2 min). */
  heartbeatTimeoutMs: number;
  /** Largest accepted update or block in bytes (default 64 MiB). */
  maxBlobBytes: number;
  /** Largest file GET /svdb serves and the coordinator reads, by its declared size (1 GiB;
   * ARTHA_SVDB_MAX_FILE_BYTES). */
  maxFileBytes: number;
  /** Bytes one signer (node key or account) may upload to /svdb per quota window (2 GiB;
   * ARTHA_SVDB_UPLOAD_QUOTA_BYTES). */
  uploadQuotaBytes: number;
  /** Length of an upload quota window in ms (default 24 h; ARTHA_SVDB_UPLOAD_QUOTA_WINDOW_MS). */
  uploadQuotaWindowMs: number;
  /** Bytes all signers whose only credential is a DID may upload together per quota window
   * (8 GiB; ARTHA_SVDB_UPLOAD_DID_POOL_BYTES): a DID costs one transaction, so per-signer quotas
   * alone would let one party store as much as it creates DIDs. */
  uploadDidPoolBytes: number;
  /** How long an upload is kept unless the coordinator pins it (default 24 h;
   * ARTHA_SVDB_UPLOAD_LEASE_MS). */
  uploadLeaseMs: number;
  /** How far an upload's signed timestamp may be from the coordinator's clock (5 min;
   * ARTHA_SVDB_UPLOAD_SIGNATURE_WINDOW_MS). */
  uploadSignatureWindowMs: number;
  /** Longest pause in an upload's body before it is cut off (1 min): a stalled body holds a
   * connection and keeps the store's collection waiting. */
  uploadIdleMs: number;
  /** EVM accounts (lowercase 0x hex) that may upload with neither a job nor a DID
   * (ARTHA_SVDB_UPLOAD_WRITERS, comma-separated). */
  uploadWriters: string[];
  /** The origins this coordinator is reached at (ARTHA_PUBLIC_ORIGIN): a signed read of private
   * data must name one, so a read a node signed for another server (a phishing coordinator that
   * replays it here) is refused. Empty: reads signed for any origin, or none, are taken. */
  publicOrigins: string[];
  /** The inference backend of /ai/infer and /v1/completions ("auto": the best that loads;
   * ARTHA_INFER_BACKEND). */
  inferBackend: CoordinatorSettings["inferBackend"];
  /** Per-client inference limits set by the environment (ARTHA_INFER_*; the rest are
   * model_limits.ts DEFAULT_INFER_LIMITS). */
  inferLimits?: CoordinatorSettings["inferLimits"];
  /** Reverse proxies in front of this coordinator (ARTHA_TRUSTED_PROXIES: IP addresses, or
   * `unix`): a request from one is the client its X-Forwarded-For names, for per-client limits. */
  trustedProxies: string[];
  /** The JSON-RPC URL GET /info gives browsers (ARTHA_PUBLIC_RPC_URL); unset, the coordinator's
   * own only when it holds nothing that may be a credential (see functions/info.ts). */
  publicRpcUrl?: string;
}

export const DEFAULT_CONFIG: CoordinatorConfig = {
  heartbeatTimeoutMs: 2 * 60_000,
  maxBlobBytes: 64 << 20,
  maxFileBytes: 1 << 30,
  uploadQuotaBytes: 2 ** 31,
  uploadQuotaWindowMs: 24 * 3_600_000,
  uploadDidPoolBytes: 2 ** 33,
  uploadLeaseMs: 24 * 3_600_000,
  uploadSignatureWindowMs: 5 * 60_000,
  uploadIdleMs: 60_000,
  uploadWriters: [],
  publicOrigins: [],
  inferBackend: "auto",
  trustedProxies: [],
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

/** The protocol settings with the SVDB limits (ARTHA_SVDB_*) and inference backend the
 * environment sets. */
export function configFrom(
  settings:
    & Pick<CoordinatorSettings, "svdb">
    & Partial<
      Pick<CoordinatorSettings, "inferBackend" | "inferLimits" | "publicRpcUrl" | "trustedProxies">
    >,
): CoordinatorConfig {
  return {
    ...DEFAULT_CONFIG,
    ...settings.svdb,
    inferBackend: settings.inferBackend ?? DEFAULT_CONFIG.inferBackend,
    ...(settings.inferLimits ? { inferLimits: settings.inferLimits } : {}),
    trustedProxies: settings.trustedProxies ?? DEFAULT_CONFIG.trustedProxies,
    ...(settings.publicRpcUrl ? { publicRpcUrl: settings.publicRpcUrl } : {}),
  };
}

/**
 * The context of a deployed function, from lib/config.ts readCoordinatorSettings:
 * ARTHA_RPC_URL (or ARTH_RPC_URL), ARTHA_CHAIN_ID, ARTHA_PRIVATE_KEY (coordinator account),
 * ARTHA_ADDRESSES (the eight contract addresses: a file or JSON), ARTHA_KV_PATH,
 * ARTHA_STORE (the SVDB backend), ARTHA_STORE_DIR and the ARTHA_SVDB_* limits; its account signs
 * nothing above ARTHA_MAX_GAS_PRICE (gwei, default 1,000, as the worker's: found in the chain
 * audit, it signed at whatever fee its RPC node filled). Every unusable variable is named in one ConfigError.
 */
export function contextFromEnv(): Promise<Context> {
  fromEnv ??= (async () => {
    const s = readCoordinatorSettings();
    const account = privateKeyToAccount(s.privateKey);
    if (s.kvPath) await Deno.mkdir(dirname(s.kvPath), { recursive: true });
    const kv = await Deno.openKv(s.kvPath);
    return {
      kv,
      store: await openStore({ kind: s.store, dir: s.storeDir, kv }),
      chain: {
        client: createArthaClient({
          rpcUrl: s.rpcUrl,
          chainId: s.chainId,
          account,
          maxFeePerGas: s.maxFeePerGas,
        }),
        addresses: s.deployment.addresses,
        chainId: s.chainId,
      },
      config: configFrom(s),
      now: Date.now,
    };
  })();
  // A failed start may be retried (the next request reads the environment again).
  fromEnv.catch(() => fromEnv = undefined);
  return fromEnv;
}
