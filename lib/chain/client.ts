/**
 * viem clients for an ArthaChain JSON-RPC endpoint (anvil in development, any EVM node in
 * production via ARTHA_RPC_URL). One client both reads and writes.
 *
 * @example
 * ```ts
 * import { startDevnet } from "./devnet.ts";
 * import { createArthaClient } from "./client.ts";
 * await using net = await startDevnet({ accounts: 1 });
 * const client = createArthaClient({ rpcUrl: net.rpcUrl, chainId: net.chainId, account: net.accounts[0]! });
 * console.log(await client.getBlockNumber());
 * ```
 */
import {
  createTransport,
  createWalletClient,
  defineChain,
  http,
  keccak256,
  publicActions,
} from "viem";
import type { Account, Chain, Hex, Transport } from "viem";

/** The chain definition for a JSON-RPC endpoint; ARTH is the native coin. */
export function arthaChain(rpcUrl: string, chainId: number): Chain {
  return defineChain({
    id: chainId,
    name: chainId === 31337 ? "ArthaChain devnet" : "ArthaChain",
    nativeCurrency: { name: "ARTH", symbol: "ARTH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

export interface ArthaClientOptions {
  rpcUrl: string;
  chainId: number;
  account: Account;
  /** Polling interval for receipts in ms (default 50: anvil mines instantly). */
  pollingInterval?: number;
  /**
   * The most wei a unit of gas may cost this account (default: whatever the node asks). A send
   * whose fee the node fills above it is refused before it is signed (lib/chain/send_contract.ts).
   */
  maxFeePerGas?: bigint;
}

/**
 * HTTP JSON-RPC that does not report a sent transaction as failed when only its answer was lost.
 * A gateway's 5xx or a timeout after the node accepted a signed transaction would fail the send
 * (viem never retries a send) while the transaction is mined, and a caller that tried again would
 * sign a second one: a second stake, a second payment. A signed transaction's hash is known before
 * it is sent, so a failed send whose hash the node has is the send's success; any other failure
 * stays an error. A read that anvil refuses with its block-range race (BlockOutOfRangeError for
 * "latest" while it mines a block: foundry-rs/foundry#10709, #4843) is asked again, up to 3
 * times: a read changes nothing, so asking twice is safe.
 */
export function httpWithSendRecovery(rpcUrl: string): Transport {
  return (options) => {
    // The plain HTTP call (no retries, no error mapping): createTransport below adds both once,
    // as http() does.
    const inner = http(rpcUrl, { batch: false })(options);
    type Call = { method: string; params?: unknown };
    const send = inner.config.request as (call: Call, opts?: unknown) => Promise<unknown>;
    const read = async (call: Call, opts?: unknown) => {
      for (let attempt = 0;; attempt++) {
        try {
          return await send(call, opts);
        } catch (e) {
          if (attempt >= BLOCK_RACE_RETRIES || !blockRangeRace(e)) throw e;
          await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
        }
      }
    };
    const request = async (call: Call, opts?: unknown) => {
      if (!call.method.startsWith("eth_send")) return await read(call, opts);
      if (call.method !== "eth_sendRawTransaction") return await send(call, opts);
      const hash = keccak256((call.params as [Hex])[0]);
      try {
        return await send(call, opts);
      } catch (e) {
        const known = await send({ method: "eth_getTransactionByHash", params: [hash] })
          .catch(() => null);
        if (known) return hash;
        throw e;
      }
    };
    return createTransport(
      { ...inner.config, request: request as typeof inner.request },
      inner.value,
    );
  };
}

/** Times a read refused by the devnet's block-range race is asked again. */
const BLOCK_RACE_RETRIES = 3;

/** Whether `e` is anvil's BlockOutOfRangeError (its answer's message, or viem's details). */
function blockRangeRace(e: unknown): boolean {
  const { message, details } = (e ?? {}) as { message?: unknown; details?: unknown };
  return [message, details].some((m) => typeof m === "string" && m.includes("BlockOutOfRange"));
}

/** A wallet client extended with public actions, bound to one account. */
export function createArthaClient(options: ArthaClientOptions) {
  return createWalletClient({
    account: options.account,
    chain: arthaChain(options.rpcUrl, options.chainId),
    transport: httpWithSendRecovery(options.rpcUrl),
    pollingInterval: options.pollingInterval ?? 50,
  }).extend(publicActions).extend(() => ({ feeCap: options.maxFeePerGas }));
}

/** The client type every chain verb takes first. */
export type ArthaClient = ReturnType<typeof createArthaClient>;
